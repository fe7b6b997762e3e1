//! The sans-IO cores against each other, in memory, with a fake clock:
//! every mechanism, every failure the server produces during SASL, binding,
//! the session, stream errors, timeouts and STARTTLS. Assertions are on the
//! cores' actions and on the elements each side decoded, never on bytes.
//! (Long by design: one test per path through the negotiation; the driver is in `pair/`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pair;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use pair::*;
use xmpp_sasl::{Condition, StoreError};
use xmpp_stream::client::ClientConfig;
use xmpp_stream::server::SessionFeature;
use xmpp_stream::{ChannelBindings, ClientError, ServerError, StanzaCondition, StreamCondition};
use xmpp_xml::{ns, Element, Frame};

const CLEARTEXT_MECHANISMS: [&str; 4] = ["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"];
const PLUS_MECHANISMS: [&str; 2] = ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"];

/// A pair for one client mechanism on a cleartext stream, already run.
fn login(mechanism: &str) -> Pair {
    let store = store();
    let mut pair = Pair::new(
        client_config(&[mechanism]),
        server_config(store.clone()),
        store,
    );
    pair.run();
    pair
}

fn exporter(data: u8) -> ChannelBindings {
    ChannelBindings {
        tls_exporter: Some(vec![data; 32]),
        tls_server_end_point: None,
    }
}

fn end_point(data: u8) -> ChannelBindings {
    ChannelBindings {
        tls_exporter: None,
        tls_server_end_point: Some(vec![data; 32]),
    }
}

/// A copy of `el` with its children passed through `f` (dropped on `None`)
/// and `extra` appended.
fn rebuild(el: &Element, f: impl Fn(&Element) -> Option<Element>, extra: Vec<Element>) -> Element {
    let mut b = Element::builder(el.name(), el.ns());
    for (k, v) in el.attrs() {
        b = b.attr(k, v);
    }
    for c in el.children().filter_map(f).chain(extra) {
        b = b.append(c);
    }
    b.build()
}

/// Features as the server sent them, with the `<mechanisms/>` list passed
/// through `edit`.
fn edit_mechanisms(frame: Frame, edit: impl Fn(Vec<String>) -> Vec<String>) -> Frame {
    let Frame::Element(features) = &frame else {
        return frame;
    };
    if !features.is("features", ns::STREAM) {
        return frame;
    }
    let features = rebuild(
        features,
        |c| {
            if !c.is("mechanisms", ns::SASL) {
                return Some(c.clone());
            }
            let names = c.children().map(|m| m.text()).collect();
            let list = edit(names)
                .into_iter()
                .fold(Element::builder("mechanisms", ns::SASL), |b, n| {
                    b.append(Element::builder("mechanism", ns::SASL).text(&n).build())
                });
            Some(list.build())
        },
        Vec::new(),
    );
    Frame::Element(features)
}

/// Replaces the text of the first element named `name` in `ns` that passes
/// through the filter.
fn corrupt_first(name: &'static str, namespace: &'static str, text: &'static str) -> Filter {
    let mut done = false;
    Box::new(move |frame| match &frame {
        Frame::Element(el) if !done && el.is(name, namespace) => {
            done = true;
            let mut b = Element::builder(el.name(), el.ns());
            for (k, v) in el.attrs() {
                b = b.attr(k, v);
            }
            Some(Frame::Element(b.text(text).build()))
        }
        _ => Some(frame),
    })
}

