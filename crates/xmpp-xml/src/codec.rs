//! [`StreamCodec`]: the `tokio_util` codec over [`Framer`] and the writer.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::element::Element;
use crate::error::XmlError;
use crate::ns;
use crate::scan::Framer;
use crate::escape::escape_attr;
use crate::writer::{validate, write_element, Scope};

/// The `<stream:stream>` open tag.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StreamHeader {
    /// Namespace URI of the root element. The codec does not reject values
    /// other than [`ns::STREAM`]; the stream layer does.
    pub stream_ns: String,
    /// Local name of the root element (`"stream"`).
    pub name: String,
    /// The declared default namespace (`jabber:client`, `jabber:server`).
    pub default_ns: Option<String>,
    /// `to`
    pub to: Option<String>,
    /// `from`
    pub from: Option<String>,
    /// `id`
    pub id: Option<String>,
    /// `version`
    pub version: Option<String>,
    /// `xml:lang`
    pub lang: Option<String>,
}

impl StreamHeader {
    /// A client's initial header: `jabber:client`, version 1.0, `xml:lang='en'`.
    pub fn client(to: &str) -> Self {
        StreamHeader {
            stream_ns: ns::STREAM.to_owned(),
            name: "stream".to_owned(),
            default_ns: Some(ns::CLIENT.to_owned()),
            to: Some(to.to_owned()),
            from: None,
            id: None,
            version: Some("1.0".to_owned()),
            lang: Some("en".to_owned()),
        }
    }
}

/// One decoded (or to-be-encoded) unit of an XMPP stream.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    /// The stream header (open tag of the root element).
    Header(StreamHeader),
    /// A complete top-level element (stanza or nonza).
    Element(Element),
    /// `</stream:stream>`.
    Close,
}

/// Limits enforced while parsing, so that no input makes the decoder use
/// more than a bounded amount of memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Bytes per top-level element, from its `<` to its last `>` (also caps
    /// the stream header and the XML declaration). Default 256 KiB; values
    /// above 4 GiB minus 8 bytes act as that (offsets are 32-bit).
    pub max_stanza_bytes: usize,
    /// Nesting depth of elements inside a top-level element, the top-level
    /// element itself being depth 1. Default 64.
    pub max_depth: usize,
    /// Attributes (namespace declarations included) per element. Default 64.
    pub max_attributes: usize,
    /// Bytes per qualified name. Default 256.
    pub max_name_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_stanza_bytes: 256 * 1024,
            max_depth: 64,
            max_attributes: 64,
            max_name_len: 256,
        }
    }
}

/// Decodes an XMPP stream into [`Frame`]s and encodes frames to bytes.
///
/// Decoding is incremental: bytes may be split anywhere, each byte is
/// examined once, and only complete top-level elements are consumed from the
/// buffer. After an error the decoder returns [`XmlError::Poisoned`] until
/// [`StreamCodec::reset`].
#[derive(Debug, Default)]
pub struct StreamCodec {
    framer: Framer,
    enc_scope: Option<Scope>,
    scratch: String,
}

impl StreamCodec {
    /// A codec with custom limits.
    pub fn new(limits: Limits) -> Self {
        StreamCodec {
            framer: Framer::new(limits),
            enc_scope: None,
            scratch: String::new(),
        }
    }

    /// The limits in force (or pending for the next element).
    pub fn limits(&self) -> &Limits {
        self.framer.limits()
    }

    /// Change the limits; they take effect for the next top-level element.
    pub fn set_limits(&mut self, limits: Limits) {
        self.framer.set_limits(limits);
    }

    /// Prepare for a new stream (after SASL success or STARTTLS): the decoder
    /// expects a stream header next, the buffer is left untouched, and the
    /// encoder forgets the namespaces of the previous header.
    pub fn reset(&mut self) {
        self.framer.reset();
        self.enc_scope = None;
    }

    /// Whether `</stream:stream>` has been decoded.
    pub fn is_closed(&self) -> bool {
        self.framer.is_closed()
    }

    /// The decoding half, for framing without building element trees.
    pub fn framer_mut(&mut self) -> &mut Framer {
        &mut self.framer
    }

    /// Frees the encoder's scratch buffer (it keeps the capacity of the
    /// largest frame encoded so far, e.g. the stream features). For streams
    /// that go idle: the next encode allocates it again.
    pub fn release_memory(&mut self) {
        self.scratch = String::new();
    }
}

impl Decoder for StreamCodec {
    type Item = Frame;
    type Error = XmlError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, XmlError> {
        self.framer.decode(src)
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, XmlError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() || self.framer.is_closed() => Ok(None),
            None => Err(XmlError::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "stream ended inside an XML element",
            ))),
        }
    }
}

impl Encoder<Frame> for StreamCodec {
    type Error = XmlError;

    fn encode(&mut self, item: Frame, dst: &mut BytesMut) -> Result<(), XmlError> {
        let out = &mut self.scratch;
        out.clear();
        match item {
            Frame::Header(h) => {
                let stream_ns = if h.stream_ns.is_empty() {
                    ns::STREAM
                } else {
                    h.stream_ns.as_str()
                };
                let name = if h.name.is_empty() {
                    "stream"
                } else {
                    h.name.as_str()
                };
                if !crate::chars::is_ncname(name) {
                    return Err(XmlError::Unencodable(format!(
                        "invalid stream element name {name:?}"
                    )));
                }
                out.push_str("<?xml version='1.0'?><stream:");
                out.push_str(name);
                let mut attr = |n: &str, v: &str| -> Result<(), XmlError> {
                    if let Some(c) = v.chars().find(|c| !crate::chars::is_xml_char(*c as u32)) {
                        return Err(XmlError::Unencodable(format!(
                            "character U+{:04X} in header",
                            c as u32
                        )));
                    }
                    out.push(' ');
                    out.push_str(n);
                    out.push_str("='");
                    escape_attr(out, v);
                    out.push('\'');
                    Ok(())
                };
                if let Some(d) = &h.default_ns {
                    attr("xmlns", d)?;
                }
                attr("xmlns:stream", stream_ns)?;
                for (n, v) in [
                    ("to", &h.to),
                    ("from", &h.from),
                    ("id", &h.id),
                    ("version", &h.version),
                    ("xml:lang", &h.lang),
                ] {
                    if let Some(v) = v {
                        attr(n, v)?;
                    }
                }
                out.push('>');
                self.enc_scope = Some(Scope {
                    default_ns: h.default_ns.clone().unwrap_or_default(),
                    stream_bound: stream_ns == ns::STREAM,
                });
            }
            Frame::Element(e) => {
                validate(&e)?;
                let standalone = Scope::standalone();
                write_element(out, &e, self.enc_scope.as_ref().unwrap_or(&standalone));
            }
            Frame::Close => out.push_str("</stream:stream>"),
        }
        dst.extend_from_slice(out.as_bytes());
        Ok(())
    }
}
