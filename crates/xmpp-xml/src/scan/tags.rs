//! Tags: start tags with their attributes, read in one call on the fast
//! path ([`Framer::start_tag`]) or step by step by the attribute states,
//! recorded once their namespaces are resolved; and the end of an element.
//! The states after `<` and in names are written out in `Framer::run`.

use crate::chars::{
    check_run, is_name_start, is_ws, plain_run, same, scan_name, value_stops, NameRun,
};
use crate::error::XmlError;
use crate::ns;
use crate::raw::RootAttr;

use super::events::{Ns, NsRef, Open, Rec};
use super::names::RawAttr;
use super::resolve::TreeAttrs;
use super::state::{Done, Flow, Framer, Lex, Phase, NONE};

impl Framer {
    /// The text run before the tag at `cur.tag_start` ends there: record it.
    #[inline(always)]
    pub(super) fn flush_text(&mut self) {
        if self.rec.tree && self.text.start != NONE && self.cur.tag_start > self.text.start {
            self.rec.recs.push(Rec::text(
                (self.text.start as u32, self.cur.tag_start as u32),
                self.text.esc,
            ));
        }
        self.text.start = NONE;
        self.text.esc = false;
    }

    /// A start tag whose `<` is at `lt`, followed by a name-start byte, as
    /// the states `Lt`, `StartName` and `InTag` would take it, without
    /// going through the dispatch between them. A name that is cut off,
    /// too long, not ASCII or invalid is left to `StartName` from its
    /// first byte (bounded by `max_name_len`).
    #[inline(always)]
    pub(super) fn start_tag(&mut self, d: &[u8], lt: usize) -> Result<Flow, XmlError> {
        self.cur.tag_start = lt;
        self.flush_text();
        if self.phase == Phase::Stream && self.depth >= self.limits.max_depth {
            bail!(XmlError::TooDeep {
                limit: self.limits.max_depth
            });
        }
        let n = d.len();
        let tok = lt + 1;
        let max = self.limits.max_name_len;
        let lim = n.min(tok + self.name_room);
        let NameRun {
            end,
            colons,
            colon,
            high,
        } = scan_name(d, tok + 1, lim);
        let first = d[tok];
        let colon = match colons {
            0 => Some(None),
            1 if colon + 1 < end && is_name_start(d[colon + 1]) => Some(Some(colon as u32)),
            _ => None,
        };
        let colon = match colon {
            Some(c) if end < n && end - tok <= max && !high && first < 0x80 && first != b':' => c,
            _ => {
                self.cur.tok = tok;
                self.cur.lex = Lex::StartName;
                return Ok(Flow::Go(tok + 1));
            }
        };
        self.tag.named((tok as u32, end as u32), colon);
        let b = d[end];
        if b == b'>' {
            Ok(match self.finish_start(d, end + 1, false)? {
                Some(done) => Flow::Done(end + 1, done),
                None => Flow::Go(end + 1),
            })
        } else if is_ws(b) {
            self.tag.had_ws = true;
            self.cur.lex = Lex::InTag;
            self.in_tag(d, end)
        } else if b == b'/' {
            self.empty_end(d, end + 1)
        } else {
            bail!(XmlError::Syntax("invalid character in element name"));
        }
    }

    /// State `InTag`: the rest of a start tag from `pos`: attributes, then
    /// `>` or `/>`.
    #[inline(always)]
    pub(super) fn in_tag(&mut self, d: &[u8], mut pos: usize) -> Result<Flow, XmlError> {
        let n = d.len();
        loop {
            while pos < n && is_ws(d[pos]) {
                pos += 1;
                self.tag.had_ws = true;
            }
            let Some(&b) = d.get(pos) else {
                return Ok(Flow::More(pos));
            };
            if b == b'>' {
                pos += 1;
                return Ok(match self.finish_start(d, pos, false)? {
                    Some(done) => Flow::Done(pos, done),
                    None => Flow::Go(pos),
                });
            } else if b == b'/' {
                return self.empty_end(d, pos + 1);
            } else if is_name_start(b) {
                if !self.tag.had_ws {
                    bail!(XmlError::Syntax("missing whitespace before attribute"));
                }
                if self.tag.attrs.len() >= self.limits.max_attributes {
                    bail!(XmlError::TooManyAttributes {
                        limit: self.limits.max_attributes
                    });
                }
                match self.fast_attr(d, pos) {
                    Some(p) => {
                        pos = p;
                        if self.cur.lex != Lex::InTag {
                            return Ok(Flow::Go(pos));
                        }
                        self.tag.had_ws = false;
                    }
                    None => {
                        self.cur.tok = pos;
                        self.cur.lex = Lex::AttrName;
                        return Ok(Flow::Go(pos + 1));
                    }
                }
            } else {
                bail!(XmlError::Syntax("invalid character in tag"));
            }
        }
    }

