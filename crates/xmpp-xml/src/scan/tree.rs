//! Building a top-level element's [`Element`] tree from the events the
//! scan recorded, without looking at its bytes again.

use std::sync::Arc;

use bytes::Bytes;

use crate::element::{Attr, AttrList, Element, Node, Nodes, Qual, Str, Text};
use crate::escape::unescape;
use crate::ns;

use super::events::{AttrEv, Ev, Ns, NsRef};
use super::state::Framer;

/// No namespace built yet (no `NsRef` packs to all ones).
const NO_NS: (u64, Str) = (u64::MAX, Str::Static(""));

impl Framer {
    /// One attribute of the stanza, for the element model.
    #[inline(always)]
    fn make_attr(&self, buf: &Bytes, a: &AttrEv) -> Attr {
        // The common attribute on its own path, built with whole stores
        // (the general one below staged its parts on the stack and read
        // them back wider: a store-forwarding stall per attribute).
        if a.ns.is_none() && !a.esc {
            return Attr {
                name: Str::Span(a.name.0, a.name.1),
                value: Str::Span(a.value.0, a.value.1),
                qual: Qual::None,
            };
        }
        // The xml namespace goes only with the xml prefix (checked when
        // declarations are resolved).
        let qual = match (a.ns, a.prefix) {
            (Some(n), Some((x, y))) => {
                if matches!(n.get(), Ns::Xml) || self.scope.ns_bytes(buf, n) == ns::XML.as_bytes() {
                    Qual::Xml
                } else {
                    Qual::Other(Box::new((self.scope.ns_str_in(buf, n), Str::Span(x, y))))
                }
            }
            _ => Qual::None,
        };
        Attr {
            qual,
            name: Str::Span(a.name.0, a.name.1),
            value: if a.esc {
                Str::Shared(Arc::from(unescape(
                    &buf[a.value.0 as usize..a.value.1 as usize],
                    true,
                )))
            } else {
                Str::Span(a.value.0, a.value.1)
            },
        }
    }

    /// The start-tag bytes that hold the attributes `range` of `attr_evs`
    /// (non-empty): from the first one's name to the last one's closing
    /// quote. Declarations among them are skipped when they are read.
    #[inline(always)]
    fn tag_attrs(&self, range: (u32, u32)) -> AttrList {
        let (Some(first), Some(last)) = (
            self.rec.attr_evs.get(range.0 as usize),
            self.rec.attr_evs.get(range.1 as usize - 1),
        ) else {
            return AttrList::Empty;
        };
        let start = first.prefix.map_or(first.name.0, |p| p.0);
        AttrList::Tag(start, last.value.1 + 1)
    }

    /// `last_ns`: the namespace of the previous element built from this
    /// stanza, which most elements share with it.
    #[inline(always)]
    fn new_element(
        &self,
        buf: &Bytes,
        share: bool,
        ev: &Ev,
        all: Option<&Arc<[Attr]>>,
        from_tag: bool,
        last_ns: &mut (u64, Str),
    ) -> Element {
        let (name, ns, attrs) = match *ev {
            Ev::Start {
                name, ns, attrs, ..
            } => (name, ns, attrs),
            _ => ((0, 0), NsRef::span(0, 0), (0, 0)),
        };
        if last_ns.0 != ns.0 {
            *last_ns = (ns.0, self.scope.ns_str_in(buf, ns));
        }
        Element {
            buf: if share { buf.clone() } else { Bytes::new() },
            name: Str::Span(name.0, name.1),
            ns: last_ns.1.clone(),
            default_ns: self.scope.default_ns.clone(),
            attrs: match all {
                _ if attrs.1 <= attrs.0 => AttrList::Empty,
                _ if from_tag => self.tag_attrs(attrs),
                Some(all) => AttrList::Shared(all.clone(), attrs.0, attrs.1),
                None => AttrList::Empty,
            },
            nodes: Nodes::Empty,
        }
    }

    /// The fallback when the events hold no start tag: an element that
    /// owns `buf` and nothing else.
    fn build_root(&self, buf: Bytes) -> Element {
        let mut ns = NO_NS;
        match self.rec.events.first() {
            Some(ev) => self.new_element(&buf, true, ev, None, false, &mut ns),
            None => self.new_element(&buf, true, &Ev::End, None, false, &mut ns),
        }
    }

