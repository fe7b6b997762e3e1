//! Fault injection for `xmpp serve --inject STEP=CONDITION`.
//!
//! `xmpp-stream`'s server has no injection hook, and should not need one: an
//! [`InjectIo`] sits between the socket and `accept()`, decodes what the
//! server writes, and replaces the frame at the chosen step with a failure or
//! a stream error. The server's own state machine is then out of step with
//! the client, so every injection but `bind=<stanza error>` closes the stream
//! right after the injected frame, as the alternative steps of the RFC 3920
//! §6.5 example do.

use std::fmt;
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf as _, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::codec::Decoder as _;
use xmpp_stream::{StanzaCondition, StreamCondition};
use xmpp_xml::{ns, Element, Frame, Limits, StreamCodec};

/// Where in the negotiation the server misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Instead of the first `<stream:features/>` (step 3 of the RFC 3920 §6.5 example).
    Header,
    /// Instead of `<proceed/>`, the answer to `<starttls/>`.
    Starttls,
    /// The answer to `<auth/>` (step 5 of the RFC 3920 §6.5 example).
    Auth,
    /// The answer to the first `<response/>` (step 7 of the RFC 3920 §6.5 example).
    Response,
    /// Instead of `<success/>` (step 9 of the RFC 3920 §6.5 example).
    Success,
    /// Instead of the features after the stream restart (step 11 of the RFC 3920 §6.5 example).
    Restart,
    /// The answer to the bind request.
    Bind,
    /// After the server wrote this many stanzas to an established session
    /// (on each connection): only `cut`.
    Stanzas(u32),
}

impl Step {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "header" | "features" | "3" => Step::Header,
            "starttls" | "proceed" => Step::Starttls,
            "auth" | "challenge" | "5" => Step::Auth,
            "response" | "7" => Step::Response,
            "success" | "9" => Step::Success,
            "restart" | "11" => Step::Restart,
            "bind" => Step::Bind,
            _ => {
                let n = s
                    .strip_prefix("stanza:")
                    .or_else(|| s.strip_prefix("stanzas:"))?;
                Step::Stanzas(n.parse().ok().filter(|n| *n > 0)?)
            }
        })
    }
}

/// What the server does at the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `<failure><condition/></failure></stream:stream>`.
    Sasl(xmpp_sasl::Condition),
    /// `<stream:error><condition/></stream:error></stream:stream>`.
    Stream(StreamCondition),
    /// An IQ error for the bind request.
    Stanza(StanzaCondition),
    /// `<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>`
    /// (RFC 6120 §5.4.2.2), the answer to `<starttls/>`.
    TlsFailure,
    /// Close the connection without a word.
    Close,
    /// Send nothing more (the client should time out).
    Silence,
    /// Drop the connection as a lost network would: no stream error, no
    /// `</stream:stream>`. The session waits to be resumed (XEP-0198).
    Cut,
}

/// One `--inject STEP=CONDITION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    /// Where.
    pub step: Step,
    /// What.
    pub action: Action,
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            Step::Stanzas(n) => format!("stanza:{n}"),
            other => format!("{other:?}").to_lowercase(),
        };
        match self.action {
            Action::Sasl(c) => write!(f, "{step}={c}"),
            Action::Stream(c) => write!(f, "{step}=stream:{c}"),
            Action::Stanza(c) => write!(f, "{step}={c}"),
            Action::TlsFailure => write!(f, "{step}=failure"),
            Action::Close => write!(f, "{step}=close"),
            Action::Silence => write!(f, "{step}=silence"),
            Action::Cut => write!(f, "{step}=cut"),
        }
    }
}

