//! `xmpp probe` against the interop peers (ejabberd 23.01 and 24.12, Prosody 0.12 and 13),
//! each in more than one configuration: what the report says must match what the peer's
//! configuration (interop/ejabberd*/ejabberd.yml, interop/prosody*/*.cfg.lua) makes it offer,
//! never a snapshot of an earlier report. Started by `cargo xtask interop`; every test fails
//! (never skips) when the harness's environment is missing.
//!
//! The expectations below name the config line they come from. What no config line sets
//! (ALPN, OCSP, the TLS versions a stock build accepts) was seen with `openssl s_client`.
//! Two peer behaviours that decide what a probe can see (interop/README.md):
//! - ejabberd 24.12 offers SASL2 only to a stream header with `from` (a bare JID);
//! - Prosody 13's mod_sasl2_fast lists `<fast>` only to a stream header with `from`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../xmpp-stream/tests/dns_server/mod.rs"]
mod dns_server;

use std::collections::BTreeSet;
use std::process::Output;

use common::*;
use dns_server::{DnsServer, Zone};
use serde_json::Value;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the interop suite with `cargo xtask interop`")
    })
}

fn domain() -> String {
    env("XMPP_INTEROP_DOMAIN")
}

/// A finished probe: its output and its `--json` report.
struct Probe {
    out: Output,
    report: Value,
    what: String,
}

impl Probe {
    fn run(what: &str, args: &[&str], stdin: &str) -> Probe {
        let mut all = vec!["probe"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = run(&all, stdin);
        let report = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
            panic!(
                "{what}: no JSON report ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
                out.status.code(),
                stdout(&out),
                stderr(&out)
            )
        });
        Probe {
            out,
            report,
            what: what.to_owned(),
        }
    }

    /// `xmpp probe DOMAIN --server ADDR [--direct-tls] --ca-file CA` (ADDR from `var`).
    fn server(var: &str, direct_tls: bool) -> Probe {
        Probe::server_with(var, direct_tls, &env("XMPP_INTEROP_CA"))
    }

    fn server_with(var: &str, direct_tls: bool, ca: &str) -> Probe {
        let (d, addr) = (domain(), env(var));
        let mut args = vec![d.as_str(), "--server", &addr, "--ca-file", ca];
        if direct_tls {
            args.push("--direct-tls");
        }
        Probe::run(var, &args, "")
    }

    /// The report, for assertion messages.
    fn dump(&self) -> String {
        format!(
            "{}: exit {:?}\n{}\nstderr:\n{}",
            self.what,
            self.out.status.code(),
            serde_json::to_string_pretty(&self.report).unwrap(),
            stderr(&self.out)
        )
    }

    fn expect_exit(&self, code: i32) {
        assert_eq!(self.out.status.code(), Some(code), "{}", self.dump());
        assert_eq!(self.report["exit_code"], code, "{}", self.dump());
        let verdict = match code {
            0 => ["ok", "warning"].contains(&self.report["verdict"].as_str().unwrap_or("")),
            _ => self.report["verdict"] == "error",
        };
        assert!(verdict, "verdict vs exit {code}: {}", self.dump());
    }

    fn endpoints(&self) -> &Vec<Value> {
        self.report["endpoints"].as_array().expect("endpoints")
    }

    /// The one endpoint of a `--server` probe.
    fn endpoint(&self) -> &Value {
        assert_eq!(self.endpoints().len(), 1, "{}", self.dump());
        &self.endpoints()[0]
    }

    /// The levels of the checks with this id (about `subject`, if given).
    fn levels(&self, id: &str, subject: Option<&str>) -> Vec<&str> {
        self.report["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .filter(|c| c["id"] == id && subject.is_none_or(|s| c["subject"] == s))
            .map(|c| c["level"].as_str().unwrap_or("?"))
            .collect()
    }

    /// The check `id` is there and every one of them is at `level`.
    fn expect_check(&self, id: &str, level: &str) {
        self.expect_check_on(id, None, &[level]);
    }

    /// The check `id` is there and not `ok`: a warning or an error.
    fn expect_flagged(&self, id: &str) {
        self.expect_check_on(id, None, &["warning", "error"]);
    }

    fn expect_check_on(&self, id: &str, subject: Option<&str>, levels: &[&str]) {
        let found = self.levels(id, subject);
        assert!(
            !found.is_empty() && found.iter().all(|l| levels.contains(l)),
            "check {id} on {subject:?}: want {levels:?}, found {found:?}\n{}",
            self.dump()
        );
    }

    /// The check `id` is absent or `ok` (e.g. `sasl.weak` where nothing weak is offered).
    fn expect_not_flagged(&self, id: &str) {
        let found = self.levels(id, None);
        assert!(
            found.iter().all(|l| *l == "ok"),
            "check {id}: want none or ok, found {found:?}\n{}",
            self.dump()
        );
    }
}

