//! The prolog: the XML declaration and the stream header, whose
//! declarations become the scope of every top-level element.

use std::borrow::Cow;

use crate::chars::is_ws;
use crate::element::Str;
use crate::error::XmlError;
use crate::escape::unescape;
use crate::frame::{header_value, StreamHeader};
use crate::ns;

use super::events::NsRef;
use super::names::{split, BaseBinding, EMPTY};
use super::state::{Done, Flow, Framer, Lex, Phase};

impl Framer {
    /// State `Question`: after `<?` at the very start of a stream, only
    /// `<?xml ` may follow.
    #[cold]
    #[inline(never)]
    pub(super) fn question(&mut self, d: &[u8], pos: usize) -> Result<Flow, XmlError> {
        if d.len() < pos + 4 {
            return Ok(Flow::More(pos));
        }
        if &d[pos..pos + 3] == b"xml" && is_ws(d[pos + 3]) {
            self.cur.lex = Lex::XmlDecl;
            Ok(Flow::Go(pos + 4))
        } else {
            bail!(XmlError::Restricted("processing instructions"));
        }
    }

    /// State `XmlDecl`: the XML declaration up to its `?>`.
    #[cold]
    #[inline(never)]
    pub(super) fn xml_decl(&mut self, d: &[u8], pos: usize) -> Result<Flow, XmlError> {
        match memchr::memchr(b'>', &d[pos..]) {
            Some(i) => {
                let p = pos + i;
                if d[p - 1] == b'?' {
                    // tag_start is 0: "<?xml " is 6 bytes.
                    parse_xml_decl(d.get(6..p - 1).unwrap_or(&[]))?;
                    self.prolog.seen_token = true;
                    return Ok(Flow::Done(p + 1, Done::XmlDecl(p + 1)));
                }
                Ok(Flow::Go(p + 1))
            }
            None => Ok(Flow::More(d.len())),
        }
    }

    /// The stream header's start tag ended at `pos` (just after `>`), its
    /// namespace and attributes (`range` of `attr_evs`) resolved.
    #[cold]
    #[inline(never)]
    pub(super) fn finish_header(
        &mut self,
        d: &[u8],
        ns_ref: NsRef,
        range: (u32, u32),
        pos: usize,
        empty: bool,
    ) -> Result<Done, XmlError> {
        if empty {
            bail!(XmlError::HeaderSelfClosed);
        }
        // The old framer's vector, emptied by `reset`: no allocation.
        let mut base = std::mem::take(&mut self.scope.base);
        base.clear();
        // Sized once (pushes would leave room for 4).
        base.reserve_exact(self.scope.bindings.len());
        let scope = &self.scope;
        // The scanner has checked the header's bytes, so the lossy path
        // (`Utf8Chunks`, byte by byte: 2% of a negotiation) is never taken.
        let text = |b: &[u8]| match std::str::from_utf8(b) {
            Ok(s) => header_value(s),
            Err(_) => Cow::Owned(String::from_utf8_lossy(b).into_owned()),
        };
        let (_, local) = split(d, self.tag.name, self.tag.colon);
        let mut h = StreamHeader {
            stream_ns: text(scope.ns_bytes(d, ns_ref)),
            name: text(local),
            ..StreamHeader::default()
        };
        for a in &self.rec.attr_evs[range.0 as usize..range.1 as usize] {
            let local = &d[a.name.0 as usize..a.name.1 as usize];
            let raw = &d[a.value.0 as usize..a.value.1 as usize];
            let v = if a.esc {
                Cow::Owned(unescape(raw, true))
            } else {
                text(raw)
            };
            match a.ns {
                None => match local {
                    b"to" => h.to = Some(v),
                    b"from" => h.from = Some(v),
                    b"id" => h.id = Some(v),
                    b"version" => h.version = Some(v),
                    _ => {}
                },
                Some(n) if scope.ns_bytes(d, n) == ns::XML.as_bytes() && local == b"lang" => {
                    h.lang = Some(v)
                }
                Some(_) => {}
            }
        }
        // The header's declarations become the base scope of every stanza,
        // for the stream's life.
        let mut default_ns = None;
        for (i, b) in scope.bindings.iter().enumerate() {
            let prefix = match &d[b.prefix.0 as usize..b.prefix.1 as usize] {
                b"" => Cow::Borrowed(&b""[..]),
                b"stream" => Cow::Borrowed(&b"stream"[..]),
                other => Cow::Owned(other.to_vec()),
            };
            let bytes = scope.ns_bytes(d, b.uri);
            let resolved = match ns::known_index(bytes) {
                Some(k) => NsRef::known(k as u32),
                None => NsRef::base(i as u32),
            };
            let uri = Str::owned(&String::from_utf8_lossy(bytes));
            if prefix.is_empty() {
                h.default_ns = Some(match &uri {
                    Str::Static(known) => Cow::Borrowed(*known),
                    other => Cow::Owned(other.get(&EMPTY).to_owned()),
                });
                default_ns = Some(uri.clone());
            }
            base.push(BaseBinding {
                prefix,
                uri,
                resolved,
            });
        }
        self.scope.default_ns = default_ns;
        self.scope.base_strings = base
            .iter()
            .any(|b| matches!(b.resolved.get(), super::events::Ns::Base(_)));
        self.scope.base = base;
        self.prolog.header_qname.clear();
        let qname = &d[self.tag.name.0 as usize..self.tag.name.1 as usize];
        self.prolog.header_qname.extend_from_slice(qname);
        self.scope.bindings.clear();
        // Only the header's bindings, now in `base`, are in scope.
        self.scope.top_dflt = Some(self.scope.lookup(d, b"").unwrap_or(NsRef::span(0, 0)));
        self.phase = Phase::Stream;
        self.prolog.seen_token = true;
        self.depth = 0;
        Ok(Done::Header(Box::new(h), pos))
    }
}

