//! A client session that outlives its connections: stream management
//! (XEP-0198) with resumption, and reconnection with backoff.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use xmpp_xml::Element;

use super::{ClientConfig, SuspendedSession};
use crate::condition::StreamCondition;
use crate::error::{ClientError, ErrorKind};
use crate::session::{SessionError, XmppStream};

/// How [`ReconnectingClient`] reconnects after losing its connection.
///
/// ```
/// use std::time::Duration;
/// use xmpp_stream::client::ReconnectPolicy;
///
/// let policy = ReconnectPolicy { max_attempts: 3, ..ReconnectPolicy::default() };
/// assert_eq!(policy.delay(0), Duration::ZERO);
/// assert!(policy.delay(1) >= Duration::from_millis(400));
/// assert!(policy.delay(20) <= Duration::from_secs(36));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// The wait before the second attempt (the first one is immediate);
    /// it doubles with each failure. Default 500 ms.
    pub initial_delay: Duration,
    /// The longest wait between attempts. Default 30 s.
    pub max_delay: Duration,
    /// Attempts after one loss before giving up. Default 10 (about
    /// three minutes with the defaults: within the 5 minutes servers
    /// usually keep a session for resumption).
    pub max_attempts: u32,
}

impl Default for ReconnectPolicy {
    fn default() -> Self {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_attempts: 10,
        }
    }
}

impl ReconnectPolicy {
    /// The wait before attempt `n` (0-based): none for the first, then
    /// doubling from [`initial_delay`](Self::initial_delay) up to
    /// [`max_delay`](Self::max_delay), ±20% at random so that the clients
    /// of a restarted server do not all come back at once.
    pub fn delay(&self, attempt: u32) -> Duration {
        if attempt == 0 {
            return Duration::ZERO;
        }
        let doubled = self
            .initial_delay
            .saturating_mul(1 << (attempt - 1).min(20))
            .min(self.max_delay);
        let mut byte = [0u8; 1];
        let jitter = match getrandom::fill(&mut byte) {
            Ok(()) => 0.8 + 0.4 * f64::from(byte[0]) / 255.0,
            Err(_) => 1.0,
        };
        doubled.mul_f64(jitter)
    }
}

/// What happened to a [`ReconnectingClient`]'s session.
#[non_exhaustive]
#[derive(Debug)]
pub enum ClientEvent {
    /// A stanza (or other top-level element) from the server.
    Stanza(Element),
    /// The connection was lost; the client reconnects after `retry_in`.
    Disconnected {
        /// Why.
        error: String,
        /// Stanzas sent and not yet acknowledged: they go again if the
        /// session is resumed.
        unacked: usize,
        /// When the next attempt starts.
        retry_in: Duration,
    },
    /// Reconnected and resumed (XEP-0198 §5): nothing was lost; what the
    /// server had not acknowledged was sent again.
    Resumed,
    /// Reconnected with a new session: the old one could not be resumed.
    /// These stanzas of it were never acknowledged: the server may or may
    /// not have handled them (never silently dropped: here they are).
    NewSession {
        /// The unacknowledged stanzas, oldest first.
        lost: Vec<Element>,
    },
}

type Connector<S> = Box<
    dyn Fn(ClientConfig) -> Pin<Box<dyn Future<Output = Result<XmppStream<S>, ClientError>> + Send>>
        + Send
        + Sync,
>;

// One per client, never in a collection: boxing either variant would only
// add an allocation.
#[allow(clippy::large_enum_variant)]
enum Link<S> {
    Up(XmppStream<S>),
    /// Lost: reconnect, resuming this session if there is one.
    Down {
        suspended: Option<SuspendedSession>,
        /// Unacknowledged stanzas of a session that could not be
        /// suspended: reported with the new one.
        lost: Vec<Element>,
        attempt: u32,
        wait: Duration,
    },
    /// Closed for good.
    Closed,
}

