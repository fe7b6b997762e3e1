//! What an observer (the CLI's transcript) sees of SASL2: payloads decoded,
//! and neither a PLAIN password nor a FAST token, whichever side observes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{store, Recorder, DOMAIN, PASSWORD};
use xmpp_sasl::{MechanismSelector, MemoryTokenStore};
use xmpp_stream::client::{connect, ClientConfig, Sasl2Mode, TlsMode};
use xmpp_stream::server::{accept, ServerConfig};
use xmpp_stream::Security;
use xmpp_xml::Frame;

fn frames_text(recorder: &Recorder) -> String {
    recorder
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(d, f, sasl)| {
            let xml = match f {
                Frame::Element(el) => el.to_xml(),
                other => format!("{other:?}"),
            };
            format!("{d:?} {xml} {sasl:?}\n")
        })
        .collect()
}

/// One SASL2 login over an in-memory pipe (SASL2 allowed without TLS for
/// the test), both sides observed; returns what each observer saw and the
/// token issued, if any.
async fn observed_login(mechanism: &str, request_token: bool) -> (String, String, Option<String>) {
    let mut server = ServerConfig::new(DOMAIN, store());
    server.allow_plain_insecure = true;
    server.allow_sasl2_insecure = true;
    server.domains[0].tokens = Some(Arc::new(MemoryTokenStore::new()));
    let (a, b) = tokio::io::duplex(1 << 16);
    let server_seen = Arc::new(Recorder::default());
    let observer: Arc<dyn xmpp_stream::Observer> = server_seen.clone();
    let server_task = tokio::spawn(accept(
        a,
        Arc::new(server),
        Security::Cleartext,
        Some(observer),
    ));
    let mut client = ClientConfig::new(&format!("juliet@{DOMAIN}"), PASSWORD)
        .unwrap()
        .with_tls(TlsMode::Off)
        .with_selector(
            MechanismSelector::with_preference([mechanism.parse().unwrap()])
                .allow_plain_insecure(true),
        );
    client.sasl2 = Sasl2Mode::Required;
    client.request_fast_token = request_token;
    let client_seen = Arc::new(Recorder::default());
    let observer: Arc<dyn xmpp_stream::Observer> = client_seen.clone();
    let stream = connect(b, client, Some(observer)).await.unwrap();
    let token = stream
        .info()
        .fast_token
        .as_ref()
        .map(|t| t.secret.to_string());
    server_task.await.unwrap().unwrap();
    (frames_text(&client_seen), frames_text(&server_seen), token)
}

#[tokio::test]
async fn a_sasl2_plain_password_is_never_observed() {
    let (client, server, _) = observed_login("PLAIN", false).await;
    for seen in [&client, &server] {
        assert!(seen.contains("authenticate"), "{seen}");
        assert!(!seen.contains(PASSWORD), "{seen}");
        // Nor its base64 inside the initial response.
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("\0juliet\0{PASSWORD}"),
        );
        assert!(!seen.contains(&b64), "{seen}");
        assert!(seen.contains("password redacted"), "{seen}");
    }
}

#[tokio::test]
async fn a_fast_token_is_never_observed_and_scram_is_decoded() {
    let (client, server, token) = observed_login("SCRAM-SHA-256", true).await;
    let token = token.expect("a token");
    for seen in [&client, &server] {
        assert!(!seen.contains(&token), "{seen}");
        assert!(seen.contains("token='(redacted)'"), "{seen}");
        // The SCRAM messages are decoded: client-first, server-first with
        // the XEP-0474 hash, and the server-final in the success.
        assert!(seen.contains("n=juliet,r="), "{seen}");
        assert!(seen.contains(",h="), "{seen}");
        assert!(seen.contains("Some(\"v="), "{seen}");
    }
}
