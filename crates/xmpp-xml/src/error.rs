//! Typed decode/encode errors and their RFC 6120 stream error conditions.

use std::fmt;

/// RFC 6120 §4.9.3 stream error condition that an [`XmlError`] maps to.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    /// `<not-well-formed/>`
    NotWellFormed,
    /// `<restricted-xml/>`
    RestrictedXml,
    /// `<invalid-namespace/>`
    InvalidNamespace,
    /// `<bad-namespace-prefix/>`
    BadNamespacePrefix,
    /// `<policy-violation/>`
    PolicyViolation,
    /// `<unsupported-encoding/>`
    UnsupportedEncoding,
    /// `<bad-format/>`
    BadFormat,
    /// `<invalid-xml/>`
    InvalidXml,
}

impl Condition {
    /// The element name of the condition, e.g. `"not-well-formed"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Condition::NotWellFormed => "not-well-formed",
            Condition::RestrictedXml => "restricted-xml",
            Condition::InvalidNamespace => "invalid-namespace",
            Condition::BadNamespacePrefix => "bad-namespace-prefix",
            Condition::PolicyViolation => "policy-violation",
            Condition::UnsupportedEncoding => "unsupported-encoding",
            Condition::BadFormat => "bad-format",
            Condition::InvalidXml => "invalid-xml",
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong while decoding or encoding an XMPP stream.
///
/// Decode errors are fatal for the stream: after one, the codec keeps
/// returning [`XmlError::Poisoned`] until [`crate::StreamCodec::reset`].
/// The messages never contain positions that depend on how the input was split.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// A syntax error: the input is not well-formed XML.
    #[error("not well-formed: {0}")]
    Syntax(&'static str),
    /// An end tag does not match the open element.
    #[error("end tag </{found}> does not match <{expected}>")]
    MismatchedEndTag {
        /// Qualified name of the open element.
        expected: String,
        /// Qualified name found in the end tag.
        found: String,
    },
    /// The same attribute appears twice on one element.
    #[error("duplicate attribute {0:?}")]
    DuplicateAttribute(String),
    /// A name is not a valid XML (namespace) name.
    #[error("invalid XML name {0:?}")]
    InvalidName(String),
    /// A character reference names a character that XML does not allow.
    #[error("invalid character reference &{0};")]
    InvalidCharRef(String),
    /// A character that XML 1.0 does not allow (e.g. most C0 controls).
    #[error("character U+{0:04X} is not allowed in XML")]
    IllegalChar(u32),
    /// Bytes that are not valid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// The XML declaration names an encoding other than UTF-8.
    #[error("unsupported encoding {0:?}")]
    UnsupportedEncoding(String),
    /// The XML declaration is malformed.
    #[error("malformed XML declaration: {0}")]
    BadXmlDecl(&'static str),
    /// Markup that RFC 6120 §11 forbids: comments, processing instructions, DTDs.
    #[error("restricted XML: {0} not allowed")]
    Restricted(&'static str),
    /// An entity reference other than the five predefined ones.
    #[error("undefined or restricted entity &{0};")]
    UndefinedEntity(String),
    /// A namespace prefix that is not declared in scope.
    #[error("undeclared namespace prefix {0:?}")]
    UndeclaredPrefix(String),
    /// A namespace declaration that Namespaces in XML forbids
    /// (binding `xmlns`, rebinding `xml`, an empty prefixed URI).
    #[error("invalid namespace declaration: {0}")]
    BadNamespaceDecl(&'static str),
    /// Character data directly inside the stream element (only whitespace is allowed).
    #[error("text at stream level")]
    TextAtStreamLevel,
    /// The stream header was an empty element (`<stream:stream/>`).
    #[error("stream header must not be self-closing")]
    HeaderSelfClosed,
    /// A top-level element (or the stream header) exceeds `Limits::max_stanza_bytes`.
    #[error("top-level element exceeds {limit} bytes")]
    StanzaTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// Elements nested deeper than `Limits::max_depth`.
    #[error("elements nested deeper than {limit}")]
    TooDeep {
        /// The configured limit.
        limit: usize,
    },
    /// More attributes on one element than `Limits::max_attributes`.
    #[error("more than {limit} attributes on one element")]
    TooManyAttributes {
        /// The configured limit.
        limit: usize,
    },
    /// A name longer than `Limits::max_name_len`.
    #[error("name longer than {limit} bytes")]
    NameTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// The encoder was asked to write something that cannot be expressed in XML
    /// (an invalid name or a character XML does not allow).
    #[error("cannot encode: {0}")]
    Unencodable(String),
    /// A previous error ended the stream; only `reset()` recovers the codec.
    #[error("stream already failed with {0}")]
    Poisoned(Condition),
    /// An I/O error from the transport (used by `tokio_util`'s framed types).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The caller removed bytes from the buffer that the decoder had already
    /// examined, or an element [`crate::Framer::decode_borrowed`] handed out
    /// before the next call: a bug in the caller, not in the peer's input.
    #[error("buffer shrank under the XML decoder")]
    BufferShrank,
    /// A message-based transport's framing rule was broken (XMPP over
    /// WebSocket, RFC 7395: a message that is not one complete element, an
    /// `<open/>` in the wrong namespace).
    #[error("framing: {reason}")]
    Framing {
        /// The stream error condition to send.
        condition: Condition,
        /// What was wrong.
        reason: &'static str,
    },
}

impl XmlError {
    /// The stream error condition to send for this error; `None` for the
    /// errors that are not the peer's: [`XmlError::Io`] and
    /// [`XmlError::BufferShrank`].
    pub fn condition(&self) -> Option<Condition> {
        use XmlError::*;
        Some(match self {
            Syntax(_)
            | MismatchedEndTag { .. }
            | DuplicateAttribute(_)
            | InvalidName(_)
            | InvalidCharRef(_)
            | IllegalChar(_)
            | BadXmlDecl(_) => Condition::NotWellFormed,
            // RFC 6120 §4.9.3.22: also for data that violates the rules of UTF-8.
            InvalidUtf8 | UnsupportedEncoding(_) => Condition::UnsupportedEncoding,
            Restricted(_) | UndefinedEntity(_) => Condition::RestrictedXml,
            UndeclaredPrefix(_) | BadNamespaceDecl(_) => Condition::BadNamespacePrefix,
            TextAtStreamLevel | HeaderSelfClosed => Condition::BadFormat,
            StanzaTooLarge { .. }
            | TooDeep { .. }
            | TooManyAttributes { .. }
            | NameTooLong { .. } => Condition::PolicyViolation,
            Unencodable(_) => Condition::InvalidXml,
            Poisoned(c) | Framing { condition: c, .. } => *c,
            Io(_) | BufferShrank => return None,
        })
    }
}
