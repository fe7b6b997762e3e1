//! Random identifiers from the operating system's CSPRNG: stream ids and
//! server-generated resources must not be guessable (RFC 6120 §4.7.3, §7.6).

use std::fmt::Write as _;

/// `bytes` random bytes from the OS CSPRNG, as lowercase hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // A failing OS CSPRNG leaves no safe way to continue; getrandom only fails
    // on broken platforms, and a predictable id would be worse than a panic.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut buf).expect("the OS random number generator failed");
    buf.iter()
        .fold(String::with_capacity(bytes * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// A fresh stream id: 128 bits.
pub(crate) fn stream_id() -> String {
    random_hex(16)
}

/// A fresh server-generated resource: 128 bits.
pub(crate) fn resource() -> String {
    random_hex(16)
}
