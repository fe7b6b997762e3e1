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
mod resume;
mod revoke;
mod router;
mod session;
mod stamp;
mod websocket;

use std::io::Write as _;
use std::sync::Arc;

pub use self::admission::ConnectionLimits;
pub use self::listener::serve;
pub use self::queue::QueueLimits;
pub use self::session::Shared;
use crate::cli::ServeArgs;
use crate::exit::CmdResult;

/// Runs `xmpp serve` until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> CmdResult {
    let settings = config::build(&args).await?;
    let (listener, local) = listener::bind(args.listen).await?;
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
        listener,
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
