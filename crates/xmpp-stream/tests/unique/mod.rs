//! A word no other test of this run, and no other run, uses: for resources
//! and message bodies of the interop suites, where tests run at once against
//! one account, and a session binding a resource in use replaces the one
//! that holds it (ejabberd and Prosody both kick the old). Included with
//! `#[path]` by the suites of both crates.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};

/// The process id and clock keep runs apart; the counter keeps apart the
/// tests of one run, which can read the same nanoseconds (CI saw two do so).
pub fn unique() -> String {
    static COUNT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos:x}-{n}", std::process::id())
}
