//! Character data off the fast path: references cut off by the end of the
//! input or after a long run, CDATA sections (the only markup after `<!`
//! that restricted XML allows), and the checks text runs share. The text
//! fast path itself is written out in `Framer::run`.

use crate::chars::{check_qname, check_run, is_name_char, QName};
use crate::error::XmlError;
use crate::escape::char_ref_value;

use super::state::{Flow, Framer, Lex};

/// Longest entity or character reference we accept (`&#x0010FFFF;` fits with room).
pub(super) const MAX_REF: usize = 40;
/// Text is first scanned inline (see `Framer::run`) up to this many bytes;
/// longer runs go on with `memchr`, which wins once its setup is paid for.
pub(super) const TEXT_INLINE: usize = 256;

impl Framer {
    /// State `Ref`: inside `&...;`, in text or an attribute value.
    #[cold]
    #[inline(never)]
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
    #[cold]
    #[inline(never)]
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
    #[cold]
    #[inline(never)]
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
    #[cold]
    #[inline(never)]
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
pub(super) fn no_cdata_end(d: &[u8], k: usize) -> Result<(), XmlError> {
    if k >= 2 && d[k - 2] == b']' && d[k - 1] == b']' {
        return Err(XmlError::Syntax("']]>' in character data"));
    }
    Ok(())
}

/// Where the `;` is in `rest` (what follows a `&`) when it starts with a
/// predefined entity's name and `;` (`amp;`, `lt;`, `gt;`, `quot;`,
/// `apos;`): the usual reference, recognised with a compare or two
/// instead of a byte loop and [`check_ref`].
#[inline(always)]
pub(super) fn predefined_entity(rest: &[u8]) -> Option<usize> {
    let w = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
    let semi = match w {
        _ if w == u32::from_le_bytes(*b"amp;") => 3,
        _ if w & 0x00FF_FFFF == u32::from_le_bytes(*b"lt;\0") => 2,
        _ if w & 0x00FF_FFFF == u32::from_le_bytes(*b"gt;\0") => 2,
        _ if w == u32::from_le_bytes(*b"quot") || w == u32::from_le_bytes(*b"apos") => 4,
        _ => return None,
    };
    (rest.get(semi) == Some(&b';')).then_some(semi)
}

/// Validate the body of `&body;`.
pub(super) fn check_ref(body: &[u8]) -> Result<(), XmlError> {
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
