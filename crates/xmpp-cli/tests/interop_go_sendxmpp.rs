//! go-sendxmpp 0.14.1, a SASL2 (XEP-0388) + Bind2 (XEP-0386) + FAST
//! (XEP-0484) + SSDP (XEP-0474) client, sends messages through `xmpp serve`
//! (the suite's certificate, STARTTLS required; the account store keeps the
//! FAST tokens) to a session of our library client. Started by `cargo xtask
//! interop`; fails when the harness's environment is missing.
//!
//! go-sendxmpp runs twice with one `HOME`: the first run logs in with a
//! password (it takes the strongest SCRAM-*-PLUS, binding with
//! tls-exporter) and asks for a token, the second logs in with the token it
//! stored under `HOME` (HT-SHA-256-EXPR). It verifies the certificate
//! against `SSL_CERT_FILE` (it has no CA option), checks the SSDP `h=` of the
//! server-first message itself, and exits non-zero when anything fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::XmppStream;
use xmpp_xml::{ns, Element};

const SENDER: &str = "somenode@example.com";
const RECEIVER: &str = "receiver@example.com";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the interop suite with `cargo xtask interop`")
    })
}

/// A session that receives what is sent to `RECEIVER`'s bare JID: logged in
/// over STARTTLS (the suite's CA), available (initial presence), and sure
/// the server has taken that presence (a ping after it is answered).
async fn receiver(addr: &str) -> XmppStream<TcpStream> {
    let mut config = ClientConfig::new(&format!("{RECEIVER}/inbox"), "pw")
        .unwrap()
        .with_tls(TlsMode::Required);
    config.tls_config =
        Some(xmpp_stream::tls::ca_file_config(Path::new(&env("XMPP_INTEROP_CA"))).unwrap());
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut s = connect(tcp, config, None).await.unwrap();
    s.send(Element::builder("presence", ns::CLIENT).build())
        .await
        .unwrap();
    s.send(
        Element::builder("iq", ns::CLIENT)
            .attr("type", "get")
            .attr("id", "ping1")
            .attr("to", "example.com")
            .append(Element::builder("ping", ns::PING).build())
            .build(),
    )
    .await
    .unwrap();
    let reply = next_where(&mut s, |el| el.attr("id") == Some("ping1")).await;
    assert_eq!(reply.attr("type"), Some("result"));
    s
}

/// The next stanza `wanted` accepts, skipping others (presences).
async fn next_where(s: &mut XmppStream<TcpStream>, wanted: impl Fn(&Element) -> bool) -> Element {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let el = s.next().await.expect("stream open").expect("no error");
            if wanted(&el) {
                return el;
            }
        }
    })
    .await
    .expect("the stanza in time")
}

/// A `session established` line of the server's log, as its fields.
#[derive(Debug)]
struct Established {
    jid: String,
    mechanism: String,
    sasl2: bool,
    bind2: bool,
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let at = line.find(&format!(" {name}="))? + name.len() + 2;
    let value = line[at..].split(' ').next()?;
    Some(value.trim_matches('"'))
}

/// The sessions of `SENDER` the server established, in order.
fn sender_sessions(log: &Log) -> Vec<Established> {
    log.lines()
        .iter()
        .filter(|l| l.contains("session established"))
        .filter_map(|l| {
            let jid = field(l, "jid")?;
            if !jid.starts_with(&format!("{SENDER}/")) {
                return None;
            }
            let get = |name: &str| field(l, name).unwrap_or_else(|| panic!("no {name}= in {l}"));
            Some(Established {
                jid: jid.to_owned(),
                mechanism: get("mechanism").to_owned(),
                sasl2: get("sasl2") == "true",
                bind2: get("bind2") == "true",
            })
        })
        .collect()
}

