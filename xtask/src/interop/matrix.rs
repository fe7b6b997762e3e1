//! The selftest matrix, as data: which client driver logs in to which server, with
//! which mechanisms, and whether it must get in.

use crate::peers::{EJABBERD_PORT, EJABBERD_TLS_PORT, PROSODY_PORT, PROSODY_TLS_PORT};
use Attempt::{Login, UntrustedCa, WrongPassword};

/// A client driver in `interop/clients/`.
#[derive(Clone, Copy)]
pub(super) struct Driver {
    /// The client library, as the table shows it.
    pub name: &'static str,
    /// Its script (`.py` runs with the venv's Python, `.mjs` with node).
    pub script: &'static str,
}

const XMPP_RAW: Driver = Driver {
    name: "xmpp_raw",
    script: "xmpp_raw.py",
};
const SLIXMPP: Driver = Driver {
    name: "slixmpp",
    script: "slix_login.py",
};
const AIOXMPP: Driver = Driver {
    name: "aioxmpp",
    script: "aioxmpp_login.py",
};
const LIBSTROPHE: Driver = Driver {
    name: "libstrophe",
    script: "strophe_login.py",
};
const XMPPJS: Driver = Driver {
    name: "xmpp.js",
    script: "xmppjs_login.mjs",
};

/// A server as the selftest sees it.
#[derive(Clone, Copy)]
pub(super) struct Server {
    /// As the table shows it.
    pub name: &'static str,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// It requires STARTTLS: drivers get `--tls --ca-file`.
    pub tls: bool,
}

const EJABBERD: Server = Server {
    name: "ejabberd",
    port: EJABBERD_PORT,
    tls: false,
};
const PROSODY: Server = Server {
    name: "prosody",
    port: PROSODY_PORT,
    tls: false,
};
const EJABBERD_TLS: Server = Server {
    name: "ejabberd-tls",
    port: EJABBERD_TLS_PORT,
    tls: true,
};
const PROSODY_TLS: Server = Server {
    name: "prosody-tls",
    port: PROSODY_TLS_PORT,
    tls: true,
};

/// What a row tries, and so what must happen.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Attempt {
    /// The right password (TLS verified against the test CA where the server requires
    /// it): the driver must log in.
    Login,
    /// A wrong password: the driver must fail cleanly, not hang or report success.
    WrongPassword,
    /// The right password, but trusting another CA than the one that signed the
    /// server's certificate: the driver must fail.
    UntrustedCa,
}

/// One driver, one server, the mechanisms to try, and the expected outcome.
pub(super) struct Row {
    pub driver: Driver,
    pub server: Server,
    /// Each a mechanism, or `MECH/TYPE` to run with `--channel-binding TYPE`.
    pub mechanisms: &'static [&'static str],
    pub attempt: Attempt,
}

const fn row(
    driver: Driver,
    server: Server,
    mechanisms: &'static [&'static str],
    attempt: Attempt,
) -> Row {
    Row {
        driver,
        server,
        mechanisms,
        attempt,
    }
}

// Without TLS: what each server offers that the client can force (prosody 0.12 has no
// DIGEST-MD5; aioxmpp and xmpp.js have no DIGEST-MD5 of their own; xmpp.js has no
// SCRAM-SHA-256).
const EJ_ALL: &[&str] = &["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"];
const PR_ALL: &[&str] = &["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"];
const NO_DIGEST: &[&str] = &["SCRAM-SHA-1", "PLAIN", "SCRAM-SHA-256"];
const XMPPJS_ALL: &[&str] = &["PLAIN", "SCRAM-SHA-1"];

// Over STARTTLS (TLS 1.3 unless a row says tls-unique, which caps it at 1.2).
// ejabberd-tls offers DIGEST-MD5, PLAIN, SCRAM-SHA-1/256/512 and their -PLUS, whose
// only binding is tls-unique (advertised on TLS 1.3 too, where it is undefined);
// prosody-tls (hashed storage) offers PLAIN and SCRAM-SHA-1, plus SCRAM-SHA-1-PLUS
// (tls-unique) on TLS 1.2 only. libstrophe takes the strongest mechanism offered and
// no proxy can filter inside TLS: one mechanism per server. xmpp.js has no -PLUS;
// aioxmpp and xmpp.js no DIGEST-MD5.
const EJT_ALL: &[&str] = &[
    "PLAIN",
    "DIGEST-MD5",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS/tls-unique",
    "SCRAM-SHA-256-PLUS/tls-unique",
];
const EJT_AIOXMPP: &[&str] = &[
    "PLAIN",
    "SCRAM-SHA-1",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1-PLUS/tls-unique",
    "SCRAM-SHA-256-PLUS/tls-unique",
];
const PRT_ALL: &[&str] = &["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS/tls-unique"];

