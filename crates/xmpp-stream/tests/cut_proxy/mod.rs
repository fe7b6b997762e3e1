//! A TCP relay for tests that can cut every connection it carries, as a
//! lost network does: no `</stream:stream>`, no FIN, both sockets reset
//! (`SO_LINGER` 0) at once. New connections are relayed after a cut, so a
//! client can reconnect (and resume, XEP-0198) through the same address.
//!
//! Self-contained (tokio only): include it with `mod cut_proxy;`, or from
//! another crate's tests with
//! `#[path = "../../xmpp-stream/tests/cut_proxy/mod.rs"] mod cut_proxy;`.
//!
//! ```ignore
//! let proxy = CutProxy::start("127.0.0.1:15222").await;
//! let tcp = TcpStream::connect(proxy.addr()).await?;
//! // ... log in, send ...
//! assert_eq!(proxy.cut().await, 1);
//! ```
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// One relayed connection: its cut signal and its task.
struct Relay {
    cut: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// A relay from an ephemeral loopback port to a target, cut on demand.
/// Dropping it stops accepting and cuts what is still open.
pub struct CutProxy {
    addr: SocketAddr,
    relays: Arc<Mutex<Vec<Relay>>>,
    accepted: Arc<AtomicUsize>,
    acceptor: JoinHandle<()>,
}

impl CutProxy {
    /// Listens on `127.0.0.1:0` and relays each connection to `target`
    /// (`host:port`), connected when the client connects.
    pub async fn start(target: impl Into<String>) -> Self {
        let target = target.into();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let relays: Arc<Mutex<Vec<Relay>>> = Arc::default();
        let accepted = Arc::new(AtomicUsize::new(0));
        let acceptor = tokio::spawn({
            let (relays, accepted) = (relays.clone(), accepted.clone());
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let (cut, cut_rx) = oneshot::channel();
                    let task = tokio::spawn(relay(client, target.clone(), cut_rx));
                    let mut relays = relays.lock().unwrap();
                    relays.retain(|r| !r.task.is_finished());
                    relays.push(Relay { cut, task });
                }
            }
        });
        CutProxy {
            addr,
            relays,
            accepted,
            acceptor,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections accepted so far (cut or not).
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Resets every connection open now, both sides, and returns once
    /// their sockets are gone: how many were still open.
    pub async fn cut(&self) -> usize {
        let relays: Vec<Relay> = std::mem::take(&mut *self.relays.lock().unwrap());
        let mut cut = 0;
        for r in relays {
            if !r.task.is_finished() && r.cut.send(()).is_ok() {
                cut += 1;
            }
            let _ = r.task.await;
        }
        cut
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        for r in self.relays.lock().unwrap().drain(..) {
            let _ = r.cut.send(());
        }
    }
}

/// Copies both ways until both sides closed, or until the cut: then both
/// sockets are reset (RST, no FIN), and whatever was in flight is lost.
async fn relay(mut client: TcpStream, target: String, cut: oneshot::Receiver<()>) {
    let Ok(mut server) = TcpStream::connect(&target).await else {
        let _ = client.set_zero_linger();
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut => {
            let _ = client.set_zero_linger();
            let _ = server.set_zero_linger();
        }
    }
}
