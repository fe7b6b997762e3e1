//! Stream management (XEP-0198) on established streams: our client and
//! server `XmppStream`s over an in-memory pipe acknowledge what they
//! exchange, answer `<r/>` themselves and never hand stream management's
//! elements to the application.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::DuplexStream;
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::{Direction, XmppStream};
use xmpp_xml::{ns, Element, Frame};

fn message(n: usize) -> Element {
    Element::builder("message", ns::CLIENT)
        .attr("to", "romeo@example.net")
        .append(
            Element::builder("body", ns::CLIENT)
                .text(&n.to_string())
                .build(),
        )
        .build()
}

/// A client and the server's stream, both with stream management, the
/// client observed by `recorder`.
async fn streams(
    recorder: Option<Arc<Recorder>>,
) -> (XmppStream<DuplexStream>, XmppStream<DuplexStream>) {
    let (io, server) = spawn_server(seed_config());
    let mut config = ClientConfig::new("juliet@example.com", PASSWORD)
        .unwrap()
        .with_tls(TlsMode::Off);
    config.stream_management = true;
    let observer = recorder.map(|r| r as Arc<dyn xmpp_stream::Observer>);
    let client = connect(io, config, observer).await.unwrap();
    let server = server.await.unwrap().unwrap();
    (client, server)
}

/// Reads `n` elements, every one of which the application gets.
async fn read(stream: &mut XmppStream<DuplexStream>, n: usize) -> Vec<Element> {
    let mut got = Vec::new();
    while got.len() < n {
        got.push(stream.next().await.unwrap().unwrap());
    }
    got
}

#[tokio::test]
async fn stanzas_both_ways_are_acknowledged() {
    let (mut client, mut server) = streams(None).await;
    // The server turns it on when it reads the client's <enable/>.
    let server = tokio::spawn(async move {
        let got = read(&mut server, 40).await;
        assert!(server.info().stream_management);
        for i in 0..25 {
            server.feed(message(i)).await.unwrap();
        }
        server.flush_acked().await.unwrap();
        let counts = server.sm_counts().unwrap();
        assert_eq!((counts.sent, counts.acked, counts.unacked), (25, 25, 0));
        assert_eq!(counts.handled, 40);
        // Reads on until the client closes.
        assert!(server.next().await.is_none());
        got
    });
    for i in 0..40 {
        client.feed(message(i)).await.unwrap();
    }
    client.flush_acked().await.unwrap();
    assert!(client.info().stream_management);
    assert_eq!(client.unacked(), 0);
    let counts = client.sm_counts().unwrap();
    assert_eq!((counts.sent, counts.acked), (40, 40));
    let got = read(&mut client, 25).await;
    assert!(got.iter().all(|e| e.is("message", ns::CLIENT)));
    client.close().await.unwrap();
    let got = server.await.unwrap();
    assert!(got.iter().all(|e| e.is("message", ns::CLIENT)), "{got:?}");
    assert_eq!(got[39].child("body", ns::CLIENT).unwrap().text(), "39");
}