/// The matrix, in the order the table prints it.
pub(super) const MATRIX: &[Row] = &[
    // Without TLS.
    row(XMPP_RAW, EJABBERD, EJ_ALL, Login),
    row(XMPP_RAW, PROSODY, PR_ALL, Login),
    row(SLIXMPP, EJABBERD, EJ_ALL, Login),
    row(SLIXMPP, PROSODY, PR_ALL, Login),
    row(AIOXMPP, EJABBERD, NO_DIGEST, Login),
    row(AIOXMPP, PROSODY, NO_DIGEST, Login),
    row(LIBSTROPHE, EJABBERD, EJ_ALL, Login),
    row(LIBSTROPHE, PROSODY, PR_ALL, Login),
    row(XMPPJS, EJABBERD, XMPPJS_ALL, Login),
    row(XMPPJS, PROSODY, XMPPJS_ALL, Login),
    // Over STARTTLS.
    row(XMPP_RAW, EJABBERD_TLS, EJT_ALL, Login),
    row(XMPP_RAW, PROSODY_TLS, PRT_ALL, Login),
    row(SLIXMPP, EJABBERD_TLS, EJT_ALL, Login),
    row(SLIXMPP, PROSODY_TLS, PRT_ALL, Login),
    row(AIOXMPP, EJABBERD_TLS, EJT_AIOXMPP, Login),
    row(AIOXMPP, PROSODY_TLS, PRT_ALL, Login),
    row(LIBSTROPHE, EJABBERD_TLS, &["SCRAM-SHA-512"], Login),
    row(LIBSTROPHE, PROSODY_TLS, &["SCRAM-SHA-1"], Login),
    row(XMPPJS, EJABBERD_TLS, XMPPJS_ALL, Login),
    row(XMPPJS, PROSODY_TLS, XMPPJS_ALL, Login),
    // Must fail: per driver, with a mechanism it supports on prosody.
    row(XMPP_RAW, PROSODY, &["PLAIN"], WrongPassword),
    row(XMPP_RAW, PROSODY_TLS, &["PLAIN"], UntrustedCa),
    row(SLIXMPP, PROSODY, &["PLAIN"], WrongPassword),
    row(SLIXMPP, PROSODY_TLS, &["PLAIN"], UntrustedCa),
    row(AIOXMPP, PROSODY, &["SCRAM-SHA-1"], WrongPassword),
    row(AIOXMPP, PROSODY_TLS, &["SCRAM-SHA-1"], UntrustedCa),
    row(LIBSTROPHE, PROSODY, &["SCRAM-SHA-1"], WrongPassword),
    row(LIBSTROPHE, PROSODY_TLS, &["SCRAM-SHA-1"], UntrustedCa),
    row(XMPPJS, PROSODY, &["SCRAM-SHA-1"], WrongPassword),
    row(XMPPJS, PROSODY_TLS, &["SCRAM-SHA-1"], UntrustedCa),
];

/// How a case uses TLS.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Tls {
    /// Plain TCP (the driver never uses STARTTLS).
    Off,
    /// STARTTLS required, verified against the suite's CA.
    Verified,
    /// STARTTLS required, but trusting another CA.
    OtherCa,
}

/// One driver run.
pub(super) struct Case {
    pub driver: Driver,
    pub server: Server,
    /// The mechanism, or `MECH/TYPE` for a channel-binding type.
    pub mech: &'static str,
    pub attempt: Attempt,
    /// Ask for a resource (`--resource`), else let the server pick one.
    pub resource: bool,
}

impl Case {
    pub(super) fn tls(&self) -> Tls {
        match (self.attempt, self.server.tls) {
            (Attempt::UntrustedCa, _) => Tls::OtherCa,
            (_, true) => Tls::Verified,
            (_, false) => Tls::Off,
        }
    }
}

/// The matrix, one case per mechanism. Every other login asks for a resource, so both
/// a client-chosen and a server-generated one are covered on each server.
pub(super) fn cases() -> Vec<Case> {
    MATRIX
        .iter()
        .flat_map(|r| {
            r.mechanisms.iter().enumerate().map(|(i, mech)| Case {
                driver: r.driver,
                server: r.server,
                mech,
                attempt: r.attempt,
                resource: r.attempt == Attempt::Login && i % 2 == 0,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_has_the_documented_73_cases() {
        let cases = cases();
        assert_eq!(cases.len(), 73, "interop/README.md says 73");
        let refused = cases.iter().filter(|c| c.attempt != Attempt::Login).count();
        assert_eq!(refused, 10);
        assert!(cases
            .iter()
            .all(|c| c.tls() != Tls::OtherCa || c.server.tls));
    }
}
