//! No cheap way to stall `xmpp serve`: a flood of PLAIN attempts does not
//! hold the async threads, one address cannot take every connection slot,
//! the slots stay under the open-file limit, and a client that never reads
//! is closed instead of growing its queue. Traffic stays on 127.0.0.0/8;
//! timing bounds are relative to a baseline measured in the same test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use xmpp_sasl::{Mechanism, MechanismSelector};
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::{SessionError, StreamCondition, XmppStream};
use xmpp_xml::{ns, Element};

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
     xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// PLAIN for somenode with a wrong password: base64 of "\0somenode\0wrong-password".
const WRONG_PLAIN: &str = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' \
     mechanism='PLAIN'>AHNvbWVub2RlAHdyb25nLXBhc3N3b3Jk</auth>";

/// A TCP connection to `server` from the loopback address `src`.
async fn connect_from(src: &str, server: &str) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{src}:0").parse::<SocketAddr>().unwrap())?;
    socket.connect(server.parse().unwrap()).await
}

/// somenode's DIGEST-MD5 client config, as `resource`.
fn digest_md5(resource: &str) -> ClientConfig {
    ClientConfig::new(&format!("somenode@example.com/{resource}"), "secret")
        .unwrap()
        .with_selector(MechanismSelector::with_preference([Mechanism::DigestMd5]))
        .with_tls(TlsMode::Off)
}

/// somenode's DIGEST-MD5 login from `src` as `resource`.
async fn login_from(src: &str, server: &str, resource: &str) -> XmppStream<TcpStream> {
    let tcp = connect_from(src, server).await.expect("connect");
    tokio::time::timeout(
        Duration::from_secs(30),
        connect(tcp, digest_md5(resource), None),
    )
    .await
    .expect("login in time")
    .expect("login")
}

