//! Namespace resolution of a start tag: its declarations bound, its name
//! and attributes resolved against the bindings in scope, with the checks
//! Namespaces in XML asks for (duplicates included).

use crate::chars::same;
use crate::error::XmlError;
use crate::ns;

use super::events::{AttrEv, NsRef};
use super::names::{split, Binding};
use super::state::Framer;

impl Framer {
    /// [`Framer::resolve_tag`] for the common tag (see
    /// `StartTag::note_attr`): at most the default namespace is bound,
    /// and attributes are in no namespace or the `xml` one, where equal
    /// qualified names are exactly the duplicates. Same checks, in the same
    /// order. If `record` (a tree is built), also the element's attributes:
    /// the part of the tag that holds them, or when one needs unescaping,
    /// their records (`true`).
    ///
    /// A method of the whole framer, not of `Namespaces` with the start
    /// tag and the open elements passed in: that form cost 0.5-0.9% more
    /// instructions on the framing benchmarks.
    #[inline(always)]
    pub(super) fn resolve_plain(
        &mut self,
        d: &[u8],
        record: bool,
    ) -> Result<(NsRef, TreeAttrs), XmlError> {
        let decl = match self.tag.decl.and_then(|i| self.tag.attrs.get(i as usize)) {
            Some(a) => {
                // No other attribute can be named `xmlns`, so no duplicate;
                // the empty prefix is not `xml`, so only the URI is checked.
                // Fields are read one by one: copying the whole attribute,
                // just pushed in pieces, stalled on store forwarding.
                let (at, value, esc) = (a.name.0, a.value, a.esc);
                let (uri, ub) = if esc {
                    let uri = self.scope.value_ref(d, esc, value);
                    (uri, self.scope.ns_bytes(d, uri))
                } else {
                    (
                        NsRef::span(value.0, value.1),
                        &d[value.0 as usize..value.1 as usize],
                    )
                };
                if same(ub, ns::XML.as_bytes()) {
                    bail!(XmlError::BadNamespaceDecl(
                        "the xml prefix and namespace belong only to each other"
                    ));
                }
                if same(ub, ns::XMLNS.as_bytes()) {
                    bail!(XmlError::BadNamespaceDecl(
                        "the xmlns namespace cannot be declared"
                    ));
                }
                self.scope.bindings.push(Binding {
                    prefix: (at, at),
                    uri,
                });
                Some(uri)
            }
            None => None,
        };
        let inherited = match (self.tag.colon, decl) {
            (None, None) => match self.open.last() {
                Some(o) => o.dflt,
                None => self.scope.top_dflt,
            },
            _ => None,
        };
        let ns = match (self.tag.colon, decl, inherited) {
            (None, Some(uri), _) => uri,
            (_, _, Some(r)) => r,
            _ => {
                let (prefix, _) = split(d, self.tag.name, self.tag.colon);
                match self.scope.lookup(d, prefix) {
                    Some(r) => r,
                    None if prefix.is_empty() => NsRef::span(0, 0),
                    None => bail!(undeclared(prefix)),
                }
            }
        };
        let skip = self.tag.decl.map_or(usize::MAX, |i| i as usize);
        let start = self.rec.attr_evs.len();
        if self.tag.maybe_dup {
            for (i, a) in self.tag.attrs.iter().enumerate() {
                let qname = &d[a.name.0 as usize..a.name.1 as usize];
                for prev in &self.tag.attrs[..i] {
                    if same(&d[prev.name.0 as usize..prev.name.1 as usize], qname) {
                        bail!(duplicate(qname));
                    }
                }
            }
        }
        if !record {
            return Ok((ns, ((0, 0), false)));
        }
        if !self.tag.any_esc {
            let only_decl = self.tag.attrs.len() == usize::from(self.tag.decl.is_some());
            let span = if only_decl {
                (0, 0)
            } else {
                self.tag.attrs_span()
            };
            return Ok((ns, (span, false)));
        }
        self.rec.shared_attrs = true;
        for (i, a) in self.tag.attrs.iter().enumerate() {
            if i == skip {
                continue;
            }
            let (prefix, name, ns) = match a.colon {
                None => (None, a.name, None),
                Some(c) => (Some((a.name.0, c)), (c + 1, a.name.1), Some(NsRef::XML)),
            };
            self.rec.attr_evs.push(AttrEv {
                prefix,
                name,
                ns,
                value: a.value,
                esc: a.esc,
            });
        }
        Ok((ns, ((start as u32, self.rec.attr_evs.len() as u32), true)))
    }

