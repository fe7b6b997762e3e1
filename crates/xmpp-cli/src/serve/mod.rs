//! `xmpp serve`: a real c2s server on top of `xmpp_stream::server::accept`.
//!
//! [`config`] turns the arguments into the server's settings, [`listener`]
//! accepts connections until shutdown, [`session`] runs each connection,
//! [`router`] routes stanzas between the sessions (stamping `from` with
//! [`stamp`]), and [`revoke`] ends the
//! sessions of accounts disabled or removed meanwhile.

mod admission;
mod config;
pub mod inject;
mod listener;
mod queue;
mod replay;
mod resume;
mod revoke;
mod router;
mod session;
mod stamp;
mod websocket;

use std::io::Write as _;
use std::sync::Arc;

pub use self::admission::ConnectionLimits;
pub use self::listener::{serve, C2s};
pub use self::queue::QueueLimits;
pub use self::session::Shared;
use crate::cli::ServeArgs;
use crate::exit::CmdResult;

/// Runs `xmpp serve` until Ctrl-C or SIGTERM: on a multi-thread runtime
/// (tokio's default worker count) by default, or with `--threads N` on N
/// single-threaded runtimes, each on its own thread with its own socket of
/// the c2s port (SO_REUSEPORT): a connection's reads, writes and timers then
/// stay on the thread that accepted it, with no wake-ups between threads
/// (futex wakes per login 2.2 -> 0.07). Measured on the shared 2-core bench
/// machine (PERFORMANCE.md), `--threads 2` costs about the same server CPU
/// per login as the default and `--threads 1` about 8% less, but a thread
/// that the scheduler preempts stalls its own connections (no work
/// stealing), so under load from other processes the login rate fell by
/// 15-25%: hence not the default. Everything but the extra accept loops
/// (the direct TLS and WebSocket listeners, the account watch) runs on the
/// calling thread's runtime; password derivations and SQLite stay off the
/// async threads (the blocking pool, sqlx's threads).
pub fn main(args: ServeArgs) -> CmdResult {
    use crate::exit::{Code, Failure};
    let Some(threads) = args.threads.map(usize::from) else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Failure::new(Code::Other, format!("cannot start the async runtime: {e}"))
            })?;
        let result = runtime.block_on(run(args, Vec::new()));
        runtime.shutdown_background();
        return result;
    };
    let build = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Failure::new(Code::Other, format!("cannot start the async runtime: {e}")))
    };
    let runtime = build()?;
    // Each extra thread runs its runtime until `done` drops.
    let mut handles = Vec::with_capacity(threads.saturating_sub(1));
    let mut done = Vec::with_capacity(threads.saturating_sub(1));
    for i in 1..threads {
        let rt = build()?;
        handles.push(rt.handle().clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        done.push(tx);
        std::thread::Builder::new()
            .name(format!("xmpp-serve-{i}"))
            .spawn(move || {
                rt.block_on(async {
                    let _ = rx.await;
                });
                rt.shutdown_background();
            })
            .map_err(|e| Failure::new(Code::Other, format!("cannot start a thread: {e}")))?;
    }
    let result = runtime.block_on(run(args, handles));
    drop(done);
    // Do not wait for lingering blocking tasks (a slow store).
    runtime.shutdown_background();
    result
}

/// Runs `xmpp serve` until Ctrl-C or SIGTERM; `others` accept on sockets of
/// their own.
async fn run(args: ServeArgs, others: Vec<tokio::runtime::Handle>) -> CmdResult {
    let settings = config::build(&args).await?;
    let (c2s, local) = listener::bind_group(args.listen, &others).await?;
    tracing::info!(
        listen = %local,
        domains = ?settings.domains,
        store = settings.store,
        mechanisms = ?settings.config.mechanisms,
        sasl2 = settings.config.sasl2,
        injections = ?args.inject,
        connections = ?settings.connections,
        max_derivations = settings.config.derivations.max(),
        queues = ?settings.queues,
        "serving"
    );
    let direct = match args.direct_tls {
        Some(addr) => Some(listener::bind(addr).await?),
        None => None,
    };
    let websocket = match args.websocket {
        Some(addr) => Some(listener::bind(addr).await?),
        None => None,
    };
    // Watching starts before the address is printed: a change made by
    // someone who waited for it is seen.
    let changes = settings
        .accounts
        .account_changes(args.account_check_interval)
        .await?;
    let revoker = revoke::Revoker {
        store: settings.accounts.clone(),
        registry: settings.config.registry.clone(),
        grace: args.negotiation_timeout,
        retry: args.account_check_interval,
    };
    // The contract: scripts read this line to learn the port.
    out!("listening on {local}");
    if let Some((_, a)) = &direct {
        out!("direct TLS on {a}");
    }
    let websocket = websocket.map(|(listener, addr)| {
        let tls = settings
            .config
            .tls
            .clone()
            .filter(|_| settings.config.tls_policy != xmpp_stream::server::TlsPolicy::Off);
        let scheme = if tls.is_some() { "wss" } else { "ws" };
        out!("websocket on {scheme}://{addr}{}", websocket::PATH);
        let http = websocket::Http {
            tls,
            origins: args.websocket_origin.clone(),
            timeout: args.negotiation_timeout,
            redirect: args.websocket_redirect.clone(),
        };
        websocket::WsListener {
            listener,
            http: Arc::new(http),
        }
    });
    let _ = std::io::stdout().flush();
    let shared = Shared::new(
        Arc::new(settings.config),
        settings.injections,
        settings.queues,
    );
    let revoking = tokio::spawn(revoker.run(changes));
    serve(
        c2s,
        direct.map(|(l, _)| l),
        websocket,
        shared,
        settings.connections,
        listener::shutdown_signal(),
    )
    .await;
    revoking.abort();
    Ok(())
}
