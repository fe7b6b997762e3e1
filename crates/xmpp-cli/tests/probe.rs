//! `xmpp probe` against `xmpp serve` configured several ways (TLS required,
//! optional and off; direct TLS; WebSocket with host-meta; an expired and a
//! wrong-name certificate made here; SRV records and a CNAME from the
//! in-process DNS server): each report is checked against the
//! configuration this file gave the server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../xmpp-stream/tests/dns_server/mod.rs"]
mod dns_server;

use std::path::Path;
use std::process::Output;

use common::*;
use dns_server::{DnsServer, Zone};
use serde_json::Value;

/// `xmpp probe args... --json` off the runtime (the DNS server runs on it).
async fn probe(args: &[&str], stdin: &str) -> (Output, Value) {
    let mut all = vec!["probe".to_owned(), "--json".to_owned()];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    let stdin = stdin.to_owned();
    let o = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        run(&args, &stdin)
    })
    .await
    .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(&o), stderr(&o)));
    (o, v)
}

/// The checks with `id` (on `subject`, if given), as `(level, message)`.
fn checks<'a>(v: &'a Value, id: &str, subject: Option<&str>) -> Vec<(&'a str, &'a str)> {
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id && subject.is_none_or(|s| c["subject"] == s))
        .map(|c| (c["level"].as_str().unwrap(), c["message"].as_str().unwrap()))
        .collect()
}

/// The one level of check `id`.
fn level<'a>(v: &'a Value, id: &str) -> &'a str {
    let found = checks(v, id, None);
    assert!(!found.is_empty(), "no check {id}: {v:#}");
    found[0].0
}

