//! One account per prepared username: a store keys accounts the way XMPP
//! prepares a JID's localpart (nodeprep), so "Juliet" and "juliet" are one
//! account, the one whose JID binding yields `juliet@...` (issue #12).

#![allow(clippy::unwrap_used)]

mod common;

use common::run;
use xmpp_sasl::*;

fn creds(user: &str, pass: &str) -> ClientCredentials {
    ClientCredentials::new(user, pass, "example.com")
}

#[test]
fn spellings_that_prepare_alike_are_one_account() {
    let store = MemoryStore::new();
    store
        .add("Juliet", "r0m30myr0m30", &["example.com"])
        .unwrap();
    assert!(store.get("juliet").is_some());
    assert!(store.get("JULIET").is_some());
    // Adding the other spelling replaces the account, it does not make a second one.
    store.add("juliet", "n3w", &["example.com"]).unwrap();
    let scram = store.get("Juliet").unwrap().scram_sha256.unwrap();
    assert!(scram.verify_password(ScramHash::Sha256, "n3w"));
    assert!(store.disable("JuLiEt"));
    assert!(store.get("juliet").unwrap().disabled);
    assert!(store.enable("JULIET"));
    assert!(store.expire("juliet"));
    assert!(store.get("Juliet").unwrap().expired);
    assert!(store.remove("JULIET"));
    assert!(store.get("juliet").is_none());
    assert!(store.get("Juliet").is_none());
}

#[test]
fn plain_and_scram_logins_by_either_spelling_reach_the_account() {
    let store = MemoryStore::new();
    store
        .add("Juliet", "r0m30myr0m30", &["example.com"])
        .unwrap();
    for user in ["juliet", "Juliet", "JULIET"] {
        let cfg = ServerMechanismConfig::new("example.com");
        let mut c = PlainClient::new(creds(user, "r0m30myr0m30"));
        let mut s = PlainServer::new(cfg.clone());
        assert!(run(&mut c, &mut s, &store).is_ok(), "PLAIN as {user}");
        for hash in [ScramHash::Sha1, ScramHash::Sha256] {
            let mut c = ScramClient::new(hash, creds(user, "r0m30myr0m30"));
            let mut s = ScramServer::new(hash, cfg.clone());
            assert!(run(&mut c, &mut s, &store).is_ok(), "{hash:?} as {user}");
        }
        // The wrong password still fails, whatever the spelling.
        let mut c = PlainClient::new(creds(user, "wrong"));
        let mut s = PlainServer::new(cfg);
        assert_eq!(
            run(&mut c, &mut s, &store).err().as_deref(),
            Some("server: not-authorized")
        );
    }
}

#[test]
fn a_username_nodeprep_refuses_is_no_account() {
    let store = MemoryStore::new();
    // '@' and spaces are prohibited in a localpart: no JID could be bound.
    for bad in ["jul@iet", "jul iet", ""] {
        assert!(store.get(bad).is_none());
        assert!(!store.disable(bad));
        assert!(!store.remove(bad));
    }
}

#[test]
fn an_authzid_naming_the_same_account_in_another_spelling_is_the_user_itself() {
    let store = MemoryStore::new();
    store
        .add("juliet", "r0m30myr0m30", &["example.com"])
        .unwrap();
    let cfg = ServerMechanismConfig::new("example.com");
    for (authcid, authzid) in [
        ("Juliet", "juliet@example.com"),
        ("juliet", "JULIET@example.com"),
    ] {
        let mut c = PlainClient::new(creds(authcid, "r0m30myr0m30").with_authzid(authzid));
        let mut s = PlainServer::new(cfg.clone());
        assert_eq!(
            run(&mut c, &mut s, &store),
            Ok((authcid.to_owned(), None)),
            "{authcid} as {authzid}"
        );
    }
    // Another account is still refused (no authorizer).
    let mut c = PlainClient::new(creds("juliet", "r0m30myr0m30").with_authzid("romeo@example.com"));
    let mut s = PlainServer::new(cfg);
    assert_eq!(
        run(&mut c, &mut s, &store).err().as_deref(),
        Some("server: invalid-authzid")
    );
}
