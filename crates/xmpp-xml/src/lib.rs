//! Incremental restricted-XML framing for XMPP streams.
//!
//! An XMPP stream is one endless XML document. [`StreamCodec`] (a
//! `tokio_util` codec) turns the bytes of such a stream into [`Frame`]s: the
//! stream header, each complete top-level element (stanza or nonza) as a
//! namespace-resolved [`Element`], and the stream close. It enforces the
//! restricted XML of RFC 6120 §11 and configurable [`Limits`] while parsing,
//! keeps a resumable scan position (each byte is examined once however the
//! input is split), and never consumes bytes past the end of the current
//! top-level element, so a new stream header or a TLS handshake that follows
//! `</success>` or `<proceed/>` in the same read stays in the buffer.
//!
//! Without the codec, a [`Framer`] decodes the same stream into elements
//! ([`Framer::decode`]), into validated bytes plus the root's name,
//! namespace and attributes ([`Framer::decode_raw`], no tree built), or into
//! the same borrowed from the buffer ([`Framer::decode_borrowed`]).
//!
//! ```
//! use bytes::BytesMut;
//! use tokio_util::codec::Decoder;
//! use xmpp_xml::{ns, Frame, StreamCodec};
//!
//! let mut codec = StreamCodec::default();
//! let mut buf = BytesMut::from(&b"<stream:stream xmlns='jabber:client' \
//!     xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'> \
//!     <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>"[..]);
//! let Some(Frame::Header(h)) = codec.decode(&mut buf)? else { panic!() };
//! assert_eq!(h.to.as_deref(), Some("example.com"));
//! let Some(Frame::Element(auth)) = codec.decode(&mut buf)? else { panic!() };
//! assert!(auth.is("auth", ns::SASL));
//! assert_eq!(auth.attr("mechanism"), Some("PLAIN"));
//! assert_eq!(auth.text(), "AGEAYg==");
//! # Ok::<(), xmpp_xml::XmlError>(())
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod chars;
mod codec;
mod edit;
mod element;
mod error;
mod escape;
mod frame;
mod limits;
mod parsed;
mod raw;
mod scan;
mod writer;

pub use codec::StreamCodec;
pub use element::{Element, ElementBuilder};
pub use error::{Condition, XmlError};
pub use frame::{header_value, Frame, HeaderValue, StreamHeader};
pub use limits::Limits;
pub use raw::{BorrowedElement, BorrowedFrame, RawElement, RawFrame};
pub use scan::Framer;

/// Namespace URIs used by XMPP core.
pub mod ns {
    /// `http://etherx.jabber.org/streams`
    pub const STREAM: &str = "http://etherx.jabber.org/streams";
    /// `jabber:client`
    pub const CLIENT: &str = "jabber:client";
    /// `jabber:server`
    pub const SERVER: &str = "jabber:server";
    /// `urn:ietf:params:xml:ns:xmpp-sasl`
    pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
    /// `urn:ietf:params:xml:ns:xmpp-bind`
    pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
    /// `urn:ietf:params:xml:ns:xmpp-session`
    pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
    /// `urn:ietf:params:xml:ns:xmpp-streams`
    pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
    /// `urn:ietf:params:xml:ns:xmpp-stanzas`
    pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
    /// `urn:ietf:params:xml:ns:xmpp-tls`
    pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
    /// `urn:xmpp:ping`
    pub const PING: &str = "urn:xmpp:ping";
    /// `urn:xmpp:sm:3`: stream management (XEP-0198), whose acks `<r/>` and
    /// `<a/>` are the most frequent top-level elements on many streams.
    pub const SM: &str = "urn:xmpp:sm:3";
    /// The namespace bound to the `xml` prefix (`xml:lang`).
    pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
    /// The namespace of `xmlns` declarations; never bindable.
    pub const XMLNS: &str = "http://www.w3.org/2000/xmlns/";

    pub(crate) const KNOWN: [&str; 13] = [
        CLIENT,
        SERVER,
        STREAM,
        SASL,
        BIND,
        SESSION,
        STREAM_ERRORS,
        STANZAS,
        TLS,
        PING,
        SM,
        XML,
        XMLNS,
    ];

    /// The `'static` copy of a well-known namespace, so parsed elements need
    /// not reference their buffer for it.
    pub(crate) fn well_known(s: &str) -> Option<&'static str> {
        well_known_bytes(s.as_bytes())
    }

    /// Slot of a namespace (at least 4 bytes) in `SLOTS`: its length plus
    /// its fourth byte from the end, which tells the known ones apart (four
    /// of them are 13 bytes long, two share all but their last 5).
    const fn slot(s: &[u8]) -> usize {
        (s.len() + s[s.len() - 4] as usize) & 63
    }

    /// `SLOTS[slot(k)]` is 1 + the index of `k` in `KNOWN`; 0 for no entry.
    /// Built at compile time, which fails if two namespaces share a slot.
    const SLOTS: [u8; 64] = {
        let mut t = [0u8; 64];
        let mut i = 0;
        while i < KNOWN.len() {
            let h = slot(KNOWN[i].as_bytes());
            assert!(t[h] == 0, "two well-known namespaces share a slot");
            t[h] = i as u8 + 1;
            i += 1;
        }
        t
    };

    /// [`well_known`] on bytes: one table probe and one comparison.
    #[inline]
    pub(crate) fn well_known_bytes(s: &[u8]) -> Option<&'static str> {
        known_index(s).map(|i| KNOWN[i])
    }

    /// The well-known namespace at index `i` of `KNOWN`.
    pub(crate) fn known(i: u32) -> &'static str {
        KNOWN.get(i as usize).copied().unwrap_or("")
    }

    /// The index in `KNOWN` of a well-known namespace.
    #[inline]
    pub(crate) fn known_index(s: &[u8]) -> Option<usize> {
        if s.len() < 4 {
            return None;
        }
        let i = usize::from(SLOTS[slot(s)]).checked_sub(1)?;
        (KNOWN.get(i)?.as_bytes() == s).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::ns;

    #[test]
    fn well_known_namespaces_are_found_and_only_they() {
        for k in ns::KNOWN {
            assert_eq!(ns::well_known_bytes(k.as_bytes()), Some(k));
            // Same length and slot bytes, one byte different elsewhere.
            let mut near = k.as_bytes().to_vec();
            near[0] ^= 1;
            assert_eq!(ns::well_known_bytes(&near), None, "{k}");
            assert_eq!(ns::well_known_bytes(&k.as_bytes()[1..]), None, "{k}");
        }
        for other in [
            "",
            "x",
            "urn:xmpp:sm:2",
            "jabber:iq:roster",
            "urn:xmpp:ping ",
        ] {
            assert_eq!(ns::well_known_bytes(other.as_bytes()), None, "{other}");
        }
    }
}
