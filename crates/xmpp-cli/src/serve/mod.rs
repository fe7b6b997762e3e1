//! `xmpp serve`: a real c2s server on top of `xmpp_stream::server::accept`.

pub mod inject;
mod router;

use std::io::Write as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{Sink as _, Stream as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use xmpp_stream::server::{
    self, ConflictPolicy, ResourceRegistry, ServerConfig, SessionFeature, TlsPolicy,
};
use xmpp_stream::{Security, StanzaCondition, StreamCondition, XmppStream};
use xmpp_xml::{ns, Element, Limits};

use self::inject::Injection;
use self::router::{Delivery, Router};
use crate::cli::{ConflictMode, ServeArgs, SessionMode};
use crate::exit::{CmdResult, Code, Failure};
use crate::store::DomainStore;

/// The mechanisms offered by default. The negotiation drops what a stream
/// cannot have: the `-PLUS` names without TLS (no channel binding), and
/// PLAIN without TLS unless --allow-plain-without-tls.
pub const DEFAULT_MECHANISMS: [&str; 6] = [
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "DIGEST-MD5",
    "PLAIN",
];

/// Everything the connection tasks share.
pub struct Shared {
    /// The negotiation settings.
    pub config: Arc<ServerConfig>,
    /// Faults to inject.
    pub injections: Vec<Injection>,
    /// The connected sessions.
    pub router: Router,
    next_id: AtomicU64,
}

impl Shared {
    /// Wraps a server config.
    pub fn new(config: Arc<ServerConfig>, injections: Vec<Injection>) -> Arc<Self> {
        Arc::new(Shared {
            config,
            injections,
            router: Router::default(),
            next_id: AtomicU64::new(1),
        })
    }
}

/// Validates and builds the offered mechanism list.
pub fn mechanisms(
    given: Option<&[String]>,
    allow_plain: bool,
    tls: bool,
) -> Result<Vec<String>, Failure> {
    let list: Vec<String> = match given {
        Some(l) => l.iter().map(|m| m.trim().to_ascii_uppercase()).collect(),
        None => DEFAULT_MECHANISMS.iter().map(|m| (*m).to_owned()).collect(),
    };
    for m in &list {
        if !xmpp_sasl::SUPPORTED_MECHANISMS.contains(&m.as_str()) {
            return Err(Failure::usage(format!(
                "unknown mechanism {m:?} (supported: {})",
                xmpp_sasl::SUPPORTED_MECHANISMS.join(", ")
            )));
        }
    }
    if list.is_empty() {
        return Err(Failure::usage("--mechanisms: no mechanism given"));
    }
    if given.is_some() && !tls {
        if list.iter().any(|m| m == "PLAIN") && !allow_plain {
            tracing::warn!(
                "PLAIN is listed but not offered without TLS: add --tls or --allow-plain-without-tls"
            );
        }
        if list.iter().any(|m| m.ends_with("-PLUS")) {
            tracing::warn!("the -PLUS mechanisms are only offered over TLS: add --tls");
        }
    }
    Ok(list)
}

/// Runs `xmpp serve` until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs) -> CmdResult {
    let injections = args
        .inject
        .iter()
        .map(|s| s.parse::<Injection>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::usage)?;
    let mut domains = Vec::new();
    for d in &args.domain {
        let parsed = jid::BareJid::new(d)
            .map_err(|e| Failure::usage(format!("invalid domain {d:?}: {e}")))?;
        if parsed.node().is_some() {
            return Err(Failure::usage(format!(
                "--domain {d:?}: a domain has no localpart"
            )));
        }
        domains.push(parsed.domain().as_str().to_owned());
    }
    let mechanisms = mechanisms(
        args.mechanisms.as_deref(),
        args.allow_plain_without_tls,
        !matches!(args.tls, crate::cli::ServerTls::Off) || args.direct_tls.is_some(),
    )?;
    let store = Arc::new(crate::user::open_store(&args.store).await?.with_cache(
        crate::store::CacheConfig {
            ttl: args.store_cache_ttl,
            max_entries: args.store_cache_size,
        },
    ));
    let mut config = ServerConfig::new(
        &domains[0],
        Arc::new(DomainStore::new(store.clone(), &domains[0])),
    );
    for d in &domains[1..] {
        config.add_domain(d, Arc::new(DomainStore::new(store.clone(), d)));
    }
    if let Some(r) = &args.realm {
        config.set_realm(r);
    }
    config.mechanisms = mechanisms;
    config.allow_plain_insecure = args.allow_plain_without_tls;
    config.rspauth_in_success = args.rspauth_in_success;
    config.plain_cache =
        (args.plain_cache > 0).then(|| xmpp_sasl::Pbkdf2Cache::new(args.plain_cache));
    config.sasl_retries = args.sasl_retries;
    config.close_after_sasl_failure = args.close_after_sasl_failure;
    config.negotiation_timeout = args.negotiation_timeout;
    config.limits = Limits {
        max_stanza_bytes: args.max_stanza_bytes,
        ..Limits::default()
    };
    config.pre_auth_limits = Limits {
        max_stanza_bytes: args.pre_auth_max_stanza_bytes,
        ..Limits::default()
    };
    config.session = match args.session {
        SessionMode::Optional => SessionFeature::Optional,
        SessionMode::Required => SessionFeature::Required,
        SessionMode::Omitted => SessionFeature::Omitted,
    };
    config.registry = Arc::new(ResourceRegistry::new(match args.resource_conflict {
        ConflictMode::Replace => ConflictPolicy::Replace,
        ConflictMode::Refuse => ConflictPolicy::Refuse,
    }));
    config.tls_policy = match args.tls {
        crate::cli::ServerTls::Off => TlsPolicy::Off,
        crate::cli::ServerTls::Optional => TlsPolicy::Optional,
        crate::cli::ServerTls::Required => TlsPolicy::Required,
    };
    let wants_tls = config.tls_policy != TlsPolicy::Off || args.direct_tls.is_some();
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = xmpp_stream::tls::ServerTls::from_pem_files(cert, key).map_err(|e| {
                Failure::usage(format!("cannot load the TLS certificate or key: {e}"))
            })?;
            if !wants_tls {
                tracing::warn!(
                    "--tls-cert given but --tls off and no --direct-tls: TLS is not offered"
                );
            }
            config.tls = Some(tls);
        }
        _ if wants_tls => {
            let generated =
                crate::tls::generate(&domains).map_err(|e| Failure::new(Code::Other, e))?;
            match &args.write_ca {
                Some(path) => {
                    std::fs::write(path, &generated.ca_pem).map_err(|e| {
                        Failure::new(Code::Other, format!("--write-ca {}: {e}", path.display()))
                    })?;
                    tracing::warn!(
                        domains = ?domains,
                        ca = %path.display(),
                        "no --tls-cert: generated a throwaway certificate; clients can trust it with --ca-file {}",
                        path.display()
                    );
                }
                None => tracing::warn!(
                    domains = ?domains,
                    "no --tls-cert: generated a throwaway self-signed certificate that no client trusts \
                     (--write-ca PATH saves its CA for `xmpp login --ca-file PATH`)"
                ),
            }
            config.tls = Some(generated.server);
        }
        _ => {
            if args.write_ca.is_some() {
                return Err(Failure::usage(
                    "--write-ca needs TLS: --tls optional|required or --direct-tls",
                ));
            }
        }
    }
    if config.tls_policy != TlsPolicy::Off
        && injections
            .iter()
            .any(|i| !matches!(i.step, inject::Step::Header | inject::Step::Starttls))
    {
        tracing::warn!(
            "--inject after <proceed/> cannot look inside TLS: those steps apply only to clients that do not use STARTTLS"
        );
    }
    let listener = TcpListener::bind(args.listen).await.map_err(|e| {
        Failure::new(
            Code::Network,
            format!("cannot listen on {}: {e}", args.listen),
        )
    })?;
    let local = listener.local_addr().map_err(|e| {
        Failure::new(
            Code::Network,
            format!("cannot listen on {}: {e}", args.listen),
        )
    })?;
    tracing::info!(
        listen = %local,
        domains = ?domains,
        store = store.location(),
        mechanisms = ?config.mechanisms,
        injections = ?args.inject,
        "serving"
    );
    let direct = match args.direct_tls {
        Some(addr) => {
            let l = TcpListener::bind(addr).await.map_err(|e| {
                Failure::new(Code::Network, format!("cannot listen on {addr}: {e}"))
            })?;
            let a = l.local_addr().map_err(|e| {
                Failure::new(Code::Network, format!("cannot listen on {addr}: {e}"))
            })?;
            Some((l, a))
        }
        None => None,
    };
    // The contract: scripts read this line to learn the port.
    out!("listening on {local}");
    if let Some((_, a)) = &direct {
        out!("direct TLS on {a}");
    }
    let _ = std::io::stdout().flush();
    let shared = Shared::new(Arc::new(config), injections);
    serve(
        listener,
        direct.map(|(l, _)| l),
        shared,
        args.max_connections,
        shutdown_signal(),
    )
    .await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
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

