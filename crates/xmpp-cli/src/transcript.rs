//! Prints an exchange the way the RFC 3920 §6.5 example does: numbered
//! steps, each element as it went over the wire, decoded SASL payloads beneath.
//! Fed by `xmpp_stream`'s [`Observer`] hook on the client side, which sees
//! both directions. The hook redacts RFC 6120 PLAIN; SASL2 (XEP-0388)
//! elements reach it as sent, so this module decodes and redacts those
//! itself: a PLAIN password, a FAST token (XEP-0484) and the HMACs that
//! prove one are never printed.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::BytesMut;
use tokio_util::codec::Encoder as _;
use xmpp_stream::{Direction, Observed, Observer};
use xmpp_xml::{ns, Element, ElementBuilder, Frame, StreamCodec};

use crate::tls::ProbeState;

/// SASL2 (XEP-0388).
pub const NS_SASL2: &str = "urn:xmpp:sasl:2";
/// Bind2 (XEP-0386).
pub const NS_BIND2: &str = "urn:xmpp:bind:0";
/// FAST (XEP-0484).
pub const NS_FAST: &str = "urn:xmpp:fast:0";

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
    /// Round trips so far, when they are numbered.
    round_trips: Option<u32>,
    /// The direction of the last frame.
    last_direction: Option<Direction>,
    /// The SASL2 mechanism of the last `<authenticate/>`.
    sasl2_mechanism: String,
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
                round_trips: None,
                last_direction: None,
                sasl2_mechanism: String::new(),
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

    /// Numbers the round trips: a line `-- round trip N --` each time the
    /// client sends after having received (the first send included).
    pub fn with_round_trips(self) -> Self {
        let mut state = self
            .state
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        state.round_trips = Some(0);
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

fn sasl2(el: &Element, name: &str) -> bool {
    el.is(name, NS_SASL2)
}

/// What a transcript shows of a frame besides its title: the frame as
/// printed (secrets replaced), the decoded payload under its heading, and
/// notes on what the element asks for or establishes.
#[derive(Default)]
struct Shown {
    /// The frame to print instead of the one on the wire.
    redacted: Option<Element>,
    /// The decoded SASL payload.
    payload: Option<String>,
    /// One line each.
    notes: Vec<String>,
}

/// A copy of `el` with `f` applied to every descendant, depth first: `f`
/// returns the replacement of an element (its children already mapped).
/// Text between child elements is dropped (the SASL2 elements have none).
fn map_element(el: &Element, f: &dyn Fn(&Element, ElementBuilder) -> ElementBuilder) -> Element {
    let mut b = Element::builder(el.name(), el.ns());
    for (k, v) in el.attrs() {
        b = b.attr(k, v);
    }
    let mut children = el.children().peekable();
    if children.peek().is_none() {
        b = b.text(&el.text());
    }
    for c in children {
        b = b.append(map_element(c, f));
    }
    f(el, b).build()
}

/// `el` as printed with the text of its `name`/`ns` descendants replaced by
/// `with`.
fn redact_text(el: &Element, name: &str, ns: &str, with: &str) -> Element {
    map_element(el, &|e, b| {
        if e.is(name, ns) && !e.text().trim().is_empty() {
            let mut r = Element::builder(e.name(), e.ns());
            for (k, v) in e.attrs() {
                r = r.attr(k, v);
            }
            r.text(with)
        } else {
            b
        }
    })
}

/// Decodes a SASL2 payload element's base64 (empty element: no data).
fn payload_of(el: &Element) -> Option<Result<Vec<u8>, ()>> {
    use base64::Engine as _;
    let text: String = el.text().chars().filter(|c| !c.is_whitespace()).collect();
    if text.is_empty() {
        return Some(Ok(Vec::new()));
    }
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| ()),
    )
}

/// A decoded payload as the transcript shows it: `describe_payload` shows
/// FAST's HMACs by their size and redacts PLAIN's password.
fn describe(mechanism: &str, from_client: bool, data: Result<Vec<u8>, ()>) -> String {
    match data {
        Ok(data) => xmpp_sasl::describe_payload(mechanism, from_client, &data),
        Err(()) => "(not valid base64)".to_owned(),
    }
}

/// The bytes of a frame as they were on the wire: received elements carry
/// their source; others are serialized the way the sender's codec does.
/// `encoder` follows our side's stream context; for received headers a
/// fresh one only needs to print the tag.
pub(crate) fn wire_text(encoder: &mut StreamCodec, frame: &Frame, direction: Direction) -> String {
    if let (Frame::Element(el), Direction::Received) = (frame, direction) {
        if !el.source().is_empty() {
            return String::from_utf8_lossy(el.source()).trim().to_owned();
        }
    }
    let mut buf = BytesMut::new();
    let mut fresh = StreamCodec::default();
    let enc = if direction == Direction::Sent {
        encoder
    } else {
        &mut fresh
    };
    let text = match enc.encode(frame.clone(), &mut buf) {
        Ok(()) => String::from_utf8_lossy(&buf).trim().to_owned(),
        Err(e) => format!("(cannot serialize: {e})"),
    };
    text.strip_prefix("<?xml version='1.0'?>")
        .map(str::to_owned)
        .unwrap_or(text)
}

