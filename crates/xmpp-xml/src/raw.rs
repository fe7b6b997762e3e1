//! Top-level elements as validated bytes plus what their root's start tag
//! says (name, namespace, attributes): what [`Framer::decode_raw`] hands
//! out, owning its bytes, and [`Framer::decode_borrowed`], borrowing them.
//!
//! [`Framer::decode_raw`]: crate::Framer::decode_raw
//! [`Framer::decode_borrowed`]: crate::Framer::decode_borrowed

use std::borrow::Cow;

use bytes::Bytes;

use crate::chars::{is_name_char, is_ws, same};
use crate::element::Str;
use crate::escape::unescape;
use crate::frame::StreamHeader;

/// How many root attributes a frame keeps spans for (a chat message has
/// `to`, `from`, `type`, `id`, `xml:lang`); with more, lookups re-read the tag.
pub(crate) const INLINE_ATTRS: usize = 5;

/// An attribute's spans in 16 bits: frames are moved a few times on their
/// way out, and these are most of their size.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RootAttr {
    /// Qualified name (`id`, `xml:lang`).
    pub(crate) qname: (u16, u16),
    pub(crate) value: (u16, u16),
}

/// The root's start tag, as spans into the element's bytes; the scanner
/// fills it in as it parses the tag.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RootTag {
    /// Local name.
    pub(crate) name: (u32, u32),
    /// Where the attributes start (after the name) and end (the `>` or `/>`).
    pub(crate) attrs: (u32, u32),
    /// The first attributes `attr` can return (unprefixed ones and
    /// `xml:lang`), so a lookup is a few comparisons, not a re-read.
    pub(crate) inline: [RootAttr; INLINE_ATTRS],
    /// How many of `inline` are used; `u32::MAX`: more than fit (or the
    /// tag reaches past offset 65535), re-read the tag.
    ///
    /// This and the next are `u32`s so the struct is 64 bytes: frames are
    /// copied in 16-byte moves, and at 60 bytes the last move overlapped
    /// the one before it; reading that back stalled on store forwarding
    /// (9% of the time of `decode_raw` on small stanzas).
    pub(crate) n_inline: u32,
    /// Bit `i`: the value of `inline[i]` needs unescaping or normalising.
    pub(crate) inline_esc: u32,
}

impl RootTag {
    fn name<'a>(&self, b: &'a [u8]) -> &'a str {
        let n = span(b, self.name);
        // The usual stanza names need no UTF-8 check.
        let known = match n.len() {
            1 if n[0] == b'a' => "a",
            1 if n[0] == b'r' => "r",
            2 if n == b"iq" => "iq",
            7 if n == b"message" => "message",
            8 if n == b"presence" => "presence",
            _ => return utf8(n),
        };
        known
    }

    #[inline(always)]
    fn attr<'a>(&self, b: &'a [u8], name: &str) -> Option<Cow<'a, str>> {
        let want = name.as_bytes();
        if let Some(inline) = self.inline.get(..self.n_inline as usize) {
            let i = inline.iter().position(|a| same(span16(b, a.qname), want))?;
            let raw = inline.get(i).map_or(&[][..], |a| span16(b, a.value));
            return Some(if self.inline_esc & (1 << i) != 0 {
                Cow::Owned(unescape(raw, true))
            } else {
                Cow::Borrowed(utf8(raw))
            });
        }
        raw_attrs(b, self.attrs)
            .find(|(q, _)| *q == want)
            .map(|(_, v)| attr_value(v))
    }
}

/// Unprefixed attributes and `xml:lang` (the `xml` prefix is never bound
/// to anything else) of a validated start tag, as (qualified name, raw value).
fn raw_attrs(b: &[u8], attrs: (u32, u32)) -> impl Iterator<Item = (&[u8], &[u8])> {
    RawAttrs {
        tag: span(b, attrs),
    }
    .filter(|(q, _)| *q != b"xmlns" && (!q.contains(&b':') || *q == b"xml:lang"))
}

fn attrs(b: &[u8], attrs: (u32, u32)) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
    raw_attrs(b, attrs).map(|(q, v)| (utf8(q), attr_value(v)))
}

fn span(b: &[u8], (x, y): (u32, u32)) -> &[u8] {
    b.get(x as usize..y as usize).unwrap_or(b"")
}

fn span16(b: &[u8], (x, y): (u16, u16)) -> &[u8] {
    b.get(x as usize..y as usize).unwrap_or(b"")
}

