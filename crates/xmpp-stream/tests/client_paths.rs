//! Our client against a scripted raw server: RFC 3920 behaviour, mutual
//! authentication failures, stream errors, pipelined bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;
use xmpp_sasl::{Condition, MechanismSelector};
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::{ClientError, ErrorKind, StreamCondition, XmppStream};

const SERVER_HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
     xmlns:stream='http://etherx.jabber.org/streams' id='c2s_234' from='example.com' version='1.0'>";
const SEED_FEATURES: &str =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
     <mechanism>DIGEST-MD5</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>";

type ClientTask = JoinHandle<Result<XmppStream<DuplexStream>, ClientError>>;

fn spawn_client(mechs: &[&str], password: &str) -> (Raw, ClientTask) {
    let (a, b) = tokio::io::duplex(1 << 16);
    let selector = MechanismSelector::with_preference(mechs.iter().map(|m| {
        m.parse::<xmpp_sasl::Mechanism>()
            .expect("a known mechanism")
    }))
    .allow_plain_insecure(true);
    let mut config = ClientConfig::new("juliet@example.com", password)
        .unwrap()
        .with_selector(selector)
        .with_tls(TlsMode::Off);
    // These scripted servers never close; do not wait long for them.
    config.close_timeout = std::time::Duration::from_millis(50);
    (Raw::new(b), tokio::spawn(connect(a, config, None)))
}

async fn to_auth(raw: &mut Raw) -> String {
    raw.until("version='1.0'").await;
    raw.send(SERVER_HEADER).await;
    raw.send(SEED_FEATURES).await;
    raw.until("mechanism=").await;
    raw.until(">").await
}