impl std::str::FromStr for Injection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (step, cond) = s.split_once('=').ok_or_else(|| {
            format!("--inject {s:?}: expected STEP=CONDITION, e.g. auth=temporary-auth-failure")
        })?;
        let step = Step::parse(step.trim()).ok_or_else(|| {
            format!("--inject {s:?}: unknown step {step:?} (header, starttls, auth, response, success, restart, bind, stanza:N)")
        })?;
        let cond = cond.trim();
        if let Step::Stanzas(_) = step {
            if cond != "cut" {
                return Err(format!(
                    "--inject {s:?}: after stanzas the only fault is `cut`"
                ));
            }
            return Ok(Injection {
                step,
                action: Action::Cut,
            });
        }
        let sasl_step = matches!(step, Step::Auth | Step::Response | Step::Success);
        let action = if cond == "close" {
            Action::Close
        } else if cond == "failure" && step == Step::Starttls {
            Action::TlsFailure
        } else if cond == "silence" {
            Action::Silence
        } else if let Some(c) = cond.strip_prefix("stream:") {
            Action::Stream(
                StreamCondition::from_name(c)
                    .ok_or_else(|| format!("--inject {s:?}: unknown stream error {c:?}"))?,
            )
        } else if let Some(c) = xmpp_sasl::Condition::from_name(cond).filter(|_| sasl_step) {
            Action::Sasl(c)
        } else if let Some(c) = StanzaCondition::from_name(cond).filter(|_| step == Step::Bind) {
            Action::Stanza(c)
        } else if let Some(c) = StreamCondition::from_name(cond) {
            Action::Stream(c)
        } else {
            let kinds = match step {
                Step::Auth | Step::Response | Step::Success => "a SASL failure or a stream error",
                Step::Bind => "a stanza error or a stream error",
                Step::Starttls => "`failure` or a stream error",
                _ => "a stream error",
            };
            return Err(format!(
                "--inject {s:?}: {cond:?} is not {kinds} condition (or close, silence)"
            ));
        };
        Ok(Injection { step, action })
    }
}

/// After how many stanzas written to an established session its
/// connection is cut (`--inject stanza:N=cut`), if at all.
pub fn cut_after(injections: &[Injection]) -> Option<u32> {
    injections.iter().find_map(|i| match (i.step, i.action) {
        (Step::Stanzas(n), Action::Cut) => Some(n),
        _ => None,
    })
}

/// The text sent with injected errors, so a client shows where they came from.
const TEXT: &str = "injected by xmpp serve --inject";

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Decoding the server's output, looking for the step.
    Watching,
    /// Nothing left to inject: bytes pass through untouched.
    PassThrough,
    /// Injected a closing frame: flush it, half-close, drain the client.
    Closing { shut: bool },
    /// Swallow everything the server writes.
    Silent,
}

