//! [`Replay`]: a connection that first gives back bytes already read from
//! it, so that whoever reads it next (hyper, tungstenite) sees the stream
//! whole.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf as _, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `io`, with `prefix` read before it. Writes go straight to `io`.
#[derive(Debug)]
pub struct Replay<S> {
    prefix: Bytes,
    io: S,
}

impl<S> Replay<S> {
    /// Reads `prefix`, then `io`.
    pub fn new(prefix: Bytes, io: S) -> Self {
        let mut replay = Replay {
            prefix: Bytes::new(),
            io,
        };
        replay.prepend(prefix);
        replay
    }

    /// Puts `more` before what is still to be replayed. An empty `more`
    /// is dropped, not kept: it may hold the buffer it was cut from, which
    /// a long-lived connection must not keep.
    pub fn prepend(&mut self, more: Bytes) {
        if more.is_empty() {
            return;
        }
        if self.prefix.is_empty() {
            self.prefix = more;
        } else {
            self.prefix = [more, std::mem::take(&mut self.prefix)].concat().into();
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.prefix.is_empty() {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = this.prefix.len().min(buf.remaining());
        buf.put_slice(&this.prefix[..n]);
        this.prefix.advance(n);
        if this.prefix.is_empty() {
            // Lets go of the buffer the prefix was cut from.
            this.prefix = Bytes::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[tokio::test]
    async fn the_prefix_comes_first_then_the_stream_and_writes_pass_through() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut io = Replay::new(Bytes::from_static(b"cd"), near);
        io.prepend(Bytes::from_static(b"ab"));
        far.write_all(b"ef").await.unwrap();
        drop(far.shutdown().await);
        let mut small = [0u8; 3];
        io.read_exact(&mut small).await.unwrap();
        assert_eq!(&small, b"abc");
        io.write_all(b"out").await.unwrap();
        let mut rest = Vec::new();
        io.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"def");
        let mut got = [0u8; 3];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"out");
    }

    /// An empty prefix cut from a request's buffer does not keep that
    /// buffer alive for the connection's life.
    #[test]
    fn an_empty_prefix_lets_its_buffer_go() {
        let mut buf = bytes::BytesMut::with_capacity(1024);
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        let rest = buf.split_off(buf.len()).freeze();
        let head = buf.freeze();
        assert!(!head.is_unique(), "the empty rest shares the buffer");
        let replay = Replay::new(rest, tokio::io::empty());
        assert!(head.is_unique(), "Replay kept the request's buffer");
        drop(replay);
    }
}