/// Bytes the scanner validated as UTF-8; the fallback is never taken.
fn utf8(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

fn attr_value(raw: &[u8]) -> Cow<'_, str> {
    if raw.iter().any(|&b| b == b'&' || b < 0x20) {
        Cow::Owned(unescape(raw, true))
    } else {
        Cow::Borrowed(utf8(raw))
    }
}

/// Attributes of a start tag the scanner has validated.
struct RawAttrs<'a> {
    tag: &'a [u8],
}

impl<'a> Iterator for RawAttrs<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let t = self.tag;
        let mut i = 0;
        while i < t.len() && is_ws(t[i]) {
            i += 1;
        }
        let start = i;
        while i < t.len() && is_name_char(t[i]) {
            i += 1;
        }
        // Plain loops: these pieces are a few bytes long, too short for memchr.
        let name = &t[start..i];
        while i < t.len() && t[i] != b'=' {
            i += 1;
        }
        i += 1;
        while i < t.len() && is_ws(t[i]) {
            i += 1;
        }
        let quote = *t.get(i)?;
        let vs = i + 1;
        let mut ve = vs;
        while ve < t.len() && t[ve] != quote {
            ve += 1;
        }
        self.tag = t.get(ve + 1..)?;
        if name.is_empty() {
            return None;
        }
        Some((name, &t[vs..ve]))
    }
}

/// A top-level element as validated bytes plus its root's name, namespace
/// and attributes; children are not materialised.
///
/// It shares the decoder's buffer (a [`Bytes`]); nothing is allocated for
/// it. Root attribute values that need unescaping come back owned.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct RawElement {
    pub(crate) tag: RootTag,
    pub(crate) buf: Bytes,
    pub(crate) ns: Str,
}

impl RawElement {
    /// The element's bytes, from `<` to the final `>`.
    pub fn bytes(&self) -> &Bytes {
        &self.buf
    }
    /// Local name of the root.
    pub fn name(&self) -> &str {
        self.tag.name(&self.buf)
    }
    /// Namespace URI of the root.
    pub fn ns(&self) -> &str {
        self.ns.get(&self.buf)
    }
    /// Root attribute lookup, as [`Element::attr`](crate::Element::attr).
    pub fn attr(&self, name: &str) -> Option<Cow<'_, str>> {
        self.tag.attr(&self.buf, name)
    }
    /// Root attributes, as [`Element::attrs`](crate::Element::attrs).
    pub fn attrs(&self) -> impl Iterator<Item = (&str, Cow<'_, str>)> {
        attrs(&self.buf, self.tag.attrs)
    }
}

/// What [`Framer::decode_raw`](crate::Framer::decode_raw) produces.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub enum RawFrame {
    /// The stream header (boxed: it is rare and large, and every frame
    /// moved out of the decoder would otherwise be its size).
    Header(Box<StreamHeader>),
    /// A complete, validated top-level element.
    Element(RawElement),
    /// `</stream:stream>`.
    Close,
}

/// A top-level element borrowed from the caller's buffer: [`RawElement`]
/// without the [`Bytes`] handle, so handing it out touches no reference
/// count. Its bytes stay at the front of the buffer until the next call
/// of a `decode` method of the same [`Framer`](crate::Framer).
#[derive(Clone, Copy, Debug)]
pub struct BorrowedElement<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) ns: &'a str,
    /// The decoder's own record: a frame of 40 bytes, not 96, to move.
    pub(crate) tag: &'a RootTag,
}

impl<'a> BorrowedElement<'a> {
    /// The element's bytes, from `<` to the final `>`.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
    /// Local name of the root.
    pub fn name(&self) -> &'a str {
        self.tag.name(self.bytes)
    }
    /// Namespace URI of the root.
    pub fn ns(&self) -> &'a str {
        self.ns
    }
    /// Root attribute lookup, as [`Element::attr`](crate::Element::attr).
    pub fn attr(&self, name: &str) -> Option<Cow<'a, str>> {
        self.tag.attr(self.bytes, name)
    }
    /// Root attributes, as [`Element::attrs`](crate::Element::attrs).
    pub fn attrs(&self) -> impl Iterator<Item = (&'a str, Cow<'a, str>)> {
        attrs(self.bytes, self.tag.attrs)
    }
}

/// What [`Framer::decode_borrowed`](crate::Framer::decode_borrowed) produces.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub enum BorrowedFrame<'a> {
    /// The stream header (already removed from the buffer).
    Header(Box<StreamHeader>),
    /// A complete, validated top-level element, still in the buffer.
    Element(BorrowedElement<'a>),
    /// `</stream:stream>` (already removed from the buffer).
    Close,
}
