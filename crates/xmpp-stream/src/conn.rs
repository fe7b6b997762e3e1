//! The framed connection both shells drive: the codec over the transport,
//! plus the observer.

use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;
use xmpp_sasl::Mechanism;
use xmpp_xml::{Frame, StreamCodec, XmlError};

use crate::observer::{notify, Direction, Observer};
use crate::transport::Transport;

pub(crate) use self::link::Link;

/// The read and write buffers' capacity while a stream negotiates (they
/// grow when a frame needs more): its elements are a few hundred bytes, and
/// tokio-util's default of 8 KiB each made every connection in negotiation
/// hold 16 KiB, which many logins at once left behind as freed but
/// fragmented heap in the server's RSS. An established session's buffers
/// are sized by [`Link::poll_next_idle`].
const NEGOTIATION_CAPACITY: usize = 1024;

mod link;

/// What came first while waiting for the peer.
pub(crate) enum Event {
    Frame(Result<Frame, XmlError>),
    Eof,
    /// The deadline passed; the time now.
    Timeout(std::time::Instant),
}

pub(crate) struct Conn<S> {
    pub(crate) framed: Link<S>,
    pub(crate) observer: Option<Arc<dyn Observer>>,
    /// Whether we are the client (decides which side's SASL data is
    /// redacted for observers).
    pub(crate) client: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(crate) fn new(
        io: Transport<S>,
        codec: StreamCodec,
        observer: Option<Arc<dyn Observer>>,
        client: bool,
    ) -> Self {
        Conn {
            framed: Link::Bytes(Framed::with_capacity(io, codec, NEGOTIATION_CAPACITY)),
            observer,
            client,
        }
    }

    /// A connection over WebSocket messages (RFC 7395).
    #[cfg(feature = "websocket")]
    pub(crate) fn websocket(
        ws: crate::websocket::WsFramed<S>,
        observer: Option<Arc<dyn Observer>>,
        client: bool,
    ) -> Self {
        Conn {
            framed: Link::Ws(Box::new(ws)),
            observer,
            client,
        }
    }

    /// Queues a frame; [`Conn::flush`] writes it out.
    pub(crate) async fn feed(
        &mut self,
        frame: Frame,
        mechanism: Option<Mechanism>,
    ) -> Result<(), XmlError> {
        if let Some(o) = &self.observer {
            notify(o.as_ref(), Direction::Sent, self.client, mechanism, &frame);
        }
        self.framed.feed(frame).await
    }

    pub(crate) async fn flush(&mut self) -> Result<(), XmlError> {
        self.framed.flush().await
    }

    /// The next frame; `None` at end of input.
    pub(crate) async fn next(
        &mut self,
        mechanism: Option<Mechanism>,
    ) -> Option<Result<Frame, XmlError>> {
        let item = self.framed.next().await;
        if let (Some(Ok(frame)), Some(o)) = (&item, &self.observer) {
            notify(
                o.as_ref(),
                Direction::Received,
                !self.client,
                mechanism,
                frame,
            );
        }
        item
    }

    /// Reads (and shows the observer) what the peer still sends, until it
    /// closes the stream or the connection, or `grace` passes.
    pub(crate) async fn drain(&mut self, grace: std::time::Duration) {
        let deadline = crate::now() + grace;
        loop {
            match self.next_until(Some(deadline), None).await {
                Event::Frame(Ok(Frame::Close))
                | Event::Frame(Err(_))
                | Event::Eof
                | Event::Timeout(_) => return,
                Event::Frame(Ok(_)) => {}
            }
        }
    }

    /// After a failed negotiation: a WebSocket gets its close frame (RFC
    /// 6455's closing handshake) rather than a bare TCP close; a byte stream
    /// is simply dropped, as before.
    pub(crate) async fn abandon(mut self) {
        if self.framed.is_websocket() {
            let close = std::future::poll_fn(|cx| self.framed.poll_shutdown(cx));
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), close).await;
        }
    }

    /// The next frame, or the deadline passing first.
    pub(crate) async fn next_until(
        &mut self,
        deadline: Option<std::time::Instant>,
        mechanism: Option<Mechanism>,
    ) -> Event {
        tokio::select! {
            item = self.next(mechanism) => match item {
                Some(frame) => Event::Frame(frame),
                None => Event::Eof,
            },
            () = crate::sleep_until(deadline) => Event::Timeout(crate::now()),
        }
    }

    /// Takes the transport and the bytes read ahead of the codec, to put TLS
    /// in between; [`Conn::rebuild`] puts a connection back together.
    #[cfg(feature = "tls")]
    pub(crate) fn into_transport(
        self,
    ) -> (
        Transport<S>,
        bytes::BytesMut,
        StreamCodec,
        Option<Arc<dyn Observer>>,
        bool,
    ) {
        let parts = match self.framed {
            Link::Bytes(framed) => framed.into_parts(),
            // The cores never start TLS inside a WebSocket stream: the
            // shells declare it secure (wss) or run without TLS (ws).
            #[cfg(feature = "websocket")]
            Link::Ws(_) => unreachable!("STARTTLS over WebSocket"),
        };
        (
            parts.io,
            parts.read_buf,
            parts.codec,
            self.observer,
            self.client,
        )
    }

    #[cfg(feature = "tls")]
    pub(crate) fn rebuild(
        io: Transport<S>,
        mut codec: StreamCodec,
        observer: Option<Arc<dyn Observer>>,
        client: bool,
    ) -> Self {
        // A new XML document starts on the TLS layer (RFC 6120 §5.4.3.3).
        codec.reset();
        Conn {
            framed: Link::Bytes(Framed::with_capacity(io, codec, NEGOTIATION_CAPACITY)),
            observer,
            client,
        }
    }
}
