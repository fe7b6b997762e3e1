//! XML typed at the shell: one top-level element over one or more lines,
//! read with the stream's own framer, so that what is accepted here is
//! exactly what a server would accept on the stream.

use bytes::BytesMut;
use xmpp_xml::{ns, Element, Frame, Framer, Limits, XmlError};

/// The stream header the typed element is read inside: its default
/// namespace is the one stanzas have on a client stream.
const HEADER: &str = "<stream:stream xmlns='jabber:client' \
                      xmlns:stream='http://etherx.jabber.org/streams'>";

/// Why typed XML was not taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum XmlInputError {
    /// The XML is not well-formed, or breaks a limit of the framer.
    #[error("bad XML: {0}")]
    Malformed(#[source] XmlError),
    /// Something follows the element on its last line.
    #[error("bad XML: more after the end of the element (one element at a time)")]
    Trailing,
    /// `</stream:stream>`: not an element.
    #[error("</stream:stream> is not an element: /quit closes the stream")]
    StreamClose,
}

/// An element being typed: lines go in until it is complete.
pub(crate) struct PartialElement {
    framer: Framer,
    buf: BytesMut,
}

impl PartialElement {
    /// Ready for the first line of an element.
    pub(crate) fn new() -> Self {
        let mut framer = Framer::new(Limits::default());
        let mut buf = BytesMut::from(HEADER);
        // The header is ours and well-formed: decoding it cannot fail.
        let header = framer.decode(&mut buf);
        debug_assert!(matches!(header, Ok(Some(Frame::Header(_)))));
        PartialElement { framer, buf }
    }

    /// Adds a line: the element once it is complete, `None` while it needs
    /// more lines. After an error the value is spent.
    pub(crate) fn push(&mut self, line: &str) -> Result<Option<Element>, XmlInputError> {
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.extend_from_slice(b"\n");
        let element = match self.framer.decode(&mut self.buf) {
            Ok(None) => return Ok(None),
            Ok(Some(Frame::Element(el))) => el,
            Ok(Some(Frame::Close)) => return Err(XmlInputError::StreamClose),
            // Nothing else follows a header (a second one is an element).
            Ok(Some(_)) => return Err(XmlInputError::Trailing),
            Err(e) => return Err(XmlInputError::Malformed(e)),
        };
        // Whitespace after the element is consumed by the framer; anything
        // else starts a second element or is text between elements.
        match self.framer.decode(&mut self.buf) {
            Ok(None) if self.buf.is_empty() => Ok(Some(element)),
            _ => Err(XmlInputError::Trailing),
        }
    }
}

/// Whether `el` is a stanza of a client stream (RFC 6120 §8).
pub(crate) fn is_stanza(el: &Element) -> bool {
    el.ns() == ns::CLIENT && matches!(el.name(), "message" | "presence" | "iq")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(lines: &[&str]) -> Result<Option<Element>, XmlInputError> {
        let mut p = PartialElement::new();
        let mut last = Ok(None);
        for line in lines {
            last = p.push(line);
            if !matches!(last, Ok(None)) {
                break;
            }
        }
        last
    }

    #[test]
    fn one_line_and_several() {
        let el = one(&["<message to='juliet@example.com'><body>hi</body></message>"])
            .unwrap()
            .unwrap();
        assert!(el.is("message", ns::CLIENT));
        assert!(is_stanza(&el));
        assert_eq!(el.attr("to"), Some("juliet@example.com"));
        let el = one(&[
            "<message to='juliet@example.com'>",
            "  <body>a",
            "b</body>",
            "</message>  ",
        ])
        .unwrap()
        .unwrap();
        // Lines are joined with a line break, as typed.
        assert_eq!(el.child("body", ns::CLIENT).unwrap().text(), "a\nb");
        assert!(one(&["<message>", "<body>"]).unwrap().is_none());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let e = one(&["<message><body>hi</bdy></message>"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad XML: end tag </bdy> does not match <body>"
        );
        let e = one(&["<message/><presence/>"]).unwrap_err();
        assert!(matches!(e, XmlInputError::Trailing), "{e}");
        let e = one(&["<message/> hi"]).unwrap_err();
        assert!(matches!(e, XmlInputError::Trailing), "{e}");
        let e = one(&["</stream:stream>"]).unwrap_err();
        assert!(matches!(e, XmlInputError::StreamClose), "{e}");
        let e = one(&["<message xmlns:a='x'><a:b c:d='1'/></message>"]).unwrap_err();
        assert!(e.to_string().contains("undeclared namespace prefix"), "{e}");
        // Restricted XML (RFC 6120 §11), as on the stream.
        let e = one(&["<message><!-- no --></message>"]).unwrap_err();
        assert!(e.to_string().contains("restricted XML"), "{e}");
    }

    #[test]
    fn stanzas_are_message_presence_and_iq_of_the_client_namespace() {
        let r = one(&["<r xmlns='urn:xmpp:sm:3'/>"]).unwrap().unwrap();
        assert!(!is_stanza(&r));
        let s = one(&["<message xmlns='jabber:server'/>"]).unwrap().unwrap();
        assert!(!is_stanza(&s));
        let iq = one(&["<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>"])
            .unwrap()
            .unwrap();
        assert!(is_stanza(&iq));
    }
}
