//! The trees of parsed elements: the flat records the scanner made of a
//! top-level element (one array, shared by the element and its
//! descendants), from which an element's children are built the first
//! time they are looked at.
//!
//! Decoding a top-level element builds its root and, if it has child
//! elements, copies its records into one shared allocation: no element
//! below the root costs anything until it is navigated to. Navigating to
//! an element's children builds them all, at once and once (they are
//! kept, so `&Element`s into them stay valid for as long as their parent).

use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::element::{Attr, AttrList, Element, Node, Nodes, Str, Text};
use crate::ns;
use crate::scan::{Ns, NsRef, Rec};

/// What a tree shares besides its records, when it needs any: most
/// stanzas need none.
#[derive(Debug)]
pub(crate) struct Extra {
    /// The attributes of elements that do not read theirs from their start
    /// tag (`Rec::SHARED`): one needs unescaping or has a namespace other
    /// than `xml`.
    pub(crate) attrs: Box<[Attr]>,
    /// Namespace URIs that had to be unescaped (`Ns::Owned`).
    pub(crate) owned: Vec<Str>,
    /// The stream header's namespace bindings (`Ns::Base`).
    pub(crate) base: Vec<Str>,
}

/// A top-level element's records and what they need besides.
#[derive(Clone)]
pub(crate) struct Doc {
    recs: Arc<[Rec]>,
    extra: Option<Arc<Extra>>,
}

/// The children of a parsed element that has child elements: its records,
/// and the child nodes once they are built.
#[derive(Clone)]
pub(crate) struct Lazy {
    doc: Doc,
    /// Index of the element's own record.
    at: u32,
    built: OnceLock<Box<[Node]>>,
}

impl Lazy {
    /// Number of child nodes (elements and text runs), without building them.
    pub(crate) fn len(&self) -> usize {
        match self.built.get() {
            Some(nodes) => nodes.len(),
            None => Rec::children(&self.doc.recs, self.at as usize),
        }
    }

    /// The child nodes, built on first use from the records; `buf` and
    /// `default_ns` are the parent's, which the children share.
    #[inline]
    pub(crate) fn nodes(&self, buf: &Bytes, default_ns: &Option<Str>) -> &[Node] {
        self.built.get_or_init(|| self.build(buf, default_ns))
    }

    /// The child nodes if they are built, for changing them.
    pub(crate) fn built_mut(&mut self) -> Option<&mut Box<[Node]>> {
        self.built.get_mut()
    }

    fn build(&self, buf: &Bytes, default_ns: &Option<Str>) -> Box<[Node]> {
        let recs = &self.doc.recs[..];
        let extra = self.doc.extra.as_ref();
        let Some(me) = recs.get(self.at as usize) else {
            return Box::new([]);
        };
        let end = (me.end as usize).min(recs.len());
        let mut nodes = Vec::with_capacity(Rec::children(recs, self.at as usize));
        let mut j = self.at as usize + 1;
        while j < end {
            let r = &recs[j];
            if r.is_text() {
                nodes.push(Node::Text(text(r)));
                j += 1;
            } else {
                let e = element(recs, j, buf.clone(), default_ns.clone(), extra, || {
                    self.doc.clone()
                });
                nodes.push(Node::Element(e));
                j = (r.end as usize).max(j + 1);
            }
        }
        nodes.into_boxed_slice()
    }
}

/// The root of a top-level element from its records (`recs[0]` is its
/// own); the records are copied into a shared allocation only if it has
/// child elements.
pub(crate) fn root(
    recs: &[Rec],
    buf: Bytes,
    default_ns: Option<Str>,
    extra: Option<Arc<Extra>>,
) -> Element {
    if recs.first().is_none_or(Rec::is_text) {
        // Not a tree (never happens: a tree starts with its root's start tag).
        return Element {
            buf,
            name: Str::Static(""),
            ns: Str::Static(""),
            default_ns,
            attrs: AttrList::Empty,
            nodes: Nodes::Empty,
        };
    }
    element(recs, 0, buf, default_ns, extra.as_ref(), || Doc {
        recs: Arc::from(recs),
        extra: extra.clone(),
    })
}

/// The element of record `i`; `doc` gives the shared records, for an
/// element with child elements.
#[inline]
fn element(
    recs: &[Rec],
    i: usize,
    buf: Bytes,
    default_ns: Option<Str>,
    extra: Option<&Arc<Extra>>,
    doc: impl FnOnce() -> Doc,
) -> Element {
    let r = recs[i];
    let attrs = if r.attrs.1 <= r.attrs.0 {
        AttrList::Empty
    } else if r.bits & Rec::SHARED != 0 {
        match extra {
            Some(x) => AttrList::Shared(x.clone(), r.attrs.0, r.attrs.1),
            None => AttrList::Empty,
        }
    } else {
        AttrList::Tag(r.attrs.0, r.attrs.1)
    };
    // No children, one text run, or more (whose records are then shared).
    let nodes = match (r.end as usize).saturating_sub(i) {
        0 | 1 => Nodes::Empty,
        2 if recs.get(i + 1).is_some_and(Rec::is_text) => Nodes::Text(text(&recs[i + 1])),
        _ => Nodes::Parsed(Lazy {
            doc: doc(),
            at: i as u32,
            built: OnceLock::new(),
        }),
    };
    Element {
        ns: ns_str(&buf, r.ns, extra.map(|x| &**x)),
        buf,
        name: Str::Span(r.span.0, r.span.1),
        default_ns,
        attrs,
        nodes,
    }
}

fn text(r: &Rec) -> Text {
    if r.bits & Rec::ESCAPED != 0 {
        Text::Escaped(r.span.0, r.span.1)
    } else {
        Text::Str(Str::Span(r.span.0, r.span.1))
    }
}

/// An element's namespace: `'static` when it is a well-known one, so that
/// reading it needs no UTF-8 check.
#[inline]
fn ns_str(buf: &Bytes, r: NsRef, extra: Option<&Extra>) -> Str {
    match r.get() {
        Ns::Span(a, b) if a == b => Str::Static(""),
        Ns::Span(a, b) => {
            match ns::well_known_bytes(buf.get(a as usize..b as usize).unwrap_or(b"")) {
                Some(s) => Str::Static(s),
                None => Str::Span(a, b),
            }
        }
        Ns::Known(i) => Str::Static(ns::known(i)),
        Ns::Xml => Str::Static(ns::XML),
        Ns::Owned(i) => extra
            .and_then(|x| x.owned.get(i as usize))
            .cloned()
            .unwrap_or(Str::Static("")),
        Ns::Base(i) => extra
            .and_then(|x| x.base.get(i as usize))
            .cloned()
            .unwrap_or(Str::Static("")),
    }
}

#[cfg(test)]
mod tests {
    use crate::element::Element;

    /// Elements are moved out of the decoder and held in enums by its
    /// users: the lazy children must not make them much larger (192 bytes
    /// keeps `Option<Element>` under clippy's `large_enum_variant` bound).
    #[test]
    fn element_stays_small() {
        assert!(std::mem::size_of::<Element>() <= 192);
    }
}
