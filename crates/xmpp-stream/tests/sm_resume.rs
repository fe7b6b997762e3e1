//! Stream resumption (XEP-0198 §5) between our client and our server: a
//! connection is lost with stanzas in flight both ways, and a new one
//! resumes the session (RFC 6120 after the restart, or inline in SASL2)
//! with nothing lost and nothing delivered twice; the server parks the
//! detached session, and ends it (bouncing what it holds) when nobody
//! resumes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::DuplexStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use xmpp_stream::client::{connect, ClientConfig, Sasl2Mode, TlsMode};
use xmpp_stream::server::{EndReason, ParkEnd, ResumableSessions, ServerConfig};
use xmpp_stream::sm::ServerOptions;
use xmpp_stream::{SessionError, XmppStream};
use xmpp_xml::{ns, Element};

fn message(body: &str) -> Element {
    Element::builder("message", ns::CLIENT)
        .attr("to", "romeo@example.net")
        .append(Element::builder("body", ns::CLIENT).text(body).build())
        .build()
}

fn body(el: &Element) -> String {
    el.child("body", ns::CLIENT)
        .map(|b| b.text())
        .unwrap_or_default()
}

fn server_config(sasl2: bool, max: Duration) -> Arc<ServerConfig> {
    let mut config = seed_config();
    config.resumable = Some(Arc::new(ResumableSessions::new()));
    config.stream_management = Some(ServerOptions {
        resumption: Some(max),
        ..ServerOptions::default()
    });
    config.sasl2 = sasl2;
    config.allow_sasl2_insecure = sasl2;
    Arc::new(config)
}

fn client_config(sasl2: bool) -> ClientConfig {
    let mut config = ClientConfig::new("juliet@example.com", PASSWORD)
        .unwrap()
        .with_tls(TlsMode::Off);
    config.stream_management = true;
    config.sasl2 = if sasl2 {
        Sasl2Mode::Required
    } else {
        Sasl2Mode::Off
    };
    config
}

/// The server's side of one connection, run by a task: what it reads goes
/// to `read`, what comes on `send` is written; it hands its stream back
/// when the connection ends.
struct ServerPeer {
    read: mpsc::UnboundedReceiver<Element>,
    send: mpsc::UnboundedSender<Element>,
    /// Ends the task, which hands the stream back (to be detached: the
    /// connection is then lost).
    cut: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<(XmppStream<DuplexStream>, Option<SessionError>)>,
}

impl ServerPeer {
    fn run(mut stream: XmppStream<DuplexStream>) -> Self {
        let (read_tx, read) = mpsc::unbounded_channel();
        let (send, mut send_rx) = mpsc::unbounded_channel::<Element>();
        let (cut, mut cut_rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = &mut cut_rx => return (stream, None),
                    Some(el) = send_rx.recv() => stream.send(el).await.unwrap(),
                    item = stream.next() => match item {
                        Some(Ok(el)) => read_tx.send(el).unwrap(),
                        Some(Err(e)) => return (stream, Some(e)),
                        None => return (stream, None),
                    },
                }
            }
        });
        ServerPeer {
            read,
            send,
            cut: Some(cut),
            task,
        }
    }

    /// Loses the connection: the server parks the session.
    async fn cut(mut self, config: &Arc<ServerConfig>) -> JoinHandle<ParkEnd> {
        let _ = self.cut.take().unwrap().send(());
        let (stream, _) = self.task.await.unwrap();
        park(config, stream)
    }

    async fn bodies(&mut self, n: usize) -> Vec<String> {
        let mut got = Vec::new();
        while got.len() < n {
            let el = tokio::time::timeout(Duration::from_secs(5), self.read.recv())
                .await
                .expect("the server reads on")
                .unwrap();
            got.push(body(&el));
        }
        got
    }
}

/// Parks the session of a server stream whose connection was lost.
fn park(config: &Arc<ServerConfig>, stream: XmppStream<DuplexStream>) -> JoinHandle<ParkEnd> {
    let sessions = config.resumable.clone().unwrap();
    let detached = stream.detach().expect("a lost resumable session detaches");
    tokio::spawn(async move { sessions.park(detached, Box::new("app state")).await })
}

