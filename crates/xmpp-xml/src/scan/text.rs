//! Character data: text runs with their references and line ends, and
//! CDATA sections (the only markup after `<!` that restricted XML allows).

use crate::chars::{check_qname, check_run, is_name_char, is_name_start, plain_run, utf8_char};
use crate::chars::{QName, Utf8};
use crate::error::XmlError;
use crate::escape::char_ref_value;

use super::state::{Flow, Framer, Lex};

/// Longest entity or character reference we accept (`&#x0010FFFF;` fits with room).
const MAX_REF: usize = 40;
/// Text is first scanned inline (see [`Framer::content`]) up to this many
/// bytes; longer runs go on with `memchr`, which wins once its setup is
/// paid for.
const TEXT_INLINE: usize = 256;

impl Framer {
    /// State `Content`: character data inside an element, from `pos`.
    ///
    /// Text up to the next tag in one pass, no memchr: plain ASCII is
    /// skipped a word at a time, and what stops it (a reference, a line
    /// end, a UTF-8 sequence) is checked on the spot, as the state `Ref`
    /// and `check_run` would. A start tag or the end tag that closes the
    /// run is read right there. Long runs, and a reference or UTF-8
    /// sequence cut off by the end of the input, go on with `memchr`.
    #[inline(always)]
    pub(super) fn content(&mut self, d: &[u8], mut pos: usize) -> Result<Flow, XmlError> {
        let n = d.len();
        let cap = n.min(pos.saturating_add(TEXT_INLINE));
        let k = loop {
            // A reference or UTF-8 sequence may end past `cap`.
            if pos >= cap {
                break pos;
            }
            let k = pos + plain_run(&d[pos..cap], b'<', b'&', b'>');
            if k >= cap {
                break k;
            }
            match d[k] {
                b'<' => break k,
                b'&' => {
                    let mut j = k + 1;
                    loop {
                        let Some(&c) = d.get(j) else {
                            self.cur.ref_start = k;
                            self.cur.ref_in_attr = false;
                            self.text.esc = true;
                            self.cur.lex = Lex::Ref;
                            return Ok(Flow::Go(j));
                        };
                        if c == b';' {
                            check_ref(&d[k + 1..j])?;
                            break;
                        }
                        if !(is_name_char(c) || c == b'#') {
                            bail!(XmlError::Syntax("malformed entity or character reference"));
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
                b if b >= 0x80 => match utf8_char(&d[k..]) {
                    Utf8::Char(w) => pos = k + w,
                    Utf8::Short => break k,
                    Utf8::Bad => bail!(XmlError::InvalidUtf8),
                    Utf8::NonChar(c) => bail!(XmlError::IllegalChar(c)),
                },
                b => bail!(XmlError::IllegalChar(u32::from(b))),
            }
        };
        if k < n && d[k] == b'<' {
            match d.get(k + 1) {
                Some(&b) if is_name_start(b) => return self.start_tag(d, k),
                Some(b'/') => {
                    // The end tag of the element this text is in.
                    self.cur.tag_start = k;
                    self.flush_text();
                    let after = k + 2 + self.open_name_len();
                    if after < n && d[after] == b'>' && self.open_name_is(d, k + 2) {
                        return Ok(self.end_tag(after + 1));
                    }
                    // Anything else: as the state machine does.
                    self.cur.lex = Lex::Lt;
                    return Ok(Flow::Go(k + 1));
                }
                _ => {}
            }
            self.cur.tag_start = k;
            self.cur.lex = Lex::Lt;
            return Ok(Flow::Go(k + 1));
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
                Ok(Flow::Go(pos + 1))
            }
            None => {
                let r = check_run(&d[pos..], false, false)?;
                self.text.esc |= r.needs_norm;
                Ok(Flow::More(pos + r.valid))
            }
        }
    }

    /// State `Ref`: inside `&...;`, in text or an attribute value.
    #[inline(always)]
    pub(super) fn reference(&mut self, d: &[u8], pos: usize) -> Result<Flow, XmlError> {
        let Some(&b) = d.get(pos) else {
            return Ok(Flow::More(pos));
        };
        if b == b';' {
            check_ref(&d[self.cur.ref_start + 1..pos])?;
            self.cur.lex = if self.cur.ref_in_attr {
                Lex::AttrValue
            } else {
                Lex::Content
            };
        } else if is_name_char(b) || b == b'#' {
            if pos + 1 - self.cur.ref_start > MAX_REF {
                bail!(XmlError::Syntax("reference too long"));
            }
        } else {
            bail!(XmlError::Syntax("malformed entity or character reference"));
        }
        Ok(Flow::Go(pos + 1))
    }

    /// State `Bang`: after `<!`, where only a CDATA section may start.
    #[inline(always)]
    pub(super) fn bang(&mut self, d: &[u8], pos: usize) -> Result<Flow, XmlError> {
        let Some(&b) = d.get(pos) else {
            return Ok(Flow::More(pos));
        };
        match b {
            b'-' => bail!(XmlError::Restricted("comments")),
            b'D' => bail!(XmlError::Restricted("document type declarations")),
            b'[' if self.depth > 0 => {
                self.cur.cdata_match = 1;
                self.cur.lex = Lex::CdataOpen;
                Ok(Flow::Go(pos + 1))
            }
            _ => bail!(XmlError::Syntax("invalid markup after '<!'")),
        }
    }

    /// State `CdataOpen`: matching `[CDATA[`.
    #[inline(always)]
    pub(super) fn cdata_open(&mut self, d: &[u8], pos: usize) -> Result<Flow, XmlError> {
        const OPEN: &[u8] = b"[CDATA[";
        let Some(&b) = d.get(pos) else {
            return Ok(Flow::More(pos));
        };
        if OPEN.get(self.cur.cdata_match as usize) != Some(&b) {
            bail!(XmlError::Syntax("invalid markup after '<!['"));
        }
        self.cur.cdata_match += 1;
        if self.cur.cdata_match as usize == OPEN.len() {
            self.cur.tok = pos + 1;
            self.text.esc = true;
            self.cur.lex = Lex::Cdata;
        }
        Ok(Flow::Go(pos + 1))
    }

    /// State `Cdata`: inside a CDATA section, up to its `]]>`.
    #[inline(always)]
    pub(super) fn cdata(&mut self, d: &[u8], pos: usize) -> Result<Flow, XmlError> {
        match memchr::memchr(b'>', &d[pos..]) {
            Some(i) => {
                let p = pos + i;
                check_run(&d[pos..=p], false, true)?;
                if p >= self.cur.tok + 2 && d[p - 2] == b']' && d[p - 1] == b']' {
                    self.cur.lex = Lex::Content;
                }
                Ok(Flow::Go(p + 1))
            }
            None => {
                let r = check_run(&d[pos..], false, false)?;
                Ok(Flow::More(pos + r.valid))
            }
        }
    }
}

/// XML 1.0 §2.4: `]]>` may not appear in character data. `d[k]` is a `>`
/// in text; the two bytes before it are text too (content never starts
/// right after a `]`).
#[inline(always)]
fn no_cdata_end(d: &[u8], k: usize) -> Result<(), XmlError> {
    if k >= 2 && d[k - 2] == b']' && d[k - 1] == b']' {
        return Err(XmlError::Syntax("']]>' in character data"));
    }
    Ok(())
}

/// Validate the body of `&body;`.
fn check_ref(body: &[u8]) -> Result<(), XmlError> {
    match body {
        b"amp" | b"lt" | b"gt" | b"apos" | b"quot" => Ok(()),
        [b'#', rest @ ..] => match char_ref_value(rest) {
            Some(c) if crate::chars::is_xml_char(c) => Ok(()),
            _ => Err(XmlError::InvalidCharRef(
                String::from_utf8_lossy(body).into_owned(),
            )),
        },
        _ => match check_qname(body) {
            QName::Ok { colon: None } => Err(XmlError::UndefinedEntity(
                String::from_utf8_lossy(body).into_owned(),
            )),
            QName::BadUtf8 => Err(XmlError::InvalidUtf8),
            _ => Err(XmlError::Syntax("malformed entity reference")),
        },
    }
}
