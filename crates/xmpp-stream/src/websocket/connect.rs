//! The client's way in: a `ws://` or `wss://` URL to a negotiated stream.

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};

use crate::client::ClientConfig;
use crate::condition::StreamCondition;
use crate::error::ClientError;
use crate::observer::Observer;
use crate::session::XmppStream;
use crate::transport::Transport;

/// A WebSocket endpoint's URL, checked: `ws` or `wss`, a host, a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss:` (TLS) rather than `ws:`.
    pub secure: bool,
    /// The host: what is connected to, and over `wss:` the TLS server name.
    pub host: String,
    /// The port (80 or 443 when the URL has none).
    pub port: u16,
    /// The URL as given.
    pub url: String,
}

impl WsUrl {
    /// Parses `url`; `None` unless it is a `ws:` or `wss:` URL with a host.
    pub fn parse(url: &str) -> Option<WsUrl> {
        let uri: Uri = url.parse().ok()?;
        let secure = match uri.scheme_str()? {
            "wss" => true,
            "ws" => false,
            _ => return None,
        };
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        Some(WsUrl {
            secure,
            host: host.to_owned(),
            port: uri.port_u16().unwrap_or(if secure { 443 } else { 80 }),
            url: url.to_owned(),
        })
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> ClientError {
    ClientError::Io(std::io::Error::other(format!("{what}: {e}")))
}

/// Connects to `url` and negotiates: TCP to its host and port, TLS for
/// `wss:` (SNI and certificate checked against the URL's host, or
/// [`ClientConfig::tls_server_name`] when set, with
/// [`ClientConfig::tls_config`] or the system's roots), the WebSocket
/// upgrade offering the `xmpp` subprotocol (refused unless the server
/// echoes it), then the XMPP negotiation as on TCP, minus STARTTLS.
///
/// Over `ws:` nothing is encrypted: with [`TlsMode::Required`](crate::client::TlsMode)
/// (the default) the negotiation then fails, as it would on TCP without
/// STARTTLS.
///
/// A server's `<close see-other-uri='…'/>` (RFC 7395 §3.6.1) is followed,
/// at most [`MAX_REDIRECTS`] times, to another `wss:` URL (or, from a
/// `ws:` one, to `ws:`: never from TLS to none); a redirect that is not
/// followed is the error, [`ClientError::Stream`] with `see-other-host`
/// and the URI as its text.
pub async fn connect(
    url: &WsUrl,
    config: ClientConfig,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<TcpStream>, ClientError> {
    let mut url = url.clone();
    for _ in 0..MAX_REDIRECTS {
        match connect_once(&url, config.clone(), observer.clone()).await {
            Err(ClientError::Stream {
                condition: StreamCondition::SeeOtherHost,
                text: Some(uri),
            }) => match redirect(&url, &uri) {
                Some(next) => url = next,
                None => {
                    return Err(ClientError::Stream {
                        condition: StreamCondition::SeeOtherHost,
                        text: Some(uri),
                    })
                }
            },
            other => return other,
        }
    }
    connect_once(&url, config, observer).await
}

/// How many `see-other-uri` redirects [`connect`] follows.
pub const MAX_REDIRECTS: usize = 3;

/// Where a redirect from `from` to `to` leads, if it may be followed: a
/// WebSocket URL that does not give up TLS.
fn redirect(from: &WsUrl, to: &str) -> Option<WsUrl> {
    WsUrl::parse(to).filter(|next| next.secure || !from.secure)
}

/// One connection to `url`, no redirects followed.
async fn connect_once(
    url: &WsUrl,
    config: ClientConfig,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<TcpStream>, ClientError> {
    let dial = TcpStream::connect((url.host.as_str(), url.port));
    let tcp = tokio::time::timeout(config.timeout, dial)
        .await
        .map_err(|_| ClientError::Timeout)??;
    let _ = tcp.set_nodelay(true);
    connect_over(tcp, url, config, observer).await
}

/// [`connect`] over a connection to `url`'s host the caller opened: TLS
/// for `wss:`, the upgrade, the negotiation.
pub async fn connect_over<S>(
    io: S,
    url: &WsUrl,
    config: ClientConfig,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let timeout = config.timeout;
    let opened = tokio::time::timeout(timeout, open(io, url, &config))
        .await
        .map_err(|_| ClientError::Timeout)??;
    let (ws, cb) = opened;
    crate::client::connect_websocket(ws, config, cb, observer).await
}

type Opened<S> = (
    tokio_tungstenite::WebSocketStream<Transport<S>>,
    Option<crate::ChannelBindings>,
);

async fn open<S>(io: S, url: &WsUrl, config: &ClientConfig) -> Result<Opened<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (transport, cb) = if url.secure {
        secure(io, url, config).await?
    } else {
        (Transport::Plain(io), None)
    };
    let mut request = url
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| failed("WebSocket URL", e))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static(super::SUBPROTOCOL),
    );
    let (ws, response) = tokio_tungstenite::client_async_with_config(
        request,
        transport,
        Some(super::ws_config(&config.limits)),
    )
    .await
    .map_err(|e| failed("WebSocket upgrade", e))?;
    let echoed = response.headers().get("Sec-WebSocket-Protocol");
    if echoed.map(HeaderValue::as_bytes) != Some(super::SUBPROTOCOL.as_bytes()) {
        return Err(failed(
            "WebSocket upgrade",
            "the server did not agree to the xmpp subprotocol",
        ));
    }
    Ok((ws, cb))
}

#[cfg(feature = "tls")]
async fn secure<S: AsyncRead + AsyncWrite + Unpin>(
    io: S,
    url: &WsUrl,
    config: &ClientConfig,
) -> Result<(Transport<S>, Option<crate::ChannelBindings>), ClientError> {
    let tls = match &config.tls_config {
        Some(c) => c.clone(),
        None => crate::tls::system_roots_config().map_err(|e| ClientError::Tls(e.to_string()))?,
    };
    // The certificate must name the URL's host (RFC 7395 §3.7), not the
    // XMPP domain: the endpoint may live elsewhere. An explicit
    // `tls_server_name` still wins (tests against throwaway certificates).
    let name = config.tls_server_name.as_deref().unwrap_or(&url.host);
    let (transport, cb) =
        crate::tls::upgrade_client(Transport::Plain(io), bytes::BytesMut::new(), tls, name)
            .await
            .map_err(|e| ClientError::Tls(e.to_string()))?;
    Ok((transport, Some(cb)))
}

#[cfg(not(feature = "tls"))]
async fn secure<S>(
    _io: S,
    _url: &WsUrl,
    _config: &ClientConfig,
) -> Result<(Transport<S>, Option<crate::ChannelBindings>), ClientError> {
    Err(ClientError::Tls("built without TLS support".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::{redirect, WsUrl};

    #[test]
    fn redirects_never_give_up_tls() {
        let wss = WsUrl::parse("wss://a.example/xmpp-websocket").expect("url");
        let ws = WsUrl::parse("ws://127.0.0.1:5280/xmpp-websocket").expect("url");
        assert_eq!(
            redirect(&wss, "wss://b.example/ws").map(|u| u.host),
            Some("b.example".to_owned())
        );
        assert!(redirect(&wss, "ws://b.example/ws").is_none());
        assert!(redirect(&ws, "ws://127.0.0.1:5281/ws").is_some());
        assert!(redirect(&ws, "wss://b.example/ws").is_some());
        assert!(redirect(&wss, "https://b.example/ws").is_none());
        assert!(redirect(&wss, "not a url").is_none());
    }
}
