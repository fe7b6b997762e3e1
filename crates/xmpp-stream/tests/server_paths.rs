//! The server against a raw client: every failure path a client can cause.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::StreamExt as _;
use xmpp_sasl::{CredentialStore, StoreError, StoredCredentials};
use xmpp_stream::server::{ConflictPolicy, ResourceRegistry, ServerConfig};
use xmpp_stream::{ServerError, StreamCondition};

const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";

fn stream_error(condition: &str) -> String {
    format!("<{condition} xmlns='urn:ietf:params:xml:ns:xmpp-streams'")
}

/// Sends `header`, expects a response header then the stream error and the
/// close, and the server task to report it.
async fn header_error(header: &str, condition: &str, expected: StreamCondition) {
    let (io, server) = spawn_server(seed_config());
    let mut raw = Raw::new(io);
    raw.send(header).await;
    let out = raw.until_eof().await;
    let h = out.find("<stream:stream").expect("a response header first");
    let e = out.find(&stream_error(condition)).expect(condition);
    assert!(h < e, "{out}");
    assert!(out.trim_end().ends_with("</stream:stream>"), "{out}");
    let err = server.await.unwrap().err().expect("failure");
    assert_eq!(err.condition(), Some(expected));
}

#[tokio::test]
async fn unknown_host() {
    let h = CLIENT_HEADER.replace("to='example.com'", "to='example.org'");
    header_error(&h, "host-unknown", StreamCondition::HostUnknown).await;
}

#[tokio::test]
async fn wrong_stream_namespace() {
    let h = CLIENT_HEADER.replace("http://etherx.jabber.org/streams", "urn:wrong");
    header_error(&h, "invalid-namespace", StreamCondition::InvalidNamespace).await;
}

#[tokio::test]
async fn wrong_content_namespace() {
    let h = CLIENT_HEADER.replace("jabber:client", "jabber:server");
    header_error(&h, "invalid-namespace", StreamCondition::InvalidNamespace).await;
}

#[tokio::test]
async fn missing_or_old_version() {
    let h = CLIENT_HEADER.replace("to='example.com' version='1.0'", "to='example.com'");
    header_error(
        &h,
        "unsupported-version",
        StreamCondition::UnsupportedVersion,
    )
    .await;
    let h = CLIENT_HEADER.replace(
        "to='example.com' version='1.0'",
        "to='example.com' version='0.9'",
    );
    header_error(
        &h,
        "unsupported-version",
        StreamCondition::UnsupportedVersion,
    )
    .await;
}

#[tokio::test]
async fn odd_stream_prefix_is_accepted() {
    let (io, _server) = spawn_server(seed_config());
    let mut raw = Raw::new(io);
    raw.send(
        "<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' \
         to='example.com' version='1.0'>",
    )
    .await;
    raw.until("<mechanism>DIGEST-MD5</mechanism>").await;
}

/// Opens a stream and reads through the features.
async fn opened(config: ServerConfig) -> (Raw, ServerTask) {
    let (io, server) = spawn_server(config);
    let mut raw = Raw::new(io);
    raw.send(CLIENT_HEADER).await;
    raw.until("</stream:features>").await;
    (raw, server)
}

async fn expect_failure(raw: &mut Raw, condition: &str) {
    let out = raw.until("</failure>").await;
    assert!(out.contains(&format!("<{condition}")), "{out}");
}

#[tokio::test]
async fn stanza_before_auth_is_not_authorized() {
    let (mut raw, server) = opened(seed_config()).await;
    raw.send("<message to='romeo@example.net'><body>hi</body></message>")
        .await;
    let out = raw.until_eof().await;
    assert!(out.contains(&stream_error("not-authorized")), "{out}");
    let err = server.await.unwrap().err().unwrap();
    assert_eq!(err.condition(), Some(StreamCondition::NotAuthorized));
}