#[tokio::test]
async fn rfc3920_server_closes_after_failure() {
    // Seed step 9 (alt): failure then </stream:stream> right away.
    let (mut raw, client) = spawn_client(&["PLAIN"], PASSWORD);
    to_auth(&mut raw).await;
    raw.send(
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'> <temporary-auth-failure/> </failure> \
         </stream:stream>",
    )
    .await;
    let err = client.await.unwrap().err().expect("failure");
    match &err {
        ClientError::Sasl { condition, .. } => {
            assert_eq!(*condition, Condition::TemporaryAuthFailure)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn rfc6120_server_keeps_the_stream_and_the_client_falls_back() {
    let (mut raw, client) = spawn_client(&["DIGEST-MD5", "PLAIN"], PASSWORD);
    let auth = to_auth(&mut raw).await;
    assert!(
        raw.seen.contains("mechanism='DIGEST-MD5'")
            || raw.seen.contains("mechanism=\"DIGEST-MD5\""),
        "{auth}"
    );
    raw.send(
        "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism-too-weak/>\
         <text xml:lang='en'>use something else</text></failure>",
    )
    .await;
    raw.until("PLAIN").await;
    raw.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
        .await;
    raw.until("</stream:stream>").await;
    match client.await.unwrap().err().expect("failure") {
        ClientError::Sasl {
            mechanism,
            condition,
            ..
        } => {
            assert_eq!(mechanism, "PLAIN");
            assert_eq!(condition, Condition::NotAuthorized);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn every_sasl_failure_condition_is_reported() {
    let all = [
        Condition::Aborted,
        Condition::AccountDisabled,
        Condition::CredentialsExpired,
        Condition::EncryptionRequired,
        Condition::IncorrectEncoding,
        Condition::InvalidAuthzid,
        Condition::InvalidMechanism,
        Condition::MalformedRequest,
        Condition::MechanismTooWeak,
        Condition::NotAuthorized,
        Condition::TemporaryAuthFailure,
    ];
    for condition in all {
        let (mut raw, client) = spawn_client(&["PLAIN"], PASSWORD);
        to_auth(&mut raw).await;
        raw.send(&format!(
            "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><{}/><text>why</text></failure>",
            condition.as_str()
        ))
        .await;
        match client.await.unwrap().err().expect("failure") {
            ClientError::Sasl {
                condition: c, text, ..
            } => {
                assert_eq!(c, condition);
                assert_eq!(text.as_deref(), Some("why"));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn wrong_rspauth_in_a_challenge_aborts() {
    let (mut raw, client) = spawn_client(&["DIGEST-MD5"], PASSWORD);
    to_auth(&mut raw).await;
    // The seed's step 5 challenge, with its line-wrapping whitespace.
    raw.send(
        "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'> \
         cmVhbG09InNvbWVyZWFsbSIsbm9uY2U9Ik9BNk1HOXRFUUdtMmhoIixxb3A9ImF1dGgi \
         LGNoYXJzZXQ9dXRmLTgsYWxnb3JpdGhtPW1kNS1zZXNzCg== </challenge>",
    )
    .await;
    raw.until("</response>").await;
    // The seed's step 7 rspauth: it is RFC 2831's value, wrong for these
    // parameters, so the client must refuse it.
    raw.send(
        "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'> \
         cnNwYXV0aD1lYTQwZjYwMzM1YzQyN2I1NTI3Yjg0ZGJhYmNkZmZmZAo= </challenge>",
    )
    .await;
    raw.until("<abort").await;
    raw.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><aborted/></failure>")
        .await;
    let err = client.await.unwrap().err().expect("failure");
    assert!(matches!(err, ClientError::Mechanism { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Auth);
}

#[tokio::test]
async fn success_without_rspauth_fails_mutual_authentication() {
    let (mut raw, client) = spawn_client(&["DIGEST-MD5"], PASSWORD);
    to_auth(&mut raw).await;
    raw.send(&format!(
        "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{}</challenge>",
        b64(b"realm=\"example.com\",nonce=\"abcdefgh\",qop=\"auth\",charset=utf-8,algorithm=md5-sess")
    ))
    .await;
    raw.until("</response>").await;
    raw.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        .await;
    let out = raw.until("</stream:stream>").await;
    // No restart after a failed mutual authentication.
    assert!(!out.contains("<stream:stream"), "{out}");
    let err = client.await.unwrap().err().expect("failure");
    assert!(matches!(err, ClientError::Mechanism { .. }), "{err:?}");
}

#[tokio::test]
async fn stream_error_from_the_server() {
    let (mut raw, client) = spawn_client(&["PLAIN"], PASSWORD);
    raw.until("version='1.0'").await;
    raw.send(SERVER_HEADER).await;
    raw.send(
        "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
         <text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no such host</text></stream:error>\
         </stream:stream>",
    )
    .await;
    match client.await.unwrap().err().expect("failure") {
        ClientError::Stream { condition, text } => {
            assert_eq!(condition, StreamCondition::HostUnknown);
            assert_eq!(text.as_deref(), Some("no such host"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn pre_1_0_server_is_refused_cleanly() {
    let (mut raw, client) = spawn_client(&["PLAIN"], PASSWORD);
    raw.until("version='1.0'").await;
    raw.send(&SERVER_HEADER.replace("from='example.com' version='1.0'", "from='example.com'"))
        .await;
    assert!(matches!(
        client.await.unwrap().err().expect("failure"),
        ClientError::UnsupportedVersion(None)
    ));
}

#[tokio::test]
async fn plain_is_refused_without_tls_by_default() {
    let (a, b) = tokio::io::duplex(1 << 16);
    let config = ClientConfig::new("juliet@example.com", PASSWORD)
        .unwrap()
        .with_tls(TlsMode::Off);
    let client = tokio::spawn(connect(a, config, None));
    let mut raw = Raw::new(b);
    raw.until("version='1.0'").await;
    raw.send(SERVER_HEADER).await;
    raw.send(
        "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
         <mechanism>PLAIN</mechanism></mechanisms></stream:features>",
    )
    .await;
    assert!(matches!(
        client.await.unwrap().err().expect("failure"),
        ClientError::NoMechanism { .. }
    ));
    assert!(!raw.seen.contains("<auth"), "{}", raw.seen);
}

#[tokio::test]
async fn success_and_the_new_header_in_one_read() {
    let (mut raw, client) = spawn_client(&["PLAIN"], PASSWORD);
    to_auth(&mut raw).await;
    // <success/>, then (a pipelining server) the new header and features in
    // the same write: the client must reset its parser without losing them.
    raw.send(&format!(
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{}<stream:features>\
         <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
         <session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>\
         </stream:features>",
        SERVER_HEADER.replace("c2s_234", "c2s_345")
    ))
    .await;
    let out = raw.until("</iq>").await;
    assert!(out.contains("urn:ietf:params:xml:ns:xmpp-bind"), "{out}");
    raw.send(
        "<iq type='result' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
         <jid>juliet@example.com/4db06f06</jid></bind></iq>",
    )
    .await;
    let stream = client.await.unwrap().expect("login");
    // The JID the server assigned is adopted, and the optional session skipped.
    assert_eq!(stream.jid().as_str(), "juliet@example.com/4db06f06");
    assert_eq!(stream.info().stream_id, "c2s_345");
    assert!(!raw.seen.contains("xmpp-session'/>") || !raw.seen.contains("sess_1"));
}

#[tokio::test]
async fn bind_error_is_reported() {
    let (mut raw, client) = spawn_client(&["PLAIN"], PASSWORD);
    to_auth(&mut raw).await;
    raw.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        .await;
    raw.until("version='1.0'").await;
    raw.send(SERVER_HEADER).await;
    raw.send("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>")
        .await;
    raw.until("</iq>").await;
    raw.send(
        "<iq type='error' id='bind_1'><error type='cancel'>\
         <not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
    )
    .await;
    assert!(matches!(
        client.await.unwrap().err().expect("failure"),
        ClientError::Bind(xmpp_stream::StanzaCondition::NotAllowed)
    ));
}

#[tokio::test(start_paused = true)]
async fn silent_server_times_out() {
    let (mut raw, client) = spawn_client(&["PLAIN"], PASSWORD);
    raw.until("version='1.0'").await;
    tokio::time::advance(std::time::Duration::from_secs(31)).await;
    assert!(matches!(
        client.await.unwrap().err().expect("failure"),
        ClientError::Timeout
    ));
}

#[tokio::test]
async fn a_wrong_password_does_not_fall_back() {
    let (mut raw, client) = spawn_client(&["DIGEST-MD5", "PLAIN"], PASSWORD);
    to_auth(&mut raw).await;
    raw.send("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
        .await;
    match client.await.unwrap().err().expect("failure") {
        ClientError::Sasl {
            mechanism,
            condition,
            ..
        } => {
            assert_eq!(mechanism, "DIGEST-MD5");
            assert_eq!(condition, Condition::NotAuthorized);
        }
        other => panic!("{other:?}"),
    }
    // One <auth/> only: no second mechanism was tried.
    assert_eq!(raw.seen.matches("<auth ").count(), 1, "{}", raw.seen);
}
