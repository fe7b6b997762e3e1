//! One account, one JID, whatever the spelling (issue #12): the store keys
//! accounts by the prepared username and binding prepares the localpart the
//! same way, so "Juliet" and "juliet" log in to one account and are bound
//! as one bare JID.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pair;

use std::sync::Arc;

use pair::*;
use xmpp_sasl::MemoryStore;

#[test]
fn logins_by_any_spelling_reach_one_account_and_bind_one_jid() {
    let store = MemoryStore::default();
    store.add("Juliet", PASSWORD, &[DOMAIN]).unwrap();
    let store = Arc::new(store);
    for mechanism in ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"] {
        for spelling in ["juliet", "Juliet", "JULIET"] {
            let mut client = client_config(&[mechanism]).with_resource("balcony");
            client.username = spelling.to_owned();
            let mut pair = Pair::new(client, server_config(store.clone()), store.clone());
            pair.run();
            let info = match pair.server_outcome.take() {
                Some(Ok(info)) => info,
                other => panic!("{mechanism} as {spelling}: {other:?}"),
            };
            assert_eq!(
                info.jid.as_str(),
                "juliet@example.com/balcony",
                "{mechanism} as {spelling}"
            );
        }
    }
}

#[test]
fn digest_md5_logs_in_with_the_prepared_spelling() {
    // DIGEST-MD5's stored hash covers the username, so it was derived for
    // the spelling the account is keyed by; our client sends that one.
    let store = MemoryStore::default();
    store.add("Juliet", PASSWORD, &[DOMAIN]).unwrap();
    let store = Arc::new(store);
    let mut pair = Pair::new(
        client_config(&["DIGEST-MD5"]),
        server_config(store.clone()),
        store,
    );
    pair.run();
    assert!(
        matches!(&pair.server_outcome, Some(Ok(info)) if info.jid.node().map(|n| n.as_str()) == Some("juliet")),
        "{:?}",
        pair.server_outcome
    );
}

#[test]
fn the_store_key_is_the_localpart_binding_yields() {
    // If the `jid` crate ever prepared localparts differently from
    // `prepare_username`, accounts and JIDs would drift apart again.
    for name in [
        "juliet",
        "Juliet",
        "JULIET",
        "Straße",
        "ÉLODIE",
        "ǅemal",
        "ﬀ",
        "Ⅻ",
        "user\u{ad}name",
        "名前",
        "a,b=c\\d",
        "jul@iet",
        "jul iet",
        "a/b",
        "",
        "\u{200b}",
    ] {
        let key = xmpp_sasl::prepare_username(name).ok();
        let node = xmpp_stream::jid::NodePart::new(name).ok();
        assert_eq!(
            key.as_deref(),
            node.as_ref().map(|n| n.as_str()),
            "{name:?}"
        );
    }
}
