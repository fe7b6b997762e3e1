//! The scanner's dispatch loop: one step per state until a frame ends or
//! the input does.
//!
//! The hot states (text, after `<`, names, an end tag's tail) are written
//! out in the loop; the others are steps of their own modules. Every way
//! tried of moving the hot ones out as inlined helpers cost 1-3% more
//! instructions on the framing benchmarks (the loop's registers are
//! allocated worse), against a 1% budget.

use crate::chars::{
    check_qname, check_run, is_lt, is_name_char, is_name_start, is_ws, plain_run, same, scan_name,
    utf8_char, NameRun, QName, Utf8, TEXT_STOPS,
};
use crate::error::XmlError;

use super::state::{Done, Flow, Framer, Lex, Phase};
use super::text::{check_ref, no_cdata_end, predefined_entity, MAX_REF, TEXT_INLINE};

impl Framer {
    /// Scan `d` (the current element's bytes so far, capped at the size limit)
    /// from `cur.pos`. `None` = needs more bytes.
    ///
    /// The longest function of the crate on purpose: see the module docs.
    pub(super) fn run(&mut self, d: &[u8]) -> Result<Option<Done>, XmlError> {
        let n = d.len();
        let mut pos = self.cur.pos;
        let max_name = self.limits.max_name_len;
        // A step handled by a method reports where to go on.
        macro_rules! flow {
            ($l:lifetime, $e:expr) => {
                match $e {
                    Flow::Go(p) => {
                        pos = p;
                        continue $l;
                    }
                    Flow::More(p) => {
                        pos = p;
                        break $l None;
                    }
                    Flow::Done(p, done) => {
                        pos = p;
                        break $l Some(done);
                    }
                }
            };
        }
        let res = 'scan: loop {
            match self.cur.lex {
                Lex::Between => break None,
                Lex::Content => {
                    // Text up to the next tag in one pass, no memchr: plain
                    // ASCII is skipped a word at a time, and what stops it
                    // (a reference, a line end, a UTF-8 sequence) is checked
                    // on the spot, as the states `Ref` and `check_run` would.
                    // Long runs, and a reference or UTF-8 sequence cut off
                    // by the end of the input, go on below.
                    let cap = n.min(pos + TEXT_INLINE);
                    let k = loop {
                        // A reference or UTF-8 sequence may end past `cap`.
                        if pos >= cap {
                            break pos;
                        }
                        let k = pos + plain_run(&d[pos..cap], TEXT_STOPS);
                        // The usual end first, on its own (`is_lt`).
                        if k >= cap || is_lt(d[k]) {
                            break k;
                        }
                        // Then a UTF-8 sequence, also on its own.
                        if d[k] >= 0x80 {
                            match utf8_char(&d[k..]) {
                                Utf8::Char(w) => pos = k + w,
                                Utf8::Short => break k,
                                Utf8::Bad => bail!(XmlError::InvalidUtf8),
                                Utf8::NonChar(c) => bail!(XmlError::IllegalChar(c)),
                            }
                            continue;
                        }
                        match d[k] {
                            b'<' => break k,
                            b'&' => {
                                if let Some(semi) = predefined_entity(&d[k + 1..]) {
                                    self.text.esc = true;
                                    pos = k + semi + 2;
                                    continue;
                                }
                                let mut j = k + 1;
                                loop {
                                    let Some(&c) = d.get(j) else {
                                        self.cur.ref_start = k;
                                        self.cur.ref_in_attr = false;
                                        self.text.esc = true;
                                        self.cur.lex = Lex::Ref;
                                        pos = j;
                                        continue 'scan;
                                    };
                                    if c == b';' {
                                        check_ref(&d[k + 1..j])?;
                                        break;
                                    }
                                    if !(is_name_char(c) || c == b'#') {
                                        bail!(XmlError::Syntax(
                                            "malformed entity or character reference"
                                        ));
                                    }
                                    j += 1;
                                    if j - k > MAX_REF {
                                        bail!(XmlError::Syntax("reference too long"));
                                    }
                                }
                                self.text.esc = true;
                                pos = j + 1;
                            }
                            b'>' => {
                                no_cdata_end(d, k)?;
                                pos = k + 1;
                            }
                            b'\n' | b'\t' => pos = k + 1,
                            b'\r' => {
                                self.text.esc = true;
                                pos = k + 1;
                            }
                            b => bail!(XmlError::IllegalChar(u32::from(b))),
                        }
                    };
                    if k < n && d[k] == b'<' {
                        match d.get(k + 1) {
                            Some(&b) if is_name_start(b) => flow!('scan, self.start_tag(d, k)?),
                            Some(b'/') => {
                                // The end tag of the element this text is in.
                                self.cur.tag_start = k;
                                self.flush_text();
                                let after = k + 2 + self.open_name_len();
                                if after < n && d[after] == b'>' && self.open_name_is(d, k + 2) {
                                    pos = after + 1;
                                    if let Some(done) = self.end_tag(pos) {
                                        break Some(done);
                                    }
                                    continue;
                                }
                                // Anything else: as the state machine does.
                                self.cur.lex = Lex::Lt;
                                pos = k + 1;
                                continue;
                            }
                            _ => {}
                        }
                        self.cur.tag_start = k;
                        self.cur.lex = Lex::Lt;
                        pos = k + 1;
                        continue;
                    }
                    // Anything else goes on from `k` exactly as if scanned
                    // here: the bytes before it are plain ASCII.
                    pos = k;
                    match memchr::memchr3(b'<', b'&', b'>', &d[pos..]) {
                        Some(i) => {
                            let r = check_run(&d[pos..pos + i], false, true)?;
                            self.text.esc |= r.needs_norm;
                            pos += i;
                            if d[pos] == b'>' {
                                no_cdata_end(d, pos)?;
                            } else if d[pos] == b'<' {
                                self.cur.tag_start = pos;
                                self.cur.lex = Lex::Lt;
                            } else {
                                self.cur.ref_start = pos;
                                self.cur.ref_in_attr = false;
                                self.text.esc = true;
                                self.cur.lex = Lex::Ref;
                            }
                            pos += 1;
                        }
                        None => {
                            let r = check_run(&d[pos..], false, false)?;
                            self.text.esc |= r.needs_norm;
                            pos += r.valid;
                            break None;
                        }
                    }
                }
                Lex::Lt => {
                    let Some(&b) = d.get(pos) else { break None };
                    if b == b'/' {
                        if self.phase == Phase::Prolog {
                            bail!(XmlError::Syntax("end tag before the stream header"));
                        }
                        self.flush_text();
                        pos += 1;
                        // Common case: the expected name, then '>' or
                        // whitespace, all here. That is what the name loop
                        // would find (the name was validated at its start
                        // tag), without going through it. Otherwise the
                        // name is scanned from its first byte: bounded by
                        // max_name_len.
                        let expected: &[u8] = match self.open.last() {
                            Some(o) => &d[o.name.0 as usize..o.name.1 as usize],
                            None => &self.prolog.header_qname,
                        };
                        let after = pos + expected.len();
                        if after < n && same(&d[pos..after], expected) {
                            if d[after] == b'>' {
                                pos = after + 1;
                                if let Some(done) = self.end_tag(pos) {
                                    break Some(done);
                                }
                                continue;
                            }
                            if is_ws(d[after]) {
                                pos = after;
                                self.cur.lex = Lex::EndTail;
                                continue;
                            }
                        }
                        self.cur.tok = pos;
                        self.cur.lex = Lex::EndName;
                    } else if is_name_start(b) {
                        // The `<` is the byte before.
                        flow!('scan, self.start_tag(d, pos - 1)?);
                    } else if b == b'!' {
                        pos += 1;
                        self.cur.lex = Lex::Bang;
                    } else if b == b'?' {
                        if self.phase == Phase::Prolog && !self.prolog.seen_token {
                            pos += 1;
                            self.cur.lex = Lex::Question;
                        } else {
                            bail!(XmlError::Restricted("processing instructions"));
                        }
                    } else {
                        bail!(XmlError::Syntax("invalid character after '<'"));
                    }
                }
                Lex::StartName | Lex::AttrName | Lex::EndName => {
                    let lim = n.min(self.cur.tok + self.name_room);
                    // While skipping the name, note what check_qname would
                    // otherwise find in a second pass: colons and non-ASCII.
                    let from = pos;
                    let NameRun {
                        end,
                        colons,
                        colon,
                        high,
                    } = scan_name(d, pos, lim);
                    pos = end;
                    if pos - self.cur.tok > max_name {
                        bail!(XmlError::NameTooLong { limit: max_name });
                    }
                    if pos >= n {
                        break None;
                    }
                    let name = &d[self.cur.tok..pos];
                    let first = d[self.cur.tok];
                    let fast = (from == self.cur.tok + 1 || from == self.cur.tok)
                        && !high
                        && first < 0x80
                        && first != b':'
                        && is_name_start(first);
                    let colon = if fast {
                        // All of the name was seen in this pass and is ASCII:
                        // the class table vetted every byte, the first is a
                        // name-start byte; only the colon rules remain.
                        match colons {
                            0 => None,
                            1 if colon + 1 < pos && is_name_start(d[colon + 1]) => {
                                Some(colon as u32)
                            }
                            _ => bail!(XmlError::InvalidName(
                                String::from_utf8_lossy(name).into_owned()
                            )),
                        }
                    } else {
                        match check_qname(name) {
                            QName::Ok { colon } => colon.map(|c| (self.cur.tok + c) as u32),
                            QName::BadUtf8 => bail!(XmlError::InvalidUtf8),
                            QName::Invalid => bail!(XmlError::InvalidName(
                                String::from_utf8_lossy(name).into_owned()
                            )),
                        }
                    };
                    let span = (self.cur.tok as u32, pos as u32);
                    let b = d[pos];
                    match self.cur.lex {
                        Lex::StartName => {
                            self.tag.named(span, colon);
                            if is_ws(b) {
                                self.tag.had_ws = true;
                                self.cur.lex = Lex::InTag;
                            } else if b == b'>' {
                                pos += 1;
                                if let Some(done) = self.finish_start(d, pos, false)? {
                                    break Some(done);
                                }
                            } else if b == b'/' {
                                pos += 1;
                                self.cur.lex = Lex::EmptyEnd;
                            } else {
                                bail!(XmlError::Syntax("invalid character in element name"));
                            }
                        }
                        Lex::AttrName => {
                            self.tag.attr_name = span;
                            self.tag.attr_colon = colon;
                            if b == b'=' {
                                pos += 1;
                                self.cur.lex = Lex::AttrQuote;
                            } else if is_ws(b) {
                                self.cur.lex = Lex::AttrEq;
                            } else {
                                bail!(XmlError::Syntax("expected '=' after attribute name"));
                            }
                        }
                        _ => {
                            let expected: &[u8] = match self.open.last() {
                                Some(o) => &d[o.name.0 as usize..o.name.1 as usize],
                                None => &self.prolog.header_qname,
                            };
                            if !same(name, expected) {
                                bail!(XmlError::MismatchedEndTag {
                                    expected: String::from_utf8_lossy(expected).into_owned(),
                                    found: String::from_utf8_lossy(name).into_owned(),
                                });
                            }
                            self.cur.lex = Lex::EndTail;
                        }
                    }
                }
                Lex::InTag => flow!('scan, self.in_tag(d, pos)?),
                Lex::AttrEq => flow!('scan, self.attr_eq(d, pos)?),
                Lex::AttrQuote => flow!('scan, self.attr_quote(d, pos)?),
                Lex::AttrValue => flow!('scan, self.attr_value(d, pos)?),
                Lex::Ref => flow!('scan, self.reference(d, pos)?),
                Lex::EmptyEnd => flow!('scan, self.empty_end(d, pos)?),
                Lex::EndTail => {
                    while pos < n && is_ws(d[pos]) {
                        pos += 1;
                    }
                    let Some(&b) = d.get(pos) else { break None };
                    if b != b'>' {
                        bail!(XmlError::Syntax("expected '>' in end tag"));
                    }
                    pos += 1;
                    if let Some(done) = self.end_tag(pos) {
                        break Some(done);
                    }
                }
                Lex::Bang => flow!('scan, self.bang(d, pos)?),
                Lex::CdataOpen => flow!('scan, self.cdata_open(d, pos)?),
                Lex::Cdata => flow!('scan, self.cdata(d, pos)?),
                Lex::Question => flow!('scan, self.question(d, pos)?),
                Lex::XmlDecl => flow!('scan, self.xml_decl(d, pos)?),
            }
        };
        self.cur.pos = pos;
        Ok(res)
    }
}