fn sasl_error(pair: &Pair) -> (String, Condition) {
    match pair.client_error() {
        ClientError::Sasl {
            mechanism,
            condition,
            ..
        } => (mechanism.to_string(), *condition),
        other => panic!("not a SASL failure: {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Every mechanism
// ---------------------------------------------------------------------------

#[test]
fn every_cleartext_mechanism_establishes_both_sides() {
    for mechanism in CLEARTEXT_MECHANISMS {
        let pair = login(mechanism);
        let (client, server) = pair.established();
        assert_eq!(client.mechanism, mechanism);
        assert_eq!(server.mechanism, mechanism);
        assert_eq!(client.jid.as_str(), "juliet@example.com/generated");
        assert_eq!(client.jid, server.jid);
        assert_eq!(client.stream_id, server.stream_id, "{mechanism}");
        assert_eq!(server.domain, DOMAIN);
        assert_eq!(auths(&pair.client_sent), [mechanism]);
        assert!(sasl_failures(&pair.server_sent).is_empty());
        // Two streams each way: before and after authentication.
        let headers = |frames: &[Frame]| {
            frames
                .iter()
                .filter(|f| matches!(f, Frame::Header(_)))
                .count()
        };
        assert_eq!(headers(&pair.client_received), 2, "{mechanism}");
        assert_eq!(headers(&pair.server_received), 2, "{mechanism}");
        assert!(pair.client.poll_timeout().is_none());
        assert!(pair.server.is_done());
    }
}

#[test]
fn digest_md5_with_rspauth_as_success_data() {
    let store = store();
    let mut config = server_config(store.clone());
    config.rspauth_in_success = true;
    let mut pair = Pair::new(client_config(&["DIGEST-MD5"]), config, store);
    pair.run();
    pair.established();
    let success = elements(&pair.client_received)
        .find(|el| el.is("success", ns::SASL))
        .expect("success");
    let data = STANDARD.decode(success.text().trim()).unwrap();
    assert!(data.starts_with(b"rspauth="), "{data:?}");
    // One challenge only: rspauth did not need a second round trip.
    let challenges = elements(&pair.client_received)
        .filter(|el| el.is("challenge", ns::SASL))
        .count();
    assert_eq!(challenges, 1);
}

#[test]
fn every_plus_mechanism_binds_with_each_binding_type() {
    for mechanism in PLUS_MECHANISMS {
        for (cb, kind) in [
            (exporter(7), "tls-exporter"),
            (end_point(9), "tls-server-end-point"),
        ] {
            let store = store();
            let mut pair = Pair::over_tls(
                client_config(&[mechanism]),
                server_config(store.clone()),
                store,
                cb.clone(),
                cb,
            );
            pair.run();
            let (client, server) = pair.established();
            assert_eq!(client.mechanism, mechanism, "{kind}");
            assert_eq!(server.mechanism, mechanism, "{kind}");
            // XEP-0440: the server advertised exactly the type it has.
            let features = elements(&pair.client_received)
                .find(|el| el.is("features", ns::STREAM))
                .expect("features");
            let advertised: Vec<_> = features
                .child("sasl-channel-binding", "urn:xmpp:sasl-cb:0")
                .expect("XEP-0440 advertisement")
                .children()
                .filter_map(|c| c.attr("type"))
                .collect();
            assert_eq!(advertised, [kind]);
        }
    }
}

#[test]
fn the_default_client_picks_scram_sha_256_plus_with_tls_exporter() {
    let store = store();
    let both = ChannelBindings {
        tls_exporter: Some(vec![1; 32]),
        tls_server_end_point: Some(vec![2; 32]),
    };
    let client = ClientConfig::new("juliet@example.com/balcony", PASSWORD).unwrap();
    let mut pair = Pair::over_tls(
        client,
        server_config(store.clone()),
        store,
        both.clone(),
        both,
    );
    pair.run();
    let (client, _) = pair.established();
    assert_eq!(client.mechanism, "SCRAM-SHA-256-PLUS");
    // On TLS the default client uses SASL2 (XEP-0388); it asked for a
    // resource, so it binds it with RFC 6120 rather than Bind2.
    assert!(client.sasl2 && !client.bound_inline, "{client:?}");
    assert_eq!(client.jid.resource().as_str(), "balcony");
    // The GS2 header names the binding type (RFC 5802 §7).
    let auth = elements(&pair.server_received)
        .find(|el| el.is("authenticate", "urn:xmpp:sasl:2"))
        .unwrap();
    let initial = auth.child("initial-response", "urn:xmpp:sasl:2").unwrap();
    let first = STANDARD.decode(initial.text().trim()).unwrap();
    assert!(first.starts_with(b"p=tls-exporter,"), "{first:?}");
}

#[test]
fn without_channel_bindings_no_plus_is_offered_and_scram_is_used() {
    let store = store();
    let client = rfc6120_client();
    let mut pair = Pair::over_tls(
        client,
        server_config(store.clone()),
        store,
        ChannelBindings::default(),
        ChannelBindings::default(),
    );
    pair.run();
    let (client, _) = pair.established();
    assert_eq!(client.mechanism, "SCRAM-SHA-256");
    let features = elements(&pair.client_received)
        .find(|el| el.is("features", ns::STREAM))
        .unwrap();
    assert!(features
        .child("sasl-channel-binding", "urn:xmpp:sasl-cb:0")
        .is_none());
    // TLS is active: PLAIN is offered, -PLUS is not.
    let offered: Vec<_> = features
        .child("mechanisms", ns::SASL)
        .unwrap()
        .children()
        .map(|m| m.text())
        .collect();
    assert!(offered.iter().any(|m| m == "PLAIN"), "{offered:?}");
    assert!(!offered.iter().any(|m| m.ends_with("-PLUS")), "{offered:?}");
}

#[test]
fn byte_by_byte_delivery_changes_nothing() {
    for mechanism in CLEARTEXT_MECHANISMS {
        let whole = login(mechanism);
        let store = store();
        let mut split = Pair::new(
            client_config(&[mechanism]),
            server_config(store.clone()),
            store,
        );
        split.chunk = Some(1);
        split.run();
        split.established();
        assert_eq!(
            shape(&whole.client_received),
            shape(&split.client_received),
            "{mechanism}"
        );
        assert_eq!(
            shape(&whole.server_received),
            shape(&split.server_received),
            "{mechanism}"
        );
    }
}

// ---------------------------------------------------------------------------
// SASL failures the server produces
// ---------------------------------------------------------------------------

#[test]
fn a_wrong_password_is_not_authorized_with_every_mechanism_and_no_fallback() {
    for mechanism in CLEARTEXT_MECHANISMS {
        let store = store();
        let mut client = client_config(&[mechanism, "SCRAM-SHA-1", "PLAIN"]);
        client.password = "wrong".to_owned().into();
        let mut pair = Pair::new(client, server_config(store.clone()), store);
        pair.run();
        assert_eq!(
            sasl_error(&pair),
            (mechanism.to_owned(), Condition::NotAuthorized)
        );
        assert_eq!(sasl_failures(&pair.client_received), ["not-authorized"]);
        // A credential failure fails every mechanism: the client stops.
        assert_eq!(auths(&pair.client_sent), [mechanism]);
        assert_eq!(pair.client_sent.last(), Some(&Frame::Close));
        assert!(matches!(pair.server_error(), ServerError::PeerClosed));
    }
}

#[test]
fn a_different_channel_binding_is_not_authorized_and_never_downgraded() {
    for mechanism in PLUS_MECHANISMS {
        let store = store();
        let client = rfc6120_client();
        // Someone in the middle terminates TLS: the two sides see different
        // exporter values.
        let mut pair = Pair::over_tls(
            client.with_selector(xmpp_sasl::MechanismSelector::with_preference([
                mechanism.parse().expect("a known mechanism"),
                xmpp_sasl::Mechanism::ScramSha256,
            ])),
            server_config(store.clone()),
            store,
            exporter(1),
            exporter(2),
        );
        pair.run();
        assert_eq!(
            sasl_error(&pair),
            (mechanism.to_owned(), Condition::NotAuthorized)
        );
        assert_eq!(auths(&pair.client_sent), [mechanism]);
    }
}

#[test]
fn a_stripped_plus_offer_is_detected_as_a_downgrade() {
    let store = store();
    let client = rfc6120_client();
    let mut pair = Pair::over_tls(
        client,
        server_config(store.clone()),
        store,
        exporter(3),
        exporter(3),
    );
    pair.to_client = Some(Box::new(|frame| {
        Some(edit_mechanisms(frame, |names| {
            names
                .into_iter()
                .filter(|n| !n.ends_with("-PLUS"))
                .collect()
        }))
    }));
    pair.run();
    // The client says "y" (it could bind, the server seems not to); the
    // server, which did offer -PLUS, refuses.
    assert_eq!(
        sasl_error(&pair),
        ("SCRAM-SHA-256".to_owned(), Condition::NotAuthorized)
    );
    let auth = elements(&pair.server_received)
        .find(|el| el.is("auth", ns::SASL))
        .unwrap();
    assert!(STANDARD
        .decode(auth.text().trim())
        .unwrap()
        .starts_with(b"y,"));
}

#[test]
fn a_stripped_binding_type_list_is_a_detected_downgrade() {
    // The XEP-0440 list removed in transit: the client cannot bind, and the
    // -PLUS offer with no usable type is a downgrade unless XEP-0474 proves
    // the lists genuine, which it cannot here. Under every policy.
    use xmpp_stream::client::ChannelBindingPolicy as P;
    for policy in [P::Preferred, P::Off, P::Required] {
        let store = store();
        let mut client = rfc6120_client();
        client.channel_binding = policy;
        let mut pair = Pair::over_tls(
            client,
            server_config(store.clone()),
            store,
            exporter(4),
            exporter(4),
        );
        pair.to_client = Some(Box::new(|frame| match &frame {
            Frame::Element(el) if el.is("features", ns::STREAM) => Some(Frame::Element(rebuild(
                el,
                |c| (!c.is("sasl-channel-binding", "urn:xmpp:sasl-cb:0")).then(|| c.clone()),
                Vec::new(),
            ))),
            _ => Some(frame),
        }));
        pair.run();
        match policy {
            P::Required => assert!(
                matches!(pair.client_error(), ClientError::ChannelBinding(_)),
                "{:?}",
                pair.client_error()
            ),
            _ => assert_downgrade(pair.client_error()),
        }
    }
}

#[test]
fn incorrect_encoding_moves_the_client_to_its_next_mechanism() {
    let store = store();
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-256", "SCRAM-SHA-1"]),
        server_config(store.clone()),
        store,
    );
    pair.to_server = Some(corrupt_first("auth", ns::SASL, "!!not base64!!"));
    pair.run();
    assert_eq!(sasl_failures(&pair.client_received), ["incorrect-encoding"]);
    assert_eq!(auths(&pair.client_sent), ["SCRAM-SHA-256", "SCRAM-SHA-1"]);
    assert_eq!(pair.established().0.mechanism, "SCRAM-SHA-1");
}

#[test]
fn a_failing_store_is_temporary_auth_failure() {
    for mechanism in CLEARTEXT_MECHANISMS {
        let mut pair = {
            let store = store();
            Pair::new(
                client_config(&[mechanism, "PLAIN"]),
                server_config(store.clone()),
                store,
            )
        };
        pair.lookup = Box::new(|_, _| Err(StoreError::msg("database is down")));
        pair.run();
        assert_eq!(
            sasl_error(&pair),
            (mechanism.to_owned(), Condition::TemporaryAuthFailure)
        );
        assert_eq!(auths(&pair.client_sent), [mechanism]);
    }
}

/// Issue #12: `mechanism-too-weak` before the password check would tell
/// that the account exists, so a missing secret is answered as a wrong
/// password, and the client does not try another mechanism.
#[test]
fn no_secret_for_the_mechanism_is_a_wrong_password() {
    let store = store();
    let mut creds = store.get(USER).unwrap();
    creds.digest_md5.clear();
    store.insert(USER, creds).unwrap();
    let mut pair = Pair::new(
        client_config(&["DIGEST-MD5", "SCRAM-SHA-1"]),
        server_config(store.clone()),
        store,
    );
    pair.run();
    assert_eq!(sasl_failures(&pair.client_received), ["not-authorized"]);
    assert_eq!(
        sasl_error(&pair),
        ("DIGEST-MD5".to_owned(), Condition::NotAuthorized)
    );
}

#[test]
fn a_mechanism_not_offered_is_invalid_mechanism() {
    let store = store();
    let mut config = server_config(store.clone());
    config.mechanisms = vec![xmpp_sasl::Mechanism::ScramSha1];
    let mut pair = Pair::new(client_config(&["DIGEST-MD5", "SCRAM-SHA-1"]), config, store);
    // The client is told DIGEST-MD5 is on offer; the server never had it.
    pair.to_client = Some(Box::new(|frame| {
        Some(edit_mechanisms(frame, |mut names| {
            names.push("DIGEST-MD5".into());
            names
        }))
    }));
    pair.run();
    // The server refuses what it never offered; the client's next try,
    // SCRAM, then sees that the list it was shown is not the server's
    // (XEP-0474) and aborts.
    assert_eq!(
        sasl_failures(&pair.client_received),
        ["invalid-mechanism", "aborted"]
    );
    assert_eq!(auths(&pair.client_sent), ["DIGEST-MD5", "SCRAM-SHA-1"]);
    assert_downgrade(pair.client_error());
}

/// The client stopped because XEP-0474 showed the offer was altered.
fn assert_downgrade(err: &ClientError) {
    match err {
        ClientError::Mechanism { source, .. } => {
            assert_eq!(source.kind(), xmpp_sasl::ErrorKind::Downgrade, "{err}")
        }
        other => panic!("expected a detected downgrade, got {other:?}"),
    }
}

#[test]
fn plain_kept_for_protected_streams_is_encryption_required() {
    let store = store();
    let mut config = server_config(store.clone());
    config.allow_plain_insecure = false;
    let mut pair = Pair::new(client_config(&["PLAIN", "SCRAM-SHA-256"]), config, store);
    pair.to_client = Some(Box::new(|frame| {
        Some(edit_mechanisms(frame, |mut names| {
            names.push("PLAIN".into());
            names
        }))
    }));
    pair.run();
    assert_eq!(
        sasl_failures(&pair.client_received),
        ["encryption-required", "aborted"]
    );
    assert_downgrade(pair.client_error());
}

#[test]
fn a_response_without_an_exchange_is_malformed_request() {
    let store = store();
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-256", "SCRAM-SHA-1"]),
        server_config(store.clone()),
        store,
    );
    let mut first = true;
    pair.to_server = Some(Box::new(move |frame| match &frame {
        Frame::Element(el) if first && el.is("auth", ns::SASL) => {
            first = false;
            Some(Frame::Element(
                Element::builder("response", ns::SASL).build(),
            ))
        }
        _ => Some(frame),
    }));
    pair.run();
    assert_eq!(sasl_failures(&pair.client_received), ["malformed-request"]);
    assert_eq!(pair.established().0.mechanism, "SCRAM-SHA-1");
}

#[test]
fn an_unusable_challenge_makes_the_client_abort() {
    let store = store();
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-256"]),
        server_config(store.clone()),
        store,
    );
    pair.to_client = Some(corrupt_first("challenge", ns::SASL, "!!not base64!!"));
    pair.run();
    assert!(elements(&pair.server_received).any(|el| el.is("abort", ns::SASL)));
    assert_eq!(sasl_failures(&pair.client_received), ["aborted"]);
    assert!(
        matches!(pair.client_error(), ClientError::Protocol(why) if why.contains("base64")),
        "{:?}",
        pair.client_error()
    );
    // The aborted exchange counts as a failure; the client then closed.
    assert!(matches!(pair.server_error(), ServerError::PeerClosed));
}