/// Wraps the server's side of a connection and injects faults.
pub struct InjectIo<S> {
    inner: S,
    injections: Vec<Injection>,
    state: State,
    codec: StreamCodec,
    scan: BytesMut,
    raw: BytesMut,
    out: BytesMut,
    headers: u32,
    sasl_replies: u32,
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> InjectIo<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, injections: Vec<Injection>) -> Self {
        let limits = Limits {
            max_stanza_bytes: 64 * 1024 * 1024,
            ..Limits::default()
        };
        InjectIo {
            inner,
            injections,
            state: State::Watching,
            codec: StreamCodec::new(limits),
            scan: BytesMut::new(),
            raw: BytesMut::new(),
            out: BytesMut::new(),
            headers: 0,
            sasl_replies: 0,
            linger: None,
        }
    }

    fn wanted(&self, step: Step) -> Option<Action> {
        self.injections
            .iter()
            .find(|i| i.step == step)
            .map(|i| i.action)
    }

    fn remaining_after_restart(&self) -> bool {
        self.injections.iter().any(|i| i.step == Step::Bind)
    }

    /// Decides what to write for one frame the server produced.
    fn process(&mut self, frame: &Frame, raw: &[u8]) {
        let step = match frame {
            Frame::Header(_) => {
                self.headers += 1;
                None
            }
            Frame::Element(el) if el.is("features", ns::STREAM) => {
                if self.headers >= 2
                    && !self.remaining_after_restart()
                    && self.wanted(Step::Restart).is_none()
                {
                    self.state = State::PassThrough;
                }
                Some(if self.headers >= 2 {
                    Step::Restart
                } else {
                    Step::Header
                })
            }
            Frame::Element(el) if el.ns() == ns::SASL => {
                let index = self.sasl_replies;
                self.sasl_replies += 1;
                let is_success = el.name() == "success";
                if el.name() == "failure" {
                    self.sasl_replies = 0;
                }
                if is_success && self.wanted(Step::Success).is_some() {
                    Some(Step::Success)
                } else if index == 0 {
                    Some(Step::Auth)
                } else if index == 1 {
                    Some(Step::Response)
                } else {
                    None
                }
            }
            Frame::Element(el) if el.is("proceed", ns::TLS) => {
                // TLS bytes follow: nothing more to decode.
                self.state = State::PassThrough;
                Some(Step::Starttls)
            }
            Frame::Element(el)
                if el.is("iq", ns::CLIENT) && el.child("bind", ns::BIND).is_some() =>
            {
                if self.state == State::Watching {
                    self.state = State::PassThrough;
                }
                Some(Step::Bind)
            }
            _ => None,
        };
        let action = step.and_then(|s| self.wanted(s));
        let Some(action) = action else {
            self.out.extend_from_slice(raw);
            if let Frame::Element(el) = frame {
                if el.is("success", ns::SASL) {
                    // The next thing the server writes is a fresh stream header.
                    self.codec.reset();
                }
            }
            return;
        };
        tracing::info!(step = ?step, ?action, "injecting a fault");
        match action {
            Action::Sasl(c) => {
                let failure = Element::builder("failure", ns::SASL)
                    .append(Element::builder(c.as_str(), ns::SASL).build())
                    .append(
                        Element::builder("text", ns::SASL)
                            .attr("xml:lang", "en")
                            .text(TEXT)
                            .build(),
                    )
                    .build();
                self.close_with(&failure);
            }
            Action::Stream(c) => {
                let error = Element::builder("error", ns::STREAM)
                    .append(Element::builder(c.as_str(), ns::STREAM_ERRORS).build())
                    .append(
                        Element::builder("text", ns::STREAM_ERRORS)
                            .attr("xml:lang", "en")
                            .text(TEXT)
                            .build(),
                    )
                    .build();
                self.close_with(&error);
            }
            Action::TlsFailure => {
                self.close_with(&Element::builder("failure", ns::TLS).build());
            }
            Action::Stanza(c) => match frame {
                Frame::Element(el) => {
                    let err = xmpp_stream::iq_error(el, c);
                    self.out.extend_from_slice(err.to_xml().as_bytes());
                }
                _ => self.out.extend_from_slice(raw),
            },
            Action::Close => self.state = State::Closing { shut: false },
            Action::Silence => self.state = State::Silent,
            // Done by the session, which sees its stanzas on any transport.
            Action::Cut => self.out.extend_from_slice(raw),
        }
    }

    fn close_with(&mut self, el: &Element) {
        self.out.extend_from_slice(el.to_xml().as_bytes());
        self.out.extend_from_slice(b"</stream:stream>");
        self.state = State::Closing { shut: false };
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> InjectIo<S> {
    /// Writes `out` to the socket.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.out.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    /// After a closing injection: flush, then half-close once.
    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        if let State::Closing { shut: false } = self.state {
            ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
            ready!(Pin::new(&mut self.inner).poll_shutdown(cx))?;
            self.state = State::Closing { shut: true };
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for InjectIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        match this.state {
            State::PassThrough => {
                ready!(this.poll_drain(cx))?;
                return Pin::new(&mut this.inner).poll_write(cx, buf);
            }
            State::Silent => return Poll::Ready(Ok(buf.len())),
            State::Closing { .. } => {
                // The client was told the stream is over; the server does not know.
                let _ = this.poll_finish(cx);
                return Poll::Ready(Ok(buf.len()));
            }
            State::Watching => {}
        }
        if this.out.len() > 64 * 1024 {
            ready!(this.poll_drain(cx))?;
        }
        this.scan.extend_from_slice(buf);
        this.raw.extend_from_slice(buf);
        while this.state == State::Watching {
            let before = this.scan.len();
            match this.codec.decode(&mut this.scan) {
                Ok(Some(frame)) => {
                    let used = before - this.scan.len();
                    let raw = this.raw.split_to(used.min(this.raw.len()));
                    this.process(&frame, &raw);
                }
                Ok(None) => break,
                Err(e) => {
                    // Our own output always parses; if not, stop interfering.
                    tracing::warn!(error = %e, "fault injection cannot follow the stream; passing it through");
                    this.state = State::PassThrough;
                }
            }
        }
        if this.state == State::PassThrough {
            let rest = std::mem::take(&mut this.raw);
            this.out.extend_from_slice(&rest);
            this.scan.clear();
        }
        if matches!(this.state, State::Closing { .. }) {
            let _ = this.poll_finish(cx);
        } else if this.state != State::Silent {
            // Start writing; poll_flush finishes.
            let _ = this.poll_drain(cx)?;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match this.state {
            State::Silent => Poll::Ready(Ok(())),
            State::Closing { .. } => {
                // Errors after the injected close do not matter to the server.
                let _ = ready!(this.poll_finish(cx));
                Poll::Ready(Ok(()))
            }
            _ => {
                ready!(this.poll_drain(cx))?;
                Pin::new(&mut this.inner).poll_flush(cx)
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if matches!(this.state, State::Closing { .. }) {
            let _ = ready!(this.poll_finish(cx));
            return Poll::Ready(Ok(()));
        }
        if this.state != State::Silent {
            ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for InjectIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !matches!(this.state, State::Closing { .. }) {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        // The client got our close: read and discard what it still sends
        // until it closes (closing with unread data would reset the
        // connection and could destroy the injected frame in flight), then
        // report end of stream to the server. Give up after a while.
        let _ = this.poll_finish(cx);
        let linger = this
            .linger
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_secs(5))));
        if linger.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        let mut scratch = [0u8; 1024];
        loop {
            let mut rb = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) if rb.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_steps_and_conditions() {
        let i: Injection = "auth=incorrect-encoding".parse().unwrap();
        assert_eq!(
            i.action,
            Action::Sasl(xmpp_sasl::Condition::IncorrectEncoding)
        );
        let i: Injection = "header=host-unknown".parse().unwrap();
        assert_eq!(i.action, Action::Stream(StreamCondition::HostUnknown));
        let i: Injection = "success=stream:not-authorized".parse().unwrap();
        assert_eq!(i.action, Action::Stream(StreamCondition::NotAuthorized));
        let i: Injection = "bind=not-allowed".parse().unwrap();
        assert_eq!(i.action, Action::Stanza(StanzaCondition::NotAllowed));
        assert!("auth".parse::<Injection>().is_err());
        assert!("nowhere=aborted".parse::<Injection>().is_err());
        assert!("header=incorrect-encoding".parse::<Injection>().is_err());
        let i: Injection = "starttls=failure".parse().unwrap();
        assert_eq!((i.step, i.action), (Step::Starttls, Action::TlsFailure));
        let i: Injection = "starttls=policy-violation".parse().unwrap();
        assert_eq!(i.action, Action::Stream(StreamCondition::PolicyViolation));
        assert!("auth=failure".parse::<Injection>().is_err());
        let i: Injection = "stanza:3=cut".parse().unwrap();
        assert_eq!((i.step, i.action), (Step::Stanzas(3), Action::Cut));
        assert_eq!(i.to_string(), "stanza:3=cut");
        assert!("stanza:0=cut".parse::<Injection>().is_err());
        assert!("stanza:2=close".parse::<Injection>().is_err());
        assert!("auth=cut".parse::<Injection>().is_err());
    }

    #[test]
    fn finds_the_cut() {
        let bind: Injection = "bind=not-allowed".parse().unwrap();
        let cut: Injection = "stanza:5=cut".parse().unwrap();
        assert_eq!(cut_after(&[bind, cut]), Some(5));
        assert_eq!(cut_after(&[bind]), None);
    }
}
