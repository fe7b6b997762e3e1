//! Resources are bound, answered and compared in their resourceprep'd form
//! (RFC 6120 §7.7.2.2, RFC 7622 §3.4): issue #12 found them validated with
//! resourceprep but used raw, so two resources equal under resourceprep
//! could both bind.
//!
//! `ｂａｌｃｏｎｙ` (full-width letters) and `ﬁeld` (the U+FB01 ligature) are
//! what resourceprep's NFKC turns into `balcony` and `field`; case is kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use futures_util::StreamExt as _;
use xmpp_stream::server::{ConflictPolicy, ResourceRegistry, ServerConfig};

const FULL_WIDTH: &str = "ｂａｌｃｏｎｙ";

fn bind(resource: &str) -> String {
    format!(
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>{resource}</resource></bind></iq>"
    )
}

async fn authenticate(raw: &mut Raw) {
    raw.send(CLIENT_HEADER).await;
    raw.until("</stream:features>").await;
    raw.send(&plain_auth(USER, PASSWORD)).await;
    raw.until("<success").await;
    raw.send(CLIENT_HEADER).await;
    raw.until("</stream:features>").await;
}

/// Authenticates on a new connection to `config` and asks for `resource`;
/// returns the raw peer, the bind answer and the server task.
async fn bind_as(config: &Arc<ServerConfig>, resource: &str) -> (Raw, String, ServerTask) {
    let (io, server) = spawn_server_shared(config.clone());
    let mut raw = Raw::new(io);
    authenticate(&mut raw).await;
    raw.send(&bind(resource)).await;
    let answer = raw.until("</iq>").await;
    (raw, answer, server)
}

fn config(policy: ConflictPolicy) -> Arc<ServerConfig> {
    let mut config = seed_config();
    config.registry = Arc::new(ResourceRegistry::new(policy));
    Arc::new(config)
}

#[tokio::test]
async fn the_bind_result_and_the_stream_carry_the_prepared_resource() {
    let config = config(ConflictPolicy::Refuse);
    for (asked, bound) in [(FULL_WIDTH, "balcony"), ("ﬁeld", "field")] {
        let (_raw, answer, server) = bind_as(&config, asked).await;
        assert!(
            answer.contains(&format!("<jid>juliet@example.com/{bound}</jid>")),
            "{asked}: {answer}"
        );
        let stream = server.await.unwrap().unwrap();
        assert_eq!(
            stream.jid().to_string(),
            format!("juliet@example.com/{bound}")
        );
    }
}

#[tokio::test]
async fn resources_equal_under_resourceprep_conflict_under_refuse() {
    let config = config(ConflictPolicy::Refuse);
    let (_first, answer, _server) = bind_as(&config, "balcony").await;
    assert!(answer.contains("type='result'"), "{answer}");
    let (_second, answer, _server2) = bind_as(&config, FULL_WIDTH).await;
    assert!(answer.contains("<conflict"), "{answer}");
    // The other way round, and with a ligature.
    let (_third, answer, _server3) = bind_as(&config, "ﬁeld").await;
    assert!(answer.contains("type='result'"), "{answer}");
    let (_fourth, answer, _server4) = bind_as(&config, "field").await;
    assert!(answer.contains("<conflict"), "{answer}");
}

#[tokio::test]
async fn resources_equal_under_resourceprep_replace_under_replace() {
    let config = config(ConflictPolicy::Replace);
    let (mut old_raw, answer, old_server) = bind_as(&config, "balcony").await;
    assert!(answer.contains("type='result'"), "{answer}");
    let mut old = old_server.await.unwrap().unwrap();
    let reader = tokio::spawn(async move { old.next().await.map(|r| r.is_err()) });
    let (_new_raw, answer, _new_server) = bind_as(&config, FULL_WIDTH).await;
    assert!(
        answer.contains("<jid>juliet@example.com/balcony</jid>"),
        "{answer}"
    );
    let out = old_raw.until_eof().await;
    assert!(
        out.contains("<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'"),
        "{out}"
    );
    assert_eq!(reader.await.unwrap(), Some(true));
}

#[tokio::test]
async fn resources_that_differ_in_case_are_different_resources() {
    // Resourceprep does not case-fold (RFC 3920 appendix B: mapping B.1
    // only), so these are two sessions.
    let config = config(ConflictPolicy::Refuse);
    let (_a, answer, _sa) = bind_as(&config, "balcony").await;
    assert!(answer.contains("/balcony</jid>"), "{answer}");
    let (_b, answer, _sb) = bind_as(&config, "Balcony").await;
    assert!(answer.contains("/Balcony</jid>"), "{answer}");
}
