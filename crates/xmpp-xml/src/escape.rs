//! XML escaping in both directions: references and normalisation undone
//! for reading (parsed text and attribute values), and escaping for writing.

/// Escape character data. `>` is escaped so `]]>` can never appear; `\r` as a
/// reference so it survives line-end normalisation.
pub(crate) fn escape_text(out: &mut String, s: &str) {
    escape(out, s, TEXT, |b| match b {
        b'&' => "&amp;",
        b'<' => "&lt;",
        b'>' => "&gt;",
        _ => "&#13;",
    })
}

/// Escape an attribute value for single quotes; whitespace controls become
/// references so attribute-value normalisation keeps them.
pub(crate) fn escape_attr(out: &mut String, s: &str) {
    escape(out, s, ATTR, |b| match b {
        b'&' => "&amp;",
        b'<' => "&lt;",
        b'\'' => "&apos;",
        b'"' => "&quot;",
        b'\t' => "&#9;",
        b'\n' => "&#10;",
        _ => "&#13;",
    })
}

/// Escape a namespace URI for an `xmlns` attribute: a well-known one has
/// nothing to escape (a test checks) and is copied whole after one table
/// probe, instead of a lookup per byte (its 20 to 40 bytes were 3% of an
/// in-memory negotiation's instructions).
pub(crate) fn escape_ns(out: &mut String, ns: &str) {
    if crate::ns::known_index(ns.as_bytes()).is_some() {
        out.push_str(ns);
    } else {
        escape_attr(out, ns);
    }
}

/// Bytes [`escape_text`] replaces.
const TEXT: u8 = 1;
/// Bytes [`escape_attr`] replaces.
const ATTR: u8 = 2;

/// Which bytes each escaping replaces: one lookup per byte.
static ESCAPED: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'&' as usize] = TEXT | ATTR;
    t[b'<' as usize] = TEXT | ATTR;
    t[b'>' as usize] = TEXT;
    t[b'\r' as usize] = TEXT | ATTR;
    t[b'\'' as usize] = ATTR;
    t[b'"' as usize] = ATTR;
    t[b'\t' as usize] = ATTR;
    t[b'\n' as usize] = ATTR;
    t
};

/// Appends `s` with each byte of `class` replaced by `map`'s reference;
/// the runs between them are copied whole.
#[inline]
fn escape(out: &mut String, s: &str, class: u8, map: impl Fn(u8) -> &'static str) {
    let bytes = s.as_bytes();
    let mut last = 0;
    while let Some(at) = bytes[last..]
        .iter()
        .position(|&b| ESCAPED[usize::from(b)] & class != 0)
    {
        let i = last + at;
        out.push_str(&s[last..i]);
        out.push_str(map(bytes[i]));
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// The code point of a character reference body after `#`.
pub(crate) fn char_ref_value(rest: &[u8]) -> Option<u32> {
    let (digits, radix) = match rest {
        [b'x', h @ ..] => (h, 16),
        d => (d, 10),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &c in digits {
        let dv = (c as char).to_digit(radix)?;
        v = v.checked_mul(radix)?.checked_add(dv)?;
        if v > 0x10FFFF {
            return None;
        }
    }
    Some(v)
}

/// Unescape validated character data (`attr == false`: references, CDATA
/// sections, line-end normalisation) or an attribute value (references and
/// attribute-value normalisation of literal whitespace).
pub(crate) fn unescape(raw: &[u8], attr: bool) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        match b {
            b'&' => {
                let end = memchr::memchr(b';', &raw[i..])
                    .map(|e| i + e)
                    .unwrap_or(raw.len());
                let body = &raw[(i + 1).min(end)..end];
                let c = match body {
                    b"amp" => Some('&'),
                    b"lt" => Some('<'),
                    b"gt" => Some('>'),
                    b"apos" => Some('\''),
                    b"quot" => Some('"'),
                    [b'#', rest @ ..] => char_ref_value(rest).and_then(char::from_u32),
                    _ => None,
                };
                if let Some(c) = c {
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                i = end + 1;
            }
            b'<' if !attr && raw[i..].starts_with(b"<![CDATA[") => {
                let start = i + 9;
                let end = memchr::memmem::find(&raw[start..], b"]]>")
                    .map(|e| start + e)
                    .unwrap_or(raw.len());
                push_normalized(&mut out, &raw[start..end], false);
                i = end + 3;
            }
            _ => {
                let next = memchr::memchr2(b'&', b'<', &raw[i..])
                    .map(|e| i + e)
                    .unwrap_or(raw.len());
                let next = if next == i { i + 1 } else { next };
                push_normalized(&mut out, &raw[i..next], attr);
                i = next;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Line ends (`\r\n`, `\r`) become `\n`; in attributes every literal TAB, LF, CR becomes a space.
fn push_normalized(out: &mut Vec<u8>, s: &[u8], attr: bool) {
    // Most runs have nothing to normalise: copy them whole.
    let clean = if attr {
        memchr::memchr3(b'\r', b'\n', b'\t', s).is_none()
    } else {
        memchr::memchr(b'\r', s).is_none()
    };
    if clean {
        out.extend_from_slice(s);
        return;
    }
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        match b {
            b'\r' => {
                out.push(if attr { b' ' } else { b'\n' });
                if s.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' | b'\t' if attr => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_escaping_replaces_its_bytes_and_copies_the_rest() {
        let all = "a&b<c>d'e\"f\tg\nh\ri é😀";
        let mut text = String::new();
        escape_text(&mut text, all);
        assert_eq!(text, "a&amp;b&lt;c&gt;d'e\"f\tg\nh&#13;i é😀");
        let mut attr = String::new();
        escape_attr(&mut attr, all);
        assert_eq!(attr, "a&amp;b&lt;c>d&apos;e&quot;f&#9;g&#10;h&#13;i é😀");
        for s in ["", "plain", "&", "<<", "x\r"] {
            let (mut t, mut a) = (String::new(), String::new());
            escape_text(&mut t, s);
            escape_attr(&mut a, s);
            assert_eq!(unescape(t.as_bytes(), false), s);
            assert_eq!(unescape(a.as_bytes(), true), s);
        }
    }

    #[test]
    fn well_known_namespaces_need_no_escaping() {
        for k in crate::ns::KNOWN {
            let (mut plain, mut escaped) = (String::new(), String::new());
            escape_ns(&mut plain, k);
            escape_attr(&mut escaped, k);
            assert_eq!(plain, escaped, "{k}");
        }
        let mut other = String::new();
        escape_ns(&mut other, "urn:x?a=1&b=2");
        assert_eq!(other, "urn:x?a=1&amp;b=2");
    }
}
