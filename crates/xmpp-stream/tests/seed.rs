//! The RFC 3920 §6.5 exchange (the seed), end to end in memory: our client
//! against our server, each step checked for its structure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use futures_util::StreamExt as _;
use xmpp_sasl::MechanismSelector;
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::server::SessionFeature;
use xmpp_stream::Direction::{Received, Sent};
use xmpp_xml::{ns, Element, Frame, StreamHeader};

fn el(frame: &Frame) -> &Element {
    match frame {
        Frame::Element(e) => e,
        other => panic!("expected an element, got {other:?}"),
    }
}

fn header(frame: &Frame) -> &StreamHeader {
    match frame {
        Frame::Header(h) => h,
        other => panic!("expected a header, got {other:?}"),
    }
}

/// Splits a DIGEST-MD5 directive list into (name, value) pairs, unquoting
/// values (no escapes occur in these tests).
fn directives(s: &str) -> Vec<(String, String)> {
    s.trim_end()
        .split(',')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("name=value");
            (k.trim().to_owned(), v.trim().trim_matches('"').to_owned())
        })
        .collect()
}

fn get<'a>(d: &'a [(String, String)], name: &str) -> &'a str {
    &d.iter()
        .find(|(k, _)| k == name)
        .unwrap_or_else(|| panic!("no {name} in {d:?}"))
        .1
}

async fn seed_flow(rspauth_in_success: bool) {
    let mut config = seed_config();
    config.rspauth_in_success = rspauth_in_success;
    config.session = SessionFeature::Required;
    // The seed exchange predates stream management (XEP-0198), which would
    // add the client's `<enable/>` after the session.
    config.stream_management = None;
    let (io, server) = spawn_server(config);
    // The server's session keeps reading (it answers the session IQ).
    let server = tokio::spawn(async move {
        let mut stream = server.await.unwrap()?;
        let jid = stream.jid().to_owned();
        tokio::spawn(async move { while stream.next().await.is_some() {} });
        Ok::<_, xmpp_stream::ServerError>(jid)
    });
    let recorder = Arc::new(Recorder::default());
    let client_config = ClientConfig::new("juliet@example.com", PASSWORD)
        .unwrap()
        .with_selector(MechanismSelector::with_preference([
            xmpp_sasl::Mechanism::DigestMd5,
        ]))
        .with_tls(TlsMode::Off);
    let stream = connect(io, client_config, Some(recorder.clone()))
        .await
        .expect("login");
    let server_jid = server.await.unwrap().expect("server side");
    assert_eq!(&server_jid, stream.jid());
    assert!(stream.jid().as_str().starts_with("juliet@example.com/"));
    assert_eq!(stream.info().mechanism, "DIGEST-MD5");

    let log = recorder.0.lock().unwrap().clone();
    let mut steps = log.iter();
    let mut next = |dir| {
        let (d, f, sasl) = steps.next().expect("another step");
        assert_eq!(*d, dir, "direction of {f:?}");
        (f.clone(), sasl.clone())
    };

    // Step 1: the client's header.
    let (f, _) = next(Sent);
    let h = header(&f);
    assert_eq!(h.stream_ns, ns::STREAM);
    assert_eq!(h.default_ns.as_deref(), Some(ns::CLIENT));
    assert_eq!(h.to.as_deref(), Some(DOMAIN));
    assert_eq!(h.version.as_deref(), Some("1.0"));
    // Step 2: the server's header.
    let (f, _) = next(Received);
    let first_id = header(&f).id.clone().expect("stream id");
    assert_eq!(header(&f).from.as_deref(), Some(DOMAIN));
    // Step 3: features with the mechanisms.
    let (f, _) = next(Received);
    let mechs: Vec<String> = el(&f)
        .child("mechanisms", ns::SASL)
        .expect("mechanisms")
        .children()
        .map(|m| m.text())
        .collect();
    assert_eq!(mechs, ["DIGEST-MD5", "PLAIN"]);
    // Step 4: <auth mechanism='DIGEST-MD5'/> without initial response.
    let (f, _) = next(Sent);
    assert!(el(&f).is("auth", ns::SASL));
    assert_eq!(el(&f).attr("mechanism"), Some("DIGEST-MD5"));
    assert_eq!(el(&f).text(), "");
    // Step 5: the challenge.
    let (f, sasl) = next(Received);
    assert!(el(&f).is("challenge", ns::SASL));
    let challenge = directives(&sasl.expect("decoded challenge"));
    assert_eq!(get(&challenge, "realm"), DOMAIN);
    assert!(get(&challenge, "nonce").len() >= 16);
    assert_eq!(get(&challenge, "qop"), "auth");
    assert_eq!(get(&challenge, "charset"), "utf-8");
    assert_eq!(get(&challenge, "algorithm"), "md5-sess");
    // Step 6: the response.
    let (f, sasl) = next(Sent);
    assert!(el(&f).is("response", ns::SASL));
    let response = directives(&sasl.expect("decoded response"));
    assert_eq!(get(&response, "username"), USER);
    assert_eq!(get(&response, "realm"), DOMAIN);
    assert_eq!(get(&response, "nonce"), get(&challenge, "nonce"));
    assert_eq!(get(&response, "nc"), "00000001");
    assert_eq!(get(&response, "qop"), "auth");
    assert_eq!(get(&response, "digest-uri"), "xmpp/example.com");
    assert_eq!(get(&response, "response").len(), 32);
    if rspauth_in_success {
        // Step 9 with rspauth as additional data.
        let (f, sasl) = next(Received);
        assert!(el(&f).is("success", ns::SASL));
        assert!(sasl.expect("success data").starts_with("rspauth="));
    } else {
        // Step 7: rspauth in a challenge; step 8: an empty response.
        let (f, sasl) = next(Received);
        assert!(el(&f).is("challenge", ns::SASL));
        let rspauth = sasl.expect("rspauth");
        assert!(rspauth.starts_with("rspauth="), "{rspauth}");
        assert_eq!(rspauth.trim_end().len(), "rspauth=".len() + 32);
        let (f, _) = next(Sent);
        assert!(el(&f).is("response", ns::SASL));
        assert_eq!(el(&f).text(), "");
        // Step 9: success without data.
        let (f, sasl) = next(Received);
        assert!(el(&f).is("success", ns::SASL));
        assert_eq!(sasl, None);
    }
    // Step 10: the restarted stream.
    let (f, _) = next(Sent);
    assert_eq!(header(&f).to.as_deref(), Some(DOMAIN));
    // Step 11: a new header with a new id, then bind and session features.
    let (f, _) = next(Received);
    let second_id = header(&f).id.clone().expect("new id");
    assert_ne!(first_id, second_id);
    assert_eq!(stream.info().stream_id, second_id);
    let (f, _) = next(Received);
    assert!(el(&f).is("features", ns::STREAM));
    assert!(el(&f).child("bind", ns::BIND).is_some());
    let session = el(&f).child("session", ns::SESSION).expect("session");
    assert!(session.child("optional", ns::SESSION).is_none());
    assert!(el(&f).child("mechanisms", ns::SASL).is_none());
    // Bind, then the (required) session.
    let (f, _) = next(Sent);
    assert!(el(&f).child("bind", ns::BIND).is_some());
    let (f, _) = next(Received);
    assert_eq!(el(&f).attr("type"), Some("result"));
    let bound = el(&f)
        .child("bind", ns::BIND)
        .and_then(|b| b.child("jid", ns::BIND))
        .expect("jid")
        .text();
    assert_eq!(bound, stream.jid().as_str());
    let (f, _) = next(Sent);
    assert!(el(&f).child("session", ns::SESSION).is_some());
    let (f, _) = next(Received);
    assert_eq!(el(&f).attr("type"), Some("result"));
    assert!(steps.next().is_none(), "no more steps");
}