#[test]
fn exhausted_retries_are_policy_violation() {
    let store = store();
    let mut config = server_config(store.clone());
    config.sasl_retries = 1;
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5"]),
        config,
        store,
    );
    // Every <auth/> arrives garbled: each mechanism fails with a condition
    // that lets the client try the next one.
    pair.to_server = Some(Box::new(|frame| match &frame {
        Frame::Element(el) if el.is("auth", ns::SASL) => Some(Frame::Element(
            Element::builder("auth", ns::SASL)
                .attr("mechanism", el.attr("mechanism").unwrap())
                .text("!!")
                .build(),
        )),
        _ => Some(frame),
    }));
    pair.run();
    assert_eq!(
        sasl_failures(&pair.server_sent),
        ["incorrect-encoding", "incorrect-encoding"]
    );
    assert_eq!(
        stream_error(&pair.server_sent).as_deref(),
        Some("policy-violation")
    );
    assert_eq!(
        pair.server_error().condition(),
        Some(StreamCondition::PolicyViolation)
    );
    assert!(matches!(
        pair.client_error(),
        ClientError::Stream {
            condition: StreamCondition::PolicyViolation,
            ..
        }
    ));
}

#[test]
fn no_retries_left_after_a_wrong_password() {
    let store = store();
    let mut config = server_config(store.clone());
    config.sasl_retries = 0;
    let mut client = client_config(&["SCRAM-SHA-1"]);
    client.password = "wrong".to_owned().into();
    let mut pair = Pair::new(client, config, store);
    pair.run();
    assert_eq!(sasl_failures(&pair.server_sent), ["not-authorized"]);
    assert_eq!(
        pair.server_error().condition(),
        Some(StreamCondition::PolicyViolation)
    );
    // The client reports the failure it read before the stream error.
    assert_eq!(sasl_error(&pair).1, Condition::NotAuthorized);
}