/// [`login_from`], retried for a while: the server may not have noticed
/// yet that connections holding the address's slots went away.
async fn login_eventually(src: &str, server: &str, resource: &str) -> XmppStream<TcpStream> {
    for _ in 0..100 {
        if let Ok(tcp) = connect_from(src, server).await {
            let login = connect(tcp, digest_md5(resource), None);
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(10), login).await {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no login from {src}");
}

/// Sends a ping to the server and waits for its result.
async fn ping(stream: &mut XmppStream<TcpStream>, id: &str) -> Duration {
    let started = Instant::now();
    let iq = Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", id)
        .attr("to", "example.com")
        .append(Element::builder("ping", ns::PING).build())
        .build();
    stream.send(iq).await.unwrap();
    loop {
        let el = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .expect("a ping result in time")
            .expect("stream open")
            .expect("no stream error");
        if el.attr("id") == Some(id) {
            assert_eq!(el.attr("type"), Some("result"));
            return started.elapsed();
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Everything read from `tcp` until it closes, or what came within `wait`.
async fn read_until_closed(mut tcp: TcpStream, wait: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(wait, tcp.read_to_end(&mut seen))
        .await
        .is_ok();
    (String::from_utf8_lossy(&seen).into_owned(), closed)
}

// ---------------------------------------------------------------------------
// A PLAIN flood
// ---------------------------------------------------------------------------

#[derive(Default)]
struct FloodStats {
    answered: AtomicUsize,
    temporary: AtomicUsize,
}

/// Connects from `src` and sends wrong PLAIN attempts until `stop`,
/// reconnecting whenever the server closes the stream.
async fn flood(src: String, server: String, stop: Arc<AtomicBool>, stats: Arc<FloodStats>) {
    let wait = Duration::from_millis(500);
    'connections: while !stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = connect_from(&src, &server).await else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let mut seen = String::new();
        let mut pos = 0;
        if tcp.write_all(HEADER.as_bytes()).await.is_err() {
            continue;
        }
        let mut expect = "</stream:features>";
        loop {
            // Read until `expect` (or the end of the stream) shows up.
            let mut buf = [0u8; 4096];
            while !seen[pos..].contains(expect) {
                if seen[pos..].contains("</stream:stream>") || stop.load(Ordering::Relaxed) {
                    continue 'connections;
                }
                match tokio::time::timeout(wait, tcp.read(&mut buf)).await {
                    Ok(Ok(0)) | Ok(Err(_)) => continue 'connections,
                    Ok(Ok(n)) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                    Err(_) => {}
                }
            }
            if expect == "</failure>" {
                stats.answered.fetch_add(1, Ordering::Relaxed);
                if seen[pos..].contains("<temporary-auth-failure/>") {
                    stats.temporary.fetch_add(1, Ordering::Relaxed);
                }
            }
            pos = seen.len();
            expect = "</failure>";
            if tcp.write_all(WRONG_PLAIN.as_bytes()).await.is_err() {
                continue 'connections;
            }
        }
    }
}

/// During a flood of PLAIN attempts for a known user (real PBKDF2, 4096
/// iterations, from 16 connections per core, at least 64), a ping on an established session and
/// a fresh DIGEST-MD5 login stay close to their unloaded times, and the
/// flood beyond the derivation cap gets `<temporary-auth-failure/>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_flood_stalls_neither_pings_nor_digest_md5_logins() {
    let store = Store::new();
    let server = Server::start(store.arg(), &["--allow-plain-without-tls"]);
    let addr = server.addr.clone();
    let mut session = login_from("127.0.0.1", &addr, "pinger").await;

    // Unloaded baseline, after a warm-up.
    ping(&mut session, "warm").await;
    let base_ping = median(vec![
        ping(&mut session, "b1").await,
        ping(&mut session, "b2").await,
        ping(&mut session, "b3").await,
    ]);
    let mut base_logins = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        drop(login_from("127.0.0.1", &addr, &format!("base{i}")).await);
        base_logins.push(started.elapsed());
    }
    let base_login = median(base_logins);

    // Well beyond the default cap (twice the cores), 16 connections per
    // address (under the per-address cap).
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let connections = (16 * cores).clamp(64, 512);
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(FloodStats::default());
    let workers: Vec<_> = (0..connections)
        .map(|i| {
            let src = format!("127.0.0.{}", 10 + i / 16);
            tokio::spawn(flood(src, addr.clone(), stop.clone(), stats.clone()))
        })
        .collect();
    // Until the flood is well under way (bounded).
    let started = Instant::now();
    while stats.answered.load(Ordering::Relaxed) < 64 && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let loaded_ping = median(vec![
        ping(&mut session, "l1").await,
        ping(&mut session, "l2").await,
        ping(&mut session, "l3").await,
    ]);
    let mut loaded_logins = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        drop(login_from("127.0.0.1", &addr, &format!("loaded{i}")).await);
        loaded_logins.push(started.elapsed());
    }
    let loaded_login = median(loaded_logins);

    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    let answered = stats.answered.load(Ordering::Relaxed);
    let temporary = stats.temporary.load(Ordering::Relaxed);
    eprintln!(
        "ping {base_ping:?} -> {loaded_ping:?}, DIGEST-MD5 login {base_login:?} -> {loaded_login:?}, \
         flood: {answered} attempts answered, {temporary} temporary-auth-failure"
    );
    assert!(
        answered >= 64,
        "the flood did not get going: {answered} answers"
    );
    // Generous: the flood's derivations do share the two cores.
    let ping_bound = (base_ping * 20).max(Duration::from_secs(1));
    let login_bound = (base_login * 10).max(Duration::from_secs(3));
    assert!(
        loaded_ping <= ping_bound,
        "a ping took {loaded_ping:?} during the flood (unloaded {base_ping:?}, bound {ping_bound:?})"
    );
    assert!(
        loaded_login <= login_bound,
        "a DIGEST-MD5 login took {loaded_login:?} during the flood (unloaded {base_login:?}, bound {login_bound:?})"
    );
    assert!(
        temporary > 0,
        "no attempt beyond the derivation cap got temporary-auth-failure ({answered} answered)"
    );
}

// ---------------------------------------------------------------------------
// Connection slots
// ---------------------------------------------------------------------------

/// Opens `n` idle connections from `src` (nothing sent).
async fn idle_connections(src: &str, server: &str, n: usize) -> Vec<TcpStream> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(connect_from(src, server).await.expect("connect"));
    }
    v
}

/// For each connection: whether it was refused with `<policy-violation/>`
/// and closed within `wait`.
async fn refused(conns: Vec<TcpStream>, wait: Duration) -> Vec<bool> {
    // All at once: collected before the first is awaited.
    let reads: Vec<_> = conns
        .into_iter()
        .map(|c| tokio::spawn(read_until_closed(c, wait)))
        .collect();
    let mut out = Vec::new();
    for r in reads {
        let (text, closed) = r.await.unwrap();
        out.push(closed && text.contains("<policy-violation"));
    }
    out
}

/// 40 slots, 32 of them at most for one address's unauthenticated
/// connections (the default): an address holding idle connections gets 32
/// and is refused beyond, and a login from another address goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holding_idle_connections_does_not_stop_a_login_from_another() {
    let store = Store::new();
    let server = Server::start(store.arg(), &["--max-connections", "40"]);
    let idle = idle_connections("127.0.0.2", &server.addr, 40).await;
    // Give the server time to accept all of them before looking.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let session = login_from("127.0.0.3", &server.addr, "other").await;
    assert_eq!(session.jid().as_str(), "somenode@example.com/other");

    let outcomes = refused(idle, Duration::from_secs(2)).await;
    let n = outcomes.iter().filter(|r| **r).count();
    assert_eq!(
        n, 8,
        "refused beyond 32 pending from one address: {outcomes:?}"
    );

    // Their slots come back when they go: 127.0.0.2 may log in again.
    let again = login_eventually("127.0.0.2", &server.addr, "back").await;
    assert_eq!(again.jid().as_str(), "somenode@example.com/back");
}

