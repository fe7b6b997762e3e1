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

/// Binds a listener and learns its actual address (port 0 picks one).
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), Failure> {
    let failed =
        |e: std::io::Error| Failure::new(Code::Network, format!("cannot listen on {addr}: {e}"));
    let listener = TcpListener::bind(addr).await.map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((listener, local))
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
            let _ = tcp.set_nodelay(true);
            Some((tcp, peer, admitted))
        }
        Err(why) => {
            admission.refuse(tcp, peer, why);
            None
        }
    }
}

/// Accepts connections until `stop` resolves, then shuts every session down
/// with `<system-shutdown/>` and waits (briefly) for them to close.
pub async fn serve(
    listener: TcpListener,
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
    let admission = Admission::new(limits, domain);
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
                let Some((tcp, peer, admitted)) = admit(accepted, &admission).await else {
                    continue;
                };
                let shared = shared.clone();
                let shutdown = shutdown_rx.clone();
                // Two tasks rather than one future over both transports: a
                // task is as large as its largest variant, and InjectIo is
                // 20 times a TcpStream.
                if shared.injections.is_empty() {
                    tracker.spawn(connection(tcp, peer, shared, shutdown, admitted, Negotiation::Tcp));
                } else {
                    let io = InjectIo::new(tcp, shared.injections.clone());
                    tracker.spawn(connection(io, peer, shared, shutdown, admitted, Negotiation::Tcp));
                }
            }
            accepted = accept_direct() => {
                let Some((tcp, peer, admitted)) = admit(accepted, &admission).await else {
                    continue;
                };
                let shared = shared.clone();
                let shutdown = shutdown_rx.clone();
                // Fault injection reads the clear text: not possible here.
                tracker.spawn(connection(tcp, peer, shared, shutdown, admitted, Negotiation::DirectTls));
            }
            accepted = accept_ws() => {
                let Some((tcp, peer, admitted)) = admit(accepted, &admission).await else {
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
    // Sessions still negotiating watch this.
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