impl State {
    fn wire(&mut self, frame: &Frame, direction: Direction) -> String {
        wire_text(&mut self.encoder, frame, direction)
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
            Frame::Element(el) if sasl2(el, "authenticate") => (
                "Client selects an authentication mechanism (SASL2, XEP-0388):",
                "The decoded initial response is:",
            ),
            Frame::Element(el) if sasl2(el, "challenge") => (
                "Server sends a [BASE64] encoded challenge to client:",
                "The decoded challenge is:",
            ),
            Frame::Element(el) if sasl2(el, "response") && el.text().trim().is_empty() => {
                ("Client responds to the challenge:", "")
            }
            Frame::Element(el) if sasl2(el, "response") => (
                "Client sends a [BASE64] encoded response to the challenge:",
                "The decoded response is:",
            ),
            Frame::Element(el) if sasl2(el, "success") => {
                self.authenticated = true;
                (
                    "Server informs client of successful authentication (SASL2, no stream restart):",
                    "The decoded additional data is:",
                )
            }
            Frame::Element(el) if sasl2(el, "failure") => {
                ("Server informs client of failed authentication:", "")
            }
            Frame::Element(el) if sasl2(el, "continue") => (
                "Server asks for further tasks before success (SASL2 <continue/>):",
                "",
            ),
            Frame::Element(el) if sasl2(el, "abort") => ("Client aborts the authentication:", ""),
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

    /// What to show of a SASL2 element (and of the features offering
    /// SASL2) besides the title.
    fn shown(&mut self, direction: Direction, el: &Element) -> Shown {
        let client = direction == Direction::Sent;
        if el.is("features", ns::STREAM) {
            return Shown {
                notes: offer_notes(el),
                ..Shown::default()
            };
        }
        if el.ns() != NS_SASL2 {
            return Shown::default();
        }
        let mut shown = Shown::default();
        match el.name() {
            "authenticate" => {
                let mechanism = el.attr("mechanism").unwrap_or_default().to_owned();
                self.sasl2_mechanism.clone_from(&mechanism);
                if let Some(ir) = el.child("initial-response", NS_SASL2) {
                    shown.payload = payload_of(ir).map(|d| describe(&mechanism, true, d));
                    if is_fast(&mechanism) {
                        shown.redacted = Some(redact_text(
                            el,
                            "initial-response",
                            NS_SASL2,
                            "(redacted: token proof)",
                        ));
                    } else if xmpp_sasl::carries_password(&mechanism) {
                        shown.redacted = Some(redact_text(
                            el,
                            "initial-response",
                            NS_SASL2,
                            "(redacted: contains the password)",
                        ));
                    }
                }
                shown.notes = authenticate_notes(el);
            }
            "challenge" | "response" => {
                let mechanism = self.sasl2_mechanism.clone();
                if !el.text().trim().is_empty() {
                    shown.payload = payload_of(el).map(|d| describe(&mechanism, client, d));
                }
                let secret =
                    is_fast(&mechanism) || (client && xmpp_sasl::carries_password(&mechanism));
                if secret && !el.text().trim().is_empty() {
                    shown.redacted = Some(redact_text(el, el.name(), NS_SASL2, "(redacted)"));
                }
            }
            "success" => {
                let mechanism = self.sasl2_mechanism.clone();
                if let Some(d) = el.child("additional-data", NS_SASL2) {
                    shown.payload = payload_of(d).map(|d| describe(&mechanism, false, d));
                }
                let mut redacted = el.clone();
                if is_fast(&mechanism) {
                    redacted = redact_text(
                        &redacted,
                        "additional-data",
                        NS_SASL2,
                        "(redacted: token proof)",
                    );
                }
                if el.child("token", NS_FAST).is_some() {
                    redacted = map_element(&redacted, &|e, b| {
                        if e.is("token", NS_FAST) {
                            b.attr("token", "\u{2026}redacted")
                        } else {
                            b
                        }
                    });
                }
                if is_fast(&mechanism) || el.child("token", NS_FAST).is_some() {
                    shown.redacted = Some(redacted);
                }
                shown.notes = success_notes(el);
            }
            "failure" if is_fast(&self.sasl2_mechanism) => {
                shown.notes.push(
                    "The server refused the FAST token (the client may go on with the password)."
                        .to_owned(),
                );
            }
            _ => {}
        }
        shown
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
        let previous = self.last_direction.replace(event.direction);
        if event.direction == Direction::Sent {
            if let (Some(n), false) = (&mut self.round_trips, previous == Some(Direction::Sent)) {
                *n += 1;
                let n = *n;
                writeln!(self.out, "-- round trip {n} --")?;
            }
            self.show_tls()?;
        }
        let shown = match frame {
            Frame::Element(el) => self.shown(event.direction, el),
            _ => Shown::default(),
        };
        let wire = match shown.redacted {
            Some(el) => {
                let text = self.wire(&Frame::Element(el), event.direction);
                format!("{text}\n(secrets redacted above)")
            }
            None => self.wire(frame, event.direction),
        };
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
            writeln!(self.out, "{wire}")?;
            for note in &shown.notes {
                writeln!(self.out, "{note}")?;
            }
            return Ok(());
        }
        let (title, decoded) = self.describe(event.direction, frame);
        self.step += 1;
        writeln!(self.out, "Step {}: {title}", self.step)?;
        writeln!(self.out, "{wire}")?;
        let payload = event.sasl.as_ref().or(shown.payload.as_ref());
        if let (Some(text), false) = (payload, decoded.is_empty()) {
            writeln!(self.out, "{decoded}")?;
            writeln!(self.out, "{text}")?;
        }
        for note in &shown.notes {
            writeln!(self.out, "{note}")?;
        }
        self.last = match frame {
            Frame::Header(_) if received && self.server_headers >= 2 => {
                Last::ServerHeaderAfterRestart
            }
            Frame::Element(el)
                if received
                    && (sasl(el, "failure")
                        || sasl2(el, "failure")
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

/// What a `<stream:features/>` says about SASL2, Bind2 and FAST.
fn offer_notes(features: &Element) -> Vec<String> {
    let Some(auth) = features.child("authentication", NS_SASL2) else {
        return Vec::new();
    };
    let mechanisms: Vec<String> = auth
        .children()
        .filter(|c| c.is("mechanism", NS_SASL2))
        .map(|c| c.text().trim().to_owned())
        .collect();
    let mut notes = vec![format!(
        "SASL2 (XEP-0388) is offered with {}.",
        mechanisms.join(", ")
    )];
    let inline = auth.child("inline", NS_SASL2);
    if inline.and_then(|i| i.child("bind", NS_BIND2)).is_some() {
        notes.push("Bind2 (XEP-0386): a resource can be bound inside the authentication.".into());
    }
    if let Some(fast) = inline.and_then(|i| i.child("fast", NS_FAST)) {
        let names: Vec<String> = fast
            .children()
            .filter(|c| c.is("mechanism", NS_FAST))
            .map(|c| c.text().trim().to_owned())
            .collect();
        notes.push(format!(
            "FAST (XEP-0484): token logins with {}.",
            names.join(", ")
        ));
    }
    notes
}

/// What an `<authenticate/>` asks for besides the mechanism.
fn authenticate_notes(auth: &Element) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(ua) = auth.child("user-agent", NS_SASL2) {
        let software = ua
            .child("software", NS_SASL2)
            .map(|s| format!(", software {}", s.text().trim()))
            .unwrap_or_default();
        notes.push(format!(
            "User agent: id {}{software}.",
            ua.attr("id").unwrap_or("?")
        ));
    }
    if let Some(bind) = auth.child("bind", NS_BIND2) {
        let tag = bind
            .child("tag", NS_BIND2)
            .map(|t| format!(" (tag {})", t.text().trim()))
            .unwrap_or_default();
        notes.push(format!("Bind2: bind a resource on success{tag}."));
    }
    if auth.child("fast", NS_FAST).is_some() {
        notes.push("FAST: this authentication proves a token.".to_owned());
    }
    if let Some(r) = auth.child("request-token", NS_FAST) {
        notes.push(format!(
            "FAST: asks for a {} token.",
            r.attr("mechanism").unwrap_or("?")
        ));
    }
    notes
}

/// What a SASL2 `<success/>` establishes.
fn success_notes(success: &Element) -> Vec<String> {
    let mut notes = Vec::new();
    let id = success
        .child("authorization-identifier", NS_SASL2)
        .map(|a| a.text().trim().to_owned());
    match (&id, success.child("bound", NS_BIND2).is_some()) {
        (Some(jid), true) => notes.push(format!("Bind2 bound the resource: {jid}")),
        (Some(jid), false) => notes.push(format!("Authorization identifier: {jid}")),
        (None, _) => {}
    }
    if let Some(t) = success.child("token", NS_FAST) {
        notes.push(format!(
            "FAST token: <token \u{2026} redacted, expires {}>",
            t.attr("expiry").unwrap_or("(not given)")
        ));
    }
    notes
}

impl Observer for Transcript {
    fn observe(&self, event: &Observed<'_>) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // A closed stdout (`| head`) must not fail the login.
        let _ = state.observe(event);
    }
}

/// Whether `mechanism` names a FAST token mechanism (`HT-*`).
fn is_fast(mechanism: &str) -> bool {
    xmpp_sasl::Mechanism::from_name(mechanism).is_some_and(xmpp_sasl::Mechanism::is_fast)
}
