//! Prints an exchange the way the RFC 3920 §6.5 example does: numbered
//! steps, each element as it went over the wire, decoded SASL payloads beneath.
//! Fed by `xmpp_stream`'s [`Observer`] hook on the client side, which sees
//! both directions; passwords never reach it.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::BytesMut;
use tokio_util::codec::Encoder as _;
use xmpp_stream::{Direction, Observed, Observer};
use xmpp_xml::{ns, Element, Frame, StreamCodec};

use crate::tls::ProbeState;

/// What was last printed, to merge frames the RFC 3920 §6.5 example shows in
/// one step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    Nothing,
    ServerHeaderAfterRestart,
    ServerFailure,
    Other,
}

struct State {
    step: u32,
    client_headers: u32,
    server_headers: u32,
    authenticated: bool,
    last: Last,
    encoder: StreamCodec,
    out: Box<dyn Write + Send>,
    /// Reads the TLS handshake off the socket, if TLS may happen.
    probe: Option<Arc<ProbeState>>,
    /// The TLS step was printed (or there is none to print).
    tls_shown: bool,
    /// The server answered `<starttls/>` with `<proceed/>`.
    proceed: bool,
    /// How the server's certificate is checked, for the TLS step.
    trust: String,
}

/// An [`Observer`] that writes a transcript in the style of the RFC 3920 §6.5
/// example, seen from the client.
pub struct Transcript {
    state: Mutex<State>,
}

impl Transcript {
    /// A transcript written to `out` as the exchange happens.
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Transcript {
            state: Mutex::new(State {
                step: 0,
                client_headers: 0,
                server_headers: 0,
                authenticated: false,
                last: Last::Nothing,
                encoder: StreamCodec::default(),
                out,
                probe: None,
                tls_shown: false,
                proceed: false,
                trust: String::new(),
            }),
        }
    }

    /// Shows the TLS handshake (version, cipher suite) as a step of its
    /// own, read from the socket by `probe`; `trust` says how the server's
    /// certificate is checked.
    pub fn with_probe(self, probe: Arc<ProbeState>, trust: &str) -> Self {
        let mut state = self
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        state.probe = Some(probe);
        state.trust = trust.to_owned();
        Transcript {
            state: Mutex::new(state),
        }
    }

    /// The TLS handshake failed: show it as the step it was.
    pub fn tls_failed(&self, reason: &str) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let started = state.probe.as_ref().is_some_and(|p| p.seen().started);
        if state.tls_shown || !(started || state.proceed) {
            return;
        }
        state.tls_shown = true;
        state.step += 1;
        let step = state.step;
        let _ = writeln!(state.out, "Step {step}: TLS handshake failed: {reason}");
        let _ = state.out.flush();
    }

    /// A transcript on stdout.
    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()))
    }
}

fn sasl(el: &Element, name: &str) -> bool {
    el.is(name, ns::SASL)
}

impl State {
    /// The bytes of a frame as they were on the wire: received elements
    /// carry their source; others are serialized the way the sender's codec does.
    fn wire(&mut self, frame: &Frame, direction: Direction) -> String {
        if let (Frame::Element(el), Direction::Received) = (frame, direction) {
            if !el.source().is_empty() {
                return String::from_utf8_lossy(el.source()).trim().to_owned();
            }
        }
        let mut buf = BytesMut::new();
        // Our encoder follows the client's stream context; for received
        // headers it only needs to print the tag.
        let mut enc = if direction == Direction::Sent {
            std::mem::take(&mut self.encoder)
        } else {
            StreamCodec::default()
        };
        let text = match enc.encode(frame.clone(), &mut buf) {
            Ok(()) => String::from_utf8_lossy(&buf).trim().to_owned(),
            Err(e) => format!("(cannot serialize: {e})"),
        };
        if direction == Direction::Sent {
            self.encoder = enc;
        }
        text.strip_prefix("<?xml version='1.0'?>")
            .map(str::to_owned)
            .unwrap_or(text)
    }

