//! Small primitives shared by the mechanisms: hashing, SCRAM key derivation,
//! string preparation, the ISO-8859-1 rule, constant-time comparison and nonces.

use std::borrow::Cow;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use rand_core::{OsRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::mechanism::Mechanism;

/// The hash function of a SCRAM variant.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScramHash {
    /// SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

impl ScramHash {
    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    /// The SCRAM mechanism without channel binding.
    pub fn mechanism(self) -> Mechanism {
        match self {
            ScramHash::Sha1 => Mechanism::ScramSha1,
            ScramHash::Sha256 => Mechanism::ScramSha256,
        }
    }

    /// The SCRAM mechanism with channel binding (`-PLUS`).
    pub fn plus_mechanism(self) -> Mechanism {
        match self {
            ScramHash::Sha1 => Mechanism::ScramSha1Plus,
            ScramHash::Sha256 => Mechanism::ScramSha256Plus,
        }
    }

    pub(crate) fn hash(self, data: &[u8]) -> Vec<u8> {
        #[cfg(test)]
        probe::record(probe::Work::Hash(self));
        match self {
            ScramHash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => sha2::Sha256::digest(data).to_vec(),
        }
    }

    pub(crate) fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        #[cfg(test)]
        probe::record(probe::Work::Hmac(self));
        // HMAC accepts keys of any length, so new_from_slice cannot fail; the
        // fallback keeps this panic-free anyway.
        match self {
            ScramHash::Sha1 => match Hmac::<sha1::Sha1>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
            ScramHash::Sha256 => match Hmac::<sha2::Sha256>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(data);
                    m.finalize().into_bytes().to_vec()
                }
                Err(_) => Vec::new(),
            },
        }
    }

    /// SaltedPassword = Hi(Normalize(password), salt, i) (RFC 5802 §3).
    pub(crate) fn salted_password(
        self,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Zeroizing<Vec<u8>> {
        #[cfg(test)]
        probe::record(probe::Work::Pbkdf2 {
            hash: self,
            iterations,
            salt_len: salt.len(),
        });
        let mut out = Zeroizing::new(vec![0u8; self.output_len()]);
        match self {
            ScramHash::Sha1 => {
                pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut out)
            }
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut out)
            }
        }
        out
    }

    /// (ClientKey, StoredKey, ServerKey) from a salted password.
    pub(crate) fn keys(self, salted: &[u8]) -> (Zeroizing<Vec<u8>>, Vec<u8>, Vec<u8>) {
        let client_key = Zeroizing::new(self.hmac(salted, b"Client Key"));
        let stored_key = self.hash(&client_key);
        let server_key = self.hmac(salted, b"Server Key");
        (client_key, stored_key, server_key)
    }
}

/// MD5 of the concatenation of `parts`.
pub(crate) fn md5(parts: &[&[u8]]) -> [u8; 16] {
    #[cfg(test)]
    probe::record(probe::Work::Md5);
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX_DIGITS[(b >> 4) as usize] as char);
        s.push(HEX_DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Lowercase hex of `bytes` into `out`, which is twice as long (any excess
/// of either is left alone).
pub(crate) fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX_DIGITS[(b >> 4) as usize];
        pair[1] = HEX_DIGITS[(b & 15) as usize];
    }
}

/// Constant-time equality (length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// RFC 2831 §2.1.2.1 per-field rule: a string whose characters all fit in
/// ISO-8859-1 is hashed as Latin-1 bytes, any other string as UTF-8.
/// Borrowed unless a conversion was needed.
pub(crate) fn latin1_or_utf8(s: &str) -> Cow<'_, [u8]> {
    to_latin1_cow(s).unwrap_or(Cow::Borrowed(s.as_bytes()))
}

/// The Latin-1 bytes of `s`, or `None` if a character is above U+00FF;
/// borrowed when `s` is ASCII (the same bytes either way).
///
/// Passwords go through here (DIGEST-MD5): a converted copy is sized once,
/// so no partial copy is freed on the way, and wiped when `s` does not fit.
pub(crate) fn to_latin1_cow(s: &str) -> Option<Cow<'_, [u8]>> {
    if s.is_ascii() {
        return Some(Cow::Borrowed(s.as_bytes()));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(s.len()));
    for c in s.chars() {
        out.push(u8::try_from(u32::from(c)).ok()?);
    }
    Some(Cow::Owned(std::mem::take(&mut *out)))
}

/// Decodes ISO-8859-1 bytes.
pub(crate) fn from_latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

/// [`from_latin1`], borrowing ASCII bytes (the same text either way).
pub(crate) fn from_latin1_cow(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) if b.is_ascii() => Cow::Borrowed(s),
        _ => Cow::Owned(from_latin1(b)),
    }
}