/// Waits until the server has logged `n` sessions of `SENDER` (the log is
/// read on another thread).
async fn wait_for_sessions(log: &Log, n: usize) -> Vec<Established> {
    for _ in 0..50 {
        let sessions = sender_sessions(log);
        if sessions.len() >= n {
            return sessions;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the server logged {} session(s) of {SENDER}, expected {n}:\n{}",
        sender_sessions(log).len(),
        log.lines().join("\n")
    );
}

/// go-sendxmpp sends a message to `RECEIVER` twice with one `HOME`, over
/// STARTTLS or direct TLS; both must arrive, the first login must be SASL2
/// + Bind2 with SCRAM-*-PLUS and the second a FAST login with the token the
///   first one got (a channel-bound HT-* mechanism).
async fn go_sendxmpp_twice(direct_tls: bool) {
    let store = Store::new();
    expect_code(
        &run(
            &[
                "user",
                "add",
                RECEIVER,
                "--store",
                store.arg(),
                "--password-stdin",
            ],
            "pw\n",
        ),
        0,
    );
    let (cert, key) = (env("XMPP_INTEROP_CERT"), env("XMPP_INTEROP_KEY"));
    let mut args = vec!["--tls", "required", "--tls-cert", &cert, "--tls-key", &key];
    if direct_tls {
        args.extend(["--direct-tls", "127.0.0.1:0"]);
    }
    let (server, log) = Server::start_logged(store.arg(), &args);
    let mut inbox = receiver(&server.addr).await;
    let home = tempfile::tempdir().unwrap();
    let address = match (&server.direct, direct_tls) {
        (Some(direct), true) => direct.clone(),
        _ => server.addr.clone(),
    };

    for round in 1..=2 {
        let text = format!("interop: go-sendxmpp round {round}");
        let message = home.path().join("message.txt");
        std::fs::write(&message, format!("{text}\n")).unwrap();
        let mut cmd = tokio::process::Command::new(env("XMPP_INTEROP_GO_SENDXMPP"));
        cmd.args(["--suppress-root-warning", "--debug", "--timeout", "10"])
            .args(["--username", SENDER, "--password", "secret"])
            .args(["--jserver", &address, "--message"])
            .arg(&message);
        if direct_tls {
            cmd.arg("--tls");
        }
        cmd.arg(RECEIVER)
            .env("HOME", home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env("SSL_CERT_FILE", env("XMPP_INTEROP_CA"));
        let output = tokio::time::timeout(
            Duration::from_secs(60),
            cmd.stdin(Stdio::null()).kill_on_drop(true).output(),
        )
        .await
        .expect("go-sendxmpp finished")
        .expect("run go-sendxmpp");
        // --debug: its wire log is on stdout.
        let wire = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "go-sendxmpp round {round} failed ({}):\n{wire}\n{stderr}",
            output.status
        );
        let got = next_where(&mut inbox, |el| el.is("message", ns::CLIENT)).await;
        assert_eq!(
            got.child("body", ns::CLIENT).map(|b| b.text()),
            Some(text.clone()),
            "round {round}: {got:?}"
        );
        assert!(
            got.attr("from")
                .is_some_and(|f| f.starts_with(&format!("{SENDER}/"))),
            "round {round}: {got:?}"
        );
        let sessions = wait_for_sessions(&log, round).await;
        let s = &sessions[round - 1];
        assert!(
            s.sasl2 && s.bind2,
            "round {round}: not SASL2 + Bind2: {s:?}"
        );
        assert_eq!(got.attr("from"), Some(s.jid.as_str()), "round {round}");
        if round == 1 {
            assert!(
                ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"].contains(&s.mechanism.as_str()),
                "round 1: {s:?}"
            );
            assert!(
                wire.contains("<request-token xmlns='urn:xmpp:fast:0'"),
                "round 1 asked for no FAST token:\n{wire}"
            );
        } else {
            assert!(
                ["HT-SHA-256-EXPR", "HT-SHA-256-ENDP"].contains(&s.mechanism.as_str()),
                "round 2 did not log in with its FAST token: {s:?}\n{wire}"
            );
        }
    }
    assert_eq!(sender_sessions(&log).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "interop: run by cargo xtask interop"]
async fn go_sendxmpp_starttls_sasl2_then_fast_to_xmpp_serve() {
    go_sendxmpp_twice(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "interop: run by cargo xtask interop"]
async fn go_sendxmpp_direct_tls_sasl2_then_fast_to_xmpp_serve() {
    go_sendxmpp_twice(true).await;
}