/// The certificate file's notAfter as `openssl x509` reads it, in RFC 3339.
fn cert_not_after(cert: Cert) -> String {
    let var = match cert {
        Cert::Good => "XMPP_INTEROP_CERT",
        Cert::Expired => "XMPP_INTEROP_EXPIRED_CERT",
        Cert::WrongName => "XMPP_INTEROP_WRONG_NAME_CERT",
    };
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-dateopt", "iso_8601", "-in"])
        .arg(env(var))
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // "notAfter=2026-12-03 23:58:05Z"
    let text = String::from_utf8_lossy(&out.stdout);
    let date = text.trim().strip_prefix("notAfter=").expect("notAfter=");
    date.replacen(' ', "T", 1)
}

fn now() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(d.as_secs()).unwrap()
}

/// `YYYY-MM-DDTHH:MM:SSZ` as seconds since 1970 (days from civil: H. Hinnant).
fn epoch_seconds(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Which test certificate a peer presents (interop/README.md, "Test PKI").
#[derive(Clone, Copy, PartialEq)]
enum Cert {
    /// `example.com.crt`: for example.com, valid 30 days from `interop start`.
    Good,
    /// `expired.example.com.crt`: for example.com, expired 2 days before the start.
    Expired,
    /// `wrong-name.crt`: valid, for `XMPP_INTEROP_WRONG_NAME` only.
    WrongName,
}

/// SASL2 (XEP-0388) as a configuration offers it.
struct Sasl2 {
    mechanisms: &'static [&'static str],
    /// FAST (XEP-0484) mechanisms inline.
    fast: &'static [&'static str],
    /// Stream management: `<sm>` inline and `urn:xmpp:sm:3` among Bind2's features.
    sm: bool,
}

/// `<stream:features>` as a configuration offers them.
struct Features {
    /// `Some(required)`: `<starttls/>` offered.
    starttls: Option<bool>,
    mechanisms: &'static [&'static str],
    /// XEP-0440 channel-binding types (`None`: no `<sasl-channel-binding>`).
    channel_binding: Option<&'static [&'static str]>,
    sasl2: Option<Sasl2>,
    /// XEP-0077 `<register/>`.
    register: bool,
}

/// One peer configuration, as its config file makes it.
struct Peer {
    /// The `XMPP_INTEROP_*` variable with its address.
    var: &'static str,
    direct_tls: bool,
    /// `None`: no TLS on this port at all.
    cert: Option<Cert>,
    /// Accepted alone: (TLS 1.2, TLS 1.3).
    versions: (bool, bool),
    /// Features before TLS (STARTTLS endpoints).
    before: Option<Features>,
    /// Features after TLS (the first handshake: the highest version accepted).
    after: Option<Features>,
    exit: i32,
}

/// Every TLS peer here accepts TLS 1.2 and 1.3 (stock OpenSSL/Erlang settings) unless its
/// config narrows it.
const BOTH: (bool, bool) = (true, true);
/// Prosody 13 and ejabberd 24.12 on TLS 1.3.
const CB_13: &[&str] = &["tls-exporter", "tls-server-end-point"];

