//! The client side: [`connect`] negotiates over any byte stream.

mod config;
mod proto;
mod reconnect;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use xmpp_xml::StreamCodec;

pub use self::config::{
    ChannelBindingPolicy, ClientConfig, InvalidJid, Sasl2Mode, TlsMode, UserAgent,
};
pub use self::proto::{ClientAction, ClientCore, SuspendedSession};
pub use self::reconnect::{ClientEvent, ReconnectPolicy, ReconnectingClient};
use crate::conn::{Conn, Event};
use crate::error::ClientError;
use crate::observer::Observer;
use crate::session::XmppStream;
use crate::transport::Transport;

/// Negotiates a client stream over `io` (a connected TCP stream, or any
/// other byte stream): header, features, SASL, restart, bind and, if the
/// server requires it, the legacy session.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use xmpp_stream::client::{connect, ClientConfig};
///
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:5222").await?;
/// let config = ClientConfig::new("juliet@example.com", "r0m30myr0m30")?;
/// let stream = connect(tcp, config, None).await?;
/// println!("bound as {}", stream.jid());
/// # Ok(()) }
/// ```
pub async fn connect<S>(
    io: S,
    config: ClientConfig,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let codec = StreamCodec::new(config.limits.clone());
    let conn = Conn::new(Transport::Plain(io), codec, observer, true);
    let tls = TlsSetup::from_config(&config);
    let core = ClientCore::new(config, crate::now());
    drive(conn, core, tls).await
}

/// Direct TLS (XEP-0368): the TLS handshake comes first, then negotiation
/// on the protected stream (no STARTTLS is ever attempted inside it).
///
/// The handshake sends the XMPP domain (or
/// [`ClientConfig::tls_server_name`]) as SNI and checks the certificate
/// against it, never against the host connected to (an SRV target), and
/// offers the ALPN protocol `xmpp-client`, as XEP-0368 asks.
#[cfg(feature = "tls")]
pub async fn connect_direct_tls<S>(
    io: S,
    config: ClientConfig,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut tls = TlsSetup::from_config(&config);
    tls.alpn = true;
    let now = crate::now();
    let handshake = tls.upgrade(Transport::Plain(io), bytes::BytesMut::new());
    let (transport, cb) = tokio::time::timeout(config.timeout, handshake)
        .await
        .map_err(|_| ClientError::Timeout)?
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let codec = StreamCodec::new(config.limits.clone());
    let conn = Conn::new(transport, codec, observer, true);
    let mut core = ClientCore::new(config, now);
    core.set_secure(cb);
    drive(conn, core, tls).await
}

/// Negotiates over a WebSocket the caller opened (RFC 7395: the `xmpp`
/// subprotocol agreed). `tls`: the channel bindings of the TLS under it
/// (`wss:`), `None` over `ws:`. STARTTLS is never used;
/// [`crate::websocket::connect`] opens the WebSocket too.
#[cfg(feature = "websocket")]
pub async fn connect_websocket<S>(
    ws: tokio_tungstenite::WebSocketStream<Transport<S>>,
    config: ClientConfig,
    tls: Option<crate::ChannelBindings>,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let framed = crate::websocket::WsFramed::new(ws, config.limits.clone());
    let conn = Conn::websocket(framed, observer, true);
    let setup = TlsSetup::from_config(&config);
    let mut core = ClientCore::new(config, crate::now());
    if let Some(cb) = tls {
        core.set_secure(cb);
    }
    drive(conn, core, setup).await
}

/// What the shell needs to run a TLS handshake.
struct TlsSetup {
    #[cfg(feature = "tls")]
    config: Option<Arc<rustls::ClientConfig>>,
    #[cfg(feature = "tls")]
    server_name: String,
    /// Offer ALPN `xmpp-client` (direct TLS only: STARTTLS runs inside an
    /// XMPP stream already).
    #[cfg(feature = "tls")]
    alpn: bool,
}