/// An accepted connection that may go on: a free connection slot, and
/// Nagle off. `None` (logged) when accepting failed or every slot is taken.
async fn admit(
    accepted: std::io::Result<(tokio::net::TcpStream, SocketAddr)>,
    slots: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let (tcp, peer) = match accepted {
        Ok(a) => a,
        Err(e) => {
            // EMFILE and friends: back off instead of spinning.
            tracing::warn!(error = %e, "accept failed");
            tokio::time::sleep(Duration::from_millis(50)).await;
            return None;
        }
    };
    let Ok(permit) = slots.clone().try_acquire_owned() else {
        tracing::warn!(%peer, "connection limit reached; refusing");
        return None;
    };
    let _ = tcp.set_nodelay(true);
    Some((tcp, peer, permit))
}

/// Accepts connections until `stop` resolves, then shuts every session down
/// with `<system-shutdown/>` and waits (briefly) for them to close.
pub async fn serve(
    listener: TcpListener,
    direct_tls: Option<TcpListener>,
    shared: Arc<Shared>,
    max_connections: usize,
    stop: impl std::future::Future<Output = ()>,
) {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let tracker = TaskTracker::new();
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    tokio::pin!(stop);
    let accept_direct = || async {
        match &direct_tls {
            Some(l) => l.accept().await,
            None => std::future::pending().await,
        }
    };
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Some((tcp, peer, permit)) = admit(accepted, &slots).await else {
                    continue;
                };
                let shared = shared.clone();
                let shutdown = shutdown_rx.clone();
                // Two tasks rather than one future over both transports: a
                // task is as large as its largest variant, and InjectIo is
                // 20 times a TcpStream.
                if shared.injections.is_empty() {
                    tracker.spawn(connection(tcp, peer, shared, shutdown, permit, false));
                } else {
                    let io = inject::InjectIo::new(tcp, shared.injections.clone());
                    tracker.spawn(connection(io, peer, shared, shutdown, permit, false));
                }
            }
            accepted = accept_direct() => {
                let Some((tcp, peer, permit)) = admit(accepted, &slots).await else {
                    continue;
                };
                let shared = shared.clone();
                let shutdown = shutdown_rx.clone();
                // Fault injection reads the clear text: not possible here.
                tracker.spawn(connection(tcp, peer, shared, shutdown, permit, true));
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    drop(direct_tls);
    tracing::info!(sessions = shared.router.len(), "shutting down");
    let _ = shutdown_tx.send(true);
    // Established sessions wait on their mailbox, not on the watch.
    shared.router.close();
    tracker.close();
    if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not close in time");
    }
}

