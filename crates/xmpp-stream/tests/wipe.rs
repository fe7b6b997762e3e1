//! Decoded SASL payloads that carry a password are wiped (issue #12):
//! during and after a PLAIN login between a client core and a server core
//! in this process, no freed heap block holds the PLAIN message. Before the
//! fix the client's built message and the server's decoded `<auth/>`
//! payload were freed unwiped.
//!
//! It reads its own heap (`xmpp-sasl`'s `tests/heap`; Linux only,
//! elsewhere it does nothing) and has no libtest harness, so it runs on the
//! main thread and allocates from the main heap only. It looks for the
//! message's tail, `localpart NUL password`, which only the message
//! contains: the password on its own is legitimately alive in the configs
//! and mechanisms while they are. The tail starts past the
//! first 16 bytes, which a freed block loses to the allocator's links.
//! Stack copies are out of reach.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../xmpp-sasl/tests/heap/mod.rs"]
mod heap;
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
    let Some(mut heap) = heap::Heap::open() else {
        println!("wipe: skipped (needs /proc/self/mem)");
        return;
    };
    let needle = NEEDLE.as_bytes();
    heap.check_control(needle);

    let mut p = plain_login();
    p.hold_lookups = true;
    p.run();
    // The server has decoded <auth/> and waits for the account: both
    // messages have been used and dropped.
    assert!(p.held_lookup().is_some());
    let during = heap.count(needle);
    p.answer_lookup();
    let (client, _) = p.established();
    assert_eq!(client.mechanism, Mechanism::Plain);
    drop(p);
    let after = heap.count(needle);
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
    store.add(USER, PASSWORD, &[pair::DOMAIN]).unwrap();
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