    /// The element whose bytes are `buf` (just split off), built from the
    /// events recorded while scanning it.
    pub(super) fn build_tree(&mut self, buf: Bytes) -> Element {
        // Each element is moved once, into its parent's children (allocated
        // at their final size), and found again through `path` (child
        // indices from the root; stanzas are shallow) rather than kept on a
        // stack and moved again at its end tag.
        let mut path = std::mem::take(&mut self.scratch.path);
        path.clear();
        // Final node count of each open element, root first.
        let mut hints = std::mem::take(&mut self.scratch.hints);
        hints.clear();
        let mut root: Option<Element> = None;
        let mut last_ns = NO_NS;
        // Attributes live in one array shared by the stanza's elements,
        // unless only the root has any (small stanzas): then it owns them
        // and no reference count is touched.
        let root_only = match self.rec.events.first() {
            Some(Ev::Start { attrs, .. }) => attrs.1 as usize == self.rec.attr_evs.len(),
            _ => true,
        };
        // When no attribute of the stanza needs unescaping or has a namespace
        // other than `xml`, every element reads its attributes from its start
        // tag and nothing is built for them here.
        let from_tags = self.rec.attr_evs.iter().all(|a| {
            !a.esc
                && a.ns.is_none_or(|n| {
                    matches!(n.get(), Ns::Xml) || self.scope.ns_bytes(&buf, n) == ns::XML.as_bytes()
                })
        });
        let all: Option<Arc<[Attr]>> = if from_tags || root_only || self.rec.attr_evs.is_empty() {
            None
        } else {
            Some(
                self.rec
                    .attr_evs
                    .iter()
                    .map(|a| self.make_attr(&buf, a))
                    .collect(),
            )
        };
        for ev in &self.rec.events {
            match ev {
                Ev::Start { nodes, .. } => {
                    let hint = hints.last().copied().unwrap_or(0) as usize;
                    hints.push(*nodes);
                    match root.as_mut() {
                        None => {
                            // Built where it stays. It gets `buf` itself at
                            // the end: a clone now and a drop then would be
                            // two atomic reference-count updates for nothing.
                            let r = root.insert(self.new_element(
                                &buf,
                                false,
                                ev,
                                all.as_ref(),
                                from_tags,
                                &mut last_ns,
                            ));
                            if root_only && !from_tags && !self.rec.attr_evs.is_empty() {
                                r.attrs = AttrList::Own(
                                    self.rec
                                        .attr_evs
                                        .iter()
                                        .map(|a| self.make_attr(&buf, a))
                                        .collect(),
                                );
                            }
                        }
                        Some(r) => {
                            if let Some(parent) = descend(r, &path) {
                                path.push(parent.nodes.len() as u32);
                                let e = self.new_element(
                                    &buf,
                                    true,
                                    ev,
                                    all.as_ref(),
                                    from_tags,
                                    &mut last_ns,
                                );
                                parent.nodes.push(Node::Element(e), hint);
                            }
                        }
                    }
                }
                Ev::Text { span, esc } => {
                    if let Some(top) = root.as_mut().and_then(|r| descend(r, &path)) {
                        let t = if *esc {
                            Text::Escaped(span.0, span.1)
                        } else {
                            Text::Str(Str::Span(span.0, span.1))
                        };
                        let hint = hints.last().copied().unwrap_or(0) as usize;
                        top.nodes.push(Node::Text(t), hint);
                    }
                }
                Ev::End => {
                    path.pop();
                    hints.pop();
                }
            }
        }
        self.scratch.path = path;
        self.scratch.hints = hints;
        match root {
            Some(mut r) => {
                // The placeholder is `Bytes::new()`, which owns nothing:
                // forgetting it skips a call through its vtable to a no-op drop.
                std::mem::forget(std::mem::replace(&mut r.buf, buf));
                r
            }
            None => self.build_root(buf),
        }
    }
}

/// The element at `path` (child indices) below `e`.
fn descend<'a>(mut e: &'a mut Element, path: &[u32]) -> Option<&'a mut Element> {
    for &i in path {
        e = e.nodes.element_mut(i as usize)?;
    }
    Some(e)
}