async fn reads(client: &mut XmppStream<DuplexStream>, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let el = tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .expect("the client reads on")
            .unwrap()
            .unwrap();
        got.push(body(&el));
    }
    got
}

/// One session over two connections: stanzas in flight both ways when the
/// first is lost, one more queued by the client while away.
async fn resume_round_trip(sasl2: bool) {
    let config = server_config(sasl2, Duration::from_secs(60));
    let (io, accepted) = spawn_server_shared(config.clone());
    let mut client = connect(io, client_config(sasl2), None).await.unwrap();
    let server = accepted.await.unwrap().unwrap();
    assert!(!client.info().resumed);
    let jid = client.jid().clone();
    let mut server = ServerPeer::run(server);

    // Both directions: two stanzas acknowledged.
    client.feed(message("c1")).await.unwrap();
    client.feed(message("c2")).await.unwrap();
    client.flush_acked().await.unwrap();
    assert_eq!(server.bodies(2).await, ["c1", "c2"]);
    server.send.send(message("s1")).unwrap();
    assert_eq!(reads(&mut client, 1).await, ["s1"]);

    // In flight: c3 reaches the server, which handles it but never says
    // so; s2 and s3 are written to the client, which never reads them.
    client.send(message("c3")).await.unwrap();
    assert_eq!(server.bodies(1).await, ["c3"]);
    server.send.send(message("s2")).unwrap();
    server.send.send(message("s3")).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    // The connection is lost: the client keeps its session, the server
    // parks its own.
    let mut suspended = client.suspend().expect("resumable");
    assert_eq!(suspended.unacked(), 1, "c3 was never acknowledged");
    drop(client);
    let (server_stream, _) = server.task.await.unwrap();
    let parked = park(&config, server_stream);
    // Sent while away: goes out with the resumption.
    suspended.send(&message("c4")).unwrap();

    let (io, accepted) = spawn_server_shared(config.clone());
    let mut resuming = client_config(sasl2);
    resuming.resume = Some(suspended);
    let mut client = connect(io, resuming, None).await.unwrap();
    let mut server_stream = accepted.await.unwrap().unwrap();
    assert!(client.info().resumed, "the client resumed");
    assert!(server_stream.info().resumed, "the server resumed");
    assert!(client.info().sm_lost.is_empty());
    assert_eq!(client.jid(), &jid, "the same resource");
    assert_eq!(server_stream.jid(), &jid);
    assert!(matches!(parked.await.unwrap(), ParkEnd::Resumed));
    let state = server_stream.take_resumed_state().unwrap();
    assert_eq!(*state.downcast::<&str>().unwrap(), "app state");
    let mut server = ServerPeer::run(server_stream);

    // c3 is not sent twice (the server's h covered it); c4 arrives once.
    assert_eq!(server.bodies(1).await, ["c4"]);
    // s1 is not sent twice; s2 and s3 arrive once, in order.
    assert_eq!(reads(&mut client, 2).await, ["s2", "s3"]);
    client.flush_acked().await.unwrap();
    let counts = client.sm_counts().unwrap();
    assert_eq!((counts.sent, counts.acked, counts.unacked), (4, 4, 0));
    assert_eq!(counts.handled, 3, "counters carry over the resumption");
    // Nothing else came to the server.
    server.send.send(message("s4")).unwrap();
    assert_eq!(reads(&mut client, 1).await, ["s4"]);
    assert!(server.read.try_recv().is_err());
    client.close().await.unwrap();
    let (_, error) = server.task.await.unwrap();
    assert!(error.is_none());
}

#[tokio::test]
async fn a_lost_connection_resumes_after_the_restart() {
    resume_round_trip(false).await;
}

#[tokio::test]
async fn a_lost_connection_resumes_inline_in_sasl2() {
    resume_round_trip(true).await;
}