/// A client session that survives lost connections: XEP-0198 stream
/// management with resumption, and reconnection with backoff
/// ([`ReconnectPolicy`]). Read it with [`next`](Self::next): stanzas, and
/// [`ClientEvent`]s that say when the connection went and how it came
/// back, so that an application never loses a stanza silently.
///
/// `connect` makes each connection: it dials and negotiates with the
/// configuration it is given (for a reconnection, one that names the
/// session to resume in [`ClientConfig::resume`]).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use xmpp_stream::client::{connect, ClientConfig, ClientEvent, ReconnectingClient};
///
/// let config = ClientConfig::new("juliet@example.com", "r0m30myr0m30")?;
/// let mut client = ReconnectingClient::connect(config, |config| async move {
///     let tcp = tokio::net::TcpStream::connect("127.0.0.1:5222").await?;
///     connect(tcp, config, None).await
/// })
/// .await?;
/// while let Some(event) = client.next().await {
///     match event? {
///         ClientEvent::Stanza(el) => println!("{}", el.to_xml()),
///         ClientEvent::Resumed => eprintln!("reconnected; nothing lost"),
///         ClientEvent::NewSession { lost } => eprintln!("{} stanzas may be lost", lost.len()),
///         other => eprintln!("{other:?}"),
///     }
/// }
/// # Ok(()) }
/// ```
pub struct ReconnectingClient<S> {
    config: ClientConfig,
    connector: Connector<S>,
    policy: ReconnectPolicy,
    link: Link<S>,
    events: VecDeque<ClientEvent>,
}

