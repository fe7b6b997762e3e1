//! One client connection of `xmpp serve`: negotiation, then the session,
//! which writes out what is routed to it and hands what it reads to the
//! [`Router`].

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{Sink as _, Stream as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use xmpp_stream::server::{self, ServerConfig};
use xmpp_stream::{Security, StreamCondition, XmppStream};
use xmpp_xml::Element;

use super::admission::Admitted;
use super::inject::{cut_after, Injection};
use super::queue::{Outbox, Overflow, QueueLimits};
use super::router::Router;

/// Stanzas a session's queue holds (besides its byte bounds) before the
/// session is closed for not reading.
const QUEUE_CAPACITY: usize = 64;

/// How long a session closed by the server may take to write its last
/// stream error: at shutdown, and (longer: it is slow by definition, and
/// its queue is freed first) after its queue overflowed.
const SHUTDOWN_CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
const OVERFLOW_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the connection tasks share.
pub struct Shared {
    /// The negotiation settings.
    pub config: Arc<ServerConfig>,
    /// Faults to inject.
    pub injections: Vec<Injection>,
    /// Routes between the sessions bound in `config.registry`.
    pub router: Router,
    /// Cancelled when the server shuts down: sessions waiting to be
    /// resumed go then.
    pub stopping: tokio_util::sync::CancellationToken,
}

impl Shared {
    /// Wraps a server config; session queues stay within `queues`.
    pub fn new(
        config: Arc<ServerConfig>,
        injections: Vec<Injection>,
        queues: QueueLimits,
    ) -> Arc<Self> {
        Arc::new(Shared {
            router: Router::new(config.registry.clone(), queues),
            config,
            injections,
            stopping: tokio_util::sync::CancellationToken::new(),
        })
    }
}

/// How a connection is negotiated; the session after it is the same.
#[derive(Clone, Copy, Debug)]
pub enum Negotiation {
    /// XMPP on TCP, STARTTLS as configured.
    Tcp,
    /// TLS first (XEP-0368).
    DirectTls,
    /// RFC 7395 messages on an upgraded HTTP connection, TLS (`wss:`) or not.
    WebSocket(Security),
}

impl Negotiation {
    /// How the client came, for the log: `tcp`, `direct-tls`, `ws` or `wss`.
    fn transport(self) -> &'static str {
        match self {
            Negotiation::Tcp => "tcp",
            Negotiation::DirectTls => "direct-tls",
            Negotiation::WebSocket(s) if s.is_tls() => "wss",
            Negotiation::WebSocket(_) => "ws",
        }
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
// Written out (clippy's `manual_async_fn`): see the comment in the body.
#[allow(clippy::manual_async_fn)]
pub fn connection<S>(
    io: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
    mut admitted: Admitted,
    how: Negotiation,
) -> impl std::future::Future<Output = ()> + Send
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // An async block rather than an async fn: an async fn keeps each
    // argument twice for its whole life, captured and moved into its local
    // (rust-lang/rust#62958).
    async move {
        let started = Instant::now();
        // Scoped so that neither the negotiation nor its result outlive the
        // construction of the session in the task's state.
        let mut session = {
            let negotiating = Box::pin(async {
                let config = shared.config.clone();
                match how {
                    Negotiation::Tcp => server::accept(io, config, Security::Cleartext, None).await,
                    Negotiation::DirectTls => server::accept_direct_tls(io, config, None).await,
                    Negotiation::WebSocket(security) => {
                        server::accept_websocket(io, config, security, None).await
                    }
                }
            });
            let negotiated = tokio::select! {
                r = negotiating => r,
                () = stopped(&mut shutdown) => return,
            };
            admitted.negotiated();
            match negotiated {
                Ok(stream) => {
                    tracing::info!(
                        %peer,
                        jid = stream.jid().as_str(),
                        mechanism = %stream.info().mechanism,
                        sasl2 = stream.info().sasl2,
                        bind2 = stream.info().bound_inline,
                        resumed = stream.info().resumed,
                        transport = how.transport(),
                        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                        "session established"
                    );
                    Session::new(stream, &shared.router, cut_after(&shared.injections))
                }
                Err(e) => {
                    tracing::info!(%peer, error = %e, "negotiation failed");
                    return;
                }
            }
        };
        drop(shutdown);
        let end = std::future::poll_fn(|cx| session.poll(cx, &shared.router)).await;
        let closing = match &end {
            End::Shutdown => Some((
                StreamCondition::SystemShutdown,
                None,
                SHUTDOWN_CLOSE_TIMEOUT,
            )),
            End::Overflow(why) => {
                tracing::warn!(
                    %peer,
                    jid = session.stream.jid().as_str(),
                    reason = ?why,
                    queued_bytes = session.inbox.as_ref().map_or(0, Outbox::bytes),
                    all_queued_bytes = shared.router.queued_bytes(),
                    "closing a session that does not read what it is sent"
                );
                // What it did not read goes now, not after the close.
                session.inbox = None;
                Some((
                    StreamCondition::PolicyViolation,
                    Some("too much queued for this session: read faster"),
                    OVERFLOW_CLOSE_TIMEOUT,
                ))
            }
            End::Ended(condition) => {
                tracing::info!(%peer, jid = session.stream.jid().as_str(), %condition, "session ended by the server");
                Some((*condition, None, OVERFLOW_CLOSE_TIMEOUT))
            }
            End::Closed => None,
            End::Cut => {
                tracing::info!(%peer, jid = session.stream.jid().as_str(), "cutting the connection (--inject stanza:N=cut)");
                None
            }
        };
        if let Some((condition, text, timeout)) = closing {
            // A client that does not read may never take this: bounded. Boxed,
            // as the parking below: a task is as large as its largest state for
            // as long as it lives, and these rare ones would more than double
            // what every idle session holds (a task of 5,094 bytes before, 2,408
            // after: valgrind massif).
            let close = session.stream.close_with_error(condition, text);
            let _ = Box::pin(tokio::time::timeout(timeout, close)).await;
        }
        tracing::debug!(jid = session.stream.jid().as_str(), "session closed");
        // The connection slot goes now; a session that waits to be resumed
        // holds none.
        drop(admitted);
        if matches!(end, End::Closed | End::Cut) {
            let Session { stream, inbox, .. } = session;
            Box::pin(super::resume::park(stream, inbox, &shared)).await;
        }
        // Dropping the stream (or the parked session) releases its resource in
        // the registry, and the queue gives back its bytes.
    }
}

/// Resolves once shutdown was requested.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Why a session's loop ended.
enum End {
    /// The server is shutting down: send `<system-shutdown/>`.
    Shutdown,
    /// The stream ended (closed, failed, lost, or resumed elsewhere).
    Closed,
    /// Its queue overflowed: close with `<policy-violation/>`.
    Overflow(Overflow),
    /// The server ended it (`<conflict/>` when replaced, `<not-authorized/>`
    /// when its account was closed).
    Ended(StreamCondition),
    /// `--inject stanza:N=cut`: drop the connection without a word, as a
    /// lost network does.
    Cut,
}

/// An established session: stanzas from the client are routed, stanzas
/// routed to it are written out. Polled by hand (see [`connection`]).
struct Session<S> {
    stream: XmppStream<S>,
    /// `None` once a newer session took the resource (the stream then ends
    /// with `<conflict/>` by itself) or when the router was closed first.
    inbox: Option<Outbox>,
    /// An element waiting for room in the stream, then being flushed.
    outgoing: Outgoing,
    /// `--inject stanza:N=cut`: how many more stanzas to write before the
    /// connection is cut.
    cut_in: Option<u32>,
}

enum Outgoing {
    Idle,
    Ready(Box<Element>),
    Flushing,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Session<S> {
    fn new(mut stream: XmppStream<S>, router: &Router, cut_after: Option<u32>) -> Self {
        // A resumed session keeps the queue it had, with what was routed to
        // it while its client was away.
        let kept = stream
            .take_resumed_state()
            .and_then(|state| state.downcast::<Option<Outbox>>().ok())
            .and_then(|inbox| *inbox);
        let inbox = kept.or_else(|| {
            stream
                .bound_session()
                .and_then(|bound| router.attach(bound, QUEUE_CAPACITY))
        });
        Session {
            stream,
            inbox,
            outgoing: Outgoing::Idle,
            cut_in: cut_after,
        }
    }

    /// Writes one element at a time, and reads nothing from the client
    /// while a write is in progress: a client that does not read what it is
    /// sent is not read either, so its replies cannot pile up here. Its
    /// queue's overflow is seen even while a write waits.
    fn poll(&mut self, cx: &mut Context<'_>, router: &Router) -> Poll<End> {
        if self.inbox.is_none() && router.is_closed() {
            return Poll::Ready(End::Shutdown);
        }
        if let Some(Poll::Ready(why)) = self.inbox.as_ref().map(|i| i.poll_overflow(cx)) {
            return Poll::Ready(End::Overflow(why));
        }
        // Seen here, not only when the stream is read: a write to a client
        // that does not read may never finish.
        if let Some(Poll::Ready(condition)) = self.stream.bound_session().map(|b| b.poll_ended(cx))
        {
            return Poll::Ready(End::Ended(condition));
        }
        // Likewise: the client resumed the session on another connection,
        // which waits for this one to let go.
        if self.stream.poll_resumed_elsewhere(cx).is_ready() {
            return Poll::Ready(End::Closed);
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
                    let stanza = matches!(el.name(), "message" | "presence" | "iq");
                    if let Err(e) = Pin::new(&mut self.stream).start_send(*el) {
                        return Poll::Ready(self.write_failed(e));
                    }
                    self.outgoing = Outgoing::Flushing;
                    if let Some(n) = self.cut_in.as_mut().filter(|_| stanza) {
                        *n -= 1;
                        if *n == 0 {
                            // Written (counted, queued) but never flushed:
                            // in flight when the network went.
                            return Poll::Ready(End::Cut);
                        }
                    }
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
                        if router.is_closed() {
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
                    // A server stream yields stanzas only while it holds
                    // its resource.
                    let reply = self
                        .stream
                        .bound_session()
                        .and_then(|bound| router.route(bound, &el));
                    if let Some(reply) = reply {
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

/// For the task size tests here and in `websocket`: an accepted socket
/// and its client's, its address, the shared state of a server for
/// example.com, and an admission with `slots` connection slots.
#[cfg(test)]
pub(super) async fn test_connection(
    slots: usize,
) -> (
    tokio::net::TcpStream,
    tokio::net::TcpStream,
    SocketAddr,
    Arc<Shared>,
    super::admission::Admission,
) {
    use super::admission::{Admission, ConnectionLimits};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (io, client) = tokio::join!(
        async { listener.accept().await.unwrap().0 },
        tokio::net::TcpStream::connect(addr)
    );
    let client = client.unwrap();
    let config = Arc::new(ServerConfig::new(
        "example.com",
        Arc::new(xmpp_sasl::MemoryStore::new()),
    ));
    let limits = QueueLimits {
        max_bytes: 1 << 20,
        max_total_bytes: 1 << 30,
    };
    let shared = Shared::new(config, Vec::new(), limits);
    let admission = Admission::new(
        ConnectionLimits {
            max_connections: slots,
            max_pending_per_ip: slots,
        },
        "example.com",
    );
    (io, client, addr, shared, admission)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What each idle session's task holds inline: the connection future is
    /// as large as its largest state, which must be the session's.
    #[tokio::test]
    async fn the_connection_task_is_no_larger_than_an_idle_session_needs() {
        let (io, _client, addr, shared, admission) = test_connection(1).await;
        let admitted = admission.admit(addr.ip()).unwrap();
        let (_tx, shutdown) = watch::channel(false);
        let task = connection(io, addr, shared, shutdown, admitted, Negotiation::Tcp);
        let task_bytes = std::mem::size_of_val(&task);
        let session_bytes = std::mem::size_of::<Session<tokio::net::TcpStream>>();
        // Besides the session: the arguments (the socket's registration,
        // the peer's address, the admission), the negotiation's box and the
        // shutdown wait. A rare path inline (a close under a timeout, the
        // parking for resumption) made it 5,094 bytes; async-fn arguments
        // kept twice added ~100.
        assert!(
            task_bytes <= session_bytes + 512,
            "task {task_bytes}, session {session_bytes}"
        );
    }
}