#[tokio::test]
async fn unknown_mechanism_is_invalid_mechanism() {
    let (mut raw, _server) = opened(seed_config()).await;
    raw.send(&format!("<auth xmlns='{SASL}' mechanism='X-NOPE'/>"))
        .await;
    expect_failure(&mut raw, "invalid-mechanism").await;
}

#[tokio::test]
async fn plain_on_an_unprotected_stream_needs_encryption() {
    let mut config = seed_config();
    config.allow_plain_insecure = false;
    let (mut raw, _server) = opened(config).await;
    assert!(
        !raw.seen.contains("<mechanism>PLAIN</mechanism>"),
        "{}",
        raw.seen
    );
    raw.send(&plain_auth(USER, PASSWORD)).await;
    expect_failure(&mut raw, "encryption-required").await;
}

#[tokio::test]
async fn bad_base64_is_incorrect_encoding() {
    let (mut raw, _server) = opened(seed_config()).await;
    raw.send(&format!(
        "<auth xmlns='{SASL}' mechanism='PLAIN'>!!notbase64</auth>"
    ))
    .await;
    expect_failure(&mut raw, "incorrect-encoding").await;
    // The stream stays open (RFC 6120 §6.4.5): a retry succeeds.
    raw.send(&plain_auth(USER, PASSWORD)).await;
    raw.until("<success").await;
}

#[tokio::test]
async fn base64_with_line_breaks_is_accepted() {
    let (mut raw, _server) = opened(seed_config()).await;
    let b = b64(format!("\0{USER}\0{PASSWORD}").as_bytes());
    let (a, c) = b.split_at(8);
    raw.send(&format!(
        "<auth xmlns='{SASL}' mechanism='PLAIN'>\n {a}\r\n{c} </auth>"
    ))
    .await;
    raw.until("<success").await;
}

#[tokio::test]
async fn wrong_password_is_not_authorized() {
    let (mut raw, _server) = opened(seed_config()).await;
    raw.send(&plain_auth(USER, "wrong")).await;
    expect_failure(&mut raw, "not-authorized").await;
}

#[tokio::test]
async fn abort_is_acknowledged_with_aborted() {
    let (mut raw, _server) = opened(seed_config()).await;
    raw.send(&format!("<auth xmlns='{SASL}' mechanism='DIGEST-MD5'/>"))
        .await;
    raw.until("</challenge>").await;
    raw.send(&format!("<abort xmlns='{SASL}'/>")).await;
    expect_failure(&mut raw, "aborted").await;
}

#[tokio::test]
async fn a_new_auth_restarts_the_exchange() {
    let (mut raw, _server) = opened(seed_config()).await;
    raw.send(&format!("<auth xmlns='{SASL}' mechanism='DIGEST-MD5'/>"))
        .await;
    raw.until("</challenge>").await;
    raw.send(&plain_auth(USER, PASSWORD)).await;
    raw.until("<success").await;
}

#[tokio::test]
async fn retries_then_policy_violation() {
    let (mut raw, server) = opened(seed_config()).await;
    for _ in 0..3 {
        raw.send(&plain_auth(USER, "wrong")).await;
        expect_failure(&mut raw, "not-authorized").await;
    }
    raw.send(&plain_auth(USER, "wrong")).await;
    let out = raw.until_eof().await;
    assert!(out.contains("<not-authorized"), "{out}");
    assert!(out.contains(&stream_error("policy-violation")), "{out}");
    let err = server.await.unwrap().err().unwrap();
    assert_eq!(err.condition(), Some(StreamCondition::PolicyViolation));
}

#[tokio::test]
async fn rfc3920_mode_closes_after_failure() {
    let mut config = seed_config();
    config.close_after_sasl_failure = true;
    let (mut raw, server) = opened(config).await;
    raw.send(&plain_auth(USER, "wrong")).await;
    let out = raw.until_eof().await;
    assert!(out.contains("<not-authorized"), "{out}");
    assert!(out.trim_end().ends_with("</stream:stream>"), "{out}");
    assert!(matches!(
        server.await.unwrap(),
        Err(ServerError::SaslFailed(xmpp_sasl::Condition::NotAuthorized))
    ));
}