impl TlsSetup {
    fn from_config(config: &ClientConfig) -> Self {
        #[cfg(not(feature = "tls"))]
        let _ = config;
        TlsSetup {
            #[cfg(feature = "tls")]
            config: config.tls_config.clone(),
            #[cfg(feature = "tls")]
            server_name: config
                .tls_server_name
                .clone()
                .unwrap_or_else(|| config.domain.clone()),
            #[cfg(feature = "tls")]
            alpn: false,
        }
    }

    #[cfg(feature = "tls")]
    async fn upgrade<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        transport: Transport<S>,
        buffered: bytes::BytesMut,
    ) -> std::io::Result<(Transport<S>, crate::negotiation::ChannelBindings)> {
        let mut config = match &self.config {
            Some(c) => c.clone(),
            None => crate::tls::system_roots_config()?,
        };
        if self.alpn {
            config = crate::tls::with_alpn(&config, crate::tls::ALPN_XMPP_CLIENT);
        }
        crate::tls::upgrade_client(transport, buffered, config, &self.server_name).await
    }
}

async fn drive<S>(
    mut conn: Conn<S>,
    mut core: ClientCore,
    tls: TlsSetup,
) -> Result<XmppStream<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    #[cfg(not(feature = "tls"))]
    let _ = &tls;
    let close_timeout = core.close_timeout();
    loop {
        while let Some(action) = core.poll_action() {
            match action {
                ClientAction::Send(frame) => {
                    let mech = core.mechanism();
                    conn.feed(frame, mech).await?;
                }
                ClientAction::ResetDecoder => conn.framed.reset(),
                #[cfg(feature = "tls")]
                ClientAction::StartTls => {
                    if conn.framed.is_websocket() {
                        // RFC 7395 §3.7: TLS is the URL's (wss:), never in-stream.
                        let why = "the server offered STARTTLS over WebSocket";
                        return Err(ClientError::Tls(why.to_owned()));
                    }
                    conn.flush().await?;
                    let (transport, buffered, codec, observer, client) = conn.into_transport();
                    let deadline = core.poll_timeout();
                    let result = tokio::select! {
                        r = tls.upgrade(transport, buffered) => r,
                        () = crate::sleep_until(deadline) => {
                            return Err(ClientError::Timeout);
                        }
                    };
                    let (transport, cb) = match result {
                        Ok(done) => done,
                        Err(e) => {
                            // The transport is gone: the core can only
                            // report the failure, not send anything.
                            core.handle_tls(Err(e));
                            return Err(queued_failure(&mut core));
                        }
                    };
                    core.handle_tls(Ok(cb));
                    conn = Conn::rebuild(transport, codec, observer, client);
                }
                #[cfg(not(feature = "tls"))]
                ClientAction::StartTls => {
                    return Err(ClientError::Tls("built without TLS support".to_owned()));
                }
                ClientAction::Established(n) => {
                    conn.flush().await?;
                    let sm = crate::session::StreamSm::Client(
                        core.take_stream_management().map(Box::new),
                    );
                    return Ok(XmppStream::new(conn, *n, None, sm));
                }
                ClientAction::Fail(err) => {
                    // Best effort: the stream is failing anyway.
                    let _ = conn.flush().await;
                    if !matches!(err, ClientError::Io(_) | ClientError::Closed) {
                        conn.drain(close_timeout).await;
                    }
                    conn.abandon().await;
                    return Err(err);
                }
            }
        }
        // Flush errors end the negotiation like read errors do.
        if let Err(e) = conn.flush().await {
            core.handle_frame(Err(e));
            continue;
        }
        let mech = core.mechanism();
        match conn.next_until(core.poll_timeout(), mech).await {
            Event::Frame(frame) => core.handle_frame(frame),
            Event::Eof => core.handle_eof(),
            Event::Timeout(now) => core.handle_timeout(now),
        }
    }
}

/// The failure the core queued, once the connection can no longer carry
/// anything it would send first.
#[cfg(feature = "tls")]
fn queued_failure(core: &mut ClientCore) -> ClientError {
    std::iter::from_fn(|| core.poll_action())
        .find_map(|action| match action {
            ClientAction::Fail(err) => Some(err),
            _ => None,
        })
        .unwrap_or(ClientError::Internal(
            "a failed TLS handshake was not reported",
        ))
}
