//! The server side: [`accept`] negotiates with one connected client.

mod config;
pub mod core;
pub mod registry;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use xmpp_xml::StreamCodec;

pub use self::config::{ServedDomain, ServerConfig, SessionFeature, TlsPolicy};
pub use self::core::{ServerAction, ServerCore};
pub use self::registry::{BoundSession, ConflictPolicy, Mailbox, ResourceRegistry};
use crate::condition::StanzaCondition;
use crate::conn::{Conn, Event};
use crate::error::ServerError;
use crate::observer::Observer;
use crate::session::XmppStream;
use crate::transport::Transport;

/// Negotiates with the client on `io`: header, features, SASL, restart and
/// resource binding. `secure` says whether `io` is TLS-protected.
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use std::sync::Arc;
/// use xmpp_sasl::MemoryStore;
/// use xmpp_stream::server::{accept, ServerConfig};
///
/// let store = Arc::new(MemoryStore::default());
/// let config = Arc::new(ServerConfig::new("example.com", store));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:5222").await?;
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let config = config.clone();
///     tokio::spawn(async move {
///         if let Ok(stream) = accept(tcp, config, false, None).await {
///             println!("{} is online", stream.jid());
///         }
///     });
/// }
/// # }
/// ```
pub async fn accept<S>(
    io: S,
    config: Arc<ServerConfig>,
    secure: bool,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<S>, ServerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let codec = StreamCodec::new(config.pre_auth_limits.clone());
    let conn = Conn::new(Transport::Plain(io), codec, observer, false);
    let core = ServerCore::new(config.clone(), secure, crate::now());
    drive(conn, core, config).await
}

/// Direct TLS (XEP-0368): the TLS handshake comes first, then negotiation
/// on a protected stream (no STARTTLS).
#[cfg(feature = "tls")]
pub async fn accept_direct_tls<S>(
    io: S,
    config: Arc<ServerConfig>,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<S>, ServerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(tls) = config.tls.clone() else {
        return Err(ServerError::Tls("no certificate configured".to_owned()));
    };
    let now = crate::now();
    let handshake = crate::tls::upgrade_server(Transport::Plain(io), bytes::BytesMut::new(), &tls);
    let timeout = tokio::time::sleep(config.negotiation_timeout);
    let (transport, cb) = tokio::select! {
        r = handshake => r.map_err(|e| ServerError::Tls(e.to_string()))?,
        () = timeout => return Err(ServerError::Tls("handshake timed out".to_owned())),
    };
    let codec = StreamCodec::new(config.pre_auth_limits.clone());
    let conn = Conn::new(transport, codec, observer, false);
    let mut core = ServerCore::new(config.clone(), true, now);
    core.set_channel_bindings(cb);
    drive(conn, core, config).await
}

async fn drive<S>(
    mut conn: Conn<S>,
    mut core: ServerCore,
    config: Arc<ServerConfig>,
) -> Result<XmppStream<S>, ServerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut bound = None;
    loop {
        while let Some(action) = core.poll_action() {
            match action {
                ServerAction::Send(frame) => {
                    let mech = conn.observed_mechanism(core.mechanism());
                    if let Err(e) = conn.feed(frame, mech.as_deref()).await {
                        return Err(ServerError::Io(e.to_string()));
                    }
                }
                ServerAction::ResetDecoder => conn.framed.codec_mut().reset(),
                ServerAction::SetLimits(limits) => conn.framed.codec_mut().set_limits(limits),
                ServerAction::StartTls => {
                    conn = start_tls(conn, &mut core, &config).await?;
                }
                ServerAction::LookupCredentials { domain, username } => {
                    // Flush first: nothing is pending, but a slow store must
                    // not hold back what was already decided.
                    let found = match config.domain(&domain) {
                        Some(d) => d.store.lookup(&username).await,
                        None => Ok(None),
                    };
                    core.handle_credentials(found);
                }
                ServerAction::Bind { bare, resource } => {
                    let resource = resource.unwrap_or_else(crate::ids::resource);
                    let jid = format!("{bare}/{resource}");
                    // The core checked both parts, so this parses.
                    let result = jid::FullJid::new(&jid)
                        .map_err(|_| StanzaCondition::BadRequest)
                        .and_then(|full| config.registry.bind(&full));
                    core.handle_bind(result.map(|b| {
                        bound = Some(b);
                        jid
                    }));
                }
                ServerAction::Established(n) => {
                    if let Err(e) = conn.flush().await {
                        return Err(ServerError::Io(e.to_string()));
                    }
                    return Ok(XmppStream::new(conn, n, bound));
                }
                ServerAction::Fail(err) => {
                    let _ = conn.flush().await;
                    return Err(err);
                }
            }
        }
        if let Err(e) = conn.flush().await {
            return Err(ServerError::Io(e.to_string()));
        }
        let mech = conn.observed_mechanism(core.mechanism());
        match conn.next_until(core.poll_timeout(), mech.as_deref()).await {
            Event::Frame(frame) => core.handle_frame(frame),
            Event::Eof => core.handle_eof(),
            Event::Timeout(now) => core.handle_timeout(now),
        }
    }
}

/// Flushes `<proceed/>`, runs the handshake over the transport (with the
/// bytes the decoder read ahead) and rebuilds the connection on TLS.
#[cfg(feature = "tls")]
async fn start_tls<S>(
    mut conn: Conn<S>,
    core: &mut ServerCore,
    config: &ServerConfig,
) -> Result<Conn<S>, ServerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.flush()
        .await
        .map_err(|e| ServerError::Io(e.to_string()))?;
    let Some(tls) = config.tls.as_ref() else {
        return Err(ServerError::Internal("STARTTLS without a certificate"));
    };
    let (transport, buffered, codec, observer, client) = conn.into_transport();
    let handshake = crate::tls::upgrade_server(transport, buffered, tls);
    let result = match core.poll_timeout() {
        Some(deadline) => tokio::select! {
            r = handshake => r,
            () = crate::sleep_until(Some(deadline)) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        },
        None => handshake.await,
    };
    match result {
        Ok((transport, cb)) => {
            core.handle_tls(Ok(cb));
            Ok(Conn::rebuild(transport, codec, observer, client))
        }
        Err(e) => Err(ServerError::Tls(e.to_string())),
    }
}

#[cfg(not(feature = "tls"))]
async fn start_tls<S>(
    _conn: Conn<S>,
    _core: &mut ServerCore,
    _config: &ServerConfig,
) -> Result<Conn<S>, ServerError> {
    Err(ServerError::Internal("STARTTLS without TLS support"))
}