/// `xmpp serve` with this open-file limit (through `sh -c 'ulimit -n'`).
fn start_with_fd_limit(store: &str, limit: u32) -> Server {
    use std::io::BufRead as _;
    let script = format!("ulimit -n {limit} && exec \"$0\" \"$@\"");
    let mut child = Command::new("sh")
        .args(["-c", &script, BIN, "serve", "--listen", "127.0.0.1:0"])
        .args(["--domain", "example.com", "--store", store])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sh");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("no listen line: {line:?}"))
        .to_owned();
    Server {
        child,
        addr,
        direct: None,
        websocket: None,
    }
}

/// Under a 128-file limit, the default cap (128 - 64 slots) refuses the
/// connections beyond it at once, with `<policy-violation/>`, instead of
/// leaving them unanswered in the listen backlog once the process has no
/// file descriptor left to accept them with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_open_file_limit_connections_are_refused_at_once() {
    let store = Store::new();
    let server = start_with_fd_limit(store.arg(), 128);
    // 125 idle connections, 25 from each of five addresses (under the
    // per-address cap), then one more from a sixth.
    let mut idle = Vec::new();
    for a in 11..16 {
        idle.extend(idle_connections(&format!("127.0.0.{a}"), &server.addr, 25).await);
    }
    let extra = connect_from("127.0.0.16", &server.addr).await.unwrap();
    let (text, closed) = read_until_closed(extra, Duration::from_secs(5)).await;
    assert!(
        closed && text.contains("<policy-violation"),
        "closed: {closed}, read: {text:?}"
    );
    assert!(text.contains("too many connections"), "{text}");

    // The server kept its own files: once the idle connections go, logins work.
    drop(idle);
    let session = login_eventually("127.0.0.17", &server.addr, "after").await;
    assert_eq!(session.jid().as_str(), "somenode@example.com/after");
}

// ---------------------------------------------------------------------------
// A client that never reads
// ---------------------------------------------------------------------------

/// somenode's DIGEST-MD5 login with a tiny receive buffer, so that what the
/// server sends piles up on its side rather than in this process's socket.
async fn slow_reader(server: &str) -> XmppStream<TcpStream> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.parse().unwrap()).await.unwrap();
    let config = ClientConfig::new("somenode@example.com/slow", "secret")
        .unwrap()
        .with_selector(MechanismSelector::with_preference([Mechanism::DigestMd5]))
        .with_tls(TlsMode::Off);
    connect(tcp, config, None).await.unwrap()
}

/// Another session sends 32 KiB messages to one that does not read: once
/// its queue is over its byte bound (1 MiB by default) the server closes it
/// with `<policy-violation/>` instead of queueing more, and bounces.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_never_reads_is_closed_with_policy_violation() {
    let store = Store::new();
    let server = Server::start(store.arg(), &[]);
    let mut slow = slow_reader(&server.addr).await;
    let sender = login_from("127.0.0.1", &server.addr, "sender").await;
    let (mut tx, mut rx) = sender.split();
    // The sender keeps reading after the first bounce: every message it has
    // pipelined by then is bounced too, and a sender that stopped reading
    // would stall its own writes (the server answers one write at a time).
    let bounced = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn({
        let bounced = bounced.clone();
        async move {
            while let Ok(Some(Ok(el))) =
                tokio::time::timeout(Duration::from_secs(60), rx.next()).await
            {
                if el.is("message", ns::CLIENT) && el.attr("type") == Some("error") {
                    bounced.store(true, Ordering::Relaxed);
                }
            }
        }
    });
    let body = "x".repeat(32 * 1024);
    // At most 25 MiB: far more than the kernel's buffers and the queue hold.
    for i in 0..800 {
        if bounced.load(Ordering::Relaxed) {
            break;
        }
        let msg = Element::builder("message", ns::CLIENT)
            .attr("to", "somenode@example.com/slow")
            .attr("id", &format!("m{i}"))
            .append(Element::builder("body", ns::CLIENT).text(&body).build())
            .build();
        tokio::time::timeout(Duration::from_secs(60), tx.send(msg))
            .await
            .expect("the server stopped reading the sender")
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !bounced.load(Ordering::Relaxed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(bounced.load(Ordering::Relaxed), "nothing was ever bounced");

    // Now read: what was sent before, then the stream error.
    let end = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match slow.next().await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Some(e),
                None => return None,
            }
        }
    })
    .await
    .expect("the slow session was never closed");
    assert!(
        matches!(
            end,
            Some(SessionError::Received {
                condition: StreamCondition::PolicyViolation,
                ..
            })
        ),
        "{end:?}"
    );
    reader.abort();
}