    /// State `AttrEq`: whitespace, then the `=` after an attribute name.
    #[cold]
    #[inline(never)]
    pub(super) fn attr_eq(&mut self, d: &[u8], mut pos: usize) -> Result<Flow, XmlError> {
        while pos < d.len() && is_ws(d[pos]) {
            pos += 1;
        }
        let Some(&b) = d.get(pos) else {
            return Ok(Flow::More(pos));
        };
        if b != b'=' {
            bail!(XmlError::Syntax("expected '=' after attribute name"));
        }
        self.cur.lex = Lex::AttrQuote;
        Ok(Flow::Go(pos + 1))
    }

    /// State `AttrQuote`: whitespace, then the quote that opens a value.
    #[cold]
    #[inline(never)]
    pub(super) fn attr_quote(&mut self, d: &[u8], mut pos: usize) -> Result<Flow, XmlError> {
        while pos < d.len() && is_ws(d[pos]) {
            pos += 1;
        }
        let Some(&b) = d.get(pos) else {
            return Ok(Flow::More(pos));
        };
        if b != b'\'' && b != b'"' {
            bail!(XmlError::Syntax("expected a quoted attribute value"));
        }
        self.tag.quote = b;
        pos += 1;
        self.cur.tok = pos;
        self.tag.val_esc = false;
        self.cur.lex = Lex::AttrValue;
        Ok(Flow::Go(pos))
    }

    /// State `AttrValue`: a value up to its closing quote or a reference.
    #[inline(never)]
    pub(super) fn attr_value(&mut self, d: &[u8], mut pos: usize) -> Result<Flow, XmlError> {
        match memchr::memchr3(self.tag.quote, b'&', b'<', &d[pos..]) {
            Some(i) => {
                let r = check_run(&d[pos..pos + i], true, true)?;
                self.tag.val_esc |= r.needs_norm;
                pos += i;
                let b = d[pos];
                if b == self.tag.quote {
                    let value = (self.cur.tok as u32, pos as u32);
                    self.push_attr(
                        d,
                        self.tag.attr_name,
                        self.tag.attr_colon,
                        value,
                        self.tag.val_esc,
                    );
                    self.tag.had_ws = false;
                    self.cur.lex = Lex::InTag;
                } else if b == b'&' {
                    self.cur.ref_start = pos;
                    self.cur.ref_in_attr = true;
                    self.tag.val_esc = true;
                    self.cur.lex = Lex::Ref;
                } else {
                    bail!(XmlError::Syntax("'<' in attribute value"));
                }
                Ok(Flow::Go(pos + 1))
            }
            None => {
                let r = check_run(&d[pos..], true, false)?;
                self.tag.val_esc |= r.needs_norm;
                Ok(Flow::More(pos + r.valid))
            }
        }
    }

    /// After the `/` of an empty-element tag, at `pos` (also state `EmptyEnd`).
    #[inline(always)]
    pub(super) fn empty_end(&mut self, d: &[u8], pos: usize) -> Result<Flow, XmlError> {
        match d.get(pos) {
            Some(b'>') => Ok(match self.finish_start(d, pos + 1, true)? {
                Some(done) => Flow::Done(pos + 1, done),
                None => Flow::Go(pos + 1),
            }),
            Some(_) => bail!(XmlError::Syntax("expected '>' after '/'")),
            None => {
                self.cur.lex = Lex::EmptyEnd;
                Ok(Flow::More(pos))
            }
        }
    }