/// A CA and a certificate for `names` signed by it, valid from 2020 to
/// 2021 when `expired`, written as ca.pem, cert.pem and key.pem in `dir`.
fn certificate(dir: &Path, names: &[&str], expired: bool) -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "probe test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = rcgen::CertificateParams::new(names).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.signed_by(&key, &ca).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    };
    (
        write("ca.pem", ca.pem()),
        write("cert.pem", cert.pem()),
        write("key.pem", key.serialize_pem()),
    )
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// TLS required, direct TLS and WebSocket (with host-meta) on; the SRV
/// records of example.com point at both TCP listeners through a host name.
#[tokio::test(flavor = "multi_thread")]
async fn a_well_configured_server_found_through_srv() {
    let store = Store::new();
    store.add("juliet@example.com", "secret");
    let ca = store.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let server = Server::start(
        store.arg(),
        &[
            "--tls",
            "required",
            "--write-ca",
            ca,
            "--direct-tls",
            "127.0.0.1:0",
            "--websocket",
            "127.0.0.1:0",
        ],
    );
    let (port, direct) = (
        port_of(&server.addr),
        port_of(server.direct.as_ref().unwrap()),
    );
    let zone = Zone::new()
        .srv(
            "_xmpp-client._tcp.example.com",
            0,
            5,
            port,
            "xmpp.example.com",
        )
        .srv(
            "_xmpps-client._tcp.example.com",
            0,
            5,
            direct,
            "xmpp.example.com",
        )
        .ip("xmpp.example.com", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let ws = server.websocket.clone().unwrap();
    let base = ws
        .trim_end_matches("/xmpp-websocket")
        .replace("wss:", "https:");
    let resolver = dns.addr.to_string();
    let (o, v) = probe(
        &[
            "example.com",
            "--resolver",
            &resolver,
            "--ca-file",
            ca,
            "--host-meta",
            &base,
        ],
        "",
    )
    .await;
    // Warnings only (DIGEST-MD5 is on by default; 127.0.0.1 has no IPv6).
    expect_code(&o, 0);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["verdict"], "warning");
    assert_eq!(v["dns"]["starttls"]["status"], "records");
    assert_eq!(v["dns"]["starttls"]["records"][0]["port"], port);
    assert_eq!(v["dns"]["direct_tls"]["records"][0]["port"], direct);
    assert_eq!(v["dns"]["hosts"][0]["addresses"][0], "127.0.0.1");
    assert_eq!(level(&v, "dns.families"), "warning");
    let endpoints = v["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 2, "{v:#}");
    let mut transports: Vec<&str> = endpoints
        .iter()
        .map(|e| e["transport"].as_str().unwrap())
        .collect();
    transports.sort_unstable();
    assert_eq!(transports, ["direct_tls", "starttls"]);
    for e in endpoints {
        assert_eq!(e["reachable"], true);
        assert_eq!(e["error"], Value::Null, "{e:#}");
        let tls = &e["tls"];
        assert_eq!(tls["verified"], true);
        assert!(tls["certificates"][0]["days_left"].as_i64().unwrap() > 0);
        assert_eq!(tls["certificates"][0]["names"][0], "example.com");
        assert!(tls["versions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["accepted"] == true));
        let after = &e["features_after_tls"];
        // serve's defaults: SCRAM with -PLUS, DIGEST-MD5 and PLAIN after TLS,
        // SASL2 with Bind2 and FAST, stream management.
        let mechanisms = after["mechanisms"].as_array().unwrap();
        for m in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "DIGEST-MD5", "PLAIN"] {
            assert!(mechanisms.iter().any(|x| x == m), "{m}: {after:#}");
        }
        assert!(after["sasl2"]["bind2"].is_array());
        assert!(!after["sasl2"]["fast"].as_array().unwrap().is_empty());
        assert_eq!(after["sasl2"]["sm"], true);
        assert_eq!(e["downgrade_protection"], true);
        if e["transport"] == "starttls" {
            let before = &e["features_before_tls"];
            assert_eq!(before["starttls_required"], true);
            assert!(before["mechanisms"].as_array().unwrap().is_empty());
            assert_eq!(e["stream"]["from"], "example.com");
            assert_eq!(e["stream_after_tls"]["version"], "1.0");
        } else {
            // serve accepts the probe's ALPN offer without choosing it
            // (XEP-0368 allows either).
            assert_eq!(tls["alpn"], Value::Null);
            assert_eq!(e["features_before_tls"], Value::Null);
        }
    }
    assert_eq!(level(&v, "tls.required"), "ok");
    assert_eq!(level(&v, "sasl.weak"), "warning");
    let http = &v["http"];
    assert_eq!(http["host_meta"][0]["status"], 200);
    assert_eq!(http["websocket"][0]["url"], ws);
    assert_eq!(http["websocket"][0]["opens_stream"], true, "{http:#}");
}

/// STARTTLS optional, PLAIN allowed in the clear, a certificate that
/// expired in 2021: errors, and exit 1.
#[tokio::test(flavor = "multi_thread")]
async fn tls_optional_plain_in_the_clear_and_an_expired_certificate() {
    let store = Store::new();
    let (ca, cert, key) = certificate(store.dir.path(), &["example.com"], true);
    let server = Server::start(
        store.arg(),
        &[
            "--tls",
            "optional",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--allow-plain-without-tls",
            "--mechanisms",
            "SCRAM-SHA-1,PLAIN",
        ],
    );
    let (o, v) = probe(
        &["example.com", "--server", &server.addr, "--ca-file", &ca],
        "",
    )
    .await;
    expect_code(&o, 1);
    assert_eq!(v["dns"], Value::Null);
    let e = &v["endpoints"][0];
    assert_eq!(e["features_before_tls"]["starttls"], true);
    assert_eq!(e["features_before_tls"]["starttls_required"], false);
    assert_eq!(level(&v, "tls.required"), "warning");
    assert_eq!(level(&v, "sasl.plain_without_tls"), "error");
    assert_eq!(level(&v, "sasl.scram_sha256"), "warning");
    assert_eq!(e["tls"]["verified"], false);
    assert!(
        e["tls"]["verify_error"]
            .as_str()
            .unwrap()
            .contains("xpired"),
        "{e:#}"
    );
    assert!(e["tls"]["certificates"][0]["days_left"].as_i64().unwrap() < 0);
    assert_eq!(
        e["tls"]["certificates"][0]["not_after"],
        "2021-01-01T00:00:00Z"
    );
    assert_eq!(level(&v, "tls.certificate.expiry"), "error");
    assert_eq!(level(&v, "tls.certificate.verify"), "error");
    // The probe goes on past the bad certificate: features after TLS.
    assert_eq!(
        e["features_after_tls"]["mechanisms"],
        serde_json::json!(["SCRAM-SHA-1", "PLAIN"])
    );
    let fixes = v["fixes"].as_array().unwrap();
    assert!(
        fixes.iter().any(|f| f.as_str().unwrap().contains("renew")),
        "{fixes:?}"
    );
}

/// A certificate for another name: it does not verify for the domain.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_for_another_name() {
    let store = Store::new();
    let (ca, cert, key) = certificate(store.dir.path(), &["other.example"], false);
    let server = Server::start(
        store.arg(),
        &[
            "--tls",
            "required",
            "--tls-cert",
            &cert,
            "--tls-key",
            &key,
            "--direct-tls",
            "127.0.0.1:0",
        ],
    );
    let direct = server.direct.clone().unwrap();
    let (o, v) = probe(
        &[
            "example.com",
            "--server",
            &direct,
            "--direct-tls",
            "--ca-file",
            &ca,
        ],
        "",
    )
    .await;
    expect_code(&o, 1);
    let e = &v["endpoints"][0];
    assert_eq!(e["transport"], "direct_tls");
    assert_eq!(e["tls"]["certificates"][0]["names"][0], "other.example");
    let why = e["tls"]["verify_error"].as_str().unwrap();
    assert!(why.contains("not valid for name"), "{why}");
    assert_eq!(level(&v, "tls.certificate.verify"), "error");
    assert_eq!(level(&v, "tls.certificate.expiry"), "ok");
}

/// No TLS at all: STARTTLS missing is an error.
#[tokio::test(flavor = "multi_thread")]
async fn no_tls() {
    let store = Store::new();
    let server = Server::start(store.arg(), &["--tls", "off"]);
    let (o, v) = probe(&["example.com", "--server", &server.addr], "").await;
    expect_code(&o, 1);
    let e = &v["endpoints"][0];
    assert_eq!(e["features_before_tls"]["starttls"], false);
    assert_eq!(e["tls"], Value::Null);
    assert_eq!(level(&v, "tls.offered"), "error");
    assert!(!e["features_before_tls"]["mechanisms"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == "PLAIN"));
}

/// Nothing listens: exit 5.
#[tokio::test(flavor = "multi_thread")]
async fn nothing_reachable_exits_5() {
    let port = free_port();
    let server = format!("127.0.0.1:{port}");
    let (o, v) = probe(&["example.com", "--server", &server, "--timeout", "2s"], "").await;
    expect_code(&o, 5);
    assert_eq!(v["endpoints"][0]["reachable"], false);
    assert_eq!(level(&v, "endpoint.reachable"), "error");
}

/// An SRV target that is an alias, and a `.` for direct TLS.
#[tokio::test(flavor = "multi_thread")]
async fn a_cname_srv_target() {
    let store = Store::new();
    let ca = store.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let server = Server::start(store.arg(), &["--tls", "required", "--write-ca", ca]);
    let zone = Zone::new()
        .srv(
            "_xmpp-client._tcp.example.com",
            0,
            5,
            port_of(&server.addr),
            "alias.example.com",
        )
        .srv("_xmpps-client._tcp.example.com", 0, 0, 0, ".")
        .cname("alias.example.com", "real.example.com")
        .ip("real.example.com", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let resolver = dns.addr.to_string();
    let (o, v) = probe(
        &["example.com", "--resolver", &resolver, "--ca-file", ca],
        "",
    )
    .await;
    expect_code(&o, 1);
    assert_eq!(v["dns"]["direct_tls"]["status"], "unavailable");
    assert_eq!(v["dns"]["hosts"][0]["cname"], "real.example.com");
    assert_eq!(level(&v, "dns.cname"), "error");
    // The alias still leads to the server.
    assert_eq!(v["endpoints"][0]["reachable"], true);
}

/// With credentials: every mechanism in both profiles, FAST, resumption
/// and a ping; then a wrong password.
#[tokio::test(flavor = "multi_thread")]
async fn logins_with_every_mechanism() {
    let store = Store::new();
    store.add("juliet@example.com", "secret");
    let ca = store.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let server = Server::start(store.arg(), &["--tls", "required", "--write-ca", ca]);
    let args = [
        "juliet@example.com",
        "--password-stdin",
        "--server",
        &server.addr,
        "--ca-file",
        ca,
    ];
    let (o, v) = probe(&args, "secret\n").await;
    expect_code(&o, 0);
    let login = &v["login"];
    let attempts = login["attempts"].as_array().unwrap();
    for profile in ["rfc6120", "sasl2"] {
        for m in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1", "DIGEST-MD5", "PLAIN"] {
            let a = attempts
                .iter()
                .find(|a| a["profile"] == profile && a["mechanism"] == m)
                .unwrap_or_else(|| panic!("{profile} {m}: {login:#}"));
            assert_eq!(a["ok"], true, "{a:#}");
            assert!(a["round_trips"].as_u64().unwrap() >= 3);
        }
    }
    // SASL2 saves round trips (XEP-0388): the same SCRAM in fewer.
    let rtt = |p: &str| {
        attempts
            .iter()
            .find(|a| a["profile"] == p && a["mechanism"] == "SCRAM-SHA-256")
            .unwrap()["round_trips"]
            .as_u64()
            .unwrap()
    };
    assert!(rtt("sasl2") < rtt("rfc6120"), "{login:#}");
    assert_eq!(login["fast"]["ok"], true, "{login:#}");
    assert!(login["fast"]["mechanism"]
        .as_str()
        .unwrap()
        .starts_with("HT-SHA-256-"));
    assert_eq!(login["resumption"]["ok"], true, "{login:#}");
    assert_eq!(login["ping"]["ok"], true);
    // The first session's features: binding and stream management (serve
    // offers them after login), no CSI, and no carbons in disco#info.
    let session = &login["features_after_login"];
    assert_eq!(session["bind"], true, "{session:#}");
    assert_eq!(session["sm"][0], "urn:xmpp:sm:3");
    assert_eq!(level(&v, "csi"), "warning");
    assert_eq!(checks(&v, "carbons", Some("login"))[0].0, "warning");

    let (o, v) = probe(&args, "wrong\n").await;
    expect_code(&o, 1);
    let attempts = v["login"]["attempts"].as_array().unwrap();
    assert!(attempts.iter().all(|a| a["ok"] == false));
    assert!(
        attempts[0]["error"]
            .as_str()
            .unwrap()
            .contains("not-authorized"),
        "{attempts:#?}"
    );
}

/// The table for people: levels, fixes, the verdict, no colour off a
/// terminal.
#[test]
fn the_table() {
    let store = Store::new();
    let server = Server::start(store.arg(), &["--tls", "off"]);
    let o = run(&["probe", "example.com", "--server", &server.addr], "");
    expect_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{} (STARTTLS)", server.addr)),
        "{out}"
    );
    assert!(out.contains("error    STARTTLS is not offered"), "{out}");
    assert!(out.contains("To fix"), "{out}");
    assert!(out.contains("verdict: error"), "{out}");
    assert!(!out.contains('\u{1b}'), "colour off a terminal: {out:?}");
}