/// Runs the probe for `p` and checks the report against it.
fn probe_peer(p: &Peer) -> Probe {
    let probe = Probe::server(p.var, p.direct_tls);
    let e = probe.endpoint();
    let dump = || probe.dump();
    let (host, port) = env(p.var)
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    assert_eq!(e["port"].to_string(), port, "{}", dump());
    assert_eq!(e["host"], host.as_str(), "{}", dump());
    let transport = if p.direct_tls {
        "direct_tls"
    } else {
        "starttls"
    };
    assert_eq!(e["transport"], transport, "{}", dump());
    assert_eq!(e["reachable"], true, "{}", dump());
    probe.expect_check("endpoint.reachable", "ok");
    // Every peer here answers with from='example.com' (its one VirtualHost / host), over
    // TLS too; `stream` is the first header (over TLS on a direct TLS port).
    let mut headers = vec![&e["stream"]];
    if p.cert.is_some() && !p.direct_tls {
        headers.push(&e["stream_after_tls"]);
    }
    for header in headers {
        assert_eq!(header["from"], domain().as_str(), "{}", dump());
        assert_eq!(header["version"], "1.0", "{}", dump());
    }
    probe.expect_not_flagged("stream.from");
    probe.expect_check("stream.header", "ok");

    match &p.before {
        Some(f) => expect_features(&probe, &e["features_before_tls"], f, "before TLS"),
        None => assert!(e["features_before_tls"].is_null(), "{}", dump()),
    }
    match p.cert {
        None => {
            // No <starttls/> (ejabberd `starttls: false`, Prosody "tls" disabled): nothing
            // to examine after TLS, and a server without TLS is broken.
            assert!(e["tls"].is_null(), "{}", dump());
            assert!(e["features_after_tls"].is_null(), "{}", dump());
            probe.expect_check("tls.offered", "error");
        }
        Some(cert) => {
            probe.expect_not_flagged("tls.offered");
            expect_tls(&probe, &e["tls"], cert, p.versions);
            let after = p.after.as_ref().expect("a TLS peer has features after TLS");
            expect_features(&probe, &e["features_after_tls"], after, "after TLS");
        }
    }
    let before = p.before.as_ref();
    if let Some(required) = before.and_then(|f| f.starttls) {
        if required {
            probe.expect_check("tls.required", "ok");
        } else {
            probe.expect_flagged("tls.required");
        }
    }
    // PLAIN before TLS is a password in the clear.
    if before.is_some_and(|f| f.mechanisms.contains(&"PLAIN")) {
        probe.expect_check("sasl.plain_without_tls", "error");
    } else {
        probe.expect_not_flagged("sasl.plain_without_tls");
    }
    // What is offered where the login would happen: after TLS, or on the plain stream.
    let offered = p.after.as_ref().or(before).expect("features somewhere");
    if offered.mechanisms.contains(&"DIGEST-MD5") {
        probe.expect_flagged("sasl.weak");
    } else {
        probe.expect_not_flagged("sasl.weak");
    }
    if offered.mechanisms.contains(&"SCRAM-SHA-256") {
        probe.expect_not_flagged("sasl.scram_sha256");
    } else {
        probe.expect_flagged("sasl.scram_sha256");
    }
    if offered.sasl2.is_some() {
        probe.expect_check("sasl2", "ok");
    } else {
        probe.expect_flagged("sasl2");
    }
    // Without an account the probe asks for a made-up user's SCRAM server-first; each of
    // these servers refuses an unknown user before it (seen): nothing to judge XEP-0474 by.
    assert!(e["downgrade_protection"].is_null(), "{}", dump());
    probe.expect_exit(p.exit);
    probe
}

fn expect_features(probe: &Probe, f: &Value, want: &Features, when: &str) {
    let dump = || format!("{when}: {}", probe.dump());
    assert!(f.is_object(), "no features {}", dump());
    assert_eq!(f["starttls"], want.starttls.is_some(), "{}", dump());
    assert_eq!(
        f["starttls_required"],
        want.starttls == Some(true),
        "{}",
        dump()
    );
    // Prosody's order changes from run to run: compare as sets.
    assert_eq!(
        strings(&f["mechanisms"]),
        set(want.mechanisms),
        "{}",
        dump()
    );
    match want.channel_binding {
        Some(types) => assert_eq!(
            strings(&f["channel_binding_types"]),
            set(types),
            "{}",
            dump()
        ),
        None => assert!(f["channel_binding_types"].is_null(), "{}", dump()),
    }
    assert_eq!(f["register"], want.register, "{}", dump());
    // Before authentication no peer here lists SM, CSI or bind as stream features (they
    // come after the login); compression is in none of the configs.
    assert_eq!(strings(&f["compression"]), set(&[]), "{}", dump());
    let s = &f["sasl2"];
    let Some(want) = &want.sasl2 else {
        assert!(s.is_null(), "SASL2 offered {}", dump());
        return;
    };
    assert!(s.is_object(), "no SASL2 {}", dump());
    assert_eq!(
        strings(&s["mechanisms"]),
        set(want.mechanisms),
        "{}",
        dump()
    );
    let bind2 = strings(&s["bind2"]);
    assert_eq!(
        bind2.contains("urn:xmpp:sm:3"),
        want.sm,
        "Bind2 {bind2:?} {}",
        dump()
    );
    assert_eq!(s["sm"], want.sm, "{}", dump());
    if want.fast.is_empty() {
        assert!(s["fast"].is_null(), "{}", dump());
    } else {
        assert_eq!(strings(&s["fast"]), set(want.fast), "{}", dump());
    }
}

