//! XMPP over WebSocket (RFC 7395), both sides.
//!
//! WebSocket is a transport here, not a second protocol stack: each text
//! message is translated to or from one [`Frame`] by the sans-IO
//! [`WsCodec`], and the same negotiation cores and [`XmppStream`](crate::XmppStream) run on
//! it as on TCP. Messages never pass through the byte-stream XML codec, so
//! an element is parsed once and written once.
//!
//! - Client: [`connect`] opens a `ws://` or (with the `tls` feature)
//!   `wss://` URL: TCP, TLS with the URL's host as SNI and certificate
//!   name, the HTTP upgrade offering the `xmpp` subprotocol (tokio-tungstenite),
//!   then negotiation. [`crate::client::connect_websocket`] does the last
//!   step over a WebSocket the caller opened.
//! - Server: [`crate::server::accept_websocket`] negotiates over a
//!   connection whose HTTP upgrade the caller answered (with
//!   [`accept_key`] and [`SUBPROTOCOL`]). STARTTLS is never offered;
//!   over `wss:` the caller says [`Security::Tls`](crate::Security::Tls).
//!   No `-PLUS` mechanisms are offered over WebSocket (the TLS, if any, is
//!   the caller's).
//!
//! Incoming messages larger than the stanza limit are refused with
//! `<policy-violation/>`, as on TCP; the WebSocket layer itself caps a
//! message at [`max_message_size`] of the larger limit, so nothing is
//! buffered beyond it.

mod codec;
mod connect;

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;
use xmpp_xml::{Condition, Frame, Limits, XmlError};

pub use self::codec::{close, WsCodec, FRAMING_NS, SUBPROTOCOL};
pub use self::connect::{connect, connect_over, WsUrl, MAX_REDIRECTS};
use crate::transport::Transport;

/// `urn:xmpp:alt-connections:websocket`: the XEP-0156 link relation that
/// announces a WebSocket endpoint.
pub const HOST_META_REL: &str = "urn:xmpp:alt-connections:websocket";

/// The WebSocket layer's cap on one message, for elements within `limits`:
/// a little slack over the stanza limit, so that an oversize stanza is
/// refused by [`WsCodec`] with the stream error rather than by dropping
/// the connection.
pub fn max_message_size(limits: &Limits) -> usize {
    limits.max_stanza_bytes.saturating_add(4096)
}

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`
/// (RFC 6455 §4.2.2), for servers that answer the upgrade themselves.
pub fn accept_key(key: &[u8]) -> String {
    tungstenite::handshake::derive_accept_key(key)
}

/// How much tungstenite reads at once. Its default, 128 KiB, is allocated
/// per connection and zeroed before every read (`BytesMut::resize`): that
/// memset was the largest cost of a WebSocket login (a sixth of the
/// server's CPU). XMPP messages are small; larger ones still arrive, in
/// reads of this size.
const READ_BUFFER_SIZE: usize = 4096;

pub(crate) fn ws_config(limits: &Limits) -> tungstenite::protocol::WebSocketConfig {
    let max = max_message_size(limits);
    tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_SIZE)
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Sends a client elsewhere (RFC 7395 §3.6.1): over a connection whose
/// upgrade the caller answered, reads the client's first message (its
/// `<open/>`, within `timeout`) and answers
/// `<close see-other-uri='see_other_uri'/>`, then closes the WebSocket.
/// No XMPP stream is opened.
pub async fn redirect<S>(
    io: S,
    see_other_uri: &str,
    limits: &Limits,
    timeout: std::time::Duration,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::protocol::Role;
    let mut ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config(limits))).await;
    let exchange = async {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => {}
            Some(Err(e)) => return Err(e),
            _ => return Ok(()),
        }
        ws.send(Message::text(close(Some(see_other_uri)))).await?;
        ws.close(None).await
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(())) | Ok(Err(tungstenite::Error::ConnectionClosed)) => Ok(()),
        Ok(Err(e)) => Err(std::io::Error::other(e)),
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

fn io_error(e: tungstenite::Error) -> XmlError {
    XmlError::Io(match e {
        tungstenite::Error::Io(e) => e,
        other => std::io::Error::other(other),
    })
}

/// Frames over a WebSocket: one text message each way per [`Frame`].
pub(crate) struct WsFramed<S> {
    pub(crate) ws: WebSocketStream<Transport<S>>,
    pub(crate) codec: WsCodec,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsFramed<S> {
    pub(crate) fn new(ws: WebSocketStream<Transport<S>>, limits: Limits) -> Self {
        WsFramed {
            ws,
            codec: WsCodec::new(limits),
        }
    }

    /// Sends the WebSocket close frame (once the queue is written).
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.ws)
            .poll_close(cx)
            .map_err(|e| match io_error(e) {
                XmlError::Io(e) => e,
                _ => std::io::Error::other("close"),
            })
    }

    /// Reads and drops a message; `false` once the peer closed.
    pub(crate) fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        Pin::new(&mut self.ws)
            .poll_next(cx)
            .map(|m| matches!(m, Some(Ok(m)) if !m.is_close()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsFramed<S> {
    type Item = Result<Frame, XmlError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let message = match ready!(Pin::new(&mut this.ws).poll_next(cx)) {
                None | Some(Ok(Message::Close(_))) => return Poll::Ready(None),
                Some(Err(tungstenite::Error::Capacity(_))) => {
                    let limit = this.codec.limits().max_stanza_bytes;
                    return Poll::Ready(Some(Err(XmlError::StanzaTooLarge { limit })));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(io_error(e)))),
                Some(Ok(m)) => m,
            };
            match message {
                Message::Text(text) => {
                    return Poll::Ready(Some(this.codec.decode(text.as_bytes())))
                }
                Message::Binary(_) => {
                    return Poll::Ready(Some(Err(XmlError::Framing {
                        condition: Condition::BadFormat,
                        reason: "a binary message (RFC 7395 §3.3.1: text only)",
                    })))
                }
                // Pings are answered by tungstenite; pongs and raw frames
                // carry nothing for the stream.
                _ => {}
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Frame> for WsFramed<S> {
    type Error = XmlError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), XmlError>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_ready(cx)
            .map_err(io_error)
    }

    fn start_send(self: Pin<&mut Self>, item: Frame) -> Result<(), XmlError> {
        let this = self.get_mut();
        let text = this.codec.encode(&item);
        Pin::new(&mut this.ws)
            .start_send(Message::text(text))
            .map_err(io_error)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), XmlError>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_flush(cx)
            .map_err(io_error)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), XmlError>> {
        Pin::new(&mut self.get_mut().ws)
            .poll_close(cx)
            .map_err(io_error)
    }
}

#[cfg(test)]
mod tests;