struct BrokenStore;

#[async_trait::async_trait]
impl CredentialStore for BrokenStore {
    async fn lookup(&self, _username: &str) -> Result<Option<StoredCredentials>, StoreError> {
        Err(StoreError::msg("database is down"))
    }
}

#[tokio::test]
async fn store_failure_is_temporary_auth_failure() {
    let mut config = ServerConfig::new(DOMAIN, Arc::new(BrokenStore));
    config.allow_plain_insecure = true;
    let (mut raw, _server) = opened(config).await;
    raw.send(&plain_auth(USER, PASSWORD)).await;
    expect_failure(&mut raw, "temporary-auth-failure").await;
}

#[tokio::test]
async fn disabled_account_is_account_disabled() {
    let store = store();
    store.disable(USER);
    let mut config = ServerConfig::new(DOMAIN, store);
    config.allow_plain_insecure = true;
    let (mut raw, _server) = opened(config).await;
    raw.send(&plain_auth(USER, PASSWORD)).await;
    expect_failure(&mut raw, "account-disabled").await;
}

#[tokio::test(start_paused = true)]
async fn negotiation_timeout_is_connection_timeout() {
    let (mut raw, server) = opened(seed_config()).await;
    // Virtual time: nothing more is sent; the 30 s bound passes instantly.
    tokio::time::advance(Duration::from_secs(31)).await;
    let out = raw.until_eof().await;
    assert!(out.contains(&stream_error("connection-timeout")), "{out}");
    let err = server.await.unwrap().err().unwrap();
    assert_eq!(err.condition(), Some(StreamCondition::ConnectionTimeout));
}

struct HangingStore;