    /// The common attribute, `name='plain ASCII value'`, in one pass with
    /// its state in locals. `None`: not that shape (or the name is cut off
    /// by the end of the input); nothing was changed and the state machine
    /// parses the attribute from its first byte (a name is at most
    /// `max_name_len` bytes, so that re-look is bounded). `Some(p)`: the
    /// attribute was recorded and `p` is past its closing quote (state
    /// stays `InTag`), or its value needs the general path from `p` and the
    /// state is exactly what `AttrValue` would have at `p`.
    #[inline(always)]
    fn fast_attr(&mut self, d: &[u8], start: usize) -> Option<usize> {
        let n = d.len();
        let max = self.limits.max_name_len;
        let lim = n.min(start + self.name_room);
        let NameRun {
            end: p,
            colons,
            colon,
            high,
        } = scan_name(d, start, lim);
        if p + 1 >= n || p - start > max || high || d[p] != b'=' {
            return None;
        }
        // The first byte is a name-start byte (checked by the caller); only
        // the colon rules remain, as in the general path.
        let colon = match colons {
            0 => None,
            1 if colon != start && colon + 1 < p && is_name_start(d[colon + 1]) => {
                Some(colon as u32)
            }
            _ => return None,
        };
        let q = d[p + 1];
        if q != b'\'' && q != b'"' {
            return None;
        }
        let vs = p + 2;
        // One call per quote, so that each has its stop bytes as constants.
        let k = vs
            + if q == b'\'' {
                plain_run(&d[vs..], value_stops(b'\''))
            } else {
                plain_run(&d[vs..], value_stops(b'"'))
            };
        if k < n && d[k] == q {
            self.push_attr(
                d,
                (start as u32, p as u32),
                colon,
                (vs as u32, k as u32),
                false,
            );
            return Some(k + 1);
        }
        self.tag.attr_name = (start as u32, p as u32);
        self.tag.attr_colon = colon;
        self.tag.quote = q;
        self.cur.tok = vs;
        self.tag.val_esc = false;
        self.cur.lex = Lex::AttrValue;
        Some(k)
    }

    /// An attribute of the current start tag, scanned to its closing quote.
    /// Without a tree, the root's are also kept for `RawElement::attr`
    /// right away: those it can find are the unprefixed ones but `xmlns`,
    /// and `xml:lang`. (A tag with other prefixed attributes is special;
    /// `finish_start` then keeps them again from the resolved ones.)
    #[inline(always)]
    pub(super) fn push_attr(
        &mut self,
        d: &[u8],
        name: (u32, u32),
        colon: Option<u32>,
        value: (u32, u32),
        esc: bool,
    ) {
        self.tag.note_attr(d, name, colon);
        self.tag.any_esc |= esc;
        self.tag.attrs.push(RawAttr {
            name,
            colon,
            value,
            esc,
        });
        if !self.rec.tree && self.depth == 0 {
            let q = &d[name.0 as usize..name.1 as usize];
            let listed = match colon {
                None => q != b"xmlns",
                Some(_) => q == b"xml:lang",
            };
            if listed {
                self.root_attr(name, value, esc);
            }
        }
    }

    /// Keep one of the root's attributes for `RawElement::attr`;
    /// `false` once they do not all fit (it then re-reads the tag).
    #[inline(always)]
    fn root_attr(&mut self, qname: (u32, u32), value: (u32, u32), esc: bool) -> bool {
        let r = &mut self.root;
        match r.inline.get_mut(r.n_inline as usize) {
            // Spans are 16-bit: every one ends inside the start tag.
            Some(slot) if value.1 <= u32::from(u16::MAX) => {
                *slot = RootAttr {
                    qname: (qname.0 as u16, qname.1 as u16),
                    value: (value.0 as u16, value.1 as u16),
                };
                r.inline_esc |= u32::from(esc) << r.n_inline;
                r.n_inline += 1;
                true
            }
            _ => {
                r.n_inline = u32::MAX;
                false
            }
        }
    }

    /// A start tag ended at `pos` (just after `>`).
    #[inline(always)]
    pub(super) fn finish_start(
        &mut self,
        d: &[u8],
        pos: usize,
        empty: bool,
    ) -> Result<Option<Done>, XmlError> {
        let mark = self.scope.bindings.len();
        // Without a tree to build, no nodes are recorded: only what
        // `decode_raw` hands out about the root is kept, in `root`.
        let record = self.rec.tree;
        // The two paths do not merge before `open_element`: a merged
        // (namespace, range) pair went through the stack in pieces and was
        // read back whole, a store-forwarding stall on every start tag.
        if self.tag.special || self.phase == Phase::Prolog {
            let (ns, attr_range) = self.resolve_tag(d)?;
            if self.phase == Phase::Prolog {
                return self.finish_header(d, ns, attr_range, pos, empty).map(Some);
            }
            if !record {
                // The root's attributes, kept by `push_attr` before their
                // prefixes were resolved, are kept again from the resolved ones.
                if self.depth == 0 {
                    self.root.n_inline = 0;
                    self.root.inline_esc = 0;
                    for i in attr_range.0..attr_range.1 {
                        let a = self.rec.attr_evs[i as usize];
                        // `attr` finds unprefixed names and `xml:lang`.
                        let qname = match a.prefix {
                            None => a.name,
                            Some(p)
                                if &d[a.name.0 as usize..a.name.1 as usize] == b"lang"
                                    && &d[p.0 as usize..p.1 as usize] == b"xml" =>
                            {
                                (p.0, a.name.1)
                            }
                            Some(_) => continue,
                        };
                        if !self.root_attr(qname, a.value, a.esc) {
                            break;
                        }
                    }
                }
                self.rec.attr_evs.truncate(attr_range.0 as usize);
                return Ok(self.open_element(pos, empty, ns, ((0, 0), false), mark, record));
            }
            let attrs = self.keep_attr_records(d, attr_range);
            return Ok(self.open_element(pos, empty, ns, attrs, mark, record));
        }
        // The root's attributes were kept as they were pushed (`push_attr`).
        let (ns, attrs) = self.resolve_plain(d, record)?;
        Ok(self.open_element(pos, empty, ns, attrs, mark, record))
    }

