//! The framed connection both shells drive: the codec plus the observer.

use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;
use xmpp_xml::{Frame, StreamCodec, XmlError};

use crate::observer::{notify, Direction, Observer};

pub(crate) struct Conn<S> {
    pub(crate) framed: Framed<S, StreamCodec>,
    pub(crate) observer: Option<Arc<dyn Observer>>,
    /// Whether we are the client (decides which side's SASL data is
    /// redacted for observers).
    pub(crate) client: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub(crate) fn new(
        io: S,
        codec: StreamCodec,
        observer: Option<Arc<dyn Observer>>,
        client: bool,
    ) -> Self {
        Conn {
            framed: Framed::new(io, codec),
            observer,
            client,
        }
    }

    /// Queues a frame; [`Conn::flush`] writes it out.
    pub(crate) async fn feed(
        &mut self,
        frame: Frame,
        mechanism: Option<&str>,
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
        mechanism: Option<&str>,
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
}