    fn describe(&mut self, direction: Direction, frame: &Frame) -> (&'static str, &'static str) {
        let client = direction == Direction::Sent;
        match frame {
            Frame::Header(_) if client => {
                self.client_headers += 1;
                if self.client_headers == 1 {
                    ("Client initiates stream to server:", "")
                } else {
                    ("Client initiates a new stream to server:", "")
                }
            }
            Frame::Header(_) => {
                self.server_headers += 1;
                if self.server_headers == 1 {
                    ("Server responds with a stream tag sent to client:", "")
                } else {
                    (
                        "Server responds by sending a stream header to client along with any additional features (or an empty features element):",
                        "",
                    )
                }
            }
            Frame::Close if client => ("Client closes the stream:", ""),
            Frame::Close => ("Server closes the stream:", ""),
            Frame::Element(el) if el.is("features", ns::STREAM) => {
                let starttls = el.child("starttls", ns::TLS);
                let required = starttls.is_some_and(|t| t.child("required", ns::TLS).is_some());
                let mechanisms = el.child("mechanisms", ns::SASL).is_some();
                if required && !mechanisms {
                    ("Server requires STARTTLS before anything else:", "")
                } else if starttls.is_some() {
                    (
                        "Server offers STARTTLS and informs client of available authentication mechanisms:",
                        "",
                    )
                } else if mechanisms {
                    (
                        "Server informs client of available authentication mechanisms:",
                        "",
                    )
                } else {
                    ("Server informs client of the stream features:", "")
                }
            }
            Frame::Element(el) if el.is("error", ns::STREAM) => {
                ("Server returns error to client:", "")
            }
            Frame::Element(el) if el.is("starttls", ns::TLS) => (
                "Client asks to upgrade the connection to TLS (STARTTLS):",
                "",
            ),
            Frame::Element(el) if el.is("proceed", ns::TLS) => {
                self.proceed = true;
                ("Server tells client to proceed with the TLS handshake:", "")
            }
            Frame::Element(el) if el.is("failure", ns::TLS) => ("Server refuses STARTTLS:", ""),
            Frame::Element(el) if sasl(el, "auth") => (
                "Client selects an authentication mechanism:",
                "The decoded initial response is:",
            ),
            Frame::Element(el) if sasl(el, "challenge") => (
                "Server sends a [BASE64] encoded challenge to client:",
                "The decoded challenge is:",
            ),
            Frame::Element(el) if sasl(el, "response") && el.text().trim().is_empty() => {
                ("Client responds to the challenge:", "")
            }
            Frame::Element(el) if sasl(el, "response") => (
                "Client sends a [BASE64] encoded response to the challenge:",
                "The decoded response is:",
            ),
            Frame::Element(el) if sasl(el, "success") => {
                self.authenticated = true;
                (
                    "Server informs client of successful authentication:",
                    "The decoded additional data is:",
                )
            }
            Frame::Element(el) if sasl(el, "failure") => {
                ("Server informs client of failed authentication:", "")
            }
            Frame::Element(el) if sasl(el, "abort") => ("Client aborts the authentication:", ""),
            Frame::Element(el) if el.is("iq", ns::CLIENT) => {
                let bind = el.child("bind", ns::BIND).is_some();
                let session = el.child("session", ns::SESSION).is_some();
                let ping = el.child("ping", ns::PING).is_some();
                let result = el.attr("type") == Some("result");
                let error = el.attr("type") == Some("error");
                match (client, bind, session, ping) {
                    (true, true, _, _) => ("Client asks the server to bind a resource:", ""),
                    (true, _, true, _) => ("Client establishes a session:", ""),
                    (true, _, _, true) => ("Client pings the server (XEP-0199):", ""),
                    (true, ..) => ("Client sends:", ""),
                    (false, true, ..) if result => ("Server returns the bound JID:", ""),
                    (false, ..) if error => ("Server returns an error:", ""),
                    (false, ..) if result => ("Server answers:", ""),
                    (false, ..) => ("Server sends:", ""),
                }
            }
            Frame::Element(_) if client => ("Client sends:", ""),
            _ => ("Server sends:", ""),
        }
    }

    /// Prints the TLS step once the handshake is over: before the first
    /// frame we send on the protected stream.
    fn show_tls(&mut self) -> std::io::Result<()> {
        let Some(seen) = self.probe.as_ref().map(|p| p.seen()) else {
            return Ok(());
        };
        if self.tls_shown || seen.version.is_none() {
            return Ok(());
        }
        self.tls_shown = true;
        let version = seen.version.unwrap_or("TLS");
        let cipher = seen.cipher.unwrap_or_else(|| "unknown".to_owned());
        // tls-exporter (RFC 9266) is defined for TLS 1.3 only; on 1.2 the
        // -PLUS mechanisms bind to the certificate instead.
        let binding = if version == "TLS1.3" {
            "tls-exporter"
        } else {
            "tls-server-end-point"
        };
        self.step += 1;
        writeln!(
            self.out,
            "Step {}: TLS handshake ({version}, cipher {cipher}, channel binding {binding}):",
            self.step
        )?;
        writeln!(self.out, "{}", self.trust)?;
        self.last = Last::Other;
        Ok(())
    }

    fn observe(&mut self, event: &Observed<'_>) -> std::io::Result<()> {
        let frame = event.frame;
        if event.direction == Direction::Sent {
            self.show_tls()?;
        }
        let wire = self.wire(frame, event.direction);
        let received = event.direction == Direction::Received;
        // The RFC 3920 §6.5 example shows the restarted header with its features,
        // and a failure or stream error with the `</stream:stream>` after it, as
        // one step.
        let merge = received
            && match (self.last, frame) {
                (Last::ServerHeaderAfterRestart, Frame::Element(el)) => {
                    el.is("features", ns::STREAM)
                }
                (Last::ServerFailure, Frame::Close) => true,
                _ => false,
            };
        if merge {
            self.last = Last::Other;
            return writeln!(self.out, "{wire}");
        }
        let (title, decoded) = self.describe(event.direction, frame);
        self.step += 1;
        writeln!(self.out, "Step {}: {title}", self.step)?;
        writeln!(self.out, "{wire}")?;
        if let (Some(text), false) = (&event.sasl, decoded.is_empty()) {
            writeln!(self.out, "{decoded}")?;
            writeln!(self.out, "{text}")?;
        }
        self.last = match frame {
            Frame::Header(_) if received && self.server_headers >= 2 => {
                Last::ServerHeaderAfterRestart
            }
            Frame::Element(el)
                if received
                    && (sasl(el, "failure")
                        || el.is("failure", ns::TLS)
                        || el.is("error", ns::STREAM)) =>
            {
                Last::ServerFailure
            }
            _ => Last::Other,
        };
        self.out.flush()
    }
}

impl Observer for Transcript {
    fn observe(&self, event: &Observed<'_>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // A closed stdout (`| head`) must not fail the login.
        let _ = state.observe(event);
    }
}
