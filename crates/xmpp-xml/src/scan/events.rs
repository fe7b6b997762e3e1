//! What the scanner records of a top-level element, as spans into its
//! bytes: packed namespace references, the events its tree is built from,
//! and the stack of open elements.

/// A resolved namespace, as [`NsRef::get`] shows it: a span of the
/// element's bytes, or an owned string (unescaped value or inherited from
/// the stream header).
#[derive(Clone, Copy, Debug)]
pub(super) enum Ns {
    Span(u32, u32),
    /// An unescaped URI (`Namespaces::owned`).
    Owned(u32),
    /// A binding of the stream header (`Namespaces::base`).
    Base(u32),
    /// The `xml` prefix's namespace.
    Xml,
}

/// An [`Ns`] packed in one 64-bit word (`a | b << 32`): a span has
/// `a <= b`; the other kinds have a sentinel `a` above every offset (see
/// [`MAX_STANZA`]) and their index in `b`. Kept whole because the scanner
/// stores and reloads it on every start tag, and a 12-byte enum written in
/// pieces and read back in words stalled on store forwarding.
/// The default (0) is the empty span: no namespace.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct NsRef(pub(super) u64);

const OWNED: u32 = u32::MAX;
const BASE: u32 = u32::MAX - 1;
const XML: u32 = u32::MAX - 2;

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
    pub(super) fn get(self) -> Ns {
        let (a, b) = (self.0 as u32, (self.0 >> 32) as u32);
        match a {
            _ if a <= b => Ns::Span(a, b),
            OWNED => Ns::Owned(b),
            BASE => Ns::Base(b),
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
    /// Index of its `Ev::Start`, and how many child nodes it has so far
    /// (written into that event at the end tag).
    pub(super) ev: u32,
    pub(super) nodes: u32,
    /// The default namespace in scope inside it, when known without a
    /// lookup (it is unprefixed, so its own namespace is that default):
    /// unprefixed children without declarations take it as is.
    pub(super) dflt: Option<NsRef>,
}

/// One step of a top-level element, in document order.
#[derive(Clone, Copy, Debug)]
pub(super) enum Ev {
    Start {
        /// Local name.
        name: (u32, u32),
        ns: NsRef,
        /// Its attributes: a range of the `AttrEv`s.
        attrs: (u32, u32),
        /// Child nodes (elements and text runs), so the tree allocates
        /// each children vector once at its final size.
        nodes: u32,
    },
    End,
    Text {
        span: (u32, u32),
        /// Holds references, CDATA or line ends to normalise.
        esc: bool,
    },
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
