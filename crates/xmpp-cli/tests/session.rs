//! After negotiation: ping, unknown IQs, routing between sessions, and the
//! graceful shutdown, seen by real clients (`xmpp_stream::client`).

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::{SessionError, StreamCondition, XmppStream};
use xmpp_xml::{ns, Element};

async fn client(addr: &str, jid: &str, password: &str) -> XmppStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    connect(
        tcp,
        ClientConfig::new(jid, password)
            .unwrap()
            .with_tls(TlsMode::Off),
        None,
    )
    .await
    .unwrap()
}

async fn next(s: &mut XmppStream<TcpStream>) -> Element {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("a stanza in time")
        .expect("stream open")
        .expect("no stream error")
}

fn iq(kind: &str, id: &str, to: Option<&str>, child: Element) -> Element {
    let mut b = Element::builder("iq", ns::CLIENT)
        .attr("type", kind)
        .attr("id", id);
    if let Some(to) = to {
        b = b.attr("to", to);
    }
    b.append(child).build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_unknown_iq_and_routing() {
    let store = Store::new();
    expect_code(
        &run(
            &[
                "user",
                "add",
                "juliet@example.com",
                "--store",
                store.arg(),
                "--password-stdin",
            ],
            "pw\n",
        ),
        0,
    );
    let server = Server::start(store.arg(), &["--mechanisms", "DIGEST-MD5"]);
    let mut romeo = client(&server.addr, "somenode@example.com/a", "secret").await;
    let mut juliet = client(&server.addr, "juliet@example.com/balcony", "pw").await;

    // XEP-0199 ping.
    romeo
        .send(iq(
            "get",
            "p1",
            Some("example.com"),
            Element::builder("ping", ns::PING).build(),
        ))
        .await
        .unwrap();
    let r = next(&mut romeo).await;
    assert_eq!((r.attr("type"), r.attr("id")), (Some("result"), Some("p1")));

    // Unknown IQ: service-unavailable.
    romeo
        .send(iq(
            "get",
            "v1",
            None,
            Element::builder("query", "jabber:iq:version").build(),
        ))
        .await
        .unwrap();
    let r = next(&mut romeo).await;
    assert_eq!(r.attr("type"), Some("error"));
    let err = r.child("error", ns::CLIENT).unwrap();
    assert!(err.child("service-unavailable", ns::STANZAS).is_some());

    // Message to a full JID, stamped with the sender's full JID.
    let msg = Element::builder("message", ns::CLIENT)
        .attr("to", "juliet@example.com/balcony")
        .attr("type", "chat")
        .append(Element::builder("body", ns::CLIENT).text("hello").build())
        .build();
    romeo.send(msg).await.unwrap();
    let m = next(&mut juliet).await;
    assert_eq!(m.attr("from"), Some("somenode@example.com/a"));
    assert_eq!(m.child("body", ns::CLIENT).unwrap().text(), "hello");

    // Bare JID: only to available resources; none yet -> bounced.
    let to_bare = |id: &str| {
        Element::builder("message", ns::CLIENT)
            .attr("to", "juliet@example.com")
            .attr("id", id)
            .append(Element::builder("body", ns::CLIENT).text("bare").build())
            .build()
    };
    romeo.send(to_bare("m1")).await.unwrap();
    let b = next(&mut romeo).await;
    assert_eq!((b.attr("type"), b.attr("id")), (Some("error"), Some("m1")));
    juliet
        .send(Element::builder("presence", ns::CLIENT).build())
        .await
        .unwrap();
    // Presence and the next message travel on different sessions: give the
    // presence a moment to be processed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    romeo.send(to_bare("m2")).await.unwrap();
    let m = next(&mut juliet).await;
    assert_eq!(
        (m.attr("id"), m.attr("from")),
        (Some("m2"), Some("somenode@example.com/a"))
    );

    // Directed presence is routed too.
    romeo
        .send(
            Element::builder("presence", ns::CLIENT)
                .attr("to", "juliet@example.com/balcony")
                .build(),
        )
        .await
        .unwrap();
    let p = next(&mut juliet).await;
    assert!(p.is("presence", ns::CLIENT));

    // Proper close: our </stream:stream> is answered and the stream ends.
    romeo.close().await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), romeo.next())
        .await
        .unwrap();
    assert!(end.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sends_system_shutdown() {
    let store = Store::new();
    let server = Server::start(store.arg(), &[]);
    let mut s = client(&server.addr, "somenode@example.com", "secret").await;
    server.terminate();
    let item = tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .unwrap();
    match item {
        Some(Err(SessionError::Received { condition, .. })) => {
            assert_eq!(condition, StreamCondition::SystemShutdown)
        }
        other => panic!("expected <system-shutdown/>, got {other:?}"),
    }
    let mut server = server;
    let status = tokio::task::spawn_blocking(move || server.child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}
