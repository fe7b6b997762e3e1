//! `xmpp serve` with stream management (XEP-0198): sessions whose
//! connection is lost wait to be resumed (`--resume-timeout`), get what was
//! routed to them meanwhile, and bounce it with `<recipient-unavailable/>`
//! when nobody resumes them; `--inject stanza:N=cut` cuts connections for
//! clients to practise on; `--sm off` offers none.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use xmpp_stream::client::{
    connect, ClientConfig, ClientEvent, ReconnectPolicy, ReconnectingClient, TlsMode,
};
use xmpp_stream::XmppStream;
use xmpp_xml::{ns, Element};

/// A store with `somenode@example.com` / `secret` and `juliet@example.com` / `pw`.
fn store() -> Store {
    let store = Store::new();
    store.add("juliet@example.com", "pw");
    store
}

fn config(jid: &str, password: &str, sm: bool) -> ClientConfig {
    let mut config = ClientConfig::new(jid, password)
        .unwrap()
        .with_tls(TlsMode::Off);
    config.stream_management = sm;
    config
}

async fn login(addr: &str, config: ClientConfig) -> XmppStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    connect(tcp, config, None).await.unwrap()
}

fn message(to: &str, id: &str, text: &str) -> Element {
    Element::builder("message", ns::CLIENT)
        .attr("to", to)
        .attr("id", id)
        .attr("type", "chat")
        .append(Element::builder("body", ns::CLIENT).text(text).build())
        .build()
}

async fn next(s: &mut XmppStream<TcpStream>) -> Element {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("a stanza in time")
        .expect("stream open")
        .expect("no stream error")
}

fn body(m: &Element) -> String {
    m.child("body", ns::CLIENT)
        .map(|b| b.text())
        .unwrap_or_default()
}

/// Every connection is cut when the server wrote its second stanza to it
/// (which never leaves); the reconnecting client resumes each time and
/// gets every message exactly once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resumes_through_injected_cuts_and_loses_nothing() {
    let store = store();
    let server = Server::start(store.arg(), &["--inject", "stanza:2=cut"]);
    let addr = server.addr.clone();
    let connector = move |config: ClientConfig| {
        let addr = addr.clone();
        async move {
            let tcp = TcpStream::connect(&addr).await?;
            connect(tcp, config, None).await
        }
    };
    let mut juliet =
        ReconnectingClient::connect(config("juliet@example.com/balcony", "pw", true), connector)
            .await
            .unwrap()
            .with_policy(ReconnectPolicy {
                initial_delay: Duration::from_millis(20),
                ..ReconnectPolicy::default()
            });
    juliet.flush_acked().await.unwrap();
    let mut romeo = login(&server.addr, config("somenode@example.com", "secret", true)).await;
    for i in 1..=6 {
        romeo
            .send(message(
                "juliet@example.com/balcony",
                &format!("m{i}"),
                &format!("{i}"),
            ))
            .await
            .unwrap();
    }
    romeo.flush_acked().await.unwrap();
    let (mut got, mut resumed, mut new_sessions) = (Vec::new(), 0, 0);
    while got.len() < 6 {
        let event = tokio::time::timeout(Duration::from_secs(10), juliet.next())
            .await
            .expect("an event in time")
            .unwrap()
            .unwrap();
        match event {
            ClientEvent::Stanza(el) => got.push(body(&el)),
            ClientEvent::Resumed => resumed += 1,
            ClientEvent::NewSession { .. } => new_sessions += 1,
            _ => {}
        }
    }
    assert_eq!(got, ["1", "2", "3", "4", "5", "6"]);
    assert!(
        resumed >= 2,
        "cut after the 2nd stanza of each connection: {resumed}"
    );
    assert_eq!(new_sessions, 0);
    // Nothing more: no duplicates.
    romeo
        .send(message("juliet@example.com/balcony", "last", "last"))
        .await
        .unwrap();
    loop {
        match juliet.next().await.unwrap().unwrap() {
            ClientEvent::Stanza(el) => {
                assert_eq!(body(&el), "last");
                break;
            }
            ClientEvent::Resumed | ClientEvent::Disconnected { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

/// A detached session nobody resumes: what was routed to it comes back to
/// the sender as `<recipient-unavailable/>` once `--resume-timeout` passed,
/// not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_nobody_resumes_bounces_what_it_held() {
    let store = store();
    let server = Server::start(store.arg(), &["--resume-timeout", "1s"]);
    let mut juliet = login(
        &server.addr,
        config("juliet@example.com/balcony", "pw", true),
    )
    .await;
    juliet.flush_acked().await.unwrap();
    assert!(juliet.info().stream_management);
    let mut romeo = login(&server.addr, config("somenode@example.com", "secret", true)).await;
    // Romeo's first message reaches Juliet, who never acknowledges it.
    romeo
        .send(message("juliet@example.com/balcony", "a", "unacknowledged"))
        .await
        .unwrap();
    assert_eq!(body(&next(&mut juliet).await), "unacknowledged");
    // Her connection is lost (no close).
    assert!(juliet.suspend().is_some());
    drop(juliet);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The session waits: a message for it is kept, not bounced.
    romeo
        .send(message("juliet@example.com/balcony", "b", "while away"))
        .await
        .unwrap();
    let early = tokio::time::timeout(Duration::from_millis(500), romeo.next()).await;
    assert!(
        early.is_err(),
        "nothing bounces before the timeout: {early:?}"
    );
    // After it: both come back, as errors from her full JID.
    let mut bounced = Vec::new();
    for _ in 0..2 {
        let e = next(&mut romeo).await;
        assert_eq!(e.attr("type"), Some("error"), "{e:?}");
        assert_eq!(e.attr("from"), Some("juliet@example.com/balcony"));
        let error = e.child("error", ns::CLIENT).unwrap();
        assert!(
            error.child("recipient-unavailable", ns::STANZAS).is_some(),
            "{e:?}"
        );
        bounced.push(e.attr("id").unwrap().to_owned());
    }
    bounced.sort();
    assert_eq!(bounced, ["a", "b"]);
}

/// `--sm off` offers no stream management; `--resume-timeout 0` offers it
/// without resumption.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_management_and_resumption_can_be_turned_off() {
    let store = store();
    let server = Server::start(store.arg(), &["--sm", "off"]);
    let mut s = login(&server.addr, config("somenode@example.com", "secret", true)).await;
    s.flush_acked().await.unwrap();
    assert!(!s.info().stream_management);
    assert!(s.suspend().is_none());
    drop(server);

    let server = Server::start(store.arg(), &["--resume-timeout", "0"]);
    let mut s = login(&server.addr, config("somenode@example.com", "secret", true)).await;
    s.send(message("somenode@example.com", "x", "to myself"))
        .await
        .unwrap();
    s.flush_acked().await.unwrap();
    assert!(s.info().stream_management, "acknowledgements still");
    assert!(s.suspend().is_none(), "but no resumption");
}

#[test]
fn usage_errors() {
    let o = run(
        &[
            "serve",
            "--domain",
            "example.com",
            "--inject",
            "stanza:0=cut",
        ],
        "",
    );
    expect_failure(&o, 2, "stanza:0=cut");
    let o = run(
        &[
            "serve",
            "--domain",
            "example.com",
            "--inject",
            "stanza:3=close",
        ],
        "",
    );
    expect_failure(&o, 2, "the only fault is `cut`");
    let o = run(
        &[
            "serve",
            "--domain",
            "example.com",
            "--resume-timeout",
            "later",
        ],
        "",
    );
    expect_failure(&o, 2, "invalid duration");
}
