//! What the scanner records of a top-level element, as spans into its
//! bytes: packed namespace references, the node records its tree is built from,
//! and the stack of open elements.

/// A resolved namespace, as [`NsRef::get`] shows it: a span of the
/// element's bytes, or an owned string (unescaped value or inherited from
/// the stream header).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ns {
    Span(u32, u32),
    /// An unescaped URI (`Namespaces::owned`).
    Owned(u32),
    /// A binding of the stream header (`Namespaces::base`).
    Base(u32),
    /// The `xml` prefix's namespace.
    Xml,
    /// A well-known namespace (`ns::KNOWN`), bound in the stream header.
    Known(u32),
}

/// An [`Ns`] packed in one 64-bit word (`a | b << 32`): a span has
/// `a <= b`; the other kinds have a sentinel `a` above every offset (see
/// [`MAX_STANZA`]) and their index in `b`. Kept whole because the scanner
/// stores and reloads it on every start tag, and a 12-byte enum written in
/// pieces and read back in words stalled on store forwarding.
/// The default (0) is the empty span: no namespace.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct NsRef(pub(crate) u64);

const OWNED: u32 = u32::MAX;
const BASE: u32 = u32::MAX - 1;
const XML: u32 = u32::MAX - 2;
const KNOWN: u32 = u32::MAX - 3;

impl NsRef {
    pub(super) const XML: NsRef = NsRef::pack(XML, 0);
    #[inline(always)]
    const fn pack(a: u32, b: u32) -> NsRef {
        NsRef(a as u64 | (b as u64) << 32)
    }
    #[inline(always)]
    pub(super) fn span(a: u32, b: u32) -> NsRef {
        NsRef::pack(a, b)
    }
    #[inline(always)]
    pub(super) fn owned(i: u32) -> NsRef {
        NsRef::pack(OWNED, i)
    }
    #[inline(always)]
    pub(super) fn base(i: u32) -> NsRef {
        NsRef::pack(BASE, i)
    }
    #[inline(always)]
    pub(super) fn known(i: u32) -> NsRef {
        NsRef::pack(KNOWN, i)
    }
    #[inline(always)]
    pub(crate) fn get(self) -> Ns {
        let (a, b) = (self.0 as u32, (self.0 >> 32) as u32);
        match a {
            _ if a <= b => Ns::Span(a, b),
            OWNED => Ns::Owned(b),
            BASE => Ns::Base(b),
            KNOWN => Ns::Known(b),
            _ => Ns::Xml,
        }
    }
}

/// Offsets into a top-level element are `u32`s below the [`NsRef`]
/// sentinels, so a larger `max_stanza_bytes` acts as this.
pub(super) const MAX_STANZA: usize = (u32::MAX - 8) as usize;

/// An element whose start tag has been read and whose end tag has not.
#[derive(Clone, Copy, Debug)]
pub(super) struct Open {
    /// Qualified name, which its end tag must repeat.
    pub(super) name: (u32, u32),
    /// How many namespace bindings were in scope before its start tag.
    pub(super) mark: u32,
    /// Index of its record (whose end is written at the end tag).
    pub(super) ev: u32,
    /// The default namespace in scope inside it, when known without a
    /// lookup (it is unprefixed, so its own namespace is that default):
    /// unprefixed children without declarations take it as is.
    pub(super) dflt: Option<NsRef>,
}

/// One node of a top-level element, in document order (an element
/// before its descendants): what its [`Element`](crate::Element) and,
/// lazily, its descendants are built from (`crate::parsed`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec {
    /// An element's local name; a text run's bytes.
    pub(crate) span: (u32, u32),
    /// An element's namespace.
    pub(crate) ns: NsRef,
    /// An element's attributes: the part of its start tag that holds them
    /// (`AttrList::Tag`), or with [`Rec::SHARED`] a range of the stanza's
    /// attribute records; empty for none.
    pub(crate) attrs: (u32, u32),
    /// An element's end: the index of the record after its last
    /// descendant. 0 for a text run.
    pub(crate) end: u32,
    /// An element's [`Rec::SHARED`]; a text run's [`Rec::ESCAPED`].
    pub(crate) bits: u32,
}

impl Rec {
    /// The element's attributes are a range of the stanza's records.
    pub(crate) const SHARED: u32 = 1 << 31;
    /// The text run holds references, CDATA or line ends to normalise.
    pub(crate) const ESCAPED: u32 = 1;

    #[inline(always)]
    pub(crate) fn element(
        at: u32,
        name: (u32, u32),
        ns: NsRef,
        attrs: (u32, u32),
        shared: bool,
    ) -> Rec {
        Rec {
            span: name,
            ns,
            attrs,
            end: at + 1,
            bits: if shared { Rec::SHARED } else { 0 },
        }
    }

    #[inline(always)]
    pub(crate) fn text(span: (u32, u32), esc: bool) -> Rec {
        Rec {
            span,
            ns: NsRef(0),
            attrs: (0, 0),
            end: 0,
            bits: u32::from(esc),
        }
    }

    #[inline(always)]
    pub(crate) fn is_text(&self) -> bool {
        self.end == 0
    }

    /// An element's child nodes (elements and text runs): counted, not
    /// stored, as only building them and a few rare calls need it.
    pub(crate) fn children(recs: &[Rec], at: usize) -> usize {
        let Some(me) = recs.get(at) else { return 0 };
        let end = (me.end as usize).min(recs.len());
        let (mut j, mut count) = (at + 1, 0);
        while j < end {
            j = match recs[j].end as usize {
                0 => j + 1,
                e => e.max(j + 1),
            };
            count += 1;
        }
        count
    }
}

/// A resolved attribute (namespace declarations are not recorded).
#[derive(Clone, Copy, Debug)]
pub(super) struct AttrEv {
    pub(super) prefix: Option<(u32, u32)>,
    /// Local name.
    pub(super) name: (u32, u32),
    pub(super) ns: Option<NsRef>,
    pub(super) value: (u32, u32),
    /// The value needs unescaping or normalising.
    pub(super) esc: bool,
}
