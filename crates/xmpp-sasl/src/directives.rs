//! RFC 2831 `#rule` lists of `name=value` directives (RFC 2616 §2.1/§2.2 grammar):
//! LWS around `,` and `=`, empty list elements, tokens, quoted strings with `\`
//! escapes. One pass over the input, no backtracking: work is linear in its length.

use std::borrow::Cow;

/// One parsed directive, borrowed from the input where it can be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Directive<'a> {
    /// The name as written: a token, so ASCII; compare it with
    /// [`Directive::is`] (names compare case-insensitively).
    pub name: &'a [u8],
    /// The value with quotes removed and escapes resolved (raw bytes: UTF-8 or
    /// ISO-8859-1 depending on `charset`); owned only when it had escapes.
    pub value: Cow<'a, [u8]>,
}

impl Directive<'_> {
    /// Whether this directive is `name` (given in lowercase).
    pub(crate) fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Byte classes, one table lookup per byte.
const LWS: u8 = 1;
const TOKEN: u8 = 2;
const VALUE: u8 = 4;

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut class = 0;
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            class |= LWS;
        }
        // RFC 2616 token characters.
        if c > 0x20
            && c < 0x7f
            && !matches!(
                c,
                b'(' | b')'
                    | b'<'
                    | b'>'
                    | b'@'
                    | b','
                    | b';'
                    | b':'
                    | b'\\'
                    | b'"'
                    | b'/'
                    | b'['
                    | b']'
                    | b'?'
                    | b'='
                    | b'{'
                    | b'}'
            )
        {
            class |= TOKEN;
        }
        // Characters accepted in an unquoted value: tokens plus `/` (lenient
        // towards peers that do not quote `digest-uri`), and non-ASCII octets.
        if (c > 0x20 && c != 0x7f && c != b',' && c != b'"' && c != b'\\') || c >= 0x80 {
            class |= VALUE;
        }
        t[b] = class;
        b += 1;
    }
    t
};

fn is(b: u8, class: u8) -> bool {
    CLASSES[b as usize] & class != 0
}

fn is_lws(b: u8) -> bool {
    is(b, LWS)
}

/// Parses a directive list. Errors are human-readable and contain no input bytes
/// (a response may carry secrets-adjacent data).
pub(crate) fn parse(input: &[u8]) -> Result<Vec<Directive<'_>>, &'static str> {
    // A DIGEST-MD5 challenge or response has about ten directives.
    let mut out = Vec::with_capacity(12);
    let mut i = 0;
    let n = input.len();
    let skip = |i: &mut usize, class: u8| {
        while *i < n && is(input[*i], class) {
            *i += 1;
        }
    };
    loop {
        // Skip LWS and empty list elements.
        while i < n && (is_lws(input[i]) || input[i] == b',') {
            i += 1;
        }
        if i >= n {
            return Ok(out);
        }
        let start = i;
        skip(&mut i, TOKEN);
        if i == start {
            return Err("expected a directive name");
        }
        let name = &input[start..i];
        skip(&mut i, LWS);
        if i >= n || input[i] != b'=' {
            return Err("expected '=' after a directive name");
        }
        i += 1;
        skip(&mut i, LWS);
        let value = if i < n && input[i] == b'"' {
            i += 1;
            quoted(input, &mut i)?
        } else {
            let vs = i;
            skip(&mut i, VALUE);
            if i == vs {
                return Err("empty directive value");
            }
            Cow::Borrowed(&input[vs..i])
        };
        skip(&mut i, LWS);
        if i < n && input[i] != b',' {
            return Err("expected ',' between directives");
        }
        out.push(Directive { name, value });
    }
}

/// The rest of a quoted string whose opening quote is before `*i`: borrowed
/// unless it has escapes. Leaves `*i` after the closing quote.
fn quoted<'a>(input: &'a [u8], i: &mut usize) -> Result<Cow<'a, [u8]>, &'static str> {
    let start = *i;
    let mut owned: Option<Vec<u8>> = None;
    loop {
        match input.get(*i) {
            None => return Err("unterminated quoted string"),
            Some(b'"') => {
                let value = match owned {
                    Some(v) => Cow::Owned(v),
                    None => Cow::Borrowed(&input[start..*i]),
                };
                *i += 1;
                return Ok(value);
            }
            Some(b'\\') => match input.get(*i + 1) {
                Some(&c) if c < 0x80 => {
                    owned
                        .get_or_insert_with(|| input[start..*i].to_vec())
                        .push(c);
                    *i += 2;
                }
                _ => return Err("bad escape in quoted string"),
            },
            Some(&c) if (c < 0x20 && !is_lws(c)) || c == 0x7f => {
                return Err("control character in quoted string")
            }
            Some(&c) => {
                if let Some(v) = owned.as_mut() {
                    v.push(c);
                }
                *i += 1;
            }
        }
    }
}

/// Appends `"value"` with `"` and `\` escaped.
pub(crate) fn push_quoted(out: &mut Vec<u8>, value: &[u8]) {
    out.push(b'"');
    for &b in value {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Splits a comma-separated `qop`/`cipher` option list into trimmed, non-empty items.
pub(crate) fn split_list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').filter_map(|item| {
        let s = item.iter().position(|b| !is_lws(*b))?;
        let e = item.iter().rposition(|b| !is_lws(*b))?;
        Some(&item[s..=e])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        parse(s.as_bytes())
            .unwrap()
            .into_iter()
            .map(|d| {
                (
                    String::from_utf8(d.name.to_ascii_lowercase()).unwrap(),
                    String::from_utf8(d.value.into_owned()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn grammar() {
        assert_eq!(
            pairs(" A = \"x,y\" ,, b=tok ,c=\"q\\\"\\\\\"\r\n"),
            vec![
                ("a".into(), "x,y".into()),
                ("b".into(), "tok".into()),
                ("c".into(), "q\"\\".into())
            ]
        );
        assert_eq!(pairs(""), vec![]);
        assert_eq!(pairs(",,,"), vec![]);
        assert!(parse(b"a=\"x").is_err());
        assert!(parse(b"a").is_err());
        assert!(parse(b"a=").is_err());
        assert!(parse(b"=x").is_err());
        assert!(parse(b"a=x y").is_err());
        assert!(parse(b"a=\"x\"y").is_err());
        assert!(parse(b"a=\"\\").is_err());
        assert!(parse(b"a=\"\x01\"").is_err());
    }

    #[test]
    fn values_are_borrowed_unless_escaped() {
        let d = parse(b"Nonce=\"abc\",realm=x,u=\"a\\\"b\"").unwrap();
        assert!(d[0].is("nonce") && !d[0].is("nonc"));
        assert!(matches!(d[0].value, Cow::Borrowed(b"abc")));
        assert!(matches!(d[1].value, Cow::Borrowed(b"x")));
        assert_eq!(&*d[2].value, b"a\"b");
        assert!(matches!(d[2].value, Cow::Owned(_)));
    }

    #[test]
    fn quoting_and_lists() {
        let mut v = Vec::new();
        push_quoted(&mut v, b"d\\27art\"x");
        assert_eq!(v, b"\"d\\\\27art\\\"x\"");
        let items: Vec<&[u8]> = split_list(b" auth, auth-int ,,auth-conf").collect();
        assert_eq!(items, vec![&b"auth"[..], b"auth-int", b"auth-conf"]);
    }
}
