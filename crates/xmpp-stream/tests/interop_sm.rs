//! Stream management (XEP-0198) between our client and the real servers,
//! started by `cargo xtask interop`: enabled after RFC 6120 binding with
//! ejabberd 23.01 (`mod_stream_mgmt`) and Prosody 0.12 (`mod_smacks`),
//! inline in Bind2 (XEP-0386) under SASL2 with Prosody 13 and ejabberd
//! 24.12; a connection cut under it (`cut_proxy`); and
//! [`ReconnectingClient`] resuming through such a cut with each of the four
//! (RFC 6120 `<resume/>` with the first two, inside SASL2's
//! `<authenticate/>` with the others). Each test fails, never skips, when
//! its peer is missing.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod cut_proxy;
mod peer;
mod sm_driver;
mod unique;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use xmpp_stream::client::{connect, ClientConfig, ClientEvent, ReconnectingClient, Sasl2Mode};
use xmpp_stream::{Direction, SessionError, XmppStream};
use xmpp_xml::{ns, Element, Frame};

use common::Recorder;
use cut_proxy::CutProxy;
use peer::{client_config, env, sasl2_client};
use sm_driver::unique;

/// Messages each test sends itself: more than twice our automatic `<r/>`
/// interval (16), so that two of those and `flush_acked`'s own are answered.
const N: u32 = 40;

const SECONDS: Duration = Duration::from_secs(10);

/// The RFC 6120 servers: PLAIN, stream management asked for.
fn legacy(mechanism: &str) -> ClientConfig {
    let mut config = client_config(mechanism, &env("XMPP_INTEROP_PASSWORD"));
    config.stream_management = true;
    config
}

/// The modern servers: SASL2 over STARTTLS, stream management asked for
/// (inline in Bind2).
fn inline() -> ClientConfig {
    let mut config = sasl2_client(None);
    config.stream_management = true;
    config
}

async fn login(
    addr: &str,
    config: ClientConfig,
    recorder: &Arc<Recorder>,
) -> XmppStream<TcpStream> {
    let tcp = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let observer = recorder.clone() as Arc<dyn xmpp_stream::Observer>;
    connect(tcp, config, Some(observer))
        .await
        .unwrap_or_else(|e| panic!("login to {addr}: {e}"))
}

fn message(to: &str, n: u32) -> Element {
    Element::builder("message", ns::CLIENT)
        .attr("to", to)
        .attr("type", "chat")
        .attr("id", &format!("sm-{n}"))
        .append(
            Element::builder("body", ns::CLIENT)
                .text(&n.to_string())
                .build(),
        )
        .build()
}

