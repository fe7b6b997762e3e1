//! Issue #12 against the real `xmpp serve`: the SCRAM salt an unknown user
//! is shown is the same on every connection and after a restart (the decoy
//! secret is kept in the store), follows the store's account names, and
//! differs between users and between stores.

mod common;

use common::*;

fn salt(server: &Server, jid: &str) -> String {
    scram_salt(&server.addr, jid)
}

#[test]
fn an_unknown_users_salt_is_stable_and_looks_like_a_real_one() {
    let store = Store::new();
    let server = Server::start(store.arg(), &[]);
    let unknown = salt(&server, "nobody@example.com");
    assert_eq!(salt(&server, "nobody@example.com"), unknown);
    // The store files Nobody as nobody: a real account would show one salt
    // for both, so the decoy does too.
    assert_eq!(salt(&server, "Nobody@example.com"), unknown);
    assert_eq!(
        salt(&server, "SomeNode@example.com"),
        salt(&server, "somenode@example.com")
    );
    assert_ne!(salt(&server, "nobody2@example.com"), unknown);
    assert_ne!(salt(&server, "somenode@example.com"), unknown);
    assert_eq!(unknown.len(), salt(&server, "somenode@example.com").len());

    // A restart reads the secret back from the store.
    drop(server);
    let server = Server::start(store.arg(), &[]);
    assert_eq!(salt(&server, "nobody@example.com"), unknown);

    // Another store has another secret.
    let other = Store::new();
    let server = Server::start(other.arg(), &[]);
    assert_ne!(salt(&server, "nobody@example.com"), unknown);
}
