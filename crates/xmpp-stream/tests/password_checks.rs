//! Password checks (PLAIN against a stored SCRAM secret: one PBKDF2 each)
//! run outside the core and outside the async threads, at most
//! `ServerConfig::derivations` at once; beyond that a login gets
//! `<temporary-auth-failure/>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod pair;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Raw;
use pair::Pair;
use xmpp_sasl::{Condition, Mechanism, MechanismSelector, MemoryStore, StoredCredentials};
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::server::{DerivationLimit, ServerConfig};
use xmpp_stream::{ClientError, StreamCondition};

/// Each cleartext mechanism on its own, as the pair's client.
const MECHANISMS: [&str; 4] = ["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"];

fn pair(mechanism: &str) -> Pair {
    let store = pair::store();
    Pair::new(
        pair::client_config(&[mechanism]),
        pair::server_config(store.clone()),
        store,
    )
}

#[test]
fn only_plain_hands_its_check_to_the_shell() {
    for mechanism in MECHANISMS {
        let mut pair = pair(mechanism);
        pair.run();
        let _ = pair.established();
        let expected = usize::from(mechanism == "PLAIN");
        assert_eq!(pair.password_checks, expected, "{mechanism}");
    }
}

#[test]
fn a_refused_check_is_temporary_auth_failure() {
    let mut pair = pair("PLAIN");
    pair.refuse_password_checks = 1;
    pair.run();
    assert_eq!(
        pair::sasl_failures(&pair.server_sent),
        ["temporary-auth-failure"]
    );
    match pair.client_error() {
        ClientError::Sasl {
            mechanism,
            condition,
            ..
        } => assert_eq!(
            (*mechanism, *condition),
            (Mechanism::Plain, Condition::TemporaryAuthFailure)
        ),
        other => panic!("not a SASL failure: {other:?}"),
    }
}

#[test]
fn the_deadline_passes_during_a_check_and_its_late_result_is_ignored() {
    let mut pair = pair("PLAIN");
    pair.hold_password_checks = true;
    pair.run();
    assert!(pair.holds_password_check());
    pair.advance(Duration::from_secs(30));
    assert_eq!(
        pair.server_error().condition(),
        Some(StreamCondition::ConnectionTimeout)
    );
    let sent = pair.server_sent.len();
    pair.finish_password_check();
    assert_eq!(pair.server_sent.len(), sent);
    assert!(pair.server.poll_action().is_none());
}

// ---------------------------------------------------------------------------
// The tokio shell
// ---------------------------------------------------------------------------

/// A PBKDF2 iteration count for which one check takes about `target` on
/// this machine and build, measured rather than guessed (debug builds are
/// many times slower than release ones).
fn iterations_lasting(target: Duration) -> u32 {
    let probe = 4096;
    let started = Instant::now();
    let _ = StoredCredentials::derive_with("u", "p", &[], b"salt", b"salt", probe);
    // derive_with derives for SHA-1 and SHA-256; a PLAIN check, SHA-256 only.
    let per_check = started.elapsed() / 2;
    let scale = target.as_secs_f64() / per_check.as_secs_f64().max(1e-6);
    (f64::from(probe) * scale).clamp(f64::from(probe), 50_000_000.0) as u32
}

/// A server offering DIGEST-MD5 and PLAIN on cleartext, whose `slow` user's
/// PLAIN check takes about a second and whose `juliet` logs in as usual.
fn slow_config(limit: DerivationLimit) -> Arc<ServerConfig> {
    let store = MemoryStore::default();
    store
        .add(common::USER, common::PASSWORD, &[common::DOMAIN])
        .unwrap();
    let iterations = iterations_lasting(Duration::from_secs(1));
    store
        .insert(
            "slow",
            StoredCredentials::derive_with("slow", "pw", &[], b"salt-1", b"salt-256", iterations),
        )
        .unwrap();
    let mut config = ServerConfig::new(common::DOMAIN, Arc::new(store));
    config.mechanisms = vec![Mechanism::DigestMd5, Mechanism::Plain];
    config.allow_plain_insecure = true;
    config.derivations = limit;
    Arc::new(config)
}

/// A raw client that sent `slow`'s PLAIN auth; returns once its check runs.
async fn slow_plain(config: &Arc<ServerConfig>) -> Raw {
    let (io, _server) = common::spawn_server_shared(config.clone());
    let mut raw = Raw::new(io);
    raw.send(common::CLIENT_HEADER).await;
    raw.until("</stream:features>").await;
    raw.send(&common::plain_auth("slow", "pw")).await;
    for _ in 0..500 {
        if config.derivations.in_flight() > 0 {
            return raw;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the PLAIN check never started on the blocking pool");
}

fn digest_md5_client() -> ClientConfig {
    ClientConfig::new("juliet@example.com/second", common::PASSWORD)
        .unwrap()
        .with_selector(MechanismSelector::with_preference([Mechanism::DigestMd5]))
        .with_tls(TlsMode::Off)
}

/// On a runtime with a single thread, a login completes while another
/// connection's PBKDF2 runs: the check does not hold the async thread.
#[tokio::test(flavor = "current_thread")]
async fn a_running_check_does_not_stall_other_connections() {
    let config = slow_config(DerivationLimit::new(4));
    let mut slow = slow_plain(&config).await;

    let (io, server) = common::spawn_server_shared(config.clone());
    let client = tokio::time::timeout(
        Duration::from_secs(5),
        connect(io, digest_md5_client(), None),
    )
    .await
    .expect("the DIGEST-MD5 login waited for the other connection's PBKDF2")
    .unwrap();
    assert_eq!(client.jid().as_str(), "juliet@example.com/second");
    server.await.unwrap().unwrap();
    assert_eq!(
        config.derivations.in_flight(),
        1,
        "the other check is still running"
    );

    slow.until("<success").await;
    assert_eq!(config.derivations.in_flight(), 0);
}

/// With every permit taken, a PLAIN login is answered at once with
/// `<temporary-auth-failure/>`, and may retry on the same stream later.
#[tokio::test]
async fn beyond_the_cap_plain_gets_temporary_auth_failure_at_once() {
    let config = slow_config(DerivationLimit::new(1));
    let mut slow = slow_plain(&config).await;

    let (io, _server) = common::spawn_server_shared(config.clone());
    let mut raw = Raw::new(io);
    raw.send(common::CLIENT_HEADER).await;
    raw.until("</stream:features>").await;
    raw.send(&common::plain_auth(common::USER, common::PASSWORD))
        .await;
    let out = raw.until("</failure>").await;
    assert!(out.contains("<temporary-auth-failure/>"), "{out}");
    assert!(out.contains("try again"), "{out}");

    slow.until("<success").await;
    raw.send(&common::plain_auth(common::USER, common::PASSWORD))
        .await;
    raw.until("<success").await;
    assert_eq!(config.derivations.in_flight(), 0);
}
