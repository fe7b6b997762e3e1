//! `xmpp send` against `xmpp serve`: delivery to a session of another
//! account, the XEP-0198 acknowledgement, bounces, and usage errors.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::XmppStream;
use xmpp_xml::{ns, Element};

/// A store with `somenode@example.com` / `secret` and `juliet@example.com` / `pw`.
fn store() -> Store {
    let store = Store::new();
    store.add("juliet@example.com", "pw");
    store
}

/// Juliet logged in as `juliet@example.com/balcony`, available (so that
/// messages to her bare JID reach her).
async fn juliet(addr: &str) -> XmppStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let config = ClientConfig::new("juliet@example.com/balcony", "pw")
        .unwrap()
        .with_tls(TlsMode::Off);
    let mut s = connect(tcp, config, None).await.unwrap();
    s.send(Element::builder("presence", ns::CLIENT).build())
        .await
        .unwrap();
    // A ping round trip: the presence was handled before the answer.
    let ping = Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", "p1")
        .attr("to", "example.com")
        .append(Element::builder("ping", ns::PING).build())
        .build();
    s.send(ping).await.unwrap();
    assert_eq!(next(&mut s).await.attr("id"), Some("p1"));
    s
}

async fn next(s: &mut XmppStream<TcpStream>) -> Element {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("a stanza in time")
        .expect("stream open")
        .expect("no stream error")
}

fn body(m: &Element) -> String {
    m.child("body", ns::CLIENT).unwrap().text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_argv_reaches_an_online_session_after_the_ack() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    let mut j = juliet(&server.addr).await;
    let o = send(
        &[
            "juliet@example.com",
            "disk full on db1",
            "--from",
            "somenode@example.com",
            "--server",
            &server.addr,
            "--tls",
            "off",
            "--password-stdin",
        ],
        "secret\n",
    )
    .await;
    expect_code(&o, 0);
    // Our server offers stream management: the send waited for the ack.
    assert!(stderr(&o).contains(ACKED), "{}", stderr(&o));
    assert!(!stderr(&o).contains("secret"), "{}", stderr(&o));
    let m = next(&mut j).await;
    assert_eq!(m.name(), "message");
    assert_eq!(body(&m), "disk full on db1");
    assert_eq!(m.attr("type"), Some("chat"));
    assert!(
        m.attr("from").unwrap().starts_with("somenode@example.com/"),
        "{m:?}"
    );
    assert!(m.attr("id").is_some_and(|id| id.len() >= 16));

    // --type headline, to the full JID.
    let o = send(
        &[
            "juliet@example.com/balcony",
            "load high",
            "--type",
            "headline",
            "--from",
            "somenode@example.com",
            "--server",
            &server.addr,
            "--tls",
            "off",
            "--password-stdin",
            "--wait",
            "200ms",
        ],
        "secret\n",
    )
    .await;
    expect_code(&o, 0);
    let m = next(&mut j).await;
    assert_eq!(m.attr("type"), Some("headline"));
    assert_eq!(body(&m), "load high");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_from_stdin_with_a_fast_token() {
    let store = store();
    let ca = store.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap().to_owned();
    let server = Server::start(store.arg(), &["--tls", "optional", "--write-ca", &ca]);
    let token = store.dir.path().join("token");
    let token = token.to_str().unwrap().to_owned();
    // The password once, for a FAST token.
    let o = login_with(
        &server.addr,
        "somenode@example.com",
        "secret",
        &["--ca-file", &ca, "--fast-token-file", &token],
    );
    expect_code(&o, 0);
    let mut j = juliet(&server.addr).await;
    let o = send(
        &[
            "juliet@example.com",
            "--from",
            "somenode@example.com",
            "--server",
            &server.addr,
            "--ca-file",
            &ca,
            "--fast-token-file",
            &token,
        ],
        "line one\nline two\n",
    )
    .await;
    expect_code(&o, 0);
    assert!(stderr(&o).contains(ACKED), "{}", stderr(&o));
    let m = next(&mut j).await;
    assert_eq!(body(&m), "line one\nline two");
    assert_eq!(m.attr("type"), Some("chat"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_and_unknown_recipients_bounce() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    // Juliet exists but is not online; nobody does not exist.
    for to in ["juliet@example.com", "nobody@example.com"] {
        let o = send(
            &[
                to,
                "hello?",
                "--from",
                "somenode@example.com",
                "--server",
                &server.addr,
                "--tls",
                "off",
                "--password-stdin",
            ],
            "secret\n",
        )
        .await;
        expect_failure(
            &o,
            6,
            "xmpp: the server bounced the message: <service-unavailable/>",
        );
    }
}

#[test]
fn usage_errors() {
    // No --from.
    let o = run(
        &["send", "juliet@example.com", "hi", "--password-stdin"],
        "secret\n",
    );
    expect_failure(&o, 2, "--from");
    // The password and the text cannot both come from stdin.
    let o = run(
        &[
            "send",
            "juliet@example.com",
            "--from",
            "somenode@example.com",
            "--server",
            "127.0.0.1:9",
            "--password-stdin",
        ],
        "secret\nhi\n",
    );
    expect_failure(&o, 2, "--password-stdin cannot be used");
    // Not a JID.
    let o = run(
        &[
            "send",
            "@",
            "hi",
            "--from",
            "somenode@example.com",
            "--password-stdin",
        ],
        "secret\n",
    );
    expect_code(&o, 2);
}
