//! `xmpp serve`'s listeners: binding them, the accept loops with their
//! connection slots, and the shutdown that ends them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use super::admission::{Admission, Admitted, ConnectionLimits};
use super::inject::InjectIo;
use super::session::{connection, Negotiation, Shared};
use super::websocket::WsListener;
use crate::exit::{Code, Failure};

/// Binds a listener with Nagle off, which accepted sockets inherit, and
/// learns its actual address (port 0 picks one).
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), Failure> {
    let failed =
        |e: std::io::Error| Failure::new(Code::Network, format!("cannot listen on {addr}: {e}"));
    let listener = nodelay_listener(addr, false).map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((listener, local))
}

/// The c2s listeners: this thread's, and those of the other threads.
pub struct C2s {
    /// Accepted on by [`serve`] itself.
    pub listener: TcpListener,
    /// Accepted on by the other runtimes.
    pub extra: Vec<Extra>,
    /// Whether the listeners have Nagle off already, which accepted
    /// sockets inherit.
    pub nodelay: bool,
}

impl C2s {
    /// A listener bound elsewhere, alone.
    pub fn single(listener: TcpListener) -> Self {
        C2s {
            listener,
            extra: Vec::new(),
            nodelay: false,
        }
    }
}

/// A listening socket of the c2s port for another thread's runtime, which
/// accepts on it (see [`bind_group`]).
pub struct Extra {
    /// Deregistered from the runtime that bound it; registered again by the
    /// accept loop on `runtime`.
    pub listener: std::net::TcpListener,
    /// The runtime (on its own thread) that accepts on it and runs its
    /// connections.
    pub runtime: tokio::runtime::Handle,
}

/// The c2s listener of this thread and one more socket on the same address
/// for each of `others` (SO_REUSEPORT, so that the kernel spreads incoming
/// connections over them and no connection is ever handed between threads),
/// all with Nagle off, which accepted sockets inherit (one `setsockopt` per
/// connection less). An address in use is refused as [`bind`] refuses it:
/// the group is bound only after a plain bind of the address succeeded.
pub async fn bind_group(
    addr: SocketAddr,
    others: &[tokio::runtime::Handle],
) -> Result<(C2s, SocketAddr), Failure> {
    let failed =
        |e: std::io::Error| Failure::new(Code::Network, format!("cannot listen on {addr}: {e}"));
    if addr.port() != 0 {
        // Fails with "address in use" if anyone listens there, our own
        // SO_REUSEPORT sockets of another `xmpp serve` included.
        drop(std::net::TcpListener::bind(addr).map_err(failed)?);
    }
    let first = nodelay_listener(addr, true).map_err(failed)?;
    let local = first.local_addr().map_err(failed)?;
    let mut extra = Vec::with_capacity(others.len());
    for runtime in others {
        let listener = nodelay_listener(local, true)
            .and_then(TcpListener::into_std)
            .map_err(failed)?;
        extra.push(Extra {
            listener,
            runtime: runtime.clone(),
        });
    }
    Ok((
        C2s {
            listener: first,
            extra,
            nodelay: true,
        },
        local,
    ))
}

