//! [`StreamCodec`]: the `tokio_util` codec over [`Framer`] and the writer.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::XmlError;
use crate::escape::{escape_attr, escape_ns};
use crate::frame::Frame;
use crate::limits::Limits;
use crate::ns;
use crate::scan::Framer;
use crate::writer::{plain_ascii, validate, write_element, Scope};

/// What the encoder's scratch buffer starts with: a stream header or a
/// negotiation element fits.
const SCRATCH: usize = 512;

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
    /// largest frame encoded so far, e.g. the stream features) and what the
    /// decoder grew for earlier elements ([`Framer::release_memory`]). For
    /// streams that go idle: the next encode or element allocates again.
    pub fn release_memory(&mut self) {
        self.scratch = String::new();
        self.framer.release_memory();
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
        // Room for a header or a negotiation element at once, rather than
        // doubling up to it from nothing on a new connection.
        out.reserve(SCRATCH);
        match item {
            Frame::Header(h) => {
                let stream_ns = if h.stream_ns.is_empty() {
                    ns::STREAM
                } else {
                    &h.stream_ns
                };
                let name = if h.name.is_empty() { "stream" } else { &h.name };
                if !crate::chars::is_ncname(name) {
                    return Err(XmlError::Unencodable(format!(
                        "invalid stream element name {name:?}"
                    )));
                }
                out.push_str("<?xml version='1.0'?><stream:");
                out.push_str(name);
                let mut attr = |n: &str, v: &str| -> Result<(), XmlError> {
                    let bad = || v.chars().find(|c| !crate::chars::is_xml_char(*c as u32));
                    if let Some(c) = (!plain_ascii(v)).then(bad).flatten() {
                        return Err(XmlError::Unencodable(format!(
                            "character U+{:04X} in header",
                            c as u32
                        )));
                    }
                    out.push(' ');
                    out.push_str(n);
                    out.push_str("='");
                    if n.starts_with("xmlns") {
                        escape_ns(out, v);
                    } else {
                        escape_attr(out, v);
                    }
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
                let stream_bound = stream_ns == ns::STREAM;
                self.enc_scope = Some(Scope {
                    default_ns: h.default_ns.unwrap_or_default(),
                    stream_bound,
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