/// `version='1.x' [encoding='UTF-8'] [standalone='yes|no']`
fn parse_xml_decl(body: &[u8]) -> Result<(), XmlError> {
    let mut rest = body;
    let mut seen_version = false;
    let mut order = 0;
    loop {
        while let [b, r @ ..] = rest {
            if is_ws(*b) {
                rest = r;
            } else {
                break;
            }
        }
        if rest.is_empty() {
            break;
        }
        let eq = memchr::memchr(b'=', rest).ok_or(XmlError::BadXmlDecl("expected name='value'"))?;
        let name = trim(&rest[..eq]);
        let mut r = &rest[eq + 1..];
        while let [b, rr @ ..] = r {
            if is_ws(*b) {
                r = rr;
            } else {
                break;
            }
        }
        let q = *r.first().ok_or(XmlError::BadXmlDecl("missing value"))?;
        if q != b'\'' && q != b'"' {
            return Err(XmlError::BadXmlDecl("unquoted value"));
        }
        let close = memchr::memchr(q, &r[1..]).ok_or(XmlError::BadXmlDecl("unterminated value"))?;
        let value = &r[1..1 + close];
        rest = &r[close + 2..];
        match name {
            b"version" if order == 0 => {
                if value.len() < 3
                    || !value.starts_with(b"1.")
                    || !value[2..].iter().all(u8::is_ascii_digit)
                {
                    return Err(XmlError::BadXmlDecl("unsupported version"));
                }
                seen_version = true;
                order = 1;
            }
            b"encoding" if order == 1 => {
                if !value.eq_ignore_ascii_case(b"utf-8") {
                    return Err(XmlError::UnsupportedEncoding(
                        String::from_utf8_lossy(value).into_owned(),
                    ));
                }
                order = 2;
            }
            b"standalone" if (1..=2).contains(&order) => {
                if value != b"yes" && value != b"no" {
                    return Err(XmlError::BadXmlDecl("standalone must be yes or no"));
                }
                order = 3;
            }
            _ => return Err(XmlError::BadXmlDecl("unexpected pseudo-attribute")),
        }
    }
    if !seen_version {
        return Err(XmlError::BadXmlDecl("missing version"));
    }
    Ok(())
}

fn trim(s: &[u8]) -> &[u8] {
    let mut s = s;
    while let [r @ .., b] = s {
        if is_ws(*b) {
            s = r;
        } else {
            break;
        }
    }
    s
}