#[test]
fn a_disabled_account_is_account_disabled_with_every_mechanism() {
    for mechanism in CLEARTEXT_MECHANISMS {
        let store = store();
        store.disable(USER);
        let mut pair = Pair::new(
            client_config(&[mechanism, "PLAIN"]),
            server_config(store.clone()),
            store,
        );
        pair.run();
        assert_eq!(
            sasl_error(&pair),
            (mechanism.to_owned(), Condition::AccountDisabled)
        );
        assert_eq!(auths(&pair.client_sent), [mechanism]);
    }
}

#[test]
fn expired_credentials_are_credentials_expired() {
    let store = store();
    store.expire(USER);
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-256"]),
        server_config(store.clone()),
        store,
    );
    pair.run();
    assert_eq!(sasl_error(&pair).1, Condition::CredentialsExpired);
}

#[test]
fn acting_for_someone_else_is_invalid_authzid() {
    let store = store();
    let mut client = client_config(&["PLAIN"]);
    client.authzid = Some("romeo@example.com".into());
    let mut pair = Pair::new(client, server_config(store.clone()), store);
    pair.run();
    assert_eq!(sasl_error(&pair).1, Condition::InvalidAuthzid);
}

#[test]
fn rfc3920_mode_closes_the_stream_after_a_failure() {
    let store = store();
    let mut config = server_config(store.clone());
    config.close_after_sasl_failure = true;
    let mut client = client_config(&["DIGEST-MD5"]);
    client.password = "wrong".to_owned().into();
    let mut pair = Pair::new(client, config, store);
    pair.run();
    assert!(matches!(
        pair.server_error(),
        ServerError::SaslFailed(Condition::NotAuthorized)
    ));
    assert_eq!(pair.server_sent.last(), Some(&Frame::Close));
    assert_eq!(sasl_error(&pair).1, Condition::NotAuthorized);
}

