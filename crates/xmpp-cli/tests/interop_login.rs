//! `xmpp login` against ejabberd and Prosody as deployed (STARTTLS
//! required, the harness's test CA), and against the plain listeners with
//! the issue 5 spellings. Started by `cargo xtask interop`; fails when the
//! harness's environment is missing.

mod common;

use common::*;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the interop suite with `cargo xtask interop`")
    })
}

fn jid() -> String {
    format!(
        "{}@{}",
        env("XMPP_INTEROP_USER"),
        env("XMPP_INTEROP_DOMAIN")
    )
}

fn login_tls(server_var: &str, mechanism: Option<&str>) -> std::process::Output {
    let server = env(server_var);
    let ca = env("XMPP_INTEROP_CA");
    let mut args = vec!["--ca-file", ca.as_str(), "--transcript"];
    if let Some(m) = mechanism {
        args.extend(["--mechanism", m]);
    }
    // ejabberd 23.01 offers -PLUS for tls-unique only, without XEP-0440 or
    // XEP-0474: the default policy cannot tell that from a stripped offer.
    if server_var.starts_with("XMPP_INTEROP_EJABBERD_") {
        args.extend(["--channel-binding", "off"]);
    }
    login_with(&server, &jid(), &env("XMPP_INTEROP_PASSWORD"), &args)
}

fn assert_logged_in(o: &std::process::Output, what: &str) {
    expect_code(o, 0);
    let out = stdout(o);
    assert!(out.contains(&format!("{}/", jid())), "{what}: {out}");
    assert!(
        out.contains("starttls"),
        "{what}: no STARTTLS step in {out}"
    );
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn login_to_ejabberd_over_starttls() {
    for mechanism in [
        None,
        Some("PLAIN"),
        Some("SCRAM-SHA-256"),
        Some("SCRAM-SHA-1"),
    ] {
        let o = login_tls("XMPP_INTEROP_EJABBERD_TLS", mechanism);
        assert_logged_in(&o, &format!("ejabberd {mechanism:?}"));
    }
}

/// Without `--channel-binding off`, ejabberd 23.01's unverifiable -PLUS
/// offer stops the login with exit 4 and says why.
#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn ejabberd_2301_plus_offer_is_refused_by_default() {
    let o = login_with(
        &env("XMPP_INTEROP_EJABBERD_TLS"),
        &jid(),
        &env("XMPP_INTEROP_PASSWORD"),
        &["--ca-file", &env("XMPP_INTEROP_CA")],
    );
    expect_failure(&o, 4, "XEP-0474");
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn login_to_prosody_over_starttls() {
    for mechanism in [None, Some("PLAIN"), Some("SCRAM-SHA-1")] {
        let o = login_tls("XMPP_INTEROP_PROSODY_TLS", mechanism);
        assert_logged_in(&o, &format!("prosody {mechanism:?}"));
    }
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn login_without_the_ca_fails_with_exit_4() {
    let o = login_with(
        &env("XMPP_INTEROP_PROSODY_TLS"),
        &jid(),
        &env("XMPP_INTEROP_PASSWORD"),
        &[],
    );
    expect_failure(&o, 4, "certificate");
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn login_to_the_plain_listeners_in_the_clear() {
    for (server, mechanism) in [
        ("XMPP_INTEROP_EJABBERD", "DIGEST-MD5"),
        ("XMPP_INTEROP_EJABBERD", "PLAIN"),
        ("XMPP_INTEROP_PROSODY", "SCRAM-SHA-1"),
        ("XMPP_INTEROP_PROSODY", "PLAIN"),
    ] {
        let o = login_with(
            &env(server),
            &jid(),
            &env("XMPP_INTEROP_PASSWORD"),
            &[
                "--mechanism",
                mechanism,
                "--allow-plain-without-tls",
                "--tls",
                "opportunistic",
            ],
        );
        expect_code(&o, 0);
        assert!(
            stdout(&o).contains(&format!("{}/", jid())),
            "{server} {mechanism}: {}",
            stdout(&o)
        );
    }
    // A wrong password is an authentication failure: exit 3.
    let o = login_with(
        &env("XMPP_INTEROP_EJABBERD"),
        &jid(),
        "wrong",
        &["--mechanism", "DIGEST-MD5", "--tls", "opportunistic"],
    );
    expect_code(&o, 3);
}
