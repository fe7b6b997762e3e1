//! The byte stream under the XML: the caller's transport, or TLS over it
//! after STARTTLS. TLS takes over the bytes the XML codec had buffered but
//! not consumed, so nothing sent right after `<starttls/>`/`<proceed/>`
//! is lost or misread.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The caller's byte stream, with bytes read ahead by the XML codec put
/// back in front.
#[derive(Debug)]
pub struct Rewind<S> {
    prefix: BytesMut,
    inner: S,
    /// Drop XML whitespace until the first other byte.
    skip_whitespace: bool,
}

impl<S> Rewind<S> {
    /// `inner`, with `prefix` read first.
    pub fn new(prefix: BytesMut, inner: S) -> Self {
        Rewind {
            prefix,
            inner,
            skip_whitespace: false,
        }
    }

    /// Like [`Rewind::new`] for the TLS handshake after STARTTLS: XML
    /// whitespace the peer sent after `<starttls/>` or `<proceed/>`
    /// (go-sendxmpp writes `<starttls/>\n`) is dropped, in the prefix or in
    /// later reads, until the first other byte. No TLS record starts with
    /// one (content types are 20 to 24).
    pub fn after_xml(prefix: BytesMut, inner: S) -> Self {
        Rewind {
            skip_whitespace: true,
            ..Self::new(prefix, inner)
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.skip_whitespace {
            let ws = self.prefix.iter().take_while(|b| is_xml_space(**b)).count();
            self.prefix.advance(ws);
            if !self.prefix.is_empty() {
                self.skip_whitespace = false;
            }
        }
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        loop {
            let before = buf.filled().len();
            ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
            if !self.skip_whitespace {
                return Poll::Ready(Ok(()));
            }
            let read = &buf.filled()[before..];
            if read.is_empty() {
                return Poll::Ready(Ok(()));
            }
            let ws = read.iter().take_while(|b| is_xml_space(**b)).count();
            if ws < read.len() {
                self.skip_whitespace = false;
            }
            // Move what follows the whitespace down over it.
            let end = buf.filled().len();
            buf.filled_mut().copy_within(before + ws..end, before);
            buf.set_filled(end - ws);
            if !self.skip_whitespace {
                return Poll::Ready(Ok(()));
            }
        }
    }
}

/// XML's whitespace (XML 1.0 §2.3 `S`).
fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The transport of a negotiated stream.
#[non_exhaustive]
#[derive(Debug)]
pub enum Transport<S> {
    /// The caller's stream as given.
    Plain(S),
    /// TLS (after STARTTLS, or direct TLS), client side.
    #[cfg(feature = "tls")]
    TlsClient(Box<tokio_rustls::client::TlsStream<Rewind<S>>>),
    /// TLS (after STARTTLS, or direct TLS), server side.
    #[cfg(feature = "tls")]
    TlsServer(Box<tokio_rustls::server::TlsStream<Rewind<S>>>),
}

impl<S> Transport<S> {
    /// Whether the stream is protected by TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Transport::Plain(_))
    }
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Transport::Plain($s) => {
                let $s = Pin::new($s);
                $e
            }
            #[cfg(feature = "tls")]
            Transport::TlsClient($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
            #[cfg(feature = "tls")]
            Transport::TlsServer($s) => {
                let $s = Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Transport<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_read(cx, buf))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Transport<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    #[tokio::test]
    async fn rewind_yields_the_prefix_before_the_stream() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b"world")
            .await
            .ok();
        drop(a);
        let mut r = Rewind::new(BytesMut::from(&b"hello "[..]), b);
        let mut out = String::new();
        r.read_to_string(&mut out).await.ok();
        assert_eq!(out, "hello world");
    }
}
