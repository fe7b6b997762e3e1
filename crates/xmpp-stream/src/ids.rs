//! Random identifiers from a CSPRNG: stream ids and server-generated
//! resources must not be guessable (RFC 6120 §4.7.3, §7.6).
//!
//! Identifiers come from `rand`'s thread-local CSPRNG (ChaCha12, seeded from
//! the OS CSPRNG, reseeded from it every 64 KiB of output and after `fork`)
//! rather than from a `getrandom` system call each (about 0.35 µs, two per
//! negotiation). Secret keys still come from the OS CSPRNG directly.

use rand::RngCore as _;

/// `N` random bytes from the thread-local CSPRNG, as lowercase hex.
pub(crate) fn random_hex<const N: usize>() -> String {
    let mut buf = [0u8; N];
    // Seeding panics only if the OS CSPRNG fails, which only happens on broken
    // platforms; a predictable id would be worse than a panic.
    rand::thread_rng().fill_bytes(&mut buf);
    hex(&buf)
}

/// Lowercase hex, a table lookup per digit.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// A fresh stream id: 128 bits.
pub(crate) fn stream_id() -> String {
    random_hex::<16>()
}

/// A fresh server-generated resource: 128 bits.
pub(crate) fn resource() -> String {
    random_hex::<16>()
}

/// A fresh stream management id (XEP-0198 SM-ID): 128 bits. Whoever holds
/// it can ask to resume the session, so it must not be guessable (the
/// server also checks that the resuming user is the same).
pub(crate) fn sm_id() -> String {
    random_hex::<16>()
}

/// A fresh secret key: 256 bits.
pub(crate) fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut key).expect("the OS random number generator failed");
    key
}

/// The stable part of a Bind2 resource for one user agent of one user:
/// 48 bits of `SHA-256(key ‖ bare JID ‖ 0 ‖ user-agent id)` in hex. Stable
/// while the server runs, and it does not reveal the id (XEP-0386 §5).
pub(crate) fn stable_resource_part(key: &[u8; 32], bare: &str, user_agent: &str) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(key);
    h.update(bare.as_bytes());
    h.update([0]);
    h.update(user_agent.as_bytes());
    hex(&h.finalize()[..6])
}

/// A random UUID (version 4, RFC 9562 §5.4), for a user-agent id.
pub(crate) fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut b).expect("the OS random number generator failed");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
