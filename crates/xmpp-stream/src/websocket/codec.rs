//! [`WsCodec`]: the sans-IO translation between RFC 7395 WebSocket text
//! messages and the [`Frame`]s the negotiation cores speak.

use bytes::BytesMut;
use xmpp_xml::{ns, Condition, Element, Frame, Framer, Limits, StreamHeader, XmlError};

/// `urn:ietf:params:xml:ns:xmpp-framing`: the namespace of `<open/>` and
/// `<close/>` (RFC 7395 §3.3).
pub const FRAMING_NS: &str = "urn:ietf:params:xml:ns:xmpp-framing";

/// The WebSocket subprotocol both sides must agree on (RFC 7395 §3.2).
pub const SUBPROTOCOL: &str = "xmpp";

/// Every message is parsed as a top-level element of this stream: its own
/// declarations then decide each name's namespace. `jabber:client` as the
/// default is lenient to peers that leave it off stanzas; `<open/>` in no
/// namespace still lands in `jabber:client`, not the framing namespace.
const PRIME: &[u8] = b"<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams'>";

/// Translates one WebSocket message into one [`Frame`] and back.
///
/// Incoming: `<open/>` becomes the stream header (`jabber:client`, as on
/// TCP), `<close/>` becomes [`Frame::Close`], and every other message must
/// be exactly one complete element, which is passed through. A
/// `<close see-other-uri='…'/>` becomes a `<see-other-host/>` stream error
/// whose text is the URI, so that a client's negotiation reports the
/// redirect like any other stream error. Outgoing: the header becomes
/// `<open/>`, each element is written standalone (with its namespaces:
/// `xmlns='jabber:client'` on stanzas, `xmlns:stream` on features), and
/// [`Frame::Close`] becomes `<close/>`.
///
/// ```
/// use xmpp_stream::websocket::WsCodec;
/// use xmpp_xml::Frame;
///
/// let mut codec = WsCodec::default();
/// let open = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>";
/// let Frame::Header(h) = codec.decode(open.as_bytes()).unwrap() else { panic!() };
/// assert_eq!(h.to.as_deref(), Some("example.com"));
/// assert!(matches!(codec.decode(b"<presence/>").unwrap(), Frame::Element(_)));
/// ```
#[derive(Debug)]
pub struct WsCodec {
    framer: Framer,
    /// Whether the `<open/>` of the current stream has been read.
    opened: bool,
    /// Each message is copied here for the framer, which consumes a
    /// `BytesMut`: one buffer for the stream rather than one per message.
    scratch: BytesMut,
}

impl Default for WsCodec {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

fn framing(condition: Condition, reason: &'static str) -> XmlError {
    XmlError::Framing { condition, reason }
}

impl WsCodec {
    /// A codec whose elements stay within `limits`; a message larger than
    /// `max_stanza_bytes` is refused like an oversize stanza on TCP
    /// (`<policy-violation/>`).
    pub fn new(limits: Limits) -> Self {
        let mut codec = WsCodec {
            framer: Framer::new(limits),
            opened: false,
            scratch: BytesMut::new(),
        };
        codec.prime();
        codec
    }

    fn prime(&mut self) {
        // Cannot fail: a fixed, well-formed header.
        self.scratch.clear();
        self.scratch.extend_from_slice(PRIME);
        let _ = self.framer.decode(&mut self.scratch);
    }

    /// The limits for the next message.
    pub fn limits(&self) -> &Limits {
        self.framer.limits()
    }

    /// Changes the limits from the next message on.
    pub fn set_limits(&mut self, limits: Limits) {
        self.framer.set_limits(limits);
    }

    /// A stream restart: the next message must be a new `<open/>`.
    pub fn reset(&mut self) {
        self.framer.reset();
        self.opened = false;
        self.prime();
    }

