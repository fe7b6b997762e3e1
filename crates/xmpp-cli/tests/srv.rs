//! Finding the server through DNS SRV, end to end: `xmpp login` (and
//! `send`) without `--server`, with `--resolver` (or `XMPP_RESOLVER`) on an
//! in-process DNS server, against `xmpp serve`. The served domain is
//! `some.test` and the SRV targets are other names (`xmpp1.some.test`):
//! the certificate, made for the served domains only, verifies because it
//! is checked against the XMPP domain, never the target.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "../../xmpp-stream/tests/dns_server/mod.rs"]
mod dns_server;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dns_server::{DnsServer, Zone};

const JID: &str = "user@some.test";
const CLIENT: &str = "_xmpp-client._tcp.some.test";
const DIRECT: &str = "_xmpps-client._tcp.some.test";

/// A store with `user@some.test` / `secret` and a server for `some.test`
/// (and example.com) with STARTTLS required, a direct TLS listener and its
/// CA written to a file.
struct Setup {
    store: Store,
    server: Server,
    ca: String,
}

impl Setup {
    fn new() -> Self {
        let store = Store::new();
        store.add(JID, "secret");
        let ca = store.dir.path().join("ca.pem").to_str().unwrap().to_owned();
        let server = Server::start(
            store.arg(),
            &[
                "--domain",
                "some.test",
                "--tls",
                "required",
                "--write-ca",
                &ca,
                "--direct-tls",
                "127.0.0.1:0",
            ],
        );
        Setup { store, server, ca }
    }

    fn port(&self) -> u16 {
        port_of(&self.server.addr)
    }

    fn direct_port(&self) -> u16 {
        port_of(self.server.direct.as_ref().unwrap())
    }
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

/// A port nothing listens on.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `xmpp args...` with the password on stdin and `env`, off the runtime
/// (the DNS server runs on it meanwhile).
async fn xmpp(args: &[&str], env: &[(&str, String)]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = Command::new(BIN)
            .args(&args)
            .env_remove("XMPP_STORE")
            .env_remove("XMPP_RESOLVER")
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn xmpp");
        let _ = child.stdin.take().unwrap().write_all(b"secret\n");
        child.wait_with_output().expect("wait xmpp")
    })
    .await
    .unwrap()
}

