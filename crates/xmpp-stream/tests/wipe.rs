//! Decoded SASL payloads that carry a password are wiped (issue #12):
//! during and after a PLAIN login between a client core and a server core
//! in this process, no freed heap block holds the PLAIN message. Before the
//! fix the client's built message and the server's decoded `<auth/>`
//! payload were freed unwiped.
//!
//! Without unsafe code: the process reads its own heap through
//! `/proc/self/mem` (Linux only; elsewhere this test does nothing). It has
//! no libtest harness, so it runs on the main thread and allocates from the
//! main heap only (`[heap]` in `/proc/self/maps`), which is what it scans.
//! It looks for the message's tail, `localpart NUL password`, which only
//! the message contains: the password on its own is legitimately alive in
//! the configs and mechanisms while they are. A freed block's first 16
//! bytes hold the allocator's links; the tail is past them. Stack copies
//! are out of reach.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "pair/mod.rs"]
mod pair;

use std::sync::Arc;

use xmpp_sasl::{Mechanism, MechanismSelector, MemoryStore};
use xmpp_stream::client::{ClientConfig, TlsMode};
use xmpp_stream::server::ServerConfig;

const USER: &str = "a-user-with-a-long-localpart";
const PASSWORD: &str = "wipe-me-9f3c1e7a-plain-password";
/// The end of `NUL USER NUL PASSWORD`.
const NEEDLE: &str = "localpart\0wipe-me-9f3c1e7a-plain-password";

fn main() {
    if !cfg!(target_os = "linux") {
        println!("wipe: skipped (needs /proc/self/mem)");
        return;
    }
    // Allocated up front so that scanning allocates nothing.
    let mut scratch = vec![0u8; 1 << 20];
    assert_eq!(copies_in_heap(&mut scratch), 0, "in the heap already");
    // The control: a message in the heap is found, and not once wiped.
    let message = zeroize::Zeroizing::new(format!("\0{USER}\0{PASSWORD}"));
    assert_eq!(copies_in_heap(&mut scratch), 1, "the scan misses the heap");
    drop(message);
    assert_eq!(copies_in_heap(&mut scratch), 0, "a wiped copy is seen");

    let mut p = plain_login();
    p.hold_lookups = true;
    p.run();
    // The server has decoded <auth/> and waits for the account: both
    // messages have been used and dropped.
    assert!(p.held_lookup().is_some());
    let during = copies_in_heap(&mut scratch);
    p.answer_lookup();
    let (client, _) = p.established();
    assert_eq!(client.mechanism, Mechanism::Plain);
    drop(p);
    let after = copies_in_heap(&mut scratch);
    assert_eq!(
        (during, after),
        (0, 0),
        "PLAIN messages left in freed heap memory (during the lookup, at the end)"
    );
    println!("wipe: ok (no PLAIN message left in the heap)");
}

/// A PLAIN login over the in-memory pair, not started.
fn plain_login() -> pair::Pair {
    let store = MemoryStore::default();
    store.add(USER, PASSWORD, &[pair::DOMAIN]);
    let store = Arc::new(store);
    let mut server = ServerConfig::new(pair::DOMAIN, store.clone());
    server.allow_plain_insecure = true;
    let selector = MechanismSelector::with_preference([Mechanism::Plain])
        .allow_only([Mechanism::Plain])
        .allow_plain_insecure(true);
    let client = ClientConfig::new(&format!("{USER}@{}", pair::DOMAIN), PASSWORD)
        .unwrap()
        .with_selector(selector)
        .with_tls(TlsMode::Off);
    pair::Pair::new(client, server, store)
}

/// How many times [`NEEDLE`] occurs in the main heap.
fn copies_in_heap(scratch: &mut [u8]) -> usize {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let heap = maps
        .lines()
        .find(|l| l.ends_with("[heap]"))
        .expect("a [heap] mapping");
    let range = heap.split_whitespace().next().unwrap();
    let (start, end) = range.split_once('-').unwrap();
    let start = u64::from_str_radix(start, 16).unwrap();
    let end = u64::from_str_radix(end, 16).unwrap();
    // The scratch buffer is read into, not scanned (it is large enough to
    // be mapped on its own, but the allocator decides).
    let own = scratch.as_ptr() as u64..scratch.as_ptr() as u64 + scratch.len() as u64;
    let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
    let needle = NEEDLE.as_bytes();
    // Windows overlap by the needle's length less one, so a copy across a
    // boundary is seen, and seen once.
    let step = (scratch.len() - needle.len() + 1) as u64;
    let mut found = 0;
    let mut at = start;
    while at < end {
        let len = (end - at).min(scratch.len() as u64) as usize;
        if !own.contains(&at) && !own.contains(&(at + len as u64 - 1)) {
            mem.seek(SeekFrom::Start(at)).unwrap();
            mem.read_exact(&mut scratch[..len]).unwrap();
            found += scratch[..len]
                .windows(needle.len())
                .filter(|w| *w == needle)
                .count();
        }
        at += step;
    }
    found
}