#[tokio::test]
async fn seed_exchange_with_rspauth_in_a_challenge() {
    seed_flow(false).await;
}

#[tokio::test]
async fn seed_exchange_with_rspauth_in_success_data() {
    seed_flow(true).await;
}

async fn login_with(mechanism: &str) -> String {
    let (io, server) = spawn_server(seed_config_all());
    let mut selector =
        MechanismSelector::with_preference([mechanism.parse().expect("a known mechanism")]);
    selector = selector.allow_plain_insecure(true);
    let client_config = ClientConfig::new("juliet@example.com/balcony", PASSWORD)
        .unwrap()
        .with_selector(selector)
        .with_tls(TlsMode::Off);
    let stream = connect(io, client_config, None).await.expect("login");
    let srv = server.await.unwrap().expect("server");
    assert_eq!(srv.info().mechanism, mechanism);
    stream.jid().to_string()
}

fn seed_config_all() -> xmpp_stream::server::ServerConfig {
    let mut config = seed_config();
    config.mechanisms = vec![
        xmpp_sasl::Mechanism::ScramSha256,
        xmpp_sasl::Mechanism::ScramSha1,
        xmpp_sasl::Mechanism::DigestMd5,
        xmpp_sasl::Mechanism::Plain,
    ];
    config
}

#[tokio::test]
async fn every_mechanism_logs_in_and_binds_the_requested_resource() {
    for mech in ["SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "PLAIN"] {
        assert_eq!(
            login_with(mech).await,
            "juliet@example.com/balcony",
            "{mech}"
        );
    }
}

#[tokio::test]
async fn plain_password_never_reaches_the_observer() {
    let (io, server) = spawn_server(seed_config());
    let recorder = Arc::new(Recorder::default());
    let selector = MechanismSelector::with_preference([xmpp_sasl::Mechanism::Plain])
        .allow_plain_insecure(true);
    let config = ClientConfig::new("juliet@example.com", PASSWORD)
        .unwrap()
        .with_selector(selector)
        .with_tls(TlsMode::Off);
    connect(io, config, Some(recorder.clone()))
        .await
        .expect("login");
    server.await.unwrap().expect("server");
    let log = recorder.0.lock().unwrap();
    let encoded = b64(format!("\0{USER}\0{PASSWORD}").as_bytes());
    for (_, frame, sasl) in log.iter() {
        let text = format!("{frame:?} {sasl:?}");
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
        assert!(!text.contains(&encoded), "encoded password leaked: {text}");
    }
}
