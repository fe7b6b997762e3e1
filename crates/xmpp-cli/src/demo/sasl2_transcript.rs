//! The transcript of `xmpp demo --sasl2` and `--fast`: every frame as it
//! went over the wire with a caption saying what it is and in which round
//! trip after the TCP connect it travels, SASL2 (XEP-0388) payloads decoded
//! beneath, FAST tokens (XEP-0484) redacted.
//!
//! Kept apart from `crate::transcript` (the RFC 3920 §6.5 one, which
//! `xmpp login --transcript` shares) for its captions and round trips. The
//! library's observer redacts SASL2 PLAIN passwords and FAST tokens before
//! frames get here.
//!
//! A round trip is counted each time the client sends after having heard
//! from the server (it waits for an answer once per round trip), and the TLS
//! handshake counts as the round trips it takes (one for TLS 1.3, two for
//! TLS 1.2, read off the socket by the probe).

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use xmpp_sasl::Mechanism;
use xmpp_stream::{Direction, Observed, Observer};
use xmpp_xml::{ns, Element, Frame, StreamCodec};

use crate::tls::ProbeState;

/// `urn:xmpp:sasl:2`
const NS_SASL2: &str = "urn:xmpp:sasl:2";
/// `urn:xmpp:bind:0`
const NS_BIND2: &str = "urn:xmpp:bind:0";
/// `urn:xmpp:fast:0`
const NS_FAST: &str = "urn:xmpp:fast:0";

/// What replaces a FAST token's value in the output.
pub const REDACTED: &str = "…redacted…";

/// Round trips counted so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundTrips {
    /// Since the TCP connect.
    pub total: u32,
    /// Of them, until TLS was up (the first stream, STARTTLS, the handshake).
    pub until_tls: u32,
}

struct State {
    step: u32,
    round_trips: RoundTrips,
    /// The last frame came from the server: our next one starts a round trip.
    heard: bool,
    /// The login is over: later frames are not counted.
    logged_in: bool,
    client_headers: u32,
    /// A server header waits to be printed with the features after it.
    pending_header: Option<String>,
    /// The mechanism of the running authentication.
    mechanism: Option<String>,
    encoder: StreamCodec,
    out: Box<dyn Write + Send>,
    probe: Option<Arc<ProbeState>>,
    tls_shown: bool,
    trust: String,
}

/// An [`Observer`] that prints the SASL2 transcript (or, writing to a sink,
/// only counts round trips).
pub struct Sasl2Transcript {
    state: Mutex<State>,
}

