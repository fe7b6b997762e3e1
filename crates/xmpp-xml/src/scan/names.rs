//! Names and namespaces: the start tag being read (its name and
//! attributes so far) and the namespace bindings in scope, with the
//! lookups that resolve a prefix or a recorded namespace.

use bytes::Bytes;

use crate::chars::same;
use crate::element::Str;
use crate::escape::unescape;
use crate::ns;

use super::events::{Ns, NsRef};

/// The empty buffer that owned strings are read against.
pub(super) static EMPTY: Bytes = Bytes::new();

/// An attribute of the start tag being read, as read: its qualified name
/// and value, prefixes not yet resolved.
/// Aligned to 8 so that it is 32 bytes: a push computes its address with a
/// shift, not three adds for a stride of 28.
#[derive(Clone, Copy, Debug)]
#[repr(align(8))]
pub(super) struct RawAttr {
    pub(super) name: (u32, u32),
    pub(super) colon: Option<u32>,
    pub(super) value: (u32, u32),
    /// The value needs unescaping or normalising.
    pub(super) esc: bool,
}

/// The start tag being read: its name and attributes so far.
#[derive(Debug, Default)]
pub(super) struct StartTag {
    /// Qualified name, and the offset of its colon.
    pub(super) name: (u32, u32),
    pub(super) colon: Option<u32>,
    pub(super) attrs: Vec<RawAttr>,
    /// Whitespace since the last attribute (required before the next).
    pub(super) had_ws: bool,
    /// The tag has a prefixed attribute (declarations of prefixes
    /// included) or more than one `xmlns`, so it needs the full
    /// `Framer::resolve_tag`.
    pub(super) special: bool,
    /// Index in `attrs` of the tag's `xmlns` attribute, if any.
    pub(super) decl: Option<u32>,
    /// Bits of the tag's attribute names (see [`StartTag::note_attr`]),
    /// and whether two of them collided.
    pub(super) seen: u64,
    pub(super) maybe_dup: bool,
    /// The attribute being read: its name, quote and whether its value so
    /// far needs unescaping or normalising.
    pub(super) attr_name: (u32, u32),
    pub(super) attr_colon: Option<u32>,
    pub(super) quote: u8,
    pub(super) val_esc: bool,
    /// Some attribute value so far needs unescaping or normalising.
    pub(super) any_esc: bool,
}

impl StartTag {
    /// The tag's name is read: record it and start its attributes afresh.
    #[inline(always)]
    pub(super) fn named(&mut self, name: (u32, u32), colon: Option<u32>) {
        self.name = name;
        self.colon = colon;
        self.attrs.clear();
        self.seen = 0;
        self.maybe_dup = false;
        self.special = false;
        self.decl = None;
        self.any_esc = false;
    }

    /// The part of the tag that holds its attributes (some read): from
    /// the first one's name to the last one's closing quote.
    #[inline(always)]
    pub(super) fn attrs_span(&self) -> (u32, u32) {
        match (self.attrs.first(), self.attrs.last()) {
            (Some(f), Some(l)) => (f.name.0, l.value.1 + 1),
            _ => (0, 0),
        }
    }

    /// Classify an attribute about to be pushed onto `attrs`: the common
    /// tag has unprefixed attributes, `xml:` ones (that prefix is bound to
    /// one namespace for good) and at most one `xmlns`.
    #[inline(always)]
    pub(super) fn note_attr(&mut self, d: &[u8], name: (u32, u32), colon: Option<u32>) {
        let q = &d[name.0 as usize..name.1 as usize];
        // A 64-bit filter of the names seen in this tag: the pairwise
        // duplicate search runs only when two names share a bit.
        let h = q.len() as u32 * 7 + u32::from(q[0]) + u32::from(q[q.len() - 1]) * 3;
        let bit = 1u64 << (h & 63);
        self.maybe_dup |= self.seen & bit != 0;
        self.seen |= bit;
        match colon {
            Some(c) if c - name.0 != 3 || &q[..3] != b"xml" => self.special = true,
            Some(_) => {}
            None if q == b"xmlns" => {
                if self.decl.is_some() {
                    self.special = true;
                } else {
                    self.decl = Some(self.attrs.len() as u32);
                }
            }
            None => {}
        }
    }
}

/// A namespace declaration of an open element.
#[derive(Clone, Copy, Debug)]
pub(super) struct Binding {
    /// Prefix span (empty span = default namespace).
    pub(super) prefix: (u32, u32),
    pub(super) uri: NsRef,
}

/// A namespace declaration of the stream header, kept past its bytes.
#[derive(Clone, Debug)]
pub(super) struct BaseBinding {
    /// Borrowed for the usual prefixes (``, `stream`): no allocation.
    pub(super) prefix: std::borrow::Cow<'static, [u8]>,
    pub(super) uri: Str,
    /// What a lookup of the prefix resolves to: [`NsRef::known`] for a
    /// well-known URI, which needs no string of the header's, else
    /// [`NsRef::base`].
    pub(super) resolved: NsRef,
}