#[test]
fn a_server_that_cannot_prove_the_password_is_refused_without_a_restart() {
    let store = store();
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-256"]),
        server_config(store.clone()),
        store,
    );
    let forged = STANDARD.encode(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    let forged: &'static str = Box::leak(forged.into_boxed_str());
    pair.to_client = Some(corrupt_first("success", ns::SASL, forged));
    pair.run();
    assert!(
        matches!(pair.client_error(), ClientError::Mechanism { mechanism, .. } if mechanism == "SCRAM-SHA-256"),
        "{:?}",
        pair.client_error()
    );
    // No second stream header: the client closed instead of restarting.
    let headers = pair
        .client_sent
        .iter()
        .filter(|f| matches!(f, Frame::Header(_)))
        .count();
    assert_eq!(headers, 1);
    assert_eq!(pair.client_sent.last(), Some(&Frame::Close));
}

// ---------------------------------------------------------------------------
// Resource binding and the session
// ---------------------------------------------------------------------------

#[test]
fn the_requested_resource_is_bound() {
    let store = store();
    let client = client_config(&["SCRAM-SHA-1"]).with_resource("balcony");
    let mut pair = Pair::new(client, server_config(store.clone()), store);
    let requested = std::rc::Rc::new(std::cell::RefCell::new(None));
    let seen = requested.clone();
    pair.bind = Box::new(move |bare, resource| {
        *seen.borrow_mut() = resource.as_ref().map(|r| r.as_str().to_owned());
        Ok(bare.with_resource(&resource.unwrap()))
    });
    pair.run();
    let (client, server) = pair.established();
    assert_eq!(requested.borrow().as_deref(), Some("balcony"));
    assert_eq!(client.jid.as_str(), "juliet@example.com/balcony");
    assert_eq!(server.jid, client.jid);
}

#[test]
fn a_resource_is_generated_when_none_is_requested() {
    let store = store();
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-1"]),
        server_config(store.clone()),
        store,
    );
    pair.bind = Box::new(|bare, resource| {
        assert!(resource.is_none());
        Ok(bare.with_resource_str("4db06f06").unwrap())
    });
    pair.run();
    let (client, _) = pair.established();
    assert_eq!(client.jid.as_str(), "juliet@example.com/4db06f06");
    // The request carried no <resource/>.
    let bind = elements(&pair.server_received)
        .find_map(|el| el.child("bind", ns::BIND))
        .expect("bind request");
    assert!(bind.child("resource", ns::BIND).is_none());
}

#[test]
fn a_resource_in_use_is_conflict() {
    let store = store();
    let client = client_config(&["SCRAM-SHA-1"]).with_resource("balcony");
    let mut pair = Pair::new(client, server_config(store.clone()), store);
    pair.bind = Box::new(|_, _| Err(StanzaCondition::Conflict));
    pair.run();
    assert!(matches!(
        pair.client_error(),
        ClientError::Bind(StanzaCondition::Conflict)
    ));
    let reply = elements(&pair.client_received)
        .find(|el| el.is("iq", ns::CLIENT))
        .unwrap();
    assert_eq!(reply.attr("type"), Some("error"));
    // The server kept waiting for another bind; the client closed.
    assert!(matches!(pair.server_error(), ServerError::PeerClosed));
}

#[test]
fn no_bind_retries_left_is_policy_violation() {
    let store = store();
    let mut config = server_config(store.clone());
    config.bind_retries = 0;
    let mut pair = Pair::new(client_config(&["SCRAM-SHA-1"]), config, store);
    pair.bind = Box::new(|_, _| Err(StanzaCondition::Conflict));
    pair.run();
    assert_eq!(
        pair.server_error().condition(),
        Some(StreamCondition::PolicyViolation)
    );
    assert!(matches!(
        pair.client_error(),
        ClientError::Bind(StanzaCondition::Conflict)
    ));
}

