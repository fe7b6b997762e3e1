//! RFC 2831 `#rule` lists of `name=value` directives (RFC 2616 §2.1/§2.2 grammar):
//! LWS around `,` and `=`, empty list elements, tokens, quoted strings with `\`
//! escapes. One pass over the input, no backtracking: work is linear in its length.

/// One parsed directive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Directive {
    /// The name, ASCII-lowercased (names compare case-insensitively).
    pub name: String,
    /// The value with quotes removed and escapes resolved (raw bytes: UTF-8 or
    /// ISO-8859-1 depending on `charset`).
    pub value: Vec<u8>,
}

fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// RFC 2616 token characters.
fn is_token(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

/// Characters accepted in an unquoted value: tokens plus `/` (lenient towards
/// peers that do not quote `digest-uri`), and non-ASCII octets.
fn is_value_char(b: u8) -> bool {
    (b > 0x20 && b != 0x7f && b != b',' && b != b'"' && b != b'\\') || b >= 0x80
}

/// Parses a directive list. Errors are human-readable and contain no input bytes
/// (a response may carry secrets-adjacent data).
pub(crate) fn parse(input: &[u8]) -> Result<Vec<Directive>, &'static str> {
    let mut out = Vec::new();
    let mut i = 0;
    let n = input.len();
    loop {
        // Skip LWS and empty list elements.
        while i < n && (is_lws(input[i]) || input[i] == b',') {
            i += 1;
        }
        if i >= n {
            return Ok(out);
        }
        let start = i;
        while i < n && is_token(input[i]) {
            i += 1;
        }
        if i == start {
            return Err("expected a directive name");
        }
        let name = String::from_utf8_lossy(&input[start..i]).to_ascii_lowercase();
        while i < n && is_lws(input[i]) {
            i += 1;
        }
        if i >= n || input[i] != b'=' {
            return Err("expected '=' after a directive name");
        }
        i += 1;
        while i < n && is_lws(input[i]) {
            i += 1;
        }
        let mut value = Vec::new();
        if i < n && input[i] == b'"' {
            i += 1;
            loop {
                match input.get(i) {
                    None => return Err("unterminated quoted string"),
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => match input.get(i + 1) {
                        Some(&c) if c < 0x80 => {
                            value.push(c);
                            i += 2;
                        }
                        _ => return Err("bad escape in quoted string"),
                    },
                    Some(&c) if (c < 0x20 && !is_lws(c)) || c == 0x7f => {
                        return Err("control character in quoted string")
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            let vs = i;
            while i < n && is_value_char(input[i]) {
                i += 1;
            }
            if i == vs {
                return Err("empty directive value");
            }
            value.extend_from_slice(&input[vs..i]);
        }
        while i < n && is_lws(input[i]) {
            i += 1;
        }
        if i < n && input[i] != b',' {
            return Err("expected ',' between directives");
        }
        out.push(Directive { name, value });
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
            .map(|d| (d.name, String::from_utf8(d.value).unwrap()))
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
    fn quoting_and_lists() {
        let mut v = Vec::new();
        push_quoted(&mut v, b"d\\27art\"x");
        assert_eq!(v, b"\"d\\\\27art\\\"x\"");
        let items: Vec<&[u8]> = split_list(b" auth, auth-int ,,auth-conf").collect();
        assert_eq!(items, vec![&b"auth"[..], b"auth-int", b"auth-conf"]);
    }
}