/// A resumption that comes before the server noticed the loss takes the
/// session over from the old stream, which ends with `<conflict/>`.
#[tokio::test]
async fn a_resumption_takes_over_a_session_whose_old_stream_looks_live() {
    let config = server_config(false, Duration::from_secs(60));
    let (io, accepted) = spawn_server_shared(config.clone());
    let mut client = connect(io, client_config(false), None).await.unwrap();
    let server = accepted.await.unwrap().unwrap();
    let mut server = ServerPeer::run(server);
    client.send(message("c1")).await.unwrap();
    client.flush_acked().await.unwrap();
    assert_eq!(server.bodies(1).await, ["c1"]);

    // The old connection stays open (a half-open TCP connection).
    let suspended = client.suspend().unwrap();
    let config2 = config.clone();
    let old = tokio::spawn(async move {
        let (stream, error) = server.task.await.unwrap();
        assert!(
            matches!(error, Some(SessionError::ResumedElsewhere)),
            "{error:?}"
        );
        park(&config2, stream).await.unwrap()
    });
    let (io, accepted) = spawn_server_shared(config.clone());
    let mut resuming = client_config(false);
    resuming.resume = Some(suspended);
    let client2 = connect(io, resuming, None).await.unwrap();
    let server2 = accepted.await.unwrap().unwrap();
    assert!(client2.info().resumed && server2.info().resumed);
    assert!(matches!(old.await.unwrap(), ParkEnd::Resumed));
    drop(client);
}

/// An unknown or expired session: `<failed/>`, a new session is bound,
/// and the client learns what the server never acknowledged.
#[tokio::test]
async fn an_expired_session_is_not_resumed_and_its_stanzas_are_reported() {
    let config = server_config(false, Duration::from_millis(100));
    let (io, accepted) = spawn_server_shared(config.clone());
    let mut client = connect(io, client_config(false), None).await.unwrap();
    let server = accepted.await.unwrap().unwrap();
    let server = ServerPeer::run(server);
    client.send(message("c1")).await.unwrap();
    client.flush_acked().await.unwrap();
    server.send.send(message("s1")).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.send(message("c2")).await.unwrap();
    let suspended = client.suspend().unwrap();
    drop(client);
    let (stream, _) = server.task.await.unwrap();
    // Its time runs out: what the client never acknowledged comes back.
    match park(&config, stream).await.unwrap() {
        ParkEnd::Ended(ended) => {
            assert_eq!(ended.reason, EndReason::Expired);
            let bodies: Vec<_> = ended.unacked.iter().map(body).collect();
            assert_eq!(bodies, ["s1"]);
            assert_eq!(*ended.state.downcast::<&str>().unwrap(), "app state");
        }
        ParkEnd::Resumed => panic!("nobody resumed it"),
    }
    let (io, accepted) = spawn_server_shared(config.clone());
    let mut resuming = client_config(false);
    resuming.resume = Some(suspended);
    let client = connect(io, resuming, None).await.unwrap();
    let server = accepted.await.unwrap().unwrap();
    assert!(!client.info().resumed && !server.info().resumed);
    let lost: Vec<_> = client.info().sm_lost.iter().map(body).collect();
    // c2 may or may not have been handled: the application decides.
    assert_eq!(lost, ["c2"]);
    assert!(client.info().stream_management || !client.info().sasl2);
}

