//! Human-readable payloads for logs and transcripts, with secrets removed.

use crate::mechanism::Mechanism;

/// Decodes a SASL payload for a transcript: text as text (non-printable bytes
/// escaped as `\xNN`, NUL as `\0`), PLAIN's password from the client redacted.
/// Never put a raw PLAIN payload in a log; use this. `mechanism` is the name in
/// use, known or not ([`Mechanism`], [`MechanismName`](crate::MechanismName)
/// or the text of the `mechanism` attribute).
///
/// ```
/// use xmpp_sasl::{describe_payload, Mechanism};
/// assert_eq!(
///     describe_payload(Mechanism::Plain, true, b"\0juliet\0r0m30myr0m30"),
///     "\\0juliet\\0<password redacted>"
/// );
/// assert_eq!(describe_payload("SCRAM-SHA-1", false, b"v=abc"), "v=abc");
/// ```
pub fn describe_payload(mechanism: impl AsRef<str>, from_client: bool, payload: &[u8]) -> String {
    if payload.is_empty() {
        return "<empty>".to_owned();
    }
    // FAST (HT-*): the client's `authcid NUL HMAC`, the server's HMAC.
    if Mechanism::from_name(mechanism.as_ref()).is_some_and(Mechanism::is_fast) {
        return match (from_client, payload.iter().position(|&b| b == 0)) {
            (true, Some(i)) => format!(
                "{}\\0<{}-byte HMAC>",
                escape(&payload[..i]),
                payload.len() - i - 1
            ),
            (true, None) => format!("<malformed HT message, {} bytes>", payload.len()),
            (false, _) => format!("<{}-byte HMAC>", payload.len()),
        };
    }
    // Unknown mechanisms might carry passwords too: redact PLAIN-like
    // payloads from the client whatever the name says.
    if from_client && (carries_password(mechanism) || payload.contains(&0)) {
        return redact_plain(payload);
    }
    escape(payload)
}

/// Whether a client's payloads under this mechanism name carry the password
/// itself ([`Mechanism::sends_password`]), so that whatever logs them must
/// redact them. ASCII case is ignored: a client may send a miscased name, and
/// the server refusing it does not take the password out of the log.
pub fn carries_password(mechanism: impl AsRef<str>) -> bool {
    Mechanism::from_name_ignore_ascii_case(mechanism.as_ref()).is_ok_and(Mechanism::sends_password)
}

/// A PLAIN message (`authzid NUL authcid NUL passwd`, RFC 4616) with the
/// password replaced.
fn redact_plain(payload: &[u8]) -> String {
    let mut parts = payload.splitn(3, |&b| b == 0);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(z), Some(c), Some(_)) => {
            format!("{}\\0{}\\0<password redacted>", escape(z), escape(c))
        }
        // Not a well-formed message: it might still contain a password, so show nothing.
        _ => format!(
            "<malformed PLAIN message, {} bytes, redacted>",
            payload.len()
        ),
    }
}

/// Lossy text with control bytes escaped.
fn escape(bytes: &[u8]) -> String {
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
        let d = describe_payload("plain", true, b"u\x01secretpw");
        assert!(!d.contains("secretpw"));
    }

    #[test]
    fn only_plain_carries_the_password() {
        for m in Mechanism::ALL {
            assert_eq!(carries_password(m), m == Mechanism::Plain, "{m}");
        }
        assert!(carries_password("plain"));
        assert!(!carries_password("X-PLAIN"));
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
