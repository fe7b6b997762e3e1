//! A bare XMPP stream for looking, not logging in: send a header, read the
//! server's header and features, ask for STARTTLS, start a SCRAM exchange
//! and abort it. Every read is bounded by the probe's timeout.

use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;
use xmpp_xml::{ns, Element, Frame, StreamCodec};

use super::report::StreamHeader;

/// Any byte stream: TCP, or TLS over it.
pub trait AsyncIo: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncIo for T {}

/// A boxed byte stream.
pub type Io = Box<dyn AsyncIo>;

/// One stream over `Io`.
pub struct Wire {
    framed: Framed<Io, StreamCodec>,
    timeout: Duration,
}

impl Wire {
    /// A stream over `io`; each read waits at most `timeout`.
    pub fn new(io: Io, timeout: Duration) -> Self {
        Wire {
            framed: Framed::new(io, StreamCodec::default()),
            timeout,
        }
    }

    /// Sends a stream header to `domain` (`from`, if given: some servers
    /// offer SASL2 only to a client that names itself) and reads the
    /// server's header and features. `started` is when the timing began.
    pub async fn open(
        &mut self,
        domain: &str,
        from: Option<&str>,
        started: Instant,
    ) -> Result<(StreamHeader, Element), String> {
        let mut header = xmpp_xml::StreamHeader::client(domain);
        header.from = from.map(|f| f.to_owned().into());
        self.send(Frame::Header(header)).await?;
        let header = match self.next().await? {
            Frame::Header(h) => h,
            Frame::Element(el) => return Err(unexpected(&el, "a stream header")),
            _ => return Err("the server closed the stream at once".to_owned()),
        };
        let seen = StreamHeader {
            version: header.version.map(String::from),
            id: header.id.map(String::from),
            from: header.from.map(String::from),
            lang: header.lang.map(String::from),
            ms: super::ms(started.elapsed()),
        };
        let features = self.element().await?;
        if !features.is("features", ns::STREAM) {
            return Err(unexpected(&features, "<stream:features/>"));
        }
        Ok((seen, features))
    }

    /// Asks for TLS; `Ok` once the server said `<proceed/>`, with the
    /// connection to run the handshake over.
    pub async fn starttls(mut self) -> Result<Io, String> {
        self.send(Frame::Element(
            Element::builder("starttls", ns::TLS).build(),
        ))
        .await?;
        let answer = self.element().await?;
        if answer.is("proceed", ns::TLS) {
            let parts = self.framed.into_parts();
            if !parts.read_buf.is_empty() {
                return Err(
                    "the server sent data after <proceed/> before the TLS handshake".into(),
                );
            }
            return Ok(parts.io);
        }
        Err(unexpected(&answer, "<proceed/>"))
    }

    /// XEP-0474: starts `mechanism` (a SCRAM) as `user`, reads the
    /// server-first message and aborts. `Some(true)`: it carries the
    /// downgrade-protection hash; `None`: the server answered with no
    /// server-first (many refuse an unknown user at once).
    pub async fn scram_server_first(&mut self, mechanism: &str, user: &str) -> Option<bool> {
        let mut nonce = [0u8; 18];
        getrandom::fill(&mut nonce).ok()?;
        let nonce = base64::engine::general_purpose::STANDARD.encode(nonce);
        // gs2 header: `y` if we could bind, `n` without TLS: a probe never
        // claims -PLUS support, so `n` is honest either way.
        let first = format!(
            "n,,n={},r={nonce}",
            user.replace('=', "=3D").replace(',', "=2C")
        );
        let auth = Element::builder("auth", ns::SASL)
            .attr("mechanism", mechanism)
            .text(&base64::engine::general_purpose::STANDARD.encode(first))
            .build();
        self.send(Frame::Element(auth)).await.ok()?;
        let answer = self.element().await.ok()?;
        if !answer.is("challenge", ns::SASL) {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(answer.text().trim())
            .ok()?;
        let text = String::from_utf8_lossy(&decoded).into_owned();
        let abort = Element::builder("abort", ns::SASL).build();
        let _ = self.send(Frame::Element(abort)).await;
        let _ = self.element().await;
        // `h=` in XEP-0474 0.4+, `d=` in the 0.3 drafts.
        Some(
            text.split(',')
                .any(|a| a.starts_with("h=") || a.starts_with("d=")),
        )
    }

    /// Closes the stream politely (without waiting long for the answer).
    pub async fn close(mut self) {
        let _ = self.send(Frame::Close).await;
        let _ = tokio::time::timeout(Duration::from_millis(500), self.framed.next()).await;
    }

    async fn send(&mut self, frame: Frame) -> Result<(), String> {
        tokio::time::timeout(self.timeout, self.framed.send(frame))
            .await
            .map_err(|_| format!("cannot write within {:?}", self.timeout))?
            .map_err(|e| format!("write failed: {e}"))
    }

    async fn next(&mut self) -> Result<Frame, String> {
        match tokio::time::timeout(self.timeout, self.framed.next()).await {
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
            Ok(None) => Err("the server closed the connection".to_owned()),
            Ok(Some(Err(e))) => Err(format!("unreadable XML from the server: {e}")),
            Ok(Some(Ok(frame))) => Ok(frame),
        }
    }

    /// The next element; a stream error or close is the error.
    async fn element(&mut self) -> Result<Element, String> {
        match self.next().await? {
            Frame::Element(el) if el.is("error", ns::STREAM) => Err(stream_error(&el)),
            Frame::Element(el) => Ok(el),
            Frame::Header(_) => Err("the server sent a second stream header".to_owned()),
            _ => Err("the server closed the stream".to_owned()),
        }
    }
}

/// `<stream:error>` in words: the condition and the text.
pub fn stream_error(el: &Element) -> String {
    let condition = el
        .children()
        .find(|c| c.ns() == ns::STREAM_ERRORS && c.name() != "text")
        .map_or("(no condition)", |c| c.name());
    let text = el
        .child("text", ns::STREAM_ERRORS)
        .map(|t| format!(": {}", t.text()))
        .unwrap_or_default();
    format!("stream error <{condition}/>{text}")
}

fn unexpected(el: &Element, wanted: &str) -> String {
    format!("expected {wanted}, got <{} xmlns='{}'>", el.name(), el.ns())
}
