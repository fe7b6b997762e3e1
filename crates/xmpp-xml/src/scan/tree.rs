//! Building a top-level element's [`Element`] from the records the scan
//! made, without looking at its bytes again.

use std::sync::Arc;

use bytes::Bytes;

use crate::element::{Attr, Element, Qual, Str};
use crate::escape::unescape;
use crate::ns;
use crate::parsed::{self, Extra};

use super::events::{AttrEv, Ns};
use super::state::Framer;

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

    /// The element whose bytes are `buf` (just split off), from the
    /// records made while scanning it: its root now, the rest when it is
    /// navigated to (`crate::parsed`).
    pub(super) fn build_tree(&mut self, buf: Bytes) -> Element {
        // A tree needs the framer's strings if one of its elements is in a
        // namespace that had to be unescaped or comes from the header.
        let strings = !self.scope.owned.is_empty() || self.scope.base_strings;
        let extra = if self.rec.shared_attrs || strings {
            Some(Arc::new(Extra {
                attrs: self
                    .rec
                    .attr_evs
                    .iter()
                    .map(|a| self.make_attr(&buf, a))
                    .collect(),
                owned: self.scope.owned.clone(),
                base: self.scope.base.iter().map(|b| b.uri.clone()).collect(),
            }))
        } else {
            None
        };
        parsed::root(&self.rec.recs, buf, self.scope.default_ns.clone(), extra)
    }
}
