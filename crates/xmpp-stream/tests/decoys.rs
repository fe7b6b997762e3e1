//! Issue #12: an unknown user's SCRAM salt comes from the server's
//! configured decoy secret, so that it is the same on every connection and
//! for every server sharing that secret, and not otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pair;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use pair::*;
use xmpp_sasl::{Decoys, MemoryStore, ServerSecret};
use xmpp_xml::ns;

/// The `s=` a SCRAM-SHA-256 login of juliet, who does not exist, is shown by
/// a server with decoy secret `secret`.
fn unknown_users_salt(secret: [u8; 32]) -> String {
    let store = Arc::new(MemoryStore::default());
    let mut config = server_config(store.clone());
    config.decoys = Decoys::new(ServerSecret::from_bytes(&secret));
    let mut pair = Pair::new(client_config(&["SCRAM-SHA-256"]), config, store);
    pair.run();
    assert_eq!(sasl_failures(&pair.client_received), ["not-authorized"]);
    let challenge = elements(&pair.client_received)
        .find(|el| el.is("challenge", ns::SASL))
        .expect("a server-first message");
    let server_first = String::from_utf8(STANDARD.decode(challenge.text()).unwrap()).unwrap();
    server_first
        .split(',')
        .find_map(|a| a.strip_prefix("s="))
        .expect("a salt")
        .to_owned()
}

#[test]
fn an_unknown_users_salt_comes_from_the_configured_secret() {
    let salt = unknown_users_salt([1; 32]);
    assert_eq!(unknown_users_salt([1; 32]), salt);
    assert_ne!(unknown_users_salt([2; 32]), salt);
}