#[tokio::test]
async fn requests_are_answered_and_nonzas_never_reach_the_application() {
    let recorder = Arc::new(Recorder::default());
    let (mut client, mut server) = streams(Some(recorder.clone())).await;
    // Let the server enable it (it reads the client's <enable/>); it then
    // requests acknowledgements itself every 16 stanzas, and flush_acked
    // once more.
    client.feed(message(0)).await.unwrap();
    client.flush().await.unwrap();
    assert_eq!(read(&mut server, 1).await.len(), 1);
    for i in 0..40 {
        server.feed(message(i)).await.unwrap();
    }
    server.flush().await.unwrap();
    // The client's application sees the 40 messages and nothing else.
    let reader = tokio::spawn(async move {
        let got = read(&mut client, 40).await;
        let stray = tokio::time::timeout(std::time::Duration::from_millis(200), client.next());
        assert!(stray.await.is_err(), "only stanzas reach the application");
        (client, got)
    });
    server.flush_acked().await.unwrap();
    assert_eq!(server.unacked(), 0);
    let (mut client, got) = reader.await.unwrap();
    assert!(got.iter().all(|e| e.is("message", ns::CLIENT)));
    // The client answered each <r/> with an <a/>: 16, 32, and the last.
    let frames = recorder.0.lock().unwrap().clone();
    let of = |dir: Direction, name: &str| -> Vec<Option<String>> {
        frames
            .iter()
            .filter_map(|(d, f, _)| match f {
                Frame::Element(e) if *d == dir && e.is(name, ns::SM) => {
                    Some(e.attr("h").map(str::to_owned))
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(of(Direction::Received, "r").len(), 3);
    let acks = of(Direction::Sent, "a");
    assert_eq!(
        acks,
        [Some("16".into()), Some("32".into()), Some("40".into())]
    );
    // A clean close sends a last <a/> first.
    client.close().await.unwrap();
    let frames = recorder.0.lock().unwrap().clone();
    let sent: Vec<_> = frames
        .iter()
        .filter(|(d, _, _)| *d == Direction::Sent)
        .map(|(_, f, _)| f.clone())
        .collect();
    let n = sent.len();
    assert!(matches!(sent[n - 1], Frame::Close));
    assert!(matches!(&sent[n - 2], Frame::Element(e) if e.is("a", ns::SM)));
}

#[tokio::test]
async fn without_stream_management_nothing_is_counted() {
    let (io, server) = spawn_server(seed_config());
    let mut config = ClientConfig::new("juliet@example.com", PASSWORD)
        .unwrap()
        .with_tls(TlsMode::Off);
    config.stream_management = false;
    let mut client = connect(io, config, None).await.unwrap();
    let mut server = server.await.unwrap().unwrap();
    assert!(!client.info().stream_management);
    client.send(message(1)).await.unwrap();
    assert_eq!(read(&mut server, 1).await.len(), 1);
    assert!(!server.info().stream_management);
    assert_eq!(client.unacked(), 0);
    assert!(client.sm_counts().is_none());
    assert!(!client.request_ack());
    client.flush_acked().await.unwrap();
}

/// A client's full queue of unacknowledged stanzas is back-pressure: the
/// sink is not ready until the server acknowledges, and nothing is refused
/// or lost.
#[tokio::test]
async fn a_full_client_queue_waits_for_acknowledgements() {
    let (io, server) = spawn_server(seed_config());
    let mut config = ClientConfig::new("juliet@example.com", PASSWORD)
        .unwrap()
        .with_tls(TlsMode::Off);
    config.stream_management = true;
    config.sm_queue = xmpp_stream::sm::QueueLimits {
        max_stanzas: 3,
        ..Default::default()
    };
    let mut client = connect(io, config, None).await.unwrap();
    let mut server = server.await.unwrap().unwrap();
    // The server reads the <enable/> and two stanzas, then stops reading.
    for i in 0..3 {
        client.send(message(i)).await.unwrap();
    }
    let got = read(&mut server, 3).await;
    assert_eq!(got.len(), 3);
    // The queue is full (3 unacknowledged): the fourth is held back, and the
    // sink waits for an acknowledgement that does not come while the server
    // does not read.
    let fourth = tokio::time::timeout(
        std::time::Duration::from_millis(200),
        client.send(message(3)),
    )
    .await;
    assert!(fourth.is_err(), "the sink waits");
    assert_eq!(client.unacked(), 3);
    // The server reads (and answers the client's <r/>): room is made.
    let (got_tx, got_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = got_tx.send(read(&mut server, 7).await);
        // On reading (and acknowledging) until the client closes.
        while server.next().await.is_some() {}
    });
    for i in 4..10 {
        client.send(message(i)).await.unwrap();
        assert!(client.unacked() <= 3);
    }
    client.flush_acked().await.unwrap();
    let got = got_rx.await.unwrap();
    let bodies: Vec<_> = got
        .iter()
        .map(|m| m.child("body", ns::CLIENT).unwrap().text())
        .collect();
    assert_eq!(bodies, ["3", "4", "5", "6", "7", "8", "9"]);
    let counts = client.sm_counts().unwrap();
    assert_eq!((counts.sent, counts.acked), (10, 10));
}

/// An `<r/>` the client reads after its own close (the server sent it
/// before it read that close; seen with the real servers) goes unanswered:
/// nothing follows our `</stream:stream>` (RFC 6120 §4.4), and the stream
/// ends cleanly instead of failing on the shut-down connection.
#[tokio::test]
async fn a_request_read_after_our_close_goes_unanswered() {
    let recorder = Arc::new(Recorder::default());
    let (mut client, mut server) = streams(Some(recorder.clone())).await;
    // The server enables it (it reads the client's <enable/>), then asks.
    client.send(message(0)).await.unwrap();
    assert_eq!(read(&mut server, 1).await.len(), 1);
    assert!(server.request_ack());
    server.flush().await.unwrap();
    client.close().await.unwrap();
    let server = tokio::spawn(async move { server.next().await.is_none() });
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), client.next())
        .await
        .expect("the stream ends");
    assert!(end.is_none(), "{end:?}");
    assert!(client.ended_cleanly());
    assert!(server.await.unwrap(), "the server read no more stanzas");
    let frames = recorder.0.lock().unwrap().clone();
    let received_r = frames.iter().any(|(d, f, _)| {
        *d == Direction::Received && matches!(f, Frame::Element(e) if e.is("r", ns::SM))
    });
    assert!(received_r, "the client read the <r/>");
    let sent: Vec<_> = frames
        .iter()
        .filter(|(d, _, _)| *d == Direction::Sent)
        .map(|(_, f, _)| f.clone())
        .collect();
    assert!(matches!(sent.last(), Some(Frame::Close)), "{sent:?}");
}