/// One client connection: negotiation, then the session.
///
/// Memory per idle session is what this future holds while the session
/// waits (plus the buffers XmppStream frees when idle), so the negotiation
/// runs in its own box and the session is a hand-written [`Session`] rather
/// than a `select!` loop: async fns keep both a moved argument and its
/// local copy, and `select!` keeps every branch's future, which made an
/// idle task 8 KiB.
async fn connection<S>(
    io: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    permit: OwnedSemaphorePermit,
    direct_tls: bool,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let started = Instant::now();
    // Scoped so that neither the negotiation nor its result outlive the
    // construction of the session in the task's state.
    let mut session = {
        let negotiating = Box::pin(async {
            if direct_tls {
                server::accept_direct_tls(io, shared.config.clone(), None).await
            } else {
                server::accept(io, shared.config.clone(), Security::Cleartext, None).await
            }
        });
        let negotiated = tokio::select! {
            r = negotiating => r,
            () = stopped(&mut shutdown) => return,
        };
        match negotiated {
            Ok(stream) => {
                tracing::info!(
                    %peer,
                    jid = stream.jid().as_str(),
                    mechanism = stream.info().mechanism,
                    elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                    "session established"
                );
                Session::new(stream, &shared)
            }
            Err(e) => {
                tracing::info!(%peer, error = %e, "negotiation failed");
                return;
            }
        }
    };
    drop(shutdown);
    let end = std::future::poll_fn(|cx| session.poll(cx, &shared)).await;
    match end {
        End::Shutdown => {
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                session
                    .stream
                    .close_with_error(StreamCondition::SystemShutdown, None),
            )
            .await;
        }
        End::Closed => {}
    }
    shared
        .router
        .unregister(session.stream.jid().as_str(), session.id);
    tracing::debug!(jid = session.stream.jid().as_str(), "session closed");
    drop(permit);
}