    /// Bind the start tag's declarations, resolve its name and attributes,
    /// and record the attributes (always: the caller drops them when it
    /// records no nodes).
    #[inline(never)]
    pub(super) fn resolve_tag(&mut self, d: &[u8]) -> Result<(NsRef, (u32, u32)), XmlError> {
        let Framer {
            scope, tag, rec, ..
        } = self;
        let attr_evs = &mut rec.attr_evs;
        let attrs = &tag.attrs[..];
        for (i, a) in attrs.iter().enumerate() {
            let qname = &d[a.name.0 as usize..a.name.1 as usize];
            let prefix = match a.colon {
                None if qname == b"xmlns" => (a.name.0, a.name.0),
                Some(c) if &d[a.name.0 as usize..c as usize] == b"xmlns" => {
                    let p = (c + 1, a.name.1);
                    let pb = &d[p.0 as usize..p.1 as usize];
                    let v = &d[a.value.0 as usize..a.value.1 as usize];
                    if pb == b"xmlns" {
                        bail!(XmlError::BadNamespaceDecl(
                            "the xmlns prefix cannot be declared"
                        ));
                    }
                    if v.is_empty() {
                        bail!(XmlError::BadNamespaceDecl(
                            "a prefix cannot be bound to the empty namespace"
                        ));
                    }
                    p
                }
                _ => continue,
            };
            // Duplicate declarations are duplicate attributes.
            for b in &attrs[..i] {
                if same(&d[b.name.0 as usize..b.name.1 as usize], qname) {
                    bail!(duplicate(qname));
                }
            }
            let uri = scope.value_ref(d, a.esc, a.value);
            let ub = scope.ns_bytes(d, uri);
            let is_xml_prefix = &d[prefix.0 as usize..prefix.1 as usize] == b"xml";
            if same(ub, ns::XML.as_bytes()) != is_xml_prefix {
                bail!(XmlError::BadNamespaceDecl(
                    "the xml prefix and namespace belong only to each other"
                ));
            }
            if same(ub, ns::XMLNS.as_bytes()) {
                bail!(XmlError::BadNamespaceDecl(
                    "the xmlns namespace cannot be declared"
                ));
            }
            scope.bindings.push(Binding { prefix, uri });
        }
        let (prefix, _) = split(d, tag.name, tag.colon);
        let ns = match scope.lookup(d, prefix) {
            Some(r) => r,
            None if prefix.is_empty() => NsRef::span(0, 0),
            None => bail!(undeclared(prefix)),
        };
        let start = attr_evs.len();
        for a in attrs {
            let qname = &d[a.name.0 as usize..a.name.1 as usize];
            let (ans, pspan, local) = match a.colon {
                None if qname == b"xmlns" => continue,
                None => (None, None, a.name),
                Some(c) => {
                    let p = &d[a.name.0 as usize..c as usize];
                    if p == b"xmlns" {
                        continue;
                    }
                    let r = match scope.lookup(d, p) {
                        Some(r) => r,
                        None => bail!(undeclared(p)),
                    };
                    (Some(r), Some((a.name.0, c)), (c + 1, a.name.1))
                }
            };
            let lb = &d[local.0 as usize..local.1 as usize];
            for prev in &attr_evs[start..] {
                if same(&d[prev.name.0 as usize..prev.name.1 as usize], lb) {
                    let same_ns = match (prev.ns, ans) {
                        (None, None) => true,
                        (Some(x), Some(y)) => same(scope.ns_bytes(d, x), scope.ns_bytes(d, y)),
                        _ => false,
                    };
                    if same_ns {
                        bail!(duplicate(qname));
                    }
                }
            }
            attr_evs.push(AttrEv {
                prefix: pspan,
                name: local,
                ns: ans,
                value: a.value,
                esc: a.esc,
            });
        }
        Ok((ns, (start as u32, attr_evs.len() as u32)))
    }
}

/// A tree element's attributes: a span of its start tag, or (`true`) a
/// range of the attribute records.
pub(super) type TreeAttrs = ((u32, u32), bool);

/// Errors are built out of line: their formatting would otherwise bloat
/// the stack frames of the hot functions that can raise them.
#[cold]
#[inline(never)]
fn undeclared(prefix: &[u8]) -> XmlError {
    XmlError::UndeclaredPrefix(String::from_utf8_lossy(prefix).into_owned())
}

#[cold]
#[inline(never)]
fn duplicate(qname: &[u8]) -> XmlError {
    XmlError::DuplicateAttribute(String::from_utf8_lossy(qname).into_owned())
}