/// `xmpp login JID --resolver DNS --ca-file CA --transcript extra...`.
async fn login(dns: &DnsServer, ca: &str, jid: &str, extra: &[&str]) -> Output {
    let resolver = dns.addr.to_string();
    let mut args = vec![
        "login",
        jid,
        "--password-stdin",
        "--resolver",
        &resolver,
        "--ca-file",
        ca,
        "--transcript",
    ];
    args.extend_from_slice(extra);
    xmpp(&args, &[]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_through_srv_with_the_certificate_checked_for_the_domain() {
    let s = Setup::new();
    let zone = Zone::new()
        .srv(CLIENT, 0, 0, s.port(), "xmpp1.some.test")
        .ip("xmpp1.some.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let o = login(&dns, &s.ca, JID, &[]).await;
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "DNS: SRV records for some.test: _xmpp-client._tcp: 0 0 {} xmpp1.some.test; _xmpps-client._tcp: no record",
            s.port()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "connect: connected to xmpp1.some.test:{} (STARTTLS) at 127.0.0.1:{}",
            s.port(),
            s.port()
        )),
        "{out}"
    );
    assert!(out.contains("<starttls"), "{out}");
    assert!(out.contains("verified against"), "{out}");
    assert!(out.contains("Bound JID: user@some.test/"), "{out}");
    assert!(dns.queries() >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn xmpps_only_means_direct_tls_without_starttls_inside() {
    let s = Setup::new();
    let zone = Zone::new()
        .srv(DIRECT, 0, 0, s.direct_port(), "xmpp1.some.test")
        .ip("xmpp1.some.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let o = login(&dns, &s.ca, JID, &[]).await;
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "connected to xmpp1.some.test:{} (direct TLS)",
            s.direct_port()
        )),
        "{out}"
    );
    // TLS first, and no STARTTLS inside it.
    let steps = &out[out.find("-- round trip 1 --").unwrap()..];
    assert!(
        steps.starts_with("-- round trip 1 --\nStep 1: TLS handshake"),
        "{out}"
    );
    assert!(!out.contains("<starttls"), "{out}");
    assert!(out.contains("Bound JID: user@some.test/"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn both_records_merged_by_priority() {
    // The direct TLS record has the better priority: it is tried first
    // (a client skipping _xmpps-client would use STARTTLS here).
    let s = Setup::new();
    let zone = Zone::new()
        .srv(CLIENT, 20, 0, s.port(), "xmpp1.some.test")
        .srv(DIRECT, 10, 0, s.direct_port(), "xmpp2.some.test")
        .ip("xmpp1.some.test", "127.0.0.1")
        .ip("xmpp2.some.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let o = login(&dns, &s.ca, JID, &[]).await;
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "DNS: targets in order: xmpp2.some.test:{} (direct TLS), xmpp1.some.test:{} (STARTTLS)",
            s.direct_port(),
            s.port()
        )),
        "{out}"
    );
    assert!(!out.contains("<starttls"), "{out}");
    // --direct-tls keeps the direct TLS targets only.
    let o = login(&dns, &s.ca, JID, &["--direct-tls"]).await;
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "DNS: targets in order: xmpp2.some.test:{} (direct TLS)\n",
            s.direct_port()
        )),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn direct_tls_without_xmpps_records_tries_the_domain_on_5223() {
    let s = Setup::new();
    let zone = Zone::new()
        .srv(CLIENT, 0, 0, s.port(), "xmpp1.some.test")
        .ip("xmpp1.some.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let o = login(&dns, &s.ca, JID, &["--direct-tls", "--timeout", "5s"]).await;
    let out = stdout(&o);
    assert!(
        out.contains("DNS: targets in order: some.test:5223 (direct TLS)\n"),
        "{out}"
    );
    // some.test has no address in this zone.
    expect_failure(
        &o,
        5,
        "some.test:5223 (direct TLS): the name has no address",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_first_target_is_reported_and_the_next_one_used() {
    let s = Setup::new();
    let dead = dead_port();
    let zone = Zone::new()
        .srv(CLIENT, 0, 0, dead, "dead.some.test")
        .srv(CLIENT, 10, 0, s.port(), "xmpp1.some.test")
        .ip("dead.some.test", "127.0.0.1")
        .ip("xmpp1.some.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    // Through XMPP_RESOLVER, with -v instead of the transcript.
    let o = xmpp(
        &["login", JID, "--password-stdin", "--ca-file", &s.ca, "-v"],
        &[
            ("XMPP_RESOLVER", dns.addr.to_string()),
            ("NO_COLOR", "1".to_owned()),
        ],
    )
    .await;
    expect_code(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "connect: failed: dead.some.test:{dead} (STARTTLS) at 127.0.0.1:{dead}:"
        )),
        "{err}"
    );
    assert!(
        err.contains("connect: connected to xmpp1.some.test"),
        "{err}"
    );
    assert!(stdout(&o).starts_with("user@some.test/"), "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_reachable_exits_5_naming_every_target() {
    let s = Setup::new();
    let dead = dead_port();
    // The domain's own A record points at a live server on its port: there
    // must be no fallback to it once SRV records were found.
    let zone = Zone::new()
        .srv(CLIENT, 0, 0, dead, "dead.some.test")
        .srv(DIRECT, 0, 0, dead, "gone.some.test")
        .ip("dead.some.test", "127.0.0.1")
        .ip("some.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let o = login(&dns, &s.ca, JID, &[]).await;
    expect_failure(&o, 5, "cannot connect to the server of some.test; tried:");
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "dead.some.test:{dead} (STARTTLS) at 127.0.0.1:{dead}"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "gone.some.test:{dead} (direct TLS): the name has no address"
        )),
        "{err}"
    );
    assert!(!stdout(&o).contains("some.test:5222"), "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dot_target_exits_5_without_trying_anything() {
    let s = Setup::new();
    let zone = Zone::new()
        .srv(CLIENT, 0, 0, 0, ".")
        .ip("some.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let o = login(&dns, &s.ca, JID, &[]).await;
    expect_failure(&o, 5, "some.test offers no XMPP client service");
    assert!(!stdout(&o).contains("connect:"), "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn no_srv_falls_back_to_the_domain_on_5222() {
    // Whatever listens on 127.0.0.1:5222 here (likely nothing), the
    // transcript says what was resolved and tried.
    let s = Setup::new();
    let zone = Zone::new().ip("nosrv.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let o = login(&dns, &s.ca, "user@nosrv.test", &["--timeout", "5s"]).await;
    let out = stdout(&o);
    assert!(
        out.contains("DNS: no SRV record for nosrv.test (_xmpp-client._tcp: no record; _xmpps-client._tcp: no record): trying the domain itself"),
        "{out}"
    );
    assert!(
        out.contains("connect: trying nosrv.test:5222 (STARTTLS) at 127.0.0.1:5222"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_dns_server_is_a_timeout_not_a_hang() {
    let s = Setup::new();
    let dns = DnsServer::start(Zone::new().silent()).await;
    let start = Instant::now();
    let o = login(&dns, &s.ca, JID, &["--timeout", "2s"]).await;
    expect_failure(&o, 5, "cannot find the server of some.test");
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn server_overrides_dns() {
    let s = Setup::new();
    let dns = DnsServer::start(Zone::new().silent()).await;
    let o = login(&dns, &s.ca, JID, &["--server", &s.server.addr]).await;
    expect_code(&o, 0);
    assert_eq!(dns.queries(), 0);
    assert!(!stdout(&o).contains("DNS:"), "{}", stdout(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn send_finds_the_server_through_srv_too() {
    let s = Setup::new();
    let zone = Zone::new()
        .srv(CLIENT, 0, 0, s.port(), "xmpp1.some.test")
        .ip("xmpp1.some.test", "127.0.0.1");
    let dns = DnsServer::start(zone).await;
    let resolver = dns.addr.to_string();
    let o = xmpp(
        &[
            "send",
            "user@some.test",
            "hello",
            "--from",
            JID,
            "--password-stdin",
            "--resolver",
            &resolver,
            "--ca-file",
            &s.ca,
        ],
        &[],
    )
    .await;
    // The recipient has no session, so the server bounces the message:
    // proof enough that send found the server, logged in and sent.
    expect_failure(
        &o,
        6,
        "the server bounced the message: <service-unavailable/>",
    );
    let _ = &s.store;
}