/// Another user cannot resume someone's session, even with its id.
#[tokio::test]
async fn another_users_session_is_not_found() {
    let mut config = seed_config();
    config.resumable = Some(Arc::new(ResumableSessions::new()));
    let store = store();
    store.add("romeo", "r0m30", &[DOMAIN]).unwrap();
    config.domains[0].store = store;
    let config = Arc::new(config);
    let (io, accepted) = spawn_server_shared(config.clone());
    let mut client = connect(io, client_config(false), None).await.unwrap();
    let server = accepted.await.unwrap().unwrap();
    let server = ServerPeer::run(server);
    client.send(message("c1")).await.unwrap();
    client.flush_acked().await.unwrap();
    let suspended = client.suspend().unwrap();
    drop(client);
    let (stream, _) = server.task.await.unwrap();
    let parked = park(&config, stream);

    let (io, accepted) = spawn_server_shared(config.clone());
    let mut romeo = ClientConfig::new("romeo@example.com", "r0m30")
        .unwrap()
        .with_tls(TlsMode::Off);
    romeo.stream_management = true;
    romeo.sasl2 = Sasl2Mode::Off;
    romeo.resume = Some(suspended);
    let client = connect(io, romeo, None).await.unwrap();
    let _server = accepted.await.unwrap().unwrap();
    assert!(!client.info().resumed);
    assert_eq!(client.jid().node().map(|n| n.as_str()), Some("romeo"));
    // Juliet's session still waits for her.
    assert_eq!(config.resumable.as_ref().unwrap().counts().1, 1);
    parked.abort();
}

/// A resumption whose `h` acknowledges more than the server sent ends the
/// stream with `<handled-count-too-high/>`, and the session with it.
#[tokio::test]
async fn a_resumption_with_h_too_high_fails_the_stream() {
    let config = server_config(false, Duration::from_secs(60));
    let (io, accepted) = spawn_server_shared(config.clone());
    let mut raw = Raw::new(io);
    raw.send(CLIENT_HEADER).await;
    raw.until("<mechanism>PLAIN</mechanism>").await;
    raw.send(&plain_auth(USER, PASSWORD)).await;
    raw.until("<success").await;
    raw.send(CLIENT_HEADER).await;
    raw.until("<sm xmlns='urn:xmpp:sm:3'/>").await;
    raw.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        .await;
    raw.until("</iq>").await;
    let server = accepted.await.unwrap().unwrap();
    let server = ServerPeer::run(server);
    raw.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
        .await;
    raw.until("<enabled").await;
    let id = raw
        .seen
        .split("id='")
        .last()
        .and_then(|rest| rest.split('\'').next())
        .unwrap()
        .to_owned();
    drop(raw);
    let (stream, _) = server.task.await.unwrap();
    let parked = park(&config, stream);

    let (io, accepted) = spawn_server_shared(config.clone());
    let mut raw = Raw::new(io);
    raw.send(CLIENT_HEADER).await;
    raw.until("<mechanism>PLAIN</mechanism>").await;
    raw.send(&plain_auth(USER, PASSWORD)).await;
    raw.until("<success").await;
    raw.send(CLIENT_HEADER).await;
    raw.until("<sm xmlns='urn:xmpp:sm:3'/>").await;
    raw.send(&format!(
        "<resume xmlns='urn:xmpp:sm:3' previd='{id}' h='5'/>"
    ))
    .await;
    raw.until("<handled-count-too-high xmlns='urn:xmpp:sm:3' h='5' send-count='0'/>")
        .await;
    raw.until("</stream:stream>").await;
    assert!(accepted.await.unwrap().is_err());
    match parked.await.unwrap() {
        ParkEnd::Ended(ended) => assert_eq!(ended.reason, EndReason::ResumeFailed),
        other => panic!("{other:?}"),
    }
}