#[test]
fn an_invalid_resource_is_bad_request() {
    let store = store();
    let mut client = client_config(&["SCRAM-SHA-1"]);
    // Private use characters are prohibited by resourceprep.
    client.resource = Some("\u{E000}".into());
    let mut pair = Pair::new(client, server_config(store.clone()), store);
    pair.bind = Box::new(|_, _| panic!("an invalid resource reached the binding"));
    pair.run();
    assert!(matches!(
        pair.client_error(),
        ClientError::Bind(StanzaCondition::BadRequest)
    ));
}

#[test]
fn a_required_session_is_established_after_binding() {
    let store = store();
    let mut config = server_config(store.clone());
    config.session = SessionFeature::Required;
    let mut pair = Pair::new(client_config(&["SCRAM-SHA-1"]), config, store);
    pair.run();
    pair.established();
    let session = elements(&pair.client_sent)
        .find(|el| el.child("session", ns::SESSION).is_some())
        .expect("a session IQ");
    assert_eq!(session.attr("type"), Some("set"));
    assert_eq!(session.attr("to"), Some(DOMAIN));
}

#[test]
fn an_optional_or_omitted_session_is_skipped() {
    for feature in [SessionFeature::Optional, SessionFeature::Omitted] {
        let store = store();
        let mut config = server_config(store.clone());
        config.session = feature;
        let mut pair = Pair::new(client_config(&["SCRAM-SHA-1"]), config, store);
        pair.run();
        pair.established();
        assert!(
            !elements(&pair.client_sent).any(|el| el.child("session", ns::SESSION).is_some()),
            "{feature:?}"
        );
    }
}

#[test]
fn a_refused_session_fails_the_client() {
    let store = store();
    let mut config = server_config(store.clone());
    config.session = SessionFeature::Required;
    let mut pair = Pair::new(client_config(&["SCRAM-SHA-1"]), config, store);
    pair.session_reply =
        Box::new(|iq| xmpp_stream::iq_error(iq, StanzaCondition::InternalServerError));
    pair.run();
    assert!(matches!(
        pair.client_error(),
        ClientError::Session(StanzaCondition::InternalServerError)
    ));
}

// ---------------------------------------------------------------------------
// Stream errors
// ---------------------------------------------------------------------------

/// Runs a pair whose client header is rewritten by `edit`; returns it.
fn with_client_header(edit: fn(&mut xmpp_xml::StreamHeader)) -> Pair {
    let store = store();
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-1"]),
        server_config(store.clone()),
        store,
    );
    pair.to_server = Some(Box::new(move |frame| match frame {
        Frame::Header(mut h) => {
            edit(&mut h);
            Some(Frame::Header(h))
        }
        other => Some(other),
    }));
    pair.run();
    pair
}

/// The server answered with a header, then `condition`, then closed; the
/// client reports that condition.
fn assert_stream_error(pair: &Pair, condition: StreamCondition) {
    assert!(matches!(pair.server_sent.first(), Some(Frame::Header(_))));
    assert_eq!(
        stream_error(&pair.client_received).as_deref(),
        Some(condition.as_str())
    );
    assert_eq!(pair.server_sent.last(), Some(&Frame::Close));
    assert_eq!(pair.server_error().condition(), Some(condition));
    assert!(
        matches!(pair.client_error(), ClientError::Stream { condition: c, .. } if *c == condition),
        "{:?}",
        pair.client_error()
    );
}

#[test]
fn a_header_in_the_wrong_namespace_is_invalid_namespace() {
    let pair = with_client_header(|h| h.stream_ns = "urn:wrong".into());
    assert_stream_error(&pair, StreamCondition::InvalidNamespace);
    let pair = with_client_header(|h| h.default_ns = Some("jabber:server".into()));
    assert_stream_error(&pair, StreamCondition::InvalidNamespace);
}

#[test]
fn an_unserved_domain_is_host_unknown() {
    let store = store();
    let client = ClientConfig::new("juliet@example.org", PASSWORD)
        .unwrap()
        .with_tls(xmpp_stream::client::TlsMode::Off);
    let mut pair = Pair::new(client, server_config(store.clone()), store);
    pair.run();
    assert_stream_error(&pair, StreamCondition::HostUnknown);
}

#[test]
fn an_old_or_missing_version_is_unsupported_version() {
    let pair = with_client_header(|h| h.version = Some("0.9".into()));
    assert_stream_error(&pair, StreamCondition::UnsupportedVersion);
    let pair = with_client_header(|h| h.version = None);
    assert_stream_error(&pair, StreamCondition::UnsupportedVersion);
}

#[test]
fn a_pre_1_0_server_is_refused_by_the_client() {
    let store = store();
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-1"]),
        server_config(store.clone()),
        store,
    );
    pair.to_client = Some(Box::new(|frame| match frame {
        Frame::Header(mut h) => {
            h.version = None;
            Some(Frame::Header(h))
        }
        other => Some(other),
    }));
    pair.run();
    assert!(matches!(
        pair.client_error(),
        ClientError::UnsupportedVersion(None)
    ));
    assert_eq!(pair.client_sent.last(), Some(&Frame::Close));
}