#[async_trait::async_trait]
impl CredentialStore for HangingStore {
    async fn lookup(&self, _username: &str) -> Result<Option<StoredCredentials>, StoreError> {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_store_that_never_answers_is_bounded_by_the_negotiation_timeout() {
    let mut config = ServerConfig::new(DOMAIN, Arc::new(HangingStore));
    config.allow_plain_insecure = true;
    // Shorter than the reader's own 5 s limit, which the paused clock
    // would otherwise reach first.
    config.negotiation_timeout = Duration::from_secs(1);
    let (mut raw, server) = opened(config).await;
    raw.send(&plain_auth(USER, PASSWORD)).await;
    let out = raw.until_eof().await;
    assert!(out.contains(&stream_error("connection-timeout")), "{out}");
    let err = server.await.unwrap().err().unwrap();
    assert_eq!(err.condition(), Some(StreamCondition::ConnectionTimeout));
}

#[tokio::test]
async fn oversize_stanza_before_auth_is_policy_violation() {
    let (mut raw, server) = opened(seed_config()).await;
    // 16 KiB is the pre-authentication limit; send more than that.
    let big = "A".repeat(20 * 1024);
    raw.send(&format!(
        "<auth xmlns='{SASL}' mechanism='PLAIN'>{big}</auth>"
    ))
    .await;
    let out = raw.until_eof().await;
    assert!(out.contains(&stream_error("policy-violation")), "{out}");
    let err = server.await.unwrap().err().unwrap();
    assert_eq!(err.condition(), Some(StreamCondition::PolicyViolation));
}

#[tokio::test]
async fn comment_mid_negotiation_is_restricted_xml() {
    let (mut raw, server) = opened(seed_config()).await;
    raw.send("<!-- hello -->").await;
    let out = raw.until_eof().await;
    assert!(out.contains(&stream_error("restricted-xml")), "{out}");
    let err = server.await.unwrap().err().unwrap();
    assert_eq!(err.condition(), Some(StreamCondition::RestrictedXml));
}

#[tokio::test]
async fn pipelined_auth_and_restart_header_in_one_write() {
    let (mut raw, server) = opened(seed_config()).await;
    raw.send(&format!(
        "{}{CLIENT_HEADER}<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <resource>balcony</resource></bind></iq>",
        plain_auth(USER, PASSWORD)
    ))
    .await;
    let out = raw.until("</iq>").await;
    assert!(out.contains("<success"), "{out}");
    assert!(
        out.contains("<jid>juliet@example.com/balcony</jid>"),
        "{out}"
    );
    assert_eq!(
        server.await.unwrap().unwrap().jid().as_str(),
        "juliet@example.com/balcony"
    );
}

/// Authenticates with PLAIN and restarts; returns after the new features.
async fn authenticated(config: ServerConfig) -> (Raw, ServerTask) {
    let (mut raw, server) = opened(config).await;
    raw.send(&plain_auth(USER, PASSWORD)).await;
    raw.until("<success").await;
    raw.send(CLIENT_HEADER).await;
    let features = raw.until("</stream:features>").await;
    assert!(
        features.contains("urn:ietf:params:xml:ns:xmpp-bind"),
        "{features}"
    );
    assert!(!features.contains("<mechanisms"), "{features}");
    (raw, server)
}

fn bind(resource: Option<&str>) -> String {
    let inner = resource
        .map(|r| format!("<resource>{r}</resource>"))
        .unwrap_or_default();
    format!(
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>{inner}</bind></iq>"
    )
}

#[tokio::test]
async fn stanza_before_bind_is_not_authorized() {
    let (mut raw, _server) = authenticated(seed_config()).await;
    raw.send("<presence/>").await;
    let out = raw.until_eof().await;
    assert!(out.contains(&stream_error("not-authorized")), "{out}");
}

#[tokio::test]
async fn server_generates_a_random_resource() {
    let mut resources = Vec::new();
    for _ in 0..2 {
        let (mut raw, server) = authenticated(seed_config()).await;
        raw.send(&bind(None)).await;
        let out = raw.until("</iq>").await;
        let stream = server.await.unwrap().unwrap();
        assert!(
            out.contains(&format!("<jid>{}</jid>", stream.jid())),
            "{out}"
        );
        let resource = stream.jid().as_str().split_once('/').unwrap().1.to_owned();
        assert!(resource.len() >= 16, "{resource}");
        resources.push(resource);
    }
    assert_ne!(resources[0], resources[1]);
}

#[tokio::test]
async fn invalid_resource_is_bad_request() {
    let (mut raw, _server) = authenticated(seed_config()).await;
    // Private-use characters are prohibited in a resourcepart (RFC 3920
    // resourceprep, table C.3); over 1023 bytes is too long (RFC 7622 §3.4).
    raw.send(&bind(Some("&#xE000;private"))).await;
    let out = raw.until("</iq>").await;
    assert!(out.contains("<bad-request"), "{out}");
    raw.send(&bind(Some(&"a".repeat(1024)))).await;
    let out = raw.until("</iq>").await;
    assert!(
        out.contains("type='error'") || out.contains("type=\"error\""),
        "{out}"
    );
    assert!(out.contains("<bad-request"), "{out}");
    // A retry with a good resource works.
    raw.send(&bind(Some("balcony"))).await;
    raw.until("<jid>juliet@example.com/balcony</jid>").await;
}

#[tokio::test]
async fn conflict_refused_under_the_refuse_policy() {
    let registry = Arc::new(ResourceRegistry::new(ConflictPolicy::Refuse));
    let mut config = seed_config();
    config.registry = registry;
    let config = Arc::new(config);
    let first = login_raw(config.clone(), "balcony").await;
    let (io, _server) = spawn_server_shared(config);
    let mut raw = Raw::new(io);
    authenticate_raw(&mut raw).await;
    raw.send(&bind(Some("balcony"))).await;
    let out = raw.until("</iq>").await;
    assert!(out.contains("<conflict"), "{out}");
    drop(first);
}

#[tokio::test]
async fn conflict_replaces_the_old_session_under_the_replace_policy() {
    let config = Arc::new(seed_config());
    let (mut old_raw, old_server) = {
        let (io, server) = spawn_server_shared(config.clone());
        let mut raw = Raw::new(io);
        authenticate_raw(&mut raw).await;
        raw.send(&bind(Some("balcony"))).await;
        raw.until("</iq>").await;
        (raw, server)
    };
    let mut old = old_server.await.unwrap().unwrap();
    let reader = tokio::spawn(async move { old.next().await.map(|r| r.map(|_| ())) });
    let (io, _server) = spawn_server_shared(config);
    let mut raw = Raw::new(io);
    authenticate_raw(&mut raw).await;
    raw.send(&bind(Some("balcony"))).await;
    raw.until("<jid>juliet@example.com/balcony</jid>").await;
    let out = old_raw.until_eof().await;
    assert!(out.contains(&stream_error("conflict")), "{out}");
    let ended = reader.await.unwrap().expect("an error item");
    assert!(ended.is_err());
}

#[tokio::test]
async fn closing_an_accounts_sessions_ends_each_with_the_given_condition() {
    let config = Arc::new(seed_config());
    let mut sessions = Vec::new();
    for resource in ["balcony", "garden"] {
        let (raw, server) = login_raw(config.clone(), resource).await;
        let mut stream = server.await.unwrap().unwrap();
        let reader = tokio::spawn(async move { stream.next().await.map(|r| r.map(|_| ())) });
        sessions.push((raw, reader));
    }
    let juliet = xmpp_stream::jid::BareJid::new("juliet@example.com").unwrap();
    assert_eq!(
        config
            .registry
            .close_sessions(&juliet, StreamCondition::NotAuthorized),
        2
    );
    for (mut raw, reader) in sessions {
        let out = raw.until_eof().await;
        assert!(out.contains(&stream_error("not-authorized")), "{out}");
        assert!(out.trim_end().ends_with("</stream:stream>"), "{out}");
        match reader.await.unwrap() {
            Some(Err(xmpp_stream::SessionError::Sent(c))) => {
                assert_eq!(c, StreamCondition::NotAuthorized)
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(config.registry.is_empty());
}

#[tokio::test]
async fn session_iq_is_answered_after_bind() {
    let (mut raw, server) = authenticated(seed_config()).await;
    raw.send(&bind(Some("balcony"))).await;
    raw.until("</iq>").await;
    let mut stream = server.await.unwrap().unwrap();
    let reader =
        tokio::spawn(async move { stream.next().await.map(|r| r.unwrap().name().to_owned()) });
    raw.send(
        "<iq type='set' id='sess_1' to='example.com'>\
         <session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq><presence/>",
    )
    .await;
    let out = raw.until("sess_1").await;
    assert!(
        out.contains("type='result'") || out.contains("type=\"result\""),
        "{out}"
    );
    // The session IQ is answered internally; the app sees the presence next.
    assert_eq!(reader.await.unwrap().as_deref(), Some("presence"));
}

async fn authenticate_raw(raw: &mut Raw) {
    raw.send(CLIENT_HEADER).await;
    raw.until("</stream:features>").await;
    raw.send(&plain_auth(USER, PASSWORD)).await;
    raw.until("<success").await;
    raw.send(CLIENT_HEADER).await;
    raw.until("</stream:features>").await;
}

async fn login_raw(config: Arc<ServerConfig>, resource: &str) -> (Raw, ServerTask) {
    let (io, server) = spawn_server_shared(config);
    let mut raw = Raw::new(io);
    authenticate_raw(&mut raw).await;
    raw.send(&bind(Some(resource))).await;
    raw.until("</iq>").await;
    (raw, server)
}

#[tokio::test]
async fn auth_without_initial_response_gets_an_empty_challenge() {
    let (mut raw, _server) = opened(seed_config()).await;
    raw.send(&format!("<auth xmlns='{SASL}' mechanism='PLAIN'/>"))
        .await;
    let challenge = raw.until("</challenge>").await;
    // Zero-length challenge data is sent as `=` (RFC 6120 §6.4.2).
    assert!(challenge.contains(">=</challenge>"), "{challenge}");
    let msg = b64(format!("\0{USER}\0{PASSWORD}").as_bytes());
    raw.send(&format!("<response xmlns='{SASL}'>{msg}</response>"))
        .await;
    raw.until("<success").await;
}

#[tokio::test]
async fn an_empty_initial_response_is_sent_as_equals_and_means_empty() {
    let (mut raw, _server) = opened(seed_config()).await;
    // `=` is a zero-length initial response: for PLAIN that is malformed.
    raw.send(&format!("<auth xmlns='{SASL}' mechanism='PLAIN'>=</auth>"))
        .await;
    expect_failure(&mut raw, "malformed-request").await;
}

#[tokio::test]
async fn whitespace_during_sasl_is_tolerated_and_never_sent() {
    let (mut raw, _server) = opened(seed_config()).await;
    raw.send(&format!(
        "<auth xmlns='{SASL}' mechanism='DIGEST-MD5'/>\n \n"
    ))
    .await;
    raw.until("</challenge>").await;
    raw.send(" \n").await;
    raw.send(&format!("\n<abort xmlns='{SASL}'/> ")).await;
    expect_failure(&mut raw, "aborted").await;
    raw.send(&plain_auth(USER, PASSWORD)).await;
    raw.until("<success").await;
    raw.until(">").await;
    // Nothing we sent has whitespace between elements.
    let between = raw.seen.split('>').skip(1).filter(|rest| {
        let gap = rest.split('<').next().unwrap_or("");
        !gap.is_empty() && gap.trim().is_empty()
    });
    assert_eq!(between.count(), 0, "{}", raw.seen);
}

/// A client that sends and never reads fills the server's send buffer; the
/// negotiation must still end, or the connection holds its slot forever.
#[tokio::test(start_paused = true)]
async fn a_client_that_never_reads_cannot_outlast_the_negotiation_timeout() {
    use tokio::io::AsyncWriteExt as _;
    let mut config = seed_config();
    config.sasl_retries = u32::MAX;
    let (server_io, mut client_io) = tokio::io::duplex(1024);
    let server = tokio::spawn(xmpp_stream::server::accept(
        server_io,
        Arc::new(config),
        xmpp_stream::Security::Cleartext,
        None,
    ));
    // Each <auth/> gets a challenge back, which nobody reads.
    let writer = tokio::spawn(async move {
        let _ = client_io.write_all(CLIENT_HEADER.as_bytes()).await;
        loop {
            let auth = format!("<auth xmlns='{SASL}' mechanism='DIGEST-MD5'/>");
            if client_io.write_all(auth.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    let ended = tokio::time::timeout(Duration::from_secs(3600), server)
        .await
        .expect("the negotiation never ended");
    assert!(ended.unwrap().is_err());
    writer.abort();
}

/// A new <auth/> during an exchange counts as an attempt: restarting
/// exchanges forever is bounded like failing them.
#[tokio::test]
async fn restarting_the_exchange_counts_against_the_retries() {
    let mut config = seed_config();
    config.sasl_retries = 2;
    let (mut raw, server) = opened(config).await;
    // The first <auth/> starts an exchange; each of the next three replaces one.
    for _ in 0..4 {
        raw.send(&format!("<auth xmlns='{SASL}' mechanism='DIGEST-MD5'/>"))
            .await;
    }
    let out = raw.until_eof().await;
    assert!(out.contains(&stream_error("policy-violation")), "{out}");
    let err = server.await.unwrap().err().unwrap();
    assert_eq!(err.condition(), Some(StreamCondition::PolicyViolation));
}
