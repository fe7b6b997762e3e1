//! What a stream decodes into: [`Frame`]s, the first of which carries the
//! [`StreamHeader`].

use crate::element::Element;
use crate::ns;

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