impl<S> fmt::Debug for ReconnectingClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let link = match &self.link {
            Link::Up(_) => "up",
            Link::Down { .. } => "down",
            Link::Closed => "closed",
        };
        f.debug_struct("ReconnectingClient")
            .field("link", &link)
            .field("policy", &self.policy)
            .finish()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> ReconnectingClient<S> {
    /// Connects for the first time (with stream management turned on);
    /// an error here is returned, not retried.
    pub async fn connect<F, Fut>(mut config: ClientConfig, connect: F) -> Result<Self, ClientError>
    where
        F: Fn(ClientConfig) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<XmppStream<S>, ClientError>> + Send + 'static,
    {
        config.stream_management = true;
        config.resume = None;
        let connector: Connector<S> = Box::new(move |c| Box::pin(connect(c)));
        let stream = connector(config.clone()).await?;
        Ok(ReconnectingClient {
            config,
            connector,
            policy: ReconnectPolicy::default(),
            link: Link::Up(stream),
            events: VecDeque::new(),
        })
    }

    /// Uses this reconnection policy.
    pub fn with_policy(mut self, policy: ReconnectPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The stream, while connected.
    pub fn stream(&mut self) -> Option<&mut XmppStream<S>> {
        match &mut self.link {
            Link::Up(stream) => Some(stream),
            _ => None,
        }
    }

    /// The next stanza or event; reconnects as needed. `None` once the
    /// session ended cleanly ([`close`](Self::close), or the server closed
    /// the stream); an error when it ended otherwise: the server ended it
    /// for good (a stream error such as `<conflict/>`), a reconnection
    /// failed to authenticate, or [`ReconnectPolicy::max_attempts`] ran
    /// out.
    pub async fn next(&mut self) -> Option<Result<ClientEvent, ClientError>> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(Ok(event));
            }
            match &mut self.link {
                Link::Closed => return None,
                Link::Up(stream) => match stream.next().await {
                    Some(Ok(el)) => return Some(Ok(ClientEvent::Stanza(el))),
                    None if stream.ended_cleanly() => {
                        self.link = Link::Closed;
                        return None;
                    }
                    None => self.lost("the server closed the connection".to_owned()),
                    Some(Err(e)) => {
                        if let Err(fatal) = self.after_error(e) {
                            return Some(Err(fatal));
                        }
                    }
                },
                Link::Down { .. } => {
                    if let Err(e) = self.reconnect().await {
                        self.link = Link::Closed;
                        return Some(Err(e));
                    }
                }
            }
        }
    }

    /// Sends a stanza. While the connection is down, it is queued in the
    /// session and goes out when the session is resumed (if it is not, it
    /// is reported in [`ClientEvent::NewSession`]). When the queue of
    /// unacknowledged stanzas is full, waits for the server's
    /// acknowledgements first (back-pressure).
    pub async fn send(&mut self, stanza: Element) -> Result<(), SessionError> {
        loop {
            match &mut self.link {
                Link::Closed => {
                    return Err(SessionError::Io(std::io::ErrorKind::NotConnected.into()))
                }
                Link::Down {
                    suspended: Some(session),
                    ..
                } => return Ok(session.send(&stanza)?),
                Link::Down {
                    suspended: None, ..
                } => {
                    // No session to queue it in: send it once connected.
                    if let Err(e) = self.reconnect().await {
                        self.link = Link::Closed;
                        return Err(SessionError::Io(std::io::Error::other(e.to_string())));
                    }
                }
                Link::Up(stream) => {
                    let sent = match stream.feed(stanza.clone()).await {
                        Err(SessionError::QueueFull(_)) => match stream.flush_acked().await {
                            Ok(()) => continue,
                            Err(e) => Err(e),
                        },
                        Ok(()) => stream.flush().await,
                        Err(e) => Err(e),
                    };
                    return match sent {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            // Counted and queued before the write failed:
                            // the resumption sends it again.
                            self.after_error(e)
                                .map_err(|e| SessionError::Io(std::io::Error::other(e.to_string())))
                        }
                    };
                }
            }
        }
    }

    /// Waits until the server acknowledged everything sent (reconnecting
    /// as needed).
    pub async fn flush_acked(&mut self) -> Result<(), ClientError> {
        loop {
            match &mut self.link {
                Link::Closed => return Err(ClientError::Closed),
                Link::Down { .. } => self.reconnect().await?,
                Link::Up(stream) => match stream.flush_acked().await {
                    Ok(()) => return Ok(()),
                    Err(e) => self.after_error(e)?,
                },
            }
        }
    }

    /// Closes the session cleanly.
    pub async fn close(&mut self) -> Result<(), SessionError> {
        if let Link::Up(mut stream) = std::mem::replace(&mut self.link, Link::Closed) {
            stream.close().await?;
            while let Some(item) = stream.next().await {
                item?;
            }
        }
        Ok(())
    }

    /// A read or write failed: the connection is lost (reconnect), or the
    /// session is over (`Err`).
    fn after_error(&mut self, e: SessionError) -> Result<(), ClientError> {
        let retry = match &e {
            SessionError::Io(_) | SessionError::Unacknowledged(_) => true,
            SessionError::Received { condition, .. } => matches!(
                condition,
                StreamCondition::SystemShutdown
                    | StreamCondition::ConnectionTimeout
                    | StreamCondition::InternalServerError
                    | StreamCondition::Reset
            ),
            _ => false,
        };
        if !retry {
            self.link = Link::Closed;
            return Err(match e {
                SessionError::Received { condition, text } => {
                    ClientError::Stream { condition, text }
                }
                other => ClientError::Protocol(other.to_string()),
            });
        }
        self.lost(e.to_string());
        Ok(())
    }

    /// The connection is gone: keep the session to resume, report it.
    fn lost(&mut self, error: String) {
        let Link::Up(mut stream) = std::mem::replace(&mut self.link, Link::Closed) else {
            return;
        };
        let suspended = stream.suspend();
        let lost = stream.take_unacked();
        let unacked = lost.len() + suspended.as_ref().map_or(0, SuspendedSession::unacked);
        self.events.push_back(ClientEvent::Disconnected {
            error,
            unacked,
            retry_in: Duration::ZERO,
        });
        self.link = Link::Down {
            suspended,
            lost,
            attempt: 0,
            wait: Duration::ZERO,
        };
    }

    /// One attempt to connect again, resuming the session if there is one,
    /// after the policy's wait. A failure to reach the server leaves the
    /// link down for the next attempt (and reports it); an authentication
    /// failure, or the last attempt failing, ends the session.
    async fn reconnect(&mut self) -> Result<(), ClientError> {
        let Link::Down {
            mut suspended,
            mut lost,
            attempt,
            wait,
        } = std::mem::replace(&mut self.link, Link::Closed)
        else {
            return Ok(());
        };
        tokio::time::sleep(wait).await;
        let mut config = self.config.clone();
        config.resume = suspended.clone();
        match (self.connector)(config).await {
            Ok(stream) => {
                let event = if stream.info().resumed {
                    ClientEvent::Resumed
                } else {
                    lost.extend(stream.info().sm_lost.iter().cloned());
                    ClientEvent::NewSession { lost }
                };
                self.events.push_back(event);
                self.link = Link::Up(stream);
                Ok(())
            }
            Err(e) if e.kind() == ErrorKind::Network && attempt + 1 < self.policy.max_attempts => {
                let wait = self.policy.delay(attempt + 1);
                self.events.push_back(ClientEvent::Disconnected {
                    error: e.to_string(),
                    unacked: suspended.as_ref().map_or(0, SuspendedSession::unacked),
                    retry_in: wait,
                });
                self.link = Link::Down {
                    suspended,
                    lost,
                    attempt: attempt + 1,
                    wait,
                };
                Ok(())
            }
            Err(e) => {
                // The session is not coming back: what it held is lost.
                if let Some(s) = suspended.take() {
                    lost.extend(s.into_unacked());
                }
                if !lost.is_empty() {
                    self.events.push_back(ClientEvent::NewSession { lost });
                }
                Err(e)
            }
        }
    }
}
