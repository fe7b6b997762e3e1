//! Human-readable payloads for logs and transcripts, with secrets removed.

/// Decodes a SASL payload for a transcript: text as text (non-printable bytes
/// escaped as `\xNN`, NUL as `\0`), PLAIN's password from the client redacted.
/// Never put a raw PLAIN payload in a log; use this.
///
/// ```
/// use xmpp_sasl::describe_payload;
/// assert_eq!(
///     describe_payload("PLAIN", true, b"\0juliet\0r0m30myr0m30"),
///     "\\0juliet\\0<password redacted>"
/// );
/// assert_eq!(describe_payload("SCRAM-SHA-1", false, b"v=abc"), "v=abc");
/// ```
pub fn describe_payload(mechanism: &str, from_client: bool, payload: &[u8]) -> String {
    if payload.is_empty() {
        return "<empty>".to_owned();
    }
    // Unknown mechanisms might carry passwords too: redact PLAIN-like
    // payloads from the client whatever the name says.
    if from_client && (mechanism.eq_ignore_ascii_case(crate::plain::NAME) || payload.contains(&0)) {
        return crate::plain::redact(payload);
    }
    escape(payload)
}

/// Lossy text with control bytes escaped.
pub(crate) fn escape(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_password_never_shown() {
        let d = describe_payload("PLAIN", true, "Ursel\0Kurt\0xipj3plmq".as_bytes());
        assert_eq!(d, "Ursel\\0Kurt\\0<password redacted>");
        let d = describe_payload("PLAIN", true, b"garbage-password");
        assert!(!d.contains("garbage"));
        let d = describe_payload("X-UNKNOWN", true, b"\0u\0secretpw");
        assert!(!d.contains("secretpw"));
        assert_eq!(describe_payload("PLAIN", false, b""), "<empty>");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            describe_payload("DIGEST-MD5", false, b"rspauth=ab\n"),
            "rspauth=ab\\x0a"
        );
        assert_eq!(
            describe_payload("DIGEST-MD5", true, "a\\é".as_bytes()),
            "a\\\\é"
        );
    }
}