/// `ReconnectingClient`: the connection is lost with stanzas in flight both
/// ways and one sent while it is down; the client reconnects on its own,
/// resumes, and says so; nothing is lost or delivered twice.
#[tokio::test]
async fn the_reconnecting_client_resumes_on_its_own() {
    use xmpp_stream::client::{ClientEvent, ReconnectPolicy, ReconnectingClient};

    let config = server_config(false, Duration::from_secs(60));
    let (accepted_tx, mut accepted) = mpsc::unbounded_channel();
    let connector = {
        let config = config.clone();
        move |client: ClientConfig| {
            let (io, server) = spawn_server_shared(config.clone());
            let accepted_tx = accepted_tx.clone();
            async move {
                let stream = connect(io, client, None).await?;
                accepted_tx.send(server.await.unwrap().unwrap()).unwrap();
                Ok(stream)
            }
        }
    };
    let mut client = ReconnectingClient::connect(client_config(false), connector)
        .await
        .unwrap()
        .with_policy(ReconnectPolicy {
            initial_delay: Duration::from_millis(10),
            ..ReconnectPolicy::default()
        });
    let mut server = ServerPeer::run(accepted.recv().await.unwrap());
    client.send(message("c1")).await.unwrap();
    client.flush_acked().await.unwrap();
    assert_eq!(server.bodies(1).await, ["c1"]);
    server.send.send(message("s1")).unwrap();
    let next = |e: Option<Result<ClientEvent, _>>| e.expect("an event").expect("no error");
    match next(client.next().await) {
        ClientEvent::Stanza(el) => assert_eq!(body(&el), "s1"),
        other => panic!("{other:?}"),
    }
    // On its way when the connection goes: s2, which the client reads
    // from what arrived before the loss (and counts, so it is not resent).
    server.send.send(message("s2")).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let parked = server.cut(&config).await;
    match next(client.next().await) {
        ClientEvent::Stanza(el) => assert_eq!(body(&el), "s2"),
        other => panic!("{other:?}"),
    }
    match next(client.next().await) {
        ClientEvent::Disconnected { unacked, .. } => assert_eq!(unacked, 0),
        other => panic!("{other:?}"),
    }
    // Sent while down: queued in the session.
    client.send(message("c2")).await.unwrap();
    match next(client.next().await) {
        ClientEvent::Resumed => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(parked.await.unwrap(), ParkEnd::Resumed));
    let mut server = ServerPeer::run(accepted.recv().await.unwrap());
    assert_eq!(server.bodies(1).await, ["c2"]);
    server.send.send(message("s3")).unwrap();
    match next(client.next().await) {
        ClientEvent::Stanza(el) => assert_eq!(body(&el), "s3", "s2 is not sent twice"),
        other => panic!("{other:?}"),
    }
    client.flush_acked().await.unwrap();
    let counts = client.stream().unwrap().sm_counts().unwrap();
    assert_eq!((counts.sent, counts.acked, counts.handled), (2, 2, 3));
    client.close().await.unwrap();
    assert!(client.next().await.is_none());
    assert!(server.read.try_recv().is_err());
}

/// When the server lost the session, the reconnecting client gets a new
/// one and reports, as `NewSession`, what was never acknowledged.
#[tokio::test]
async fn the_reconnecting_client_reports_what_a_new_session_may_have_lost() {
    use xmpp_stream::client::{ClientEvent, ReconnectingClient};

    let config = server_config(false, Duration::from_secs(60));
    let (accepted_tx, mut accepted) = mpsc::unbounded_channel();
    let connector = {
        let config = config.clone();
        move |client: ClientConfig| {
            let (io, server) = spawn_server_shared(config.clone());
            let accepted_tx = accepted_tx.clone();
            async move {
                let stream = connect(io, client, None).await?;
                accepted_tx.send(server.await.unwrap().unwrap()).unwrap();
                Ok(stream)
            }
        }
    };
    let mut client = ReconnectingClient::connect(client_config(false), connector)
        .await
        .unwrap();
    let server = ServerPeer::run(accepted.recv().await.unwrap());
    client.send(message("c0")).await.unwrap();
    client.flush_acked().await.unwrap();
    client.send(message("c1")).await.unwrap();
    // The server drops the session outright (no parking): gone.
    server.task.abort();
    let mut events = Vec::new();
    loop {
        match client.next().await.unwrap().unwrap() {
            ClientEvent::NewSession { lost } => {
                // c1 reached a server that crashed: maybe handled, maybe not.
                assert_eq!(lost.iter().map(body).collect::<Vec<_>>(), ["c1"]);
                break;
            }
            other => events.push(other),
        }
    }
    assert!(
        matches!(events[..], [ClientEvent::Disconnected { unacked: 1, .. }]),
        "{events:?}"
    );
    let server = accepted.recv().await.unwrap();
    assert!(!server.info().resumed);
}