#[test]
fn bytes_that_are_not_xml_are_not_well_formed() {
    let store = store();
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-1"]),
        server_config(store.clone()),
        store,
    );
    pair.inject_to_server(b"<<not xml>>");
    pair.to_server = Some(Box::new(|_| None));
    pair.run();
    assert_stream_error(&pair, StreamCondition::NotWellFormed);
}

#[test]
fn a_stanza_before_authentication_is_not_authorized() {
    let store = store();
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-1"]),
        server_config(store.clone()),
        store,
    );
    pair.to_server = Some(Box::new(|frame| match &frame {
        Frame::Element(el) if el.is("auth", ns::SASL) => Some(Frame::Element(
            Element::builder("message", ns::CLIENT)
                .attr("to", "romeo@example.net")
                .build(),
        )),
        _ => Some(frame),
    }));
    pair.run();
    assert_stream_error(&pair, StreamCondition::NotAuthorized);
}

#[test]
fn bad_xml_from_the_server_gets_a_stream_error_from_the_client() {
    let store = store();
    let mut pair = Pair::new(
        client_config(&["SCRAM-SHA-1"]),
        server_config(store.clone()),
        store,
    );
    // The server's features never arrive; garbage does.
    pair.to_client = Some(Box::new(|frame| match &frame {
        Frame::Element(el) if el.is("features", ns::STREAM) => None,
        _ => Some(frame),
    }));
    pair.run();
    pair.inject_to_client(b"<a></b>");
    pair.run();
    assert!(matches!(pair.client_error(), ClientError::Xml(_)));
    assert_eq!(
        stream_error(&pair.server_received).as_deref(),
        Some("not-well-formed")
    );
    assert!(matches!(
        pair.server_error(),
        ServerError::Received {
            condition: StreamCondition::NotWellFormed,
            ..
        }
    ));
}

// ---------------------------------------------------------------------------
// Timeouts, on the fake clock
// ---------------------------------------------------------------------------

/// A pair whose server waits on a credential lookup that is not answered.
fn stalled(client_timeout: Duration, server_timeout: Duration) -> Pair {
    let store = store();
    let mut client = client_config(&["SCRAM-SHA-1"]);
    client.timeout = client_timeout;
    let mut config = server_config(store.clone());
    config.negotiation_timeout = server_timeout;
    let mut pair = Pair::new(client, config, store);
    pair.hold_lookups = true;
    pair.run();
    assert_eq!(
        pair.held_lookup(),
        Some(&(DOMAIN.to_owned(), USER.to_owned()))
    );
    pair
}

#[test]
fn the_client_times_out_at_its_deadline_and_not_before() {
    let mut pair = stalled(Duration::from_secs(10), Duration::from_secs(30));
    let deadline = pair.start + Duration::from_secs(10);
    assert_eq!(pair.client.poll_timeout(), Some(deadline));
    assert_eq!(
        pair.server.poll_timeout(),
        Some(pair.start + Duration::from_secs(30))
    );

    // Early calls change nothing.
    pair.client
        .handle_timeout(deadline - Duration::from_millis(1));
    pair.advance(Duration::from_millis(9_999));
    assert!(pair.client_outcome.is_none());
    assert_eq!(pair.client.poll_timeout(), Some(deadline));

    pair.advance(Duration::from_millis(1));
    assert!(matches!(pair.client_error(), ClientError::Timeout));
    assert_eq!(pair.client_sent.last(), Some(&Frame::Close));
    assert_eq!(pair.client.poll_timeout(), None);
    // The server read the client's close.
    assert!(matches!(pair.server_error(), ServerError::PeerClosed));
}

#[test]
fn the_server_times_out_while_the_store_is_slow() {
    let mut pair = stalled(Duration::from_secs(30), Duration::from_secs(5));
    let deadline = pair.start + Duration::from_secs(5);
    assert_eq!(pair.server.poll_timeout(), Some(deadline));

    pair.advance(Duration::from_secs(5));
    assert_eq!(
        pair.server_error().condition(),
        Some(StreamCondition::ConnectionTimeout)
    );
    assert_eq!(pair.server.poll_timeout(), None);
    assert!(matches!(
        pair.client_error(),
        ClientError::Stream {
            condition: StreamCondition::ConnectionTimeout,
            ..
        }
    ));

    // The store's late answer is ignored.
    let sent = pair.server_sent.len();
    pair.answer_lookup();
    assert_eq!(pair.server_sent.len(), sent);
    assert!(pair.server.poll_action().is_none());
}

#[test]
fn the_deadline_covers_the_whole_negotiation() {
    let mut pair = stalled(Duration::from_secs(30), Duration::from_secs(5));
    // Progress does not move the deadline.
    pair.advance(Duration::from_secs(4));
    pair.answer_lookup();
    let (_, _) = pair.established();
    assert_eq!(pair.server.poll_timeout(), None);
    assert_eq!(pair.client.poll_timeout(), None);
    // Once done, the deadline passing does nothing.
    let sent = pair.server_sent.len();
    pair.advance(Duration::from_secs(60));
    assert_eq!(pair.server_sent.len(), sent);
}

#[test]
fn a_silent_server_times_out_before_its_header() {
    let store = store();
    let mut client = client_config(&["SCRAM-SHA-1"]);
    client.timeout = Duration::from_secs(3);
    let mut pair = Pair::new(client, server_config(store.clone()), store);
    // The server never hears the client.
    pair.to_server = Some(Box::new(|_| None));
    pair.run();
    assert!(pair.client_outcome.is_none());
    pair.advance(Duration::from_secs(3));
    assert!(matches!(pair.client_error(), ClientError::Timeout));
    assert!(pair.client_received.is_empty());
}