    /// A tree's element reads its attributes from its start tag unless one
    /// needs unescaping or is in a namespace other than `xml`: then they
    /// are the records `range`, which are kept; otherwise they are dropped
    /// and the part of the tag that holds the attributes is returned.
    #[inline(never)]
    fn keep_attr_records(&mut self, d: &[u8], range: (u32, u32)) -> TreeAttrs {
        let scope = &self.scope;
        let evs = &self.rec.attr_evs[range.0 as usize..range.1 as usize];
        let needed = evs.iter().any(|a| {
            a.esc
                || a.ns.is_some_and(|n| {
                    !matches!(n.get(), Ns::Xml) && scope.ns_bytes(d, n) != ns::XML.as_bytes()
                })
        });
        if needed {
            self.rec.shared_attrs = true;
            return (range, true);
        }
        let any = !evs.is_empty();
        self.rec.attr_evs.truncate(range.0 as usize);
        (if any { self.tag.attrs_span() } else { (0, 0) }, false)
    }

    /// Record a start tag whose namespace and attributes are resolved.
    #[inline(always)]
    fn open_element(
        &mut self,
        pos: usize,
        empty: bool,
        ns: NsRef,
        (attrs, shared): TreeAttrs,
        mark: usize,
        record: bool,
    ) -> Option<Done> {
        let name = match self.tag.colon {
            Some(c) => (c + 1, self.tag.name.1),
            None => self.tag.name,
        };
        if self.depth == 0 {
            let end = pos - if empty { 2 } else { 1 };
            self.root.attrs = (self.tag.name.1, end as u32);
            self.root.name = name;
            self.root_ns = ns;
        }
        let ev = self.rec.recs.len() as u32;
        if record {
            self.rec
                .recs
                .push(Rec::element(ev, name, ns, attrs, shared));
        }
        if empty {
            self.scope.bindings.truncate(mark);
            if self.depth == 0 {
                return Some(Done::Element(pos));
            }
        } else {
            self.open.push(Open {
                name: self.tag.name,
                mark: mark as u32,
                ev,
                dflt: match self.tag.colon {
                    None => Some(ns),
                    Some(_) => None,
                },
            });
            self.depth += 1;
        }
        self.text.start = pos;
        self.text.esc = false;
        self.cur.lex = Lex::Content;
        None
    }

    /// Length of the qualified name the next end tag must have.
    #[inline(always)]
    pub(super) fn open_name_len(&self) -> usize {
        match self.open.last() {
            Some(o) => (o.name.1 - o.name.0) as usize,
            None => self.prolog.header_qname.len(),
        }
    }

    /// Whether the qualified name the next end tag must have is at `at`
    /// (which has room for it).
    #[inline(always)]
    pub(super) fn open_name_is(&self, d: &[u8], at: usize) -> bool {
        let expected: &[u8] = match self.open.last() {
            Some(o) => &d[o.name.0 as usize..o.name.1 as usize],
            None => &self.prolog.header_qname,
        };
        same(&d[at..at + expected.len()], expected)
    }

    /// An end tag ended at `pos` (just after `>`): the frame it ends, if
    /// any (otherwise text goes on in the parent).
    #[inline(always)]
    pub(super) fn end_tag(&mut self, pos: usize) -> Option<Done> {
        if self.depth == 0 {
            return Some(Done::Close(pos));
        }
        if let Some(o) = self.open.pop() {
            self.scope.bindings.truncate(o.mark as usize);
            if self.rec.tree {
                let end = self.rec.recs.len() as u32;
                if let Some(r) = self.rec.recs.get_mut(o.ev as usize) {
                    r.end = end;
                }
            }
        }
        self.depth -= 1;
        if self.depth == 0 {
            return Some(Done::Element(pos));
        }
        self.text.start = pos;
        self.cur.lex = Lex::Content;
        None
    }
}