/// Resolves once shutdown was requested.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Why a session's loop ended.
enum End {
    /// The server is shutting down: send `<system-shutdown/>`.
    Shutdown,
    /// The stream ended (closed, failed, or replaced).
    Closed,
}

/// An established session: stanzas from the client are handled, stanzas
/// routed to it are written out. Polled by hand (see [`connection`]).
struct Session<S> {
    stream: XmppStream<S>,
    /// `None` once a newer session took the resource (the stream then ends
    /// with `<conflict/>` by itself) or when the router was closed first.
    inbox: Option<mpsc::Receiver<Box<Element>>>,
    id: u64,
    /// An element waiting for room in the stream, then being flushed.
    outgoing: Outgoing,
}

enum Outgoing {
    Idle,
    Ready(Box<Element>),
    Flushing,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    fn new(stream: XmppStream<S>, shared: &Shared) -> Self {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let inbox = shared.router.register(stream.jid().as_str(), id, 64);
        Session {
            stream,
            inbox,
            id,
            outgoing: Outgoing::Idle,
        }
    }

    /// Like the `select!` loop it replaces: one write at a time, and while
    /// it is in progress nothing is read.
    fn poll(&mut self, cx: &mut Context<'_>, shared: &Shared) -> Poll<End> {
        if self.inbox.is_none() && shared.router.is_closed() {
            return Poll::Ready(End::Shutdown);
        }
        loop {
            match std::mem::replace(&mut self.outgoing, Outgoing::Idle) {
                Outgoing::Idle => {}
                Outgoing::Ready(el) => {
                    match Pin::new(&mut self.stream).poll_ready(cx) {
                        Poll::Pending => {
                            self.outgoing = Outgoing::Ready(el);
                            return Poll::Pending;
                        }
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => return Poll::Ready(self.write_failed(e)),
                    }
                    if let Err(e) = Pin::new(&mut self.stream).start_send(*el) {
                        return Poll::Ready(self.write_failed(e));
                    }
                    self.outgoing = Outgoing::Flushing;
                    continue;
                }
                Outgoing::Flushing => match Pin::new(&mut self.stream).poll_flush(cx) {
                    Poll::Pending => {
                        self.outgoing = Outgoing::Flushing;
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(self.write_failed(e)),
                },
            }
            if let Some(inbox) = &mut self.inbox {
                match inbox.poll_recv(cx) {
                    Poll::Ready(Some(el)) => {
                        self.outgoing = Outgoing::Ready(el);
                        continue;
                    }
                    Poll::Ready(None) => {
                        // Closed router, or replaced by a newer session.
                        self.inbox = None;
                        if shared.router.is_closed() {
                            return Poll::Ready(End::Shutdown);
                        }
                    }
                    Poll::Pending => {}
                }
            }
            match ready!(Pin::new(&mut self.stream).poll_next(cx)) {
                None => return Poll::Ready(End::Closed),
                Some(Err(e)) => {
                    tracing::info!(jid = self.stream.jid().as_str(), error = %e, "session ended");
                    return Poll::Ready(End::Closed);
                }
                Some(Ok(el)) => {
                    let jid = self.stream.jid().as_str();
                    if let Some(reply) = handle(&el, jid, self.id, shared) {
                        self.outgoing = Outgoing::Ready(Box::new(reply));
                    }
                }
            }
        }
    }

    fn write_failed(&self, e: xmpp_stream::SessionError) -> End {
        tracing::debug!(jid = self.stream.jid().as_str(), error = %e, "write failed");
        End::Closed
    }
}

/// Rebuilds `el` with `from` set to the sender's full JID (RFC 6120 §8.1.2.1).
fn stamp_from(el: &Element, from: &str) -> Element {
    if el.attr("from") == Some(from) {
        return el.clone();
    }
    let mut b = Element::builder(el.name(), el.ns());
    for (k, v) in el.attrs() {
        b = b.attr(k, v);
    }
    b = b.attr("from", from);
    let text = el.text();
    if !text.trim().is_empty() {
        b = b.text(&text);
    }
    for c in el.children() {
        b = b.append(c.clone());
    }
    b.build()
}

/// A stanza error reply for a message or presence.
fn bounce(el: &Element, condition: StanzaCondition) -> Element {
    let mut b = Element::builder(el.name(), ns::CLIENT).attr("type", "error");
    if let Some(id) = el.attr("id") {
        b = b.attr("id", id);
    }
    if let Some(to) = el.attr("to") {
        b = b.attr("from", to);
    }
    b.append(
        Element::builder("error", ns::CLIENT)
            .attr("type", condition.default_type())
            .append(Element::builder(condition.as_str(), ns::STANZAS).build())
            .build(),
    )
    .build()
}

/// Handles one stanza from `jid`; returns a reply for the sender, if any.
fn handle(el: &Element, jid: &str, id: u64, shared: &Shared) -> Option<Element> {
    if el.ns() != ns::CLIENT {
        tracing::debug!(
            jid,
            name = el.name(),
            ns = el.ns(),
            "ignoring unknown element"
        );
        return None;
    }
    let (bare, _) = router::split_full(jid);
    let domain = bare.split_once('@').map_or(bare, |(_, d)| d);
    let to = el.attr("to").filter(|t| !t.is_empty());
    let for_server = |t: Option<&str>| match t {
        None => true,
        Some(t) => t.eq_ignore_ascii_case(domain) || t.eq_ignore_ascii_case(bare),
    };
    match el.name() {
        "iq" => {
            let kind = el.attr("type").unwrap_or_default();
            if !matches!(kind, "get" | "set") {
                // Results and errors: route replies to another session, else drop.
                if let Some(t) = to.filter(|t| t.contains('/')) {
                    shared.router.deliver(t, &stamp_from(el, jid));
                }
                return None;
            }
            if for_server(to) {
                if kind == "get" && el.child("ping", ns::PING).is_some() {
                    return Some(xmpp_stream::iq_result(el));
                }
                return Some(xmpp_stream::iq_error(
                    el,
                    StanzaCondition::ServiceUnavailable,
                ));
            }
            let t = to.unwrap_or_default();
            if t.contains('/')
                && shared.router.deliver(t, &stamp_from(el, jid)) != Delivery::NoRecipient
            {
                return None;
            }
            Some(xmpp_stream::iq_error(
                el,
                StanzaCondition::ServiceUnavailable,
            ))
        }
        "message" => {
            let Some(t) = to else {
                // A message to one's own account with no `to`: deliver to own bare JID.
                shared.router.deliver(bare, &stamp_from(el, jid));
                return None;
            };
            if t.eq_ignore_ascii_case(domain) {
                return (el.attr("type") != Some("error"))
                    .then(|| bounce(el, StanzaCondition::ServiceUnavailable));
            }
            match shared.router.deliver(t, &stamp_from(el, jid)) {
                Delivery::Delivered(_) => None,
                Delivery::NoRecipient => (el.attr("type") != Some("error"))
                    .then(|| bounce(el, StanzaCondition::ServiceUnavailable)),
            }
        }
        "presence" => {
            match to {
                None => {
                    let available = el.attr("type").is_none();
                    let unavailable = el.attr("type") == Some("unavailable");
                    if available || unavailable {
                        shared.router.set_available(jid, id, available);
                    }
                }
                // Directed presence; never bounced (RFC 6121 §4.6).
                Some(t) => {
                    shared.router.deliver(t, &stamp_from(el, jid));
                }
            }
            None
        }
        _ => None,
    }
}