// ---------------------------------------------------------------------------
// STARTTLS
// ---------------------------------------------------------------------------

#[cfg(feature = "tls")]
mod starttls {
    use super::*;
    use xmpp_stream::client::TlsMode;
    use xmpp_stream::server::TlsPolicy;
    use xmpp_stream::tls::ServerTls;

    /// A server config with a throwaway certificate; the pair never runs a
    /// handshake, but STARTTLS is only offered with a certificate.
    fn tls_server(
        policy: TlsPolicy,
    ) -> (
        xmpp_stream::server::ServerConfig,
        std::sync::Arc<xmpp_sasl::MemoryStore>,
    ) {
        let store = store();
        let mut config = server_config(store.clone());
        config.allow_plain_insecure = false;
        let generated = rcgen::generate_simple_self_signed(vec![DOMAIN.to_owned()]).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
        config.tls = Some(ServerTls::from_der(vec![generated.cert.der().clone()], key).unwrap());
        config.tls_policy = policy;
        (config, store)
    }

    fn tls_client(mode: TlsMode) -> ClientConfig {
        ClientConfig::new("juliet@example.com", PASSWORD)
            .unwrap()
            .with_tls(mode)
    }

    #[test]
    fn starttls_then_scram_plus_on_the_new_stream() {
        let (config, store) = tls_server(TlsPolicy::Required);
        let mut pair = Pair::new(tls_client(TlsMode::Required), config, store);
        pair.tls = Ok((exporter(5), exporter(5)));
        pair.run();
        let (client, server) = pair.established();
        assert_eq!(client.mechanism, "SCRAM-SHA-256-PLUS");
        assert_eq!(server.mechanism, "SCRAM-SHA-256-PLUS");
        assert!(pair.server.is_secure());
        assert_eq!(
            shape(&pair.client_sent)[..3],
            [
                "header jabber:client".to_owned(),
                format!("{{{}}}starttls", ns::TLS),
                "header jabber:client".to_owned(),
            ]
        );
        // Before TLS the server offered only STARTTLS.
        let first_features = elements(&pair.client_received)
            .find(|el| el.is("features", ns::STREAM))
            .unwrap();
        assert!(first_features.child("mechanisms", ns::SASL).is_none());
        assert!(first_features
            .child("starttls", ns::TLS)
            .and_then(|s| s.child("required", ns::TLS))
            .is_some());
    }

    #[test]
    fn opportunistic_client_uses_optional_starttls() {
        let (config, store) = tls_server(TlsPolicy::Optional);
        let mut pair = Pair::new(tls_client(TlsMode::Opportunistic), config, store);
        pair.tls = Ok((end_point(6), end_point(6)));
        pair.run();
        let (client, _) = pair.established();
        assert_eq!(client.mechanism, "SCRAM-SHA-256-PLUS");
    }

    #[test]
    fn a_failed_handshake_fails_both_cores() {
        let (config, store) = tls_server(TlsPolicy::Required);
        let mut pair = Pair::new(tls_client(TlsMode::Required), config, store);
        pair.tls = Err(std::io::ErrorKind::ConnectionReset);
        pair.run();
        assert!(matches!(pair.client_error(), ClientError::Tls(_)));
        match pair.server_error() {
            ServerError::Tls(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
            other => panic!("{other:?}"),
        }
        // Nothing was sent after <proceed/>.
        assert!(elements(&pair.server_sent)
            .last()
            .is_some_and(|el| el.is("proceed", ns::TLS)));
    }

    #[test]
    fn starttls_where_it_is_not_offered_is_refused() {
        let store = store();
        let mut pair = Pair::new(
            tls_client(TlsMode::Opportunistic),
            server_config(store.clone()),
            store,
        );
        // The client is told STARTTLS is on offer; the server has no
        // certificate.
        pair.to_client = Some(Box::new(|frame| match &frame {
            Frame::Element(el) if el.is("features", ns::STREAM) => Some(Frame::Element(rebuild(
                el,
                |c| Some(c.clone()),
                vec![Element::builder("starttls", ns::TLS).build()],
            ))),
            _ => Some(frame),
        }));
        pair.run();
        assert!(matches!(pair.server_error(), ServerError::StartTlsRefused));
        assert!(elements(&pair.client_received).any(|el| el.is("failure", ns::TLS)));
        assert!(
            matches!(pair.client_error(), ClientError::Tls(why) if why.contains("refused")),
            "{:?}",
            pair.client_error()
        );
    }

    #[test]
    fn tls_policies_that_cannot_meet_fail_on_the_client() {
        let store = store();
        let mut pair = Pair::new(
            tls_client(TlsMode::Required),
            server_config(store.clone()),
            store,
        );
        pair.run();
        assert!(
            matches!(pair.client_error(), ClientError::Tls(why) if why.contains("does not offer")),
            "{:?}",
            pair.client_error()
        );

        let (config, store) = tls_server(TlsPolicy::Required);
        let mut pair = Pair::new(tls_client(TlsMode::Off), config, store);
        pair.run();
        assert!(
            matches!(pair.client_error(), ClientError::Tls(why) if why.contains("requires TLS")),
            "{:?}",
            pair.client_error()
        );
    }
}