/// A listener on `addr` with SO_REUSEADDR (as [`TcpListener::bind`]),
/// TCP_NODELAY and, if `reuseport`, SO_REUSEPORT.
fn nodelay_listener(addr: SocketAddr, reuseport: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if reuseport {
        socket.set_reuseport(true)?;
    }
    socket.set_nodelay(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// An accepted connection that may go on: a free connection slot and room
/// among its address's pending connections, and Nagle off. `None` (logged)
/// when accepting failed or the connection was refused.
async fn admit(
    accepted: std::io::Result<(TcpStream, SocketAddr)>,
    admission: &Admission,
    nodelay_inherited: bool,
) -> Option<(TcpStream, SocketAddr, Admitted)> {
    let (tcp, peer) = match accepted {
        Ok(a) => a,
        Err(e) => {
            // EMFILE and friends: back off instead of spinning.
            tracing::warn!(error = %e, "accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            return None;
        }
    };
    match admission.admit(peer.ip()) {
        Ok(admitted) => {
            if !nodelay_inherited {
                let _ = tcp.set_nodelay(true);
            }
            Some((tcp, peer, admitted))
        }
        Err(why) => {
            admission.refuse(tcp, peer, why);
            None
        }
    }
}

/// Runs a c2s connection: over the socket, or through the fault injector
/// when `--inject` asks for it.
fn start_tcp(
    tracker: &TaskTracker,
    (tcp, peer, admitted): (TcpStream, SocketAddr, Admitted),
    shared: &Arc<Shared>,
    shutdown: &watch::Receiver<bool>,
) {
    let shared = shared.clone();
    let shutdown = shutdown.clone();
    // Two tasks rather than one future over both transports: a task is as
    // large as its largest variant, and InjectIo is 20 times a TcpStream.
    if shared.injections.is_empty() {
        tracker.spawn(connection(
            tcp,
            peer,
            shared,
            shutdown,
            admitted,
            Negotiation::Tcp,
        ));
    } else {
        let io = InjectIo::new(tcp, shared.injections.clone());
        tracker.spawn(connection(
            io,
            peer,
            shared,
            shutdown,
            admitted,
            Negotiation::Tcp,
        ));
    }
}

/// The accept loop of an [`Extra`] listener, on its runtime: its
/// connections run there (`tokio::spawn` inside a current-thread runtime
/// stays on its thread).
async fn accept_extra(
    listener: std::net::TcpListener,
    admission: Arc<Admission>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    tracker: TaskTracker,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot register a listener");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        if let Some(admitted) = admit(accepted, &admission, true).await {
            start_tcp(&tracker, admitted, &shared, &shutdown);
        }
    }
}

/// Accepts connections until `stop` resolves, then shuts every session down
/// with `<system-shutdown/>` and waits (briefly) for them to close. Each of
/// `extra` accepts on its own runtime (see [`bind_group`]).
pub async fn serve(
    c2s: C2s,
    direct_tls: Option<TcpListener>,
    websocket: Option<WsListener>,
    shared: Arc<Shared>,
    limits: ConnectionLimits,
    stop: impl std::future::Future<Output = ()>,
) {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let tracker = TaskTracker::new();
    let domain = shared
        .config
        .domains
        .first()
        .map_or("", |d| d.name.as_str());
    let admission = Arc::new(Admission::new(limits, domain));
    let C2s {
        listener,
        extra,
        nodelay: nodelay_inherited,
    } = c2s;
    for Extra { listener, runtime } in extra {
        let accept = accept_extra(
            listener,
            admission.clone(),
            shared.clone(),
            shutdown_rx.clone(),
            tracker.clone(),
        );
        tracker.spawn_on(accept, &runtime);
    }
    tokio::pin!(stop);
    let accept_direct = || async {
        match &direct_tls {
            Some(l) => l.accept().await,
            None => std::future::pending().await,
        }
    };
    let accept_ws = || async {
        match &websocket {
            Some(l) => l.listener.accept().await,
            None => std::future::pending().await,
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                if let Some(admitted) = admit(accepted, &admission, nodelay_inherited).await {
                    start_tcp(&tracker, admitted, &shared, &shutdown_rx);
                }
            }
            accepted = accept_direct() => {
                let Some((tcp, peer, admitted)) = admit(accepted, &admission, true).await else {
                    continue;
                };
                let shared = shared.clone();
                let shutdown = shutdown_rx.clone();
                // Fault injection reads the clear text: not possible here.
                tracker.spawn(connection(tcp, peer, shared, shutdown, admitted, Negotiation::DirectTls));
            }
            accepted = accept_ws() => {
                let Some((tcp, peer, admitted)) = admit(accepted, &admission, true).await else {
                    continue;
                };
                if let Some(ws) = &websocket {
                    let http = ws.http.clone();
                    let conn = super::websocket::connection(tcp, peer, http, shared.clone(), shutdown_rx.clone(), admitted);
                    tracker.spawn(conn);
                }
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    drop(direct_tls);
    drop(websocket);
    tracing::info!(sessions = shared.router.len(), "shutting down");
    // Sessions still negotiating watch this, and the extra accept loops.
    let _ = shutdown_tx.send(true);
    // Established sessions wait on their mailbox, not on the watch; parked
    // ones on this.
    shared.router.close();
    shared.stopping.cancel();
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepted sockets inherit TCP_NODELAY from our listeners
    /// (Linux copies the listener's options), which `admit` relies on.
    #[tokio::test]
    async fn accepted_sockets_inherit_nodelay() {
        let (c2s, addr) = bind_group("127.0.0.1:0".parse().unwrap(), &[])
            .await
            .unwrap();
        assert!(c2s.nodelay && c2s.extra.is_empty());
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = c2s.listener.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap());
        // The direct TLS and WebSocket listeners too.
        let (single, addr) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = single.accept().await.unwrap();
        assert!(accepted.nodelay().unwrap());
    }

    /// One socket per runtime on the same port; an address someone else
    /// listens on is refused, as a plain bind refuses it.
    #[tokio::test]
    async fn a_group_shares_its_port_and_refuses_a_taken_one() {
        let others = [tokio::runtime::Handle::current()];
        let (c2s, addr) = bind_group("127.0.0.1:0".parse().unwrap(), &others)
            .await
            .unwrap();
        assert_eq!(c2s.extra.len(), 1);
        assert_eq!(c2s.extra[0].listener.local_addr().unwrap(), addr);
        assert_eq!(c2s.listener.local_addr().unwrap(), addr);
        assert!(bind_group(addr, &[]).await.is_err());
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(bind_group(taken.local_addr().unwrap(), &[]).await.is_err());
    }
}
