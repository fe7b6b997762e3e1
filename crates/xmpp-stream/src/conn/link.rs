//! [`Link`]: what carries frames, either the XML codec over a byte stream or
//! WebSocket messages, one frame each.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;
use xmpp_xml::{Frame, Limits, StreamCodec, XmlError};

use crate::transport::Transport;

/// The read buffer's capacity while data flows (tokio-util's default).
const READ_CAPACITY: usize = 8 * 1024;

/// Frames over bytes, or over WebSocket messages.
// The byte variant stays inline: it is the common case, and its size is
// what a TCP session held before WebSocket existed.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Link<S> {
    Bytes(Framed<Transport<S>, StreamCodec>),
    /// Boxed, so that TCP sessions do not grow.
    #[cfg(feature = "websocket")]
    Ws(Box<crate::websocket::WsFramed<S>>),
}

impl<S> Link<S> {
    /// The decoder expects a new stream header (the restart).
    pub(crate) fn reset(&mut self) {
        match self {
            Link::Bytes(f) => f.codec_mut().reset(),
            #[cfg(feature = "websocket")]
            Link::Ws(w) => w.codec.reset(),
        }
    }

    pub(crate) fn set_limits(&mut self, limits: Limits) {
        match self {
            Link::Bytes(f) => f.codec_mut().set_limits(limits),
            #[cfg(feature = "websocket")]
            Link::Ws(w) => w.codec.set_limits(limits),
        }
    }

    /// Whether this carries WebSocket messages (no STARTTLS there).
    pub(crate) fn is_websocket(&self) -> bool {
        !matches!(self, Link::Bytes(_))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Link<S> {
    /// The transport under the frames.
    pub(crate) fn get_ref(&self) -> &Transport<S> {
        match self {
            Link::Bytes(f) => f.get_ref(),
            #[cfg(feature = "websocket")]
            Link::Ws(w) => w.ws.get_ref(),
        }
    }

    /// Reads the next frame. An idle byte stream holds no buffer memory:
    /// when nothing is buffered and the peer is silent, both buffers and the
    /// codec's encoding scratch are freed, and the read buffer is given its
    /// capacity back at the next poll.
    pub(crate) fn poll_next_idle(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame, XmlError>>> {
        let framed = match self {
            Link::Bytes(f) => f,
            #[cfg(feature = "websocket")]
            Link::Ws(w) => return Pin::new(w.as_mut()).poll_next(cx),
        };
        if framed.read_buffer().capacity() == 0 {
            framed.read_buffer_mut().reserve(READ_CAPACITY);
        }
        let item = Pin::new(&mut *framed).poll_next(cx);
        if item.is_pending() {
            if framed.read_buffer().is_empty() {
                *framed.read_buffer_mut() = BytesMut::new();
            }
            if framed.write_buffer().is_empty() {
                *framed.write_buffer_mut() = BytesMut::new();
            }
            framed.codec_mut().release_memory();
        }
        item
    }

    /// Shuts our side down: TLS close_notify and FIN, or the WebSocket
    /// close frame.
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self {
            Link::Bytes(f) => Pin::new(f.get_mut()).poll_shutdown(cx),
            #[cfg(feature = "websocket")]
            Link::Ws(w) => w.poll_shutdown(cx),
        }
    }

    /// Reads and drops what the peer still sends; `false` at its end.
    pub(crate) fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        match self {
            Link::Bytes(f) => {
                let mut scratch = [0u8; 512];
                let mut buf = tokio::io::ReadBuf::new(&mut scratch);
                Pin::new(f.get_mut())
                    .poll_read(cx, &mut buf)
                    .map(|r| r.is_ok() && !buf.filled().is_empty())
            }
            #[cfg(feature = "websocket")]
            Link::Ws(w) => w.poll_discard(cx),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for Link<S> {
    type Item = Result<Frame, XmlError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            Link::Bytes(f) => Pin::new(f).poll_next(cx),
            #[cfg(feature = "websocket")]
            Link::Ws(w) => Pin::new(w.as_mut()).poll_next(cx),
        }
    }
}

macro_rules! sink {
    ($self:expr, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Link::Bytes($s) => {
                let $s = Pin::new($s);
                $e
            }
            #[cfg(feature = "websocket")]
            Link::Ws($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Frame> for Link<S> {
    type Error = XmlError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), XmlError>> {
        sink!(self, s => s.poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, item: Frame) -> Result<(), XmlError> {
        sink!(self, s => s.start_send(item))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), XmlError>> {
        sink!(self, s => s.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), XmlError>> {
        sink!(self, s => s.poll_close(cx))
    }
}