    /// Decodes one text message.
    pub fn decode(&mut self, message: &[u8]) -> Result<Frame, XmlError> {
        let limit = self.framer.limits().max_stanza_bytes;
        if message.len() > limit {
            return Err(XmlError::StanzaTooLarge { limit });
        }
        let body = message.trim_ascii();
        if body.is_empty() {
            return Err(framing(
                Condition::BadFormat,
                "a whitespace-only message (RFC 7395 §3.3.3)",
            ));
        }
        if body.starts_with(b"<?xml") {
            return Err(framing(
                Condition::BadFormat,
                "an XML declaration in a message (RFC 7395 §3.3.3)",
            ));
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(body);
        let decoded = self.framer.decode(&mut self.scratch);
        let all_read = self.scratch.is_empty();
        if self.scratch.capacity() > SCRATCH_KEPT {
            // A large message's room is not kept for an idle session.
            self.scratch = BytesMut::new();
        }
        let element = match decoded? {
            Some(Frame::Element(e)) if all_read => e,
            Some(Frame::Element(_)) => {
                return Err(framing(
                    Condition::BadFormat,
                    "more than one element in a message",
                ))
            }
            Some(_) => return Err(framing(Condition::BadFormat, "a stream end tag")),
            None => {
                return Err(framing(
                    Condition::NotWellFormed,
                    "a message that is not one complete element (an unclosed <stream:stream>?)",
                ))
            }
        };
        let framing_name = (element.ns() == FRAMING_NS).then(|| element.name());
        match (self.opened, framing_name) {
            (false, Some("open")) => {
                self.opened = true;
                Ok(Frame::Header(header_from_open(&element)))
            }
            // A server may answer the first <open/> with a redirect
            // (RFC 7395 §3.6.1), so a close needs no open before it.
            (_, Some("close")) => Ok(match element.attr("see-other-uri") {
                Some(uri) => Frame::Element(crate::wire::stream_error(
                    crate::StreamCondition::SeeOtherHost,
                    Some(uri),
                )),
                None => Frame::Close,
            }),
            (false, _) => Err(framing(
                Condition::InvalidNamespace,
                "the stream must start with <open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
            )),
            (true, Some("open")) => Err(framing(
                Condition::BadFormat,
                "<open/> without a stream restart",
            )),
            (true, _) => Ok(Frame::Element(element)),
        }
    }

    /// Encodes one frame as the text of one message.
    pub fn encode(&self, frame: &Frame) -> String {
        match frame {
            Frame::Header(h) => open_from_header(h).to_xml(),
            Frame::Element(e) => e.to_xml(),
            Frame::Close => close(None),
            // Frame is non-exhaustive; nothing else exists today.
            _ => String::new(),
        }
    }
}

/// The most room [`WsCodec`]'s scratch buffer keeps from one message to the
/// next (a negotiation's messages fit).
const SCRATCH_KEPT: usize = 4096;

/// `<close/>`, with a redirect when `see_other_uri` is given.
pub fn close(see_other_uri: Option<&str>) -> String {
    let mut b = Element::builder("close", FRAMING_NS);
    if let Some(uri) = see_other_uri {
        b = b.attr("see-other-uri", uri);
    }
    b.build().to_xml()
}

fn header_from_open(open: &Element) -> StreamHeader {
    let attr = |n: &str| open.attr(n).map(xmpp_xml::header_value);
    StreamHeader {
        stream_ns: ns::STREAM.into(),
        name: "stream".into(),
        default_ns: Some(ns::CLIENT.into()),
        to: attr("to"),
        from: attr("from"),
        id: attr("id"),
        version: attr("version"),
        lang: open.attr_ns("lang", ns::XML).map(xmpp_xml::header_value),
    }
}

fn open_from_header(h: &StreamHeader) -> Element {
    let mut b = Element::builder("open", FRAMING_NS);
    for (n, v) in [
        ("to", &h.to),
        ("from", &h.from),
        ("id", &h.id),
        ("version", &h.version),
    ] {
        if let Some(v) = v {
            b = b.attr(n, v);
        }
    }
    if let Some(lang) = &h.lang {
        b = b.attr_ns("xml", "lang", ns::XML, lang);
    }
    b.build()
}

#[cfg(test)]
mod tests;