/// The namespace bindings in scope, and the strings they own.
#[derive(Debug, Default)]
pub(super) struct Namespaces {
    /// Declarations of the open elements, innermost last.
    pub(super) bindings: Vec<Binding>,
    /// The stream header's declarations, the scope of every top-level element.
    pub(super) base: Vec<BaseBinding>,
    /// The stream header's default namespace, given to every element built.
    pub(super) default_ns: Option<Str>,
    /// The namespace of an unprefixed top-level element without
    /// declarations: the stream header's default (known once it is parsed).
    pub(super) top_dflt: Option<NsRef>,
    /// Namespace URIs that had to be unescaped ([`NsRef::owned`] indexes it).
    pub(super) owned: Vec<Str>,
    /// Some binding of the stream header is to a namespace that is not
    /// well-known, so lookups can resolve to [`NsRef::base`].
    pub(super) base_strings: bool,
}

impl Namespaces {
    /// The namespace `prefix` is bound to, innermost declaration first.
    pub(super) fn lookup(&self, d: &[u8], prefix: &[u8]) -> Option<NsRef> {
        for b in self.bindings.iter().rev() {
            if (b.prefix.1 - b.prefix.0) as usize == prefix.len()
                && same(&d[b.prefix.0 as usize..b.prefix.1 as usize], prefix)
            {
                return Some(b.uri);
            }
        }
        for b in self.base.iter().rev() {
            if same(&b.prefix, prefix) {
                return Some(b.resolved);
            }
        }
        if prefix == b"xml" {
            return Some(NsRef::XML);
        }
        None
    }

    /// The URI `r` names, for an element whose bytes are `d`.
    pub(super) fn ns_bytes<'a>(&'a self, d: &'a [u8], r: NsRef) -> &'a [u8] {
        match r.get() {
            Ns::Span(a, b) => &d[a as usize..b as usize],
            Ns::Owned(i) => match self.owned.get(i as usize) {
                Some(s) => s.get(&EMPTY).as_bytes(),
                None => b"",
            },
            Ns::Base(i) => match self.base.get(i as usize) {
                Some(b) => b.uri.get(&EMPTY).as_bytes(),
                None => b"",
            },
            Ns::Xml => ns::XML.as_bytes(),
            Ns::Known(i) => ns::known(i).as_bytes(),
        }
    }

    /// The namespace a declaration's value names: its span, or its
    /// unescaped copy when it holds references or whitespace to normalise.
    pub(super) fn value_ref(&mut self, d: &[u8], esc: bool, value: (u32, u32)) -> NsRef {
        if esc {
            let s = unescape(&d[value.0 as usize..value.1 as usize], true);
            let idx = self.owned.len() as u32;
            self.owned.push(Str::owned(&s));
            NsRef::owned(idx)
        } else {
            NsRef::span(value.0, value.1)
        }
    }

    /// The namespace `r` names, for the element model.
    pub(super) fn ns_str(&self, r: NsRef) -> Str {
        match r.get() {
            Ns::Span(a, b) if a == b => Str::Static(""),
            Ns::Span(a, b) => Str::Span(a, b),
            Ns::Owned(i) => self
                .owned
                .get(i as usize)
                .cloned()
                .unwrap_or(Str::Static("")),
            Ns::Base(i) => self
                .base
                .get(i as usize)
                .map(|b| b.uri.clone())
                .unwrap_or(Str::Static("")),
            Ns::Xml => Str::Static(ns::XML),
            Ns::Known(i) => Str::Static(ns::known(i)),
        }
    }

    /// The namespace `r` names, for an element whose bytes are `b`.
    pub(super) fn ns_in<'a>(&'a self, b: &'a [u8], r: NsRef) -> &'a str {
        match r.get() {
            Ns::Span(x, y) => {
                let s = b.get(x as usize..y as usize).unwrap_or(b"");
                ns::well_known_bytes(s).unwrap_or_else(|| std::str::from_utf8(s).unwrap_or(""))
            }
            Ns::Owned(i) => self.owned.get(i as usize).map_or("", |s| s.get(&EMPTY)),
            Ns::Base(i) => self.base.get(i as usize).map_or("", |b| b.uri.get(&EMPTY)),
            Ns::Xml => ns::XML,
            Ns::Known(i) => ns::known(i),
        }
    }

    /// [`Namespaces::ns_str`], with the well-known namespaces as `'static`
    /// strings so the element needs no span of `buf` for them.
    pub(super) fn ns_str_in(&self, buf: &Bytes, r: NsRef) -> Str {
        match r.get() {
            Ns::Span(a, b) => match ns::well_known_bytes(&buf[a as usize..b as usize]) {
                Some(s) => Str::Static(s),
                None => self.ns_str(r),
            },
            _ => self.ns_str(r),
        }
    }
}

/// A qualified name's prefix (empty if none) and local part.
pub(super) fn split(d: &[u8], name: (u32, u32), colon: Option<u32>) -> (&[u8], &[u8]) {
    match colon {
        Some(c) => (
            &d[name.0 as usize..c as usize],
            &d[c as usize + 1..name.1 as usize],
        ),
        None => (&[], &d[name.0 as usize..name.1 as usize]),
    }
}
