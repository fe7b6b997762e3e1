//! The PBKDF2 cache: logins with it behave exactly as without it.
#![allow(clippy::unwrap_used)]

mod common;

use common::run;
use xmpp_sasl::*;

fn store() -> MemoryStore {
    let store = MemoryStore::new();
    store
        .add("juliet", "r0m30myr0m30", &["example.com"])
        .unwrap();
    store.add("romeo", "j4l13t", &["example.com"]).unwrap();
    store
}

#[test]
fn scram_clients_share_salted_passwords() {
    let store = store();
    let cache = Pbkdf2Cache::new(100);
    for mech in [Mechanism::ScramSha1, Mechanism::ScramSha256] {
        for _ in 0..3 {
            let creds = ClientCredentials::new("juliet", "r0m30myr0m30", "example.com")
                .with_pbkdf2_cache(cache.clone());
            let mut client = client_mechanism(mech, creds).unwrap();
            let cfg = ServerMechanismConfig::new("example.com");
            let mut server = server_mechanism(mech, &cfg).unwrap();
            assert_eq!(
                run(client.as_mut(), server.as_mut(), &store).unwrap().0,
                "juliet"
            );
        }
    }
    // One derivation per (hash, salt, iterations): the two later logins of
    // each mechanism were cache hits.
    assert_eq!(cache.len(), 2);
}

#[test]
fn a_cached_client_still_fails_with_a_wrong_password() {
    let store = store();
    let cache = Pbkdf2Cache::new(100);
    for password in ["r0m30myr0m30", "wrong", "r0m30myr0m30"] {
        let creds = ClientCredentials::new("juliet", password, "example.com")
            .with_pbkdf2_cache(cache.clone());
        let mut client = client_mechanism(Mechanism::ScramSha256, creds).unwrap();
        let cfg = ServerMechanismConfig::new("example.com");
        let mut server = server_mechanism(Mechanism::ScramSha256, &cfg).unwrap();
        let result = run(client.as_mut(), server.as_mut(), &store);
        assert_eq!(
            result.is_ok(),
            password == "r0m30myr0m30",
            "{password}: {result:?}"
        );
    }
}

#[test]
fn plain_with_a_server_cache_accepts_and_refuses_as_without() {
    let store = store();
    let mut cfg = ServerMechanismConfig::new("example.com");
    cfg.plain_cache = Some(Pbkdf2Cache::new(100));
    let cases = [
        ("juliet", "r0m30myr0m30", true),
        ("juliet", "r0m30myr0m30", true),
        ("juliet", "wrong", false),
        ("romeo", "r0m30myr0m30", false),
        ("romeo", "j4l13t", true),
        ("juliet", "j4l13t", false),
        ("juliet", "r0m30myr0m30", true),
    ];
    for (user, password, ok) in cases {
        let mut client = client_mechanism(
            Mechanism::Plain,
            ClientCredentials::new(user, password, "example.com"),
        )
        .unwrap();
        let mut server = server_mechanism(Mechanism::Plain, &cfg).unwrap();
        let result = run(client.as_mut(), server.as_mut(), &store);
        assert_eq!(result.is_ok(), ok, "{user}/{password}: {result:?}");
    }
    let cache = cfg.plain_cache.as_ref().unwrap();
    // Only the two verified (user, password) pairs are remembered.
    assert_eq!(cache.len(), 2);
}

#[test]
fn a_password_change_is_seen_through_the_server_cache() {
    let store = store();
    let mut cfg = ServerMechanismConfig::new("example.com");
    cfg.plain_cache = Some(Pbkdf2Cache::new(100));
    let login = |password: &str| {
        let mut client = client_mechanism(
            Mechanism::Plain,
            ClientCredentials::new("juliet", password, "example.com"),
        )
        .unwrap();
        let mut server = server_mechanism(Mechanism::Plain, &cfg).unwrap();
        run(client.as_mut(), server.as_mut(), &store).is_ok()
    };
    assert!(login("r0m30myr0m30"));
    // New password: a new salt, so the cached entry no longer matches.
    store.add("juliet", "n3w", &["example.com"]).unwrap();
    assert!(!login("r0m30myr0m30"));
    assert!(login("n3w"));
}
