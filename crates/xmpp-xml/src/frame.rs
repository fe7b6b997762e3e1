//! What a stream decodes into: [`Frame`]s, the first of which carries the
//! [`StreamHeader`].

use std::borrow::Cow;

use crate::element::Element;
use crate::ns;

/// A header value: borrowed when it is a `'static` string (the usual
/// namespaces, `stream`, `1.0`, `en`, whether written by a program or
/// recognised by the decoder), owned otherwise. Compare it with `==` to a
/// `&str`, read it with `as_deref()` or `&*`; a `String` or a
/// `&'static str` becomes one with `.into()`.
pub type HeaderValue = Cow<'static, str>;

/// The `<stream:stream>` open tag.
///
/// Values are [`HeaderValue`]s (`Cow<'static, str>`) so that the fixed
/// parts of a header, on both the decoding and the building side, cost no
/// allocation: about 60 of the 225 allocations of an in-memory negotiation
/// were headers' strings (PERFORMANCE.md).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StreamHeader {
    /// Namespace URI of the root element. The codec does not reject values
    /// other than [`ns::STREAM`]; the stream layer does.
    pub stream_ns: HeaderValue,
    /// Local name of the root element (`"stream"`).
    pub name: HeaderValue,
    /// The declared default namespace (`jabber:client`, `jabber:server`).
    pub default_ns: Option<HeaderValue>,
    /// `to`
    pub to: Option<HeaderValue>,
    /// `from`
    pub from: Option<HeaderValue>,
    /// `id`
    pub id: Option<HeaderValue>,
    /// `version`
    pub version: Option<HeaderValue>,
    /// `xml:lang`
    pub lang: Option<HeaderValue>,
}

impl StreamHeader {
    /// A client's initial header: `jabber:client`, version 1.0, `xml:lang='en'`.
    pub fn client(to: &str) -> Self {
        StreamHeader {
            stream_ns: Cow::Borrowed(ns::STREAM),
            name: Cow::Borrowed("stream"),
            default_ns: Some(Cow::Borrowed(ns::CLIENT)),
            to: Some(Cow::Owned(to.to_owned())),
            from: None,
            id: None,
            version: Some(Cow::Borrowed("1.0")),
            lang: Some(Cow::Borrowed("en")),
        }
    }
}

/// `v` as a [`HeaderValue`]: borrowed, without allocating, when it is one
/// of the values headers usually carry (`stream`, `1.0`, `en`, the
/// well-known namespaces); an owned copy otherwise.
///
/// ```
/// use std::borrow::Cow;
/// assert!(matches!(xmpp_xml::header_value("en"), Cow::Borrowed("en")));
/// assert!(matches!(xmpp_xml::header_value("example.com"), Cow::Owned(_)));
/// ```
pub fn header_value(v: &str) -> HeaderValue {
    match v {
        "stream" => Cow::Borrowed("stream"),
        "1.0" => Cow::Borrowed("1.0"),
        "en" => Cow::Borrowed("en"),
        _ => match ns::well_known(v) {
            Some(known) => Cow::Borrowed(known),
            None => Cow::Owned(v.to_owned()),
        },
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