/// SASLprep (RFC 4013) where it succeeds; the unprepared string otherwise.
///
/// Both ends of this crate use the same rule (client, [`crate::StoredCredentials::derive`],
/// PLAIN verification), so they always agree; for strings SASLprep accepts we
/// agree with every other implementation too.
pub(crate) fn normalize(s: &str) -> Cow<'_, str> {
    stringprep::saslprep(s).unwrap_or(Cow::Borrowed(s))
}

/// [`normalize`] for a password: the prepared copy is wiped when dropped.
/// Every preparation of a password goes through here, so the type says
/// so. (The `stringprep` crate's own intermediate buffers, for passwords
/// that SASLprep changes, are beyond our reach.)
pub(crate) fn normalize_password(s: &str) -> Zeroizing<String> {
    match normalize(s) {
        Cow::Borrowed(same) => Zeroizing::new(same.to_owned()),
        Cow::Owned(prepared) => Zeroizing::new(prepared),
    }
}

/// A fresh nonce: 18 random bytes as unpadded base64 (24 printable
/// characters, no `,`, `"` or `\`).
///
/// The bytes come from `rand`'s thread-local CSPRNG (ChaCha12, seeded from
/// the OS CSPRNG, reseeded from it every 64 KiB of output and after
/// `fork`), not from a `getrandom` system call per nonce: the call cost
/// about 0.35 µs, 1.5% of a DIGEST-MD5 negotiation per nonce. Long-lived
/// secrets (keys, salts, FAST tokens) still come from the OS CSPRNG
/// directly.
pub(crate) fn random_nonce() -> String {
    let mut b = [0u8; 18];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(b)
}

/// Random salt bytes.
pub(crate) fn random_salt() -> Vec<u8> {
    let mut b = vec![0u8; 16];
    OsRng.fill_bytes(&mut b);
    b
}

/// A nonce is usable in DIGEST-MD5 quoted strings and SCRAM attributes when it is
/// non-empty printable ASCII without `,`, `"` and `\`.
pub(crate) fn valid_nonce(n: &str) -> bool {
    !n.is_empty()
        && n.bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',' && b != b'"' && b != b'\\')
}

pub(crate) fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub(crate) fn b64_decode(s: &[u8]) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// A record of the expensive or telling work done on this thread, so that
/// tests can prove two paths do the same work (which timing alone cannot
/// show without flaking).
#[cfg(test)]
pub(crate) mod probe {
    use std::cell::RefCell;

    use super::ScramHash;

    /// One primitive call.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Work {
        Pbkdf2 {
            hash: ScramHash,
            iterations: u32,
            salt_len: usize,
        },
        Hmac(ScramHash),
        Hash(ScramHash),
        Md5,
    }

    thread_local! {
        static LOG: RefCell<Vec<Work>> = const { RefCell::new(Vec::new()) };
    }

    pub(crate) fn record(w: Work) {
        LOG.with(|l| l.borrow_mut().push(w));
    }

    /// What was recorded on this thread since the last call.
    pub(crate) fn take() -> Vec<Work> {
        LOG.with(|l| std::mem::take(&mut *l.borrow_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_rule_per_string() {
        assert_eq!(&*latin1_or_utf8("é"), &[0xe9]);
        assert_eq!(&*latin1_or_utf8("€"), "€".as_bytes());
        assert_eq!(&*latin1_or_utf8("aé€"), "aé€".as_bytes());
        assert_eq!(from_latin1(&[0x4a, 0xfc]), "Jü");
    }

    #[test]
    fn passwords_are_prepared_into_wiped_copies() {
        // A no-break space maps to a space; the result is Zeroizing, so
        // the compiler keeps every caller from holding a plain copy.
        let p: Zeroizing<String> = normalize_password("a\u{a0}b");
        assert_eq!(p.as_str(), "a b");
        assert_eq!(normalize_password("plain").as_str(), "plain");
        assert_eq!(to_latin1_cow("aé").as_deref(), Some(&[b'a', 0xe9][..]));
        assert!(matches!(to_latin1_cow("ab"), Some(Cow::Borrowed(b"ab"))));
        assert_eq!(to_latin1_cow("a€"), None);
        assert!(matches!(from_latin1_cow(b"ab"), Cow::Borrowed("ab")));
        assert_eq!(from_latin1_cow(&[0x4a, 0xfc]), "Jü");
    }

    #[test]
    fn nonce_validation() {
        assert!(valid_nonce(&random_nonce()));
        assert!(!valid_nonce(""));
        assert!(!valid_nonce("a,b"));
        assert!(!valid_nonce("a\"b"));
        assert!(!valid_nonce("a b"));
    }
}
