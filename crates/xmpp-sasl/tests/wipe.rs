//! SASLprep'd copies of a password are wiped (issue #12): deriving stored
//! credentials, a server checking a PLAIN password, and the SCRAM and
//! PLAIN clients leave no prepared copy in freed heap memory. Before the
//! fix every one but the PLAIN client's was freed unwiped.
//!
//! It reads its own heap (`tests/heap`; Linux only, elsewhere it does
//! nothing) and has no libtest harness, so it runs on the main thread and
//! allocates from the main heap only. The password has a no-break space
//! that SASLprep maps to a space, 17 bytes in: the needle is the prepared
//! form from there on, which the raw password (legitimately alive in the
//! credentials) does not contain, and which starts past the 16 bytes a
//! freed block loses to the allocator's links. SASLprep's own intermediate
//! buffers (inside the `stringprep` crate) and stack copies are out of
//! this crate's reach and this test's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod heap;

use xmpp_sasl::*;
use zeroize::Zeroizing;

const USER: &str = "juliet";
const PASSWORD: &str = "0123456789abcdef-\u{a0}-saslprep-wipe-needle";
/// `PASSWORD` after SASLprep, from byte 16 on.
const NEEDLE: &str = "- -saslprep-wipe-needle";

fn main() {
    let Some(mut heap) = heap::Heap::open() else {
        println!("wipe: skipped (needs /proc/self/mem)");
        return;
    };
    let needle = NEEDLE.as_bytes();
    assert!(!PASSWORD.contains(NEEDLE));
    heap.check_control(needle);

    let mut left = Vec::new();
    let stored = StoredCredentials::derive(USER, PASSWORD, &["example.com"]);
    left.push(("StoredCredentials::derive", heap.count(needle)));

    let mut plain = PlainServer::new(ServerMechanismConfig::new("example.com"));
    let message = Zeroizing::new(format!("\0{USER}\0{PASSWORD}"));
    let step = plain.start(Some(message.as_bytes()));
    assert!(matches!(step, ServerStep::NeedCredentials { .. }));
    let step = plain.credentials(Ok(Some(stored.clone())));
    assert!(matches!(step, ServerStep::Success { .. }), "{step:?}");
    drop((plain, message));
    left.push(("the PLAIN server's check", heap.count(needle)));

    let store = MemoryStore::default();
    store.insert(USER, stored).unwrap();
    for mechanism in [Mechanism::ScramSha256, Mechanism::Plain] {
        let creds = ClientCredentials::new(USER, PASSWORD, "example.com");
        let mut client = client_mechanism(mechanism, creds).unwrap();
        let config = ServerMechanismConfig::new("example.com");
        let mut server = server_mechanism(mechanism, &config).unwrap();
        exchange(client.as_mut(), server.as_mut(), &store);
        drop((client, server));
        left.push((mechanism.as_str(), heap.count(needle)));
    }

    assert!(
        left.iter().all(|(_, n)| *n == 0),
        "prepared passwords left in freed heap memory, after: {left:?}"
    );
    println!("wipe: ok (no SASLprep'd password left in the heap)");
}

/// Runs an exchange to success, wiping what the client sends as a caller
/// must (the PLAIN message carries the password).
fn exchange(
    client: &mut dyn ClientMechanism,
    server: &mut dyn ServerMechanism,
    store: &MemoryStore,
) {
    let initial = client.initial_response().unwrap().map(Zeroizing::new);
    let mut step = server.start(initial.as_ref().map(|m| m.as_slice()));
    loop {
        step = match step {
            ServerStep::NeedCredentials { username } => {
                server.credentials(Ok(store.get(&username)))
            }
            ServerStep::Challenge(c) => {
                let response = Zeroizing::new(client.respond(&c).unwrap());
                server.step(&response)
            }
            ServerStep::Success { additional, .. } => {
                return client.success(additional.as_deref()).unwrap();
            }
            ServerStep::Failure(e) => panic!("{}: {e}", client.name()),
        }
    }
}