impl Sasl2Transcript {
    /// A transcript written to `out`; `probe` reads the TLS handshake off the
    /// socket, `trust` says how the server's certificate is checked.
    pub fn new(out: Box<dyn Write + Send>, probe: Arc<ProbeState>, trust: &str) -> Self {
        Sasl2Transcript {
            state: Mutex::new(State {
                step: 0,
                round_trips: RoundTrips::default(),
                heard: true,
                logged_in: false,
                client_headers: 0,
                pending_header: None,
                mechanism: None,
                encoder: StreamCodec::default(),
                out,
                probe: Some(probe),
                tls_shown: false,
                trust: trust.to_owned(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The login finished: returns its round trips; later steps (a ping, the
    /// close) are shown as after the login.
    pub fn logged_in(&self) -> RoundTrips {
        let mut state = self.lock();
        state.logged_in = true;
        state.round_trips
    }
}

impl Observer for Sasl2Transcript {
    fn observe(&self, event: &Observed<'_>) {
        // A closed stdout (`| head`) must not fail the login.
        let _ = self.lock().observe(event);
    }
}

impl State {
    fn observe(&mut self, event: &Observed<'_>) -> std::io::Result<()> {
        let sent = event.direction == Direction::Sent;
        if sent {
            self.show_tls()?;
            if self.heard && !self.logged_in {
                self.round_trips.total += 1;
            }
            self.heard = false;
        } else {
            self.heard = true;
        }
        let frame = event.frame;
        let wire = self.wire(frame, event.direction);
        if let (Frame::Header(_), false) = (frame, sent) {
            // Shown with the features that follow it.
            self.pending_header = Some(wire);
            return Ok(());
        }
        let header = self.pending_header.take();
        let (caption, decoded) = match frame {
            Frame::Element(el) => self.describe(el, sent),
            Frame::Header(_) => {
                self.client_headers += 1;
                let caption = if self.client_headers == 1 {
                    "Client opens the stream"
                } else {
                    "Client opens a new stream over TLS"
                };
                (caption.to_owned(), None)
            }
            Frame::Close if sent => ("Client closes the stream".to_owned(), None),
            Frame::Close => ("Server closes the stream".to_owned(), None),
            _ => (
                if sent { "Client sends" } else { "Server sends" }.to_owned(),
                None,
            ),
        };
        // What the library decoded, where the frame itself no longer holds
        // the payload (a SASL2 PLAIN initial response arrives redacted).
        let decoded = decoded.or_else(|| match frame {
            Frame::Element(el) if el.is("authenticate", NS_SASL2) => event
                .sasl
                .clone()
                .map(|text| ("The decoded initial response is:", text)),
            _ => None,
        });
        let caption = match (&header, frame) {
            (Some(_), Frame::Element(el)) if el.is("features", ns::STREAM) => {
                format!("Server responds with its stream header and features: {caption}")
            }
            (None, Frame::Element(el)) if el.is("features", ns::STREAM) => format!(
                "Server sends its features right after <success/> (SASL2 has no stream restart): {caption}"
            ),
            _ => caption,
        };
        self.step += 1;
        let when = if self.logged_in {
            "after the login".to_owned()
        } else {
            format!("round trip {}", self.round_trips.total)
        };
        writeln!(self.out, "Step {} ({when}): {caption}:", self.step)?;
        if let Some(h) = header {
            writeln!(self.out, "{h}")?;
        }
        writeln!(self.out, "{}", redact_wire(&wire, frame))?;
        if let Some((label, text)) = decoded {
            writeln!(self.out, "{label}")?;
            writeln!(self.out, "{text}")?;
        }
        self.out.flush()
    }

    /// Prints the TLS step once the handshake is over (before the first
    /// frame we send on the protected stream), and counts its round trips.
    fn show_tls(&mut self) -> std::io::Result<()> {
        let Some(seen) = self.probe.as_ref().map(|p| p.seen()) else {
            return Ok(());
        };
        let Some(version) = seen.version else {
            return Ok(());
        };
        if self.tls_shown {
            return Ok(());
        }
        self.tls_shown = true;
        // TLS 1.3: ClientHello, then the server's flight up to Finished; the
        // client's Finished goes with its first data. TLS 1.2 takes two.
        let trips = if version == "TLS1.3" { 1 } else { 2 };
        let first = self.round_trips.total + 1;
        self.round_trips.total += trips;
        self.round_trips.until_tls = self.round_trips.total;
        // The next frame we send starts a round trip of its own.
        self.heard = true;
        let cipher = seen.cipher.unwrap_or_else(|| "unknown".to_owned());
        let binding = if version == "TLS1.3" {
            "tls-exporter"
        } else {
            "tls-server-end-point"
        };
        let trips = if trips == 1 {
            format!("round trip {first}")
        } else {
            format!("round trips {first}-{}", self.round_trips.total)
        };
        self.step += 1;
        writeln!(
            self.out,
            "Step {} ({trips}): TLS handshake ({version}, cipher {cipher}, channel binding {binding}):",
            self.step
        )?;
        writeln!(self.out, "{}", self.trust)
    }

    fn wire(&mut self, frame: &Frame, direction: Direction) -> String {
        crate::transcript::wire_text(&mut self.encoder, frame, direction)
    }

    /// The caption of an element, and its decoded SASL payload if any.
    fn describe(&mut self, el: &Element, sent: bool) -> (String, Option<(&'static str, String)>) {
        if el.is("features", ns::STREAM) {
            return (features(el), None);
        }
        if el.ns() == NS_SASL2 {
            return self.describe_sasl2(el, sent);
        }
        let caption = match (sent, el.name(), el.ns()) {
            (true, "starttls", ns::TLS) => "Client asks for TLS (STARTTLS)",
            (false, "proceed", ns::TLS) => {
                "Server tells the client to go on with the TLS handshake"
            }
            (false, "failure", ns::TLS) => "Server refuses STARTTLS",
            (false, "error", ns::STREAM) => "Server returns a stream error",
            (true, "auth", ns::SASL) => "Client authenticates with RFC 6120 SASL",
            (_, _, ns::SASL) if sent => "Client sends an RFC 6120 SASL element",
            (_, _, ns::SASL) => "Server sends an RFC 6120 SASL element",
            (_, "iq", ns::CLIENT) => iq_caption(el, sent),
            _ if sent => "Client sends",
            _ => "Server sends",
        };
        (caption.to_owned(), None)
    }

    fn describe_sasl2(
        &mut self,
        el: &Element,
        sent: bool,
    ) -> (String, Option<(&'static str, String)>) {
        let mechanism = self.mechanism.clone().unwrap_or_default();
        let kind = MechKind::of(&mechanism);
        let payload = |child: Option<&Element>| -> Option<Vec<u8>> {
            let text = child?.text();
            decode_base64(text.trim())
        };
        match (sent, el.name()) {
            (true, "authenticate") => {
                let mechanism = el.attr("mechanism").unwrap_or("").to_owned();
                let kind = MechKind::of(&mechanism);
                self.mechanism = Some(mechanism.clone());
                let mut parts = Vec::new();
                let initial = el.child("initial-response", NS_SASL2);
                if initial.is_some() {
                    parts.push(kind.initial_response().to_owned());
                }
                if el.child("fast", NS_FAST).is_some() {
                    parts.push("<fast/> (this is a token login)".to_owned());
                }
                if el.child("user-agent", NS_SASL2).is_some() {
                    parts.push(
                        if kind == MechKind::Ht {
                            "its user agent (the id the token is bound to)"
                        } else {
                            "its user agent"
                        }
                        .to_owned(),
                    );
                }
                if el.child("bind", NS_BIND2).is_some() {
                    parts.push("a Bind2 request".to_owned());
                }
                if let Some(r) = el.child("request-token", NS_FAST) {
                    parts.push(format!(
                        "a FAST token request for {}",
                        r.attr("mechanism").unwrap_or("?")
                    ));
                }
                let caption = format!(
                    "Client authenticates with SASL2 ({mechanism}): <authenticate/> with {}",
                    join(&parts)
                );
                let decoded = payload(initial).map(|d| {
                    (
                        "The decoded initial response is:",
                        describe(&mechanism, kind, true, &d),
                    )
                });
                (caption, decoded)
            }
            (true, "response") => {
                let caption = match kind {
                    MechKind::Scram => {
                        "Client answers with the SCRAM client-final message (its proof)"
                    }
                    _ => "Client answers the challenge",
                };
                let decoded = decode_base64(el.text().trim()).map(|d| {
                    (
                        "The decoded response is:",
                        describe(&mechanism, kind, true, &d),
                    )
                });
                (caption.to_owned(), decoded)
            }
            (true, "abort") => ("Client aborts the authentication".to_owned(), None),
            (false, "challenge") => {
                let caption = match kind {
                    MechKind::Scram => {
                        "Server sends a SASL2 challenge: the SCRAM server-first message (its nonce, the salt, the iteration count)"
                    }
                    _ => "Server sends a SASL2 challenge",
                };
                let decoded = decode_base64(el.text().trim()).map(|d| {
                    (
                        "The decoded challenge is:",
                        describe(&mechanism, kind, false, &d),
                    )
                });
                (caption.to_owned(), decoded)
            }
            (false, "success") => {
                let additional = el.child("additional-data", NS_SASL2);
                let mut parts = Vec::new();
                if additional.is_some() {
                    parts.push(kind.additional_data().to_owned());
                }
                let bound = el.child("bound", NS_BIND2).is_some();
                if el.child("authorization-identifier", NS_SASL2).is_some() {
                    parts.push(
                        if bound {
                            "the authorization identifier (the full JID Bind2 bound)"
                        } else {
                            "the authorization identifier"
                        }
                        .to_owned(),
                    );
                }
                if bound {
                    parts.push("<bound/> (no <bind/> IQ follows)".to_owned());
                }
                if el.child("token", NS_FAST).is_some() {
                    parts.push("a FAST token (its value redacted here)".to_owned());
                }
                let caption = format!("Server reports success (SASL2) with {}", join(&parts));
                let decoded = payload(additional).map(|d| {
                    (
                        "The decoded additional data is:",
                        describe(&mechanism, kind, false, &d),
                    )
                });
                (caption, decoded)
            }
            (false, "failure") => ("Server reports failure (SASL2)".to_owned(), None),
            (false, "continue") => (
                "Server asks for further SASL2 tasks (<continue/>)".to_owned(),
                None,
            ),
            (true, _) => ("Client sends a SASL2 element".to_owned(), None),
            (false, _) => ("Server sends a SASL2 element".to_owned(), None),
        }
    }
}

/// The families of mechanisms the captions tell apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MechKind {
    Scram,
    Ht,
    Plain,
    Other,
}

impl MechKind {
    fn of(name: &str) -> Self {
        // Wire names are case-sensitive (and `from_name_ignore_ascii_case`
        // does not know the HT names).
        match Mechanism::from_name(name) {
            Some(m) if m.is_fast() => MechKind::Ht,
            Some(Mechanism::Plain) => MechKind::Plain,
            Some(m) if m.as_str().starts_with("SCRAM-") => MechKind::Scram,
            _ => MechKind::Other,
        }
    }

    fn initial_response(self) -> &'static str {
        match self {
            MechKind::Scram => "the SCRAM client-first message",
            MechKind::Ht => "the token proof (the HT initial response)",
            MechKind::Plain => "the PLAIN credentials (redacted here)",
            MechKind::Other => "an initial response",
        }
    }

    fn additional_data(self) -> &'static str {
        match self {
            MechKind::Scram => "the SCRAM server-final message (the server's proof)",
            MechKind::Ht => "the server's HT proof",
            _ => "additional data",
        }
    }
}

/// A decoded payload for the transcript: HT's binary proofs by their shape,
/// everything else as `xmpp_sasl` describes it (PLAIN's password redacted).
fn describe(mechanism: &str, kind: MechKind, from_client: bool, data: &[u8]) -> String {
    if kind != MechKind::Ht {
        return xmpp_sasl::describe_payload(mechanism, from_client, data);
    }
    let bound_to = match Mechanism::from_name(mechanism).and_then(Mechanism::fast_binding) {
        Some(binding) => format!(" and the {binding} data"),
        None => String::new(),
    };
    let mac = |n: usize, label: &str| {
        format!("<{n}-byte HMAC-SHA-256 of \"{label}\"{bound_to}, keyed with the token>")
    };
    match data.iter().position(|&b| b == 0) {
        Some(nul) if from_client => format!(
            "{}\\0{}",
            xmpp_sasl::describe_payload("", false, &data[..nul]),
            mac(data.len() - nul - 1, "Initiator")
        ),
        _ if from_client => format!("<{} bytes without a NUL>", data.len()),
        _ => mac(data.len(), "Responder"),
    }
}

/// The wire text with secrets taken out: a FAST token's value, and a SASL2
/// PLAIN initial response (the library's observer redacts only RFC 6120's).
fn redact_wire(wire: &str, frame: &Frame) -> String {
    let Frame::Element(el) = frame else {
        return wire.to_owned();
    };
    let mut text = wire.to_owned();
    if el.is("success", NS_SASL2) {
        if let Some(secret) = el.child("token", NS_FAST).and_then(|t| t.attr("token")) {
            if !secret.is_empty() {
                text = text.replace(secret, REDACTED);
                if text.contains(secret) || !text.contains(REDACTED) {
                    // Escaped differently on the wire: show nothing of it.
                    return "(a SASL2 success with a FAST token, not shown: its token could not be redacted)"
                        .to_owned();
                }
            }
        }
    }
    if el.is("authenticate", NS_SASL2)
        && el
            .attr("mechanism")
            .is_some_and(xmpp_sasl::carries_password)
    {
        if let Some(ir) = el.child("initial-response", NS_SASL2) {
            let b64 = ir.text();
            let b64 = b64.trim();
            if !b64.is_empty() {
                text = text.replace(b64, "(redacted: contains the password)");
            }
        }
    }
    text
}

/// What a `<stream:features/>` offers, in words.
fn features(el: &Element) -> String {
    let mut parts = Vec::new();
    if let Some(tls) = el.child("starttls", ns::TLS) {
        parts.push(if tls.child("required", ns::TLS).is_some() {
            "STARTTLS, required before anything else".to_owned()
        } else {
            "STARTTLS".to_owned()
        });
    }
    if el.child("mechanisms", ns::SASL).is_some() {
        parts.push("RFC 6120 SASL (<mechanisms/>)".to_owned());
    }
    if let Some(auth) = el.child("authentication", NS_SASL2) {
        let inline = auth.child("inline", NS_SASL2);
        let mut s = "SASL2 (<authentication/>)".to_owned();
        let bind2 = inline.and_then(|i| i.child("bind", NS_BIND2)).is_some();
        let fast: Vec<String> = inline
            .and_then(|i| i.child("fast", NS_FAST))
            .map(|f| f.children().map(Element::text).collect())
            .unwrap_or_default();
        match (bind2, fast.is_empty()) {
            (true, false) => s.push_str(&format!(
                " with Bind2 and FAST ({}) inline",
                fast.join(", ")
            )),
            (true, true) => s.push_str(" with Bind2 inline"),
            (false, false) => s.push_str(&format!(" with FAST ({}) inline", fast.join(", "))),
            (false, true) => {}
        }
        parts.push(s);
    }
    if el.child("bind", ns::BIND).is_some() {
        parts.push("resource binding".to_owned());
    }
    if parts.is_empty() {
        return "none left to negotiate".to_owned();
    }
    join(&parts)
}

fn iq_caption(el: &Element, sent: bool) -> &'static str {
    let bind = el.child("bind", ns::BIND).is_some();
    let ping = el.child("ping", ns::PING).is_some();
    match (sent, el.attr("type")) {
        (true, _) if bind => "Client asks the server to bind a resource",
        (true, _) if ping => "Client pings the server (XEP-0199)",
        (true, _) => "Client sends an IQ",
        (false, Some("result")) if bind => "Server returns the bound JID",
        (false, Some("result")) => "Server answers",
        (false, Some("error")) => "Server returns an error",
        (false, _) => "Server sends an IQ",
    }
}

/// `a`, `a and b`, `a, b and c`.
fn join(parts: &[String]) -> String {
    match parts {
        [] => "nothing else".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Standard base64 with padding (RFC 4648 §4), as SASL2 payloads carry it;
/// `None` if it is not. An empty element is zero-length data.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        }))
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for (i, chunk) in bytes.chunks(4).enumerate() {
        let last = i + 1 == bytes.len() / 4;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_rfc_4648_vectors() {
        for (plain, b64) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(decode_base64(b64).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(decode_base64("Zm9"), None);
        assert_eq!(decode_base64("Zg==Zg=="), None);
        assert_eq!(decode_base64("Z!=="), None);
    }

    #[test]
    fn ht_proofs_are_shown_by_their_shape() {
        let mut ir = b"somenode\0".to_vec();
        ir.extend([0u8; 32]);
        let d = describe("HT-SHA-256-EXPR", MechKind::Ht, true, &ir);
        assert_eq!(
            d,
            "somenode\\0<32-byte HMAC-SHA-256 of \"Initiator\" and the tls-exporter data, keyed with the token>"
        );
        let d = describe("HT-SHA-256-NONE", MechKind::Ht, false, &[1u8; 32]);
        assert_eq!(
            d,
            "<32-byte HMAC-SHA-256 of \"Responder\", keyed with the token>"
        );
    }

    #[test]
    fn tokens_and_sasl2_plain_passwords_are_redacted() {
        let wire = "<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>a@b/c</authorization-identifier><token xmlns='urn:xmpp:fast:0' token='s3cr3t-token' expiry='2030-01-01T00:00:00Z'/></success>";
        let el = Element::builder("success", NS_SASL2)
            .append(
                Element::builder("token", NS_FAST)
                    .attr("token", "s3cr3t-token")
                    .build(),
            )
            .build();
        let shown = redact_wire(wire, &Frame::Element(el));
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(
            shown.contains("token='…redacted…' expiry='2030-01-01T00:00:00Z'"),
            "{shown}"
        );
        // base64("\0somenode\0secret")
        let b64 = "AHNvbWVub2RlAHNlY3JldA==";
        let el = Element::builder("authenticate", NS_SASL2)
            .attr("mechanism", "PLAIN")
            .append(
                Element::builder("initial-response", NS_SASL2)
                    .text(b64)
                    .build(),
            )
            .build();
        let wire = format!("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>{b64}</initial-response></authenticate>");
        let shown = redact_wire(&wire, &Frame::Element(el));
        assert!(!shown.contains(b64), "{shown}");
    }
}