/// The next element, in time.
async fn next(stream: &mut XmppStream<TcpStream>, what: &str) -> Element {
    tokio::time::timeout(SECONDS, stream.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing in time"))
        .unwrap_or_else(|| panic!("{what}: the stream ended"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// `flush_acked`, in time.
async fn flush_acked(stream: &mut XmppStream<TcpStream>, what: &str) {
    tokio::time::timeout(SECONDS, stream.flush_acked())
        .await
        .unwrap_or_else(|_| panic!("{what}: no acknowledgement in time"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}

/// The `h` of every `<a/>` that went `direction`, and how many `<r/>`.
fn sm_traffic(recorder: &Recorder, direction: Direction) -> (Vec<u32>, usize) {
    let frames = recorder.0.lock().unwrap();
    let mut acks = Vec::new();
    let mut requests = 0;
    for (d, frame, _) in frames.iter() {
        let Frame::Element(el) = frame else { continue };
        if *d != direction || el.ns() != xmpp_stream::sm::NS_SM {
            continue;
        }
        match el.name() {
            "a" => acks.push(el.attr("h").unwrap().parse().unwrap()),
            "r" => requests += 1,
            _ => {}
        }
    }
    (acks, requests)
}

/// Stream management on, both ways, with real numbers: a ping (which also
/// reads `<enabled/>` after RFC 6120 binding) acknowledged alone, then
/// [`N`] messages to our own full JID acknowledged after our automatic
/// `<r/>` at 16 and 32 unacknowledged and `flush_acked`'s, all [`N`] read
/// back and counted as handled; every `<r/>` the server sent answered.
async fn acknowledged_both_ways(var: &str, config: ClientConfig) {
    let bind2 = config.sasl2 == Sasl2Mode::Required;
    let recorder = Arc::new(Recorder::default());
    let mut stream = login(&env(var), config, &recorder).await;
    let info = stream.info();
    if bind2 {
        // Enabled in the SASL2 <success/>'s <bound/>: on from the start.
        assert!(info.sasl2 && info.bound_inline, "{var}: {info:?}");
        assert!(info.stream_management, "{var}: not enabled inline");
    } else {
        // <enable/> went out after binding; <enabled/> is read later.
        assert!(!info.sasl2 && !info.stream_management, "{var}: {info:?}");
    }
    peer::assert_ping(&mut stream).await;
    assert!(stream.info().stream_management, "{var}: not enabled");
    flush_acked(&mut stream, var).await;
    let c = stream.sm_counts().unwrap();
    assert_eq!((c.sent, c.acked, c.unacked), (1, 1, 0), "{var}: the ping");
    // The ping's result.
    assert_eq!(c.handled, 1, "{var}");

    let me = stream.jid().to_string();
    for i in 0..N {
        stream.feed(message(&me, i)).await.unwrap();
    }
    flush_acked(&mut stream, var).await;
    assert_eq!(stream.unacked(), 0, "{var}");
    let c = stream.sm_counts().unwrap();
    assert_eq!((c.sent, c.acked), (1 + N, 1 + N), "{var}");
    let (acks, _) = sm_traffic(&recorder, Direction::Received);
    assert_eq!(acks, [1, 17, 33, 1 + N], "{var}: the server's <a/>s");
    let (_, requests) = sm_traffic(&recorder, Direction::Sent);
    assert_eq!(requests, 4, "{var}: our <r/>s");

    // The messages come back (flush_acked kept those it read), in order.
    for i in 0..N {
        let m = next(&mut stream, var).await;
        assert!(m.is("message", ns::CLIENT), "{var}: {m:?}");
        assert_eq!(m.child("body", ns::CLIENT).unwrap().text(), i.to_string());
    }
    let c = stream.sm_counts().unwrap();
    assert_eq!(c.handled, 1 + N, "{var}: stanzas handled");
    // Every <r/> the server sent (each server sends some on its own) was
    // answered at once with what we had handled then: as many <a/>s, never
    // going back, never above what we handled.
    let (_, server_requests) = sm_traffic(&recorder, Direction::Received);
    let (answers, _) = sm_traffic(&recorder, Direction::Sent);
    assert!(server_requests > 0, "{var}: the server never sent <r/>");
    assert_eq!(answers.len(), server_requests, "{var}: {answers:?}");
    assert!(
        answers.windows(2).all(|w| w[0] <= w[1]),
        "{var}: {answers:?}"
    );
    assert!(answers.iter().all(|h| *h <= 1 + N), "{var}: {answers:?}");
    eprintln!("{var}: the server sent {server_requests} <r/>, answered with h = {answers:?}");
    stream.close().await.unwrap();
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn sm_with_ejabberd() {
    acknowledged_both_ways("XMPP_INTEROP_EJABBERD", legacy("PLAIN")).await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn sm_with_prosody() {
    acknowledged_both_ways("XMPP_INTEROP_PROSODY", legacy("PLAIN")).await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn sm_inline_with_prosody13() {
    acknowledged_both_ways("XMPP_INTEROP_PROSODY13", inline()).await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn sm_inline_with_ejabberd24() {
    acknowledged_both_ways("XMPP_INTEROP_EJABBERD24", inline()).await;
}

/// A lost connection under stream management: what was sent and not
/// acknowledged is reported, and the stream ends with an error.
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn a_cut_connection_reports_the_unacknowledged() {
    const IN_FLIGHT: u32 = 5;
    let var = "XMPP_INTEROP_EJABBERD";
    let proxy = CutProxy::start(env(var)).await;
    let recorder = Arc::new(Recorder::default());
    let mut stream = login(&proxy.addr().to_string(), legacy("PLAIN"), &recorder).await;
    peer::assert_ping(&mut stream).await;
    flush_acked(&mut stream, var).await;
    assert!(stream.info().stream_management);
    assert_eq!(stream.unacked(), 0);

    // Fewer than 16: no automatic <r/>, so nothing acknowledges them.
    let me = stream.jid().to_string();
    for i in 0..IN_FLIGHT {
        stream.feed(message(&me, i)).await.unwrap();
    }
    stream.flush().await.unwrap();
    assert_eq!(proxy.cut().await, 1);

    // Echoes that got through before the cut come first; then the reset.
    let end = tokio::time::timeout(SECONDS, async {
        loop {
            match stream.next().await {
                Some(Ok(el)) => assert!(el.is("message", ns::CLIENT), "{el:?}"),
                other => return other,
            }
        }
    })
    .await
    .expect("the loss is noticed");
    match end {
        Some(Err(SessionError::Io(e))) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}")
        }
        other => panic!("expected a reset, got {other:?}"),
    }
    assert_eq!(stream.unacked(), IN_FLIGHT as usize);
    let c = stream.sm_counts().unwrap();
    assert_eq!(
        (c.sent, c.acked, c.unacked),
        (1 + IN_FLIGHT, 1, IN_FLIGHT as usize)
    );
    // Nothing more. Waiting for acknowledgements fails (writing its <r/>
    // to the dead socket fails first), and the count stays.
    assert!(stream.next().await.is_none());
    match stream.flush_acked().await {
        Err(SessionError::Unacknowledged(n)) => assert_eq!(n, IN_FLIGHT as usize),
        Err(SessionError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(stream.unacked(), IN_FLIGHT as usize);
}

/// The next event of a [`ReconnectingClient`], in time.
async fn next_event(client: &mut ReconnectingClient<TcpStream>, what: &str) -> ClientEvent {
    tokio::time::timeout(SECONDS, client.next())
        .await
        .unwrap_or_else(|_| panic!("{what}: no event in time"))
        .unwrap_or_else(|| panic!("{what}: the session ended"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// What a [`ReconnectingClient`] yielded: how often each message body
/// came, and the other events, in order.
#[derive(Default)]
struct Seen {
    bodies: BTreeMap<String, usize>,
    events: Vec<String>,
}

impl Seen {
    fn record(&mut self, event: ClientEvent, var: &str) {
        match event {
            ClientEvent::Stanza(el) => {
                if let Some(body) = el.child("body", ns::CLIENT) {
                    assert_ne!(el.attr("type"), Some("error"), "{var}: a bounce: {el:?}");
                    *self.bodies.entry(body.text()).or_default() += 1;
                }
            }
            ClientEvent::Disconnected { unacked, .. } => {
                self.events.push(format!("disconnected unacked={unacked}"))
            }
            ClientEvent::Resumed => self.events.push("resumed".to_owned()),
            other => self.events.push(format!("{other:?}")),
        }
    }
}

/// Our [`ReconnectingClient`] through a cut: [`ACKED`] messages to our own
/// full JID acknowledged, [`IN_FLIGHT`] more sent and not acknowledged when
/// the proxy resets the connection, [`WHILE_DOWN`] more sent while it is
/// down. Then one `Disconnected` (with the in-flight ones unacknowledged),
/// one `Resumed` (never `NewSession`), every message back exactly once, all
/// acknowledged, and two connections in all.
async fn reconnecting_client_resumes(var: &str, mut config: ClientConfig) {
    const ACKED: u32 = 3;
    // Fewer than 16 with ACKED: no automatic <r/> acknowledges them.
    const IN_FLIGHT: u32 = 4;
    const WHILE_DOWN: u32 = 3;
    const ALL: u32 = ACKED + IN_FLIGHT + WHILE_DOWN;
    let proxy = CutProxy::start(env(var)).await;
    // A resource (or Bind2 tag) of its own: a session of an earlier run
    // that did not end cleanly still waits to be resumed.
    config.resource = Some(format!("sm-reconnect-{}", unique()));
    let addr = proxy.addr();
    let mut client = ReconnectingClient::connect(config, move |config| async move {
        let tcp = TcpStream::connect(addr).await?;
        connect(tcp, config, None).await
    })
    .await
    .unwrap_or_else(|e| panic!("{var}: login: {e}"));
    // After RFC 6120 binding <enabled/> is read here.
    tokio::time::timeout(SECONDS, client.flush_acked())
        .await
        .unwrap_or_else(|_| panic!("{var}: <enabled/> in time"))
        .unwrap_or_else(|e| panic!("{var}: {e}"));
    let stream = client.stream().unwrap();
    assert!(stream.info().stream_management, "{var}: SM not enabled");
    let me = stream.jid().to_string();

    let mut seen = Seen::default();

    for i in 0..ACKED {
        client.send(message(&me, i)).await.unwrap();
    }
    tokio::time::timeout(SECONDS, client.flush_acked())
        .await
        .unwrap_or_else(|_| panic!("{var}: acknowledged in time"))
        .unwrap_or_else(|e| panic!("{var}: {e}"));
    for i in ACKED..ACKED + IN_FLIGHT {
        client.send(message(&me, i)).await.unwrap();
    }
    assert_eq!(client.stream().unwrap().unacked(), IN_FLIGHT as usize);
    assert_eq!(proxy.cut().await, 1, "{var}: one connection to cut");

    // Echoes that got through before the cut come first.
    while seen.events.is_empty() {
        seen.record(next_event(&mut client, var).await, var);
    }
    assert!(client.stream().is_none(), "{var}: down after the loss");
    // Queued in the suspended session, sent once it is resumed.
    for i in ACKED + IN_FLIGHT..ALL {
        client.send(message(&me, i)).await.unwrap();
    }
    while seen.bodies.len() < ALL as usize || seen.events.len() < 2 {
        seen.record(next_event(&mut client, var).await, var);
    }
    assert_eq!(
        seen.events,
        [
            format!("disconnected unacked={IN_FLIGHT}"),
            "resumed".to_owned()
        ],
        "{var}"
    );

    // Nothing twice: a ping is answered with no message before it.
    let ping = Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", "after-resume")
        .attr("to", &env("XMPP_INTEROP_DOMAIN"))
        .append(Element::builder("ping", ns::PING).build())
        .build();
    client.send(ping).await.unwrap();
    loop {
        match next_event(&mut client, var).await {
            ClientEvent::Stanza(el) if el.attr("id") == Some("after-resume") => {
                assert_eq!(el.attr("type"), Some("result"), "{var}: {el:?}");
                break;
            }
            event => seen.record(event, var),
        }
    }
    let expected: BTreeMap<String, usize> = (0..ALL).map(|i| (i.to_string(), 1)).collect();
    assert_eq!(seen.bodies, expected, "{var}: each message exactly once");
    assert_eq!(seen.events.len(), 2, "{var}: {:?}", seen.events);
    tokio::time::timeout(SECONDS, client.flush_acked())
        .await
        .unwrap_or_else(|_| panic!("{var}: acknowledged in time"))
        .unwrap_or_else(|e| panic!("{var}: {e}"));
    assert_eq!(client.stream().unwrap().unacked(), 0, "{var}");
    assert_eq!(proxy.accepted(), 2, "{var}: one reconnection");
    client.close().await.unwrap();
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn reconnecting_client_resumes_with_ejabberd() {
    reconnecting_client_resumes("XMPP_INTEROP_EJABBERD", legacy("SCRAM-SHA-256")).await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn reconnecting_client_resumes_with_prosody() {
    reconnecting_client_resumes("XMPP_INTEROP_PROSODY", legacy("SCRAM-SHA-256")).await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn reconnecting_client_resumes_inline_with_prosody13() {
    reconnecting_client_resumes("XMPP_INTEROP_PROSODY13", inline()).await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn reconnecting_client_resumes_inline_with_ejabberd24() {
    reconnecting_client_resumes("XMPP_INTEROP_EJABBERD24", inline()).await;
}
