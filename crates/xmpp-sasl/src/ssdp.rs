//! SASL SCRAM Downgrade Protection (XEP-0474 version 0.5.0, "SSDP").
//!
//! The server hashes what it advertised (mechanisms, and XEP-0440
//! channel-binding types) with the SCRAM hash and sends the value in an `h=`
//! attribute of its server-first-message. The client recomputes the value
//! from what it received and fails on a mismatch: someone changed a list in
//! transit. SCRAM's proofs cover the server-first-message, so an attacker who
//! rewrites `h=` as well makes the proofs fail.

use crate::crypto::ScramHash;

/// Separates the names inside a list (XEP-0474, "Server Sends Downgrade
/// Protection Hash").
const NAME_SEPARATOR: u8 = 0x1e;
/// Separates the mechanism list from the channel-binding list.
const LIST_SEPARATOR: u8 = 0x1f;

/// What was advertised on a stream, for XEP-0474: the SASL mechanisms of the
/// profile in use and, when XEP-0440 was used, the channel-binding types.
///
/// The server sets it in [`ServerMechanismConfig::ssdp`](crate::ServerMechanismConfig::ssdp)
/// from what it sent; the client sets it in
/// [`ClientCredentials::ssdp`](crate::ClientCredentials::ssdp) from what it
/// received. Both sides of a stream nobody tampered with compute the same
/// [`digest`](Self::digest).
///
/// - Mechanisms: the names of the profile the client authenticates with,
///   RFC 6120's `<mechanisms/>` or SASL2's `<authentication/>`'s
///   `<mechanism/>` children, never both. FAST (XEP-0484) mechanisms
///   advertised inside `<inline/>` are not among them.
/// - Channel-binding types: `None` when the stream had no XEP-0440
///   `<sasl-channel-binding/>`; `Some` of its types otherwise, `Some(vec![])`
///   for an element without children. The two hash differently.
///
/// The order given does not matter: both lists are sorted bytewise
/// (`i;octet`, RFC 4790 §9.3). Names are kept as given, duplicates included.
///
/// # Example
///
/// The hash of XEP-0474's full example:
///
/// ```
/// use base64::Engine as _;
/// use xmpp_sasl::{ScramHash, Ssdp};
///
/// let ssdp = Ssdp::new(
///     ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"],
///     Some(vec!["tls-server-end-point".into(), "tls-exporter".into()]),
/// );
/// let h = ssdp.digest(ScramHash::Sha1);
/// assert_eq!(
///     base64::engine::general_purpose::STANDARD.encode(h),
///     "G6k/rBLDqgOhRRaCuuatSDFkJ08=",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Ssdp {
    /// Sorted bytewise.
    mechanisms: Vec<String>,
    /// Sorted bytewise; `None` = XEP-0440 was not used.
    channel_binding_types: Option<Vec<String>>,
}

impl Ssdp {
    /// The advertised mechanism names and, if XEP-0440 was used, the
    /// advertised channel-binding types (see the type's docs for which).
    pub fn new<I, S>(mechanisms: I, channel_binding_types: Option<Vec<String>>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut mechanisms: Vec<String> = mechanisms.into_iter().map(Into::into).collect();
        mechanisms.sort_unstable();
        let channel_binding_types = channel_binding_types.map(|mut t| {
            t.sort_unstable();
            t
        });
        Ssdp {
            mechanisms,
            channel_binding_types,
        }
    }

    /// The mechanism names, sorted.
    pub fn mechanisms(&self) -> &[String] {
        &self.mechanisms
    }

    /// The channel-binding types, sorted; `None` when XEP-0440 was not used.
    pub fn channel_binding_types(&self) -> Option<&[String]> {
        self.channel_binding_types.as_deref()
    }

    /// The hash value `h` (raw bytes) for this SCRAM hash: `H(S)`, with `S`
    /// the sorted mechanisms joined by 0x1E, then, if XEP-0440 was used,
    /// 0x1F and the sorted channel-binding types joined by 0x1E.
    pub fn digest(&self, hash: ScramHash) -> Vec<u8> {
        hash.hash(&self.input())
    }

    /// The string `S` that is hashed.
    fn input(&self) -> Vec<u8> {
        let mut s = join(&self.mechanisms);
        if let Some(types) = &self.channel_binding_types {
            s.push(LIST_SEPARATOR);
            s.extend_from_slice(&join(types));
        }
        s
    }
}

fn join(names: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.push(NAME_SEPARATOR);
        }
        out.extend_from_slice(n.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hashed_string() {
        let s = Ssdp::new(["b", "a"], None);
        assert_eq!(s.input(), b"a\x1eb");
        let s = Ssdp::new(["b", "a"], Some(vec![]));
        assert_eq!(s.input(), b"a\x1eb\x1f");
        let s = Ssdp::new(["a"], Some(vec!["y".into(), "x".into()]));
        assert_eq!(s.input(), b"a\x1fx\x1ey");
        assert_eq!(Ssdp::default().input(), b"");
        // Bytewise, not case-insensitive: "Z" (0x5A) sorts before "a" (0x61).
        let s = Ssdp::new(["a", "Z", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"], None);
        assert_eq!(
            s.mechanisms(),
            ["SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "Z", "a"]
        );
    }
}