fn expect_tls(probe: &Probe, t: &Value, cert: Cert, (tls12, tls13): (bool, bool)) {
    let dump = || probe.dump();
    // A bad certificate is a verdict on the certificate, not a failed handshake: the
    // probe goes on to read what the server offers over it.
    assert_eq!(t["ok"], true, "{}", dump());
    let version = t["version"].as_str().unwrap_or("");
    let want = if tls13 { "1.3" } else { "1.2" };
    assert!(version.ends_with(want), "version {version:?}: {}", dump());
    let versions: Vec<(String, bool)> = t["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["accepted"] == true,
            )
        })
        .collect();
    assert_eq!(
        versions,
        vec![("TLS1.2".to_owned(), tls12), ("TLS1.3".to_owned(), tls13)],
        "{}",
        dump()
    );
    if tls12 && tls13 {
        probe.expect_check("tls.versions", "ok");
    } else {
        probe.expect_flagged("tls.versions");
    }
    // None of these servers negotiates ALPN or staples OCSP (seen with openssl s_client;
    // no config sets either, and the test CA names no OCSP responder).
    assert!(t["alpn"].is_null(), "{}", dump());
    assert_eq!(t["ocsp_stapled"], false, "{}", dump());
    let leaf = &t["certificates"][0];
    assert!(
        leaf["issuer"]
            .as_str()
            .unwrap_or("")
            .contains("xmpp-negotiate-interop-test-CA"),
        "{}",
        dump()
    );
    let days = leaf["days_left"].as_i64().expect("days_left");
    let names = strings(&leaf["names"]);
    // The dates are those of the certificate file the config names, as openssl reads it,
    // and days_left is counted from them (whole days, rounded down: negative once expired).
    let not_after = leaf["not_after"].as_str().expect("not_after");
    let file = cert_not_after(cert);
    assert_eq!(not_after, file, "not_after vs openssl: {}", dump());
    let left = (epoch_seconds(&file) - now()).div_euclid(86_400);
    assert!(
        days == left || days == left + 1,
        "days_left {days}, want {left}: {}",
        dump()
    );
    match cert {
        Cert::Good => {
            assert_eq!(names, set(&[&domain()]), "{}", dump());
            assert!((1..=30).contains(&days), "days_left {days}: {}", dump());
            assert_eq!(t["verified"], true, "{}", dump());
            assert!(t["verify_error"].is_null(), "{}", dump());
            probe.expect_check("tls.certificate.verify", "ok");
            probe.expect_check("tls.certificate.expiry", "ok");
        }
        Cert::Expired => {
            assert_eq!(names, set(&[&domain()]), "{}", dump());
            assert!(days < 0, "days_left {days}: {}", dump());
            assert_eq!(t["verified"], false, "{}", dump());
            assert!(t["verify_error"].is_string(), "{}", dump());
            probe.expect_check("tls.certificate.expiry", "error");
            probe.expect_check("tls.certificate.verify", "error");
        }
        Cert::WrongName => {
            assert_eq!(names, set(&[&env("XMPP_INTEROP_WRONG_NAME")]), "{}", dump());
            assert!((1..=30).contains(&days), "days_left {days}: {}", dump());
            assert_eq!(t["verified"], false, "{}", dump());
            assert!(t["verify_error"].is_string(), "{}", dump());
            probe.expect_check("tls.certificate.verify", "error");
            probe.expect_check("tls.certificate.expiry", "ok");
        }
    }
}

#[path = "probe_peers/configs.rs"]
mod probe_configs;
#[path = "probe_peers/srv_ws_login.rs"]
mod probe_srv_ws_login;
