//! SASL2 (XEP-0388), Bind2 (XEP-0386) and FAST (XEP-0484) between our own
//! client and server cores, in memory: the flows, the failures, the quirks
//! of other servers our client must tolerate, and downgrade detection.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pair;

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use pair::*;
use xmpp_sasl::{Condition, Mechanism, MemoryTokenStore, TokenStore as _};
use xmpp_stream::client::{ChannelBindingPolicy, ClientConfig, Sasl2Mode};
use xmpp_stream::{ChannelBindings, ClientError};
use xmpp_xml::{ns, Element, Frame};

const SASL2: &str = "urn:xmpp:sasl:2";
const BIND2: &str = "urn:xmpp:bind:0";
const FAST: &str = "urn:xmpp:fast:0";

fn bindings() -> ChannelBindings {
    ChannelBindings {
        tls_exporter: Some(vec![7; 32]),
        tls_server_end_point: Some(vec![8; 32]),
    }
}

fn client() -> ClientConfig {
    let mut c = ClientConfig::new("juliet@example.com", PASSWORD).unwrap();
    c.sasl2 = Sasl2Mode::Required;
    c
}

/// A server with a FAST token store shared with the pair.
fn server(
    store: Arc<xmpp_sasl::MemoryStore>,
    tokens: &Arc<MemoryTokenStore>,
) -> xmpp_stream::server::ServerConfig {
    let mut s = server_config(store);
    s.domains[0].tokens = Some(tokens.clone());
    s
}

fn run_tls(client: ClientConfig, tokens: &Arc<MemoryTokenStore>) -> Pair {
    let store = store();
    let mut pair = Pair::over_tls(
        client,
        server(store.clone(), tokens),
        store,
        bindings(),
        bindings(),
    );
    pair.tokens = Some(tokens.clone());
    pair.run();
    pair
}

/// What the client sent, by element name (headers and closes left out).
fn sent_names(frames: &[Frame]) -> Vec<String> {
    elements(frames).map(|e| e.name().to_owned()).collect()
}

#[test]
fn scram_with_bind2_takes_two_client_messages_and_no_restart() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let mut c = client();
    c.bind2_tag = "Balcony".to_owned();
    let pair = run_tls(c, &tokens);
    let (client, server) = pair.established();
    assert!(client.sasl2 && client.bound_inline && server.sasl2);
    assert_eq!(client.mechanism, Mechanism::ScramSha256Plus);
    assert_eq!(client.jid, server.jid);
    // The resource is the tag and a stable part (XEP-0386 §5).
    assert!(
        client.jid.resource().as_str().starts_with("Balcony/"),
        "{}",
        client.jid
    );
    // authenticate (client-first), response (client-final): nothing else,
    // and one stream header only (no restart).
    assert_eq!(sent_names(&pair.client_sent), ["authenticate", "response"]);
    let headers = pair
        .client_sent
        .iter()
        .filter(|f| matches!(f, Frame::Header(_)))
        .count();
    assert_eq!(headers, 1);
    // The success carries the SCRAM server-final, the full JID, <bound/>.
    let success = elements(&pair.client_received)
        .find(|e| e.is("success", SASL2))
        .unwrap();
    let ad = success.child("additional-data", SASL2).unwrap().text();
    assert!(STANDARD.decode(ad).unwrap().starts_with(b"v="));
    assert_eq!(
        success
            .child("authorization-identifier", SASL2)
            .unwrap()
            .text(),
        client.jid.as_str()
    );
    assert!(success.child("bound", BIND2).is_some());
}

#[test]
fn the_same_user_agent_gets_the_same_resource() {
    // Two logins of one user agent through one server.
    let tokens = Arc::new(MemoryTokenStore::new());
    let store = store();
    let config = Arc::new(server(store.clone(), &tokens));
    let ua = client().user_agent;
    let mut jids = Vec::new();
    for _ in 0..2 {
        let mut c = client();
        c.user_agent = ua.clone();
        let now = std::time::Instant::now();
        let mut core_c = xmpp_stream::client::ClientCore::new(c, now);
        core_c.set_secure(bindings());
        let mut core_s =
            xmpp_stream::server::ServerCore::new(config.clone(), xmpp_stream::Security::Tls, now);
        core_s.set_channel_bindings(bindings());
        let mut p = Pair::from_cores(core_c, core_s, store.clone(), now);
        p.run();
        jids.push(p.established().0.jid.clone());
    }
    assert_eq!(jids[0], jids[1]);
    // And the resource does not contain the user-agent id.
    assert!(!jids[0].as_str().contains(&ua.id));
}

#[test]
fn a_fast_token_is_issued_then_logs_in_in_one_message() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let mut c = client();
    c.request_fast_token = true;
    let ua = c.user_agent.clone();
    let pair = run_tls(c, &tokens);
    let (info, _) = pair.established();
    let token = info.fast_token.clone().expect("a token was issued");
    assert_eq!(token.mechanism, Mechanism::HtSha256Expr, "bound first");
    // Stored under the user and the user agent.
    let stored = now_or_never(tokens.tokens(USER, &ua.id)).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(*stored[0].secret, *token.secret);
    // Never printed.
    assert!(!format!("{info:?}").contains(token.secret.as_str()));

    let c = token_client(&ua, &token);
    let pair = run_tls(c, &tokens);
    let (info, server) = pair.established();
    assert_eq!(info.mechanism, Mechanism::HtSha256Expr);
    assert_eq!(server.mechanism, Mechanism::HtSha256Expr);
    assert!(!info.fast_token_refused);
    assert_eq!(sent_names(&pair.client_sent), ["authenticate"]);
    let auth = elements(&pair.client_sent).next().unwrap();
    assert!(auth.child("fast", FAST).is_some());
}

#[test]
fn a_token_from_another_user_agent_or_channel_is_refused() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let mut c = client();
    c.request_fast_token = true;
    let token = run_tls(c, &tokens)
        .established()
        .0
        .fast_token
        .clone()
        .unwrap();

    // Another user agent: not-authorized, then the password.
    let mut c = client();
    c.fast_token = Some(token.clone());
    let pair = run_tls(c, &tokens);
    let (info, _) = pair.established();
    assert!(info.fast_token_refused);
    assert_eq!(info.mechanism, Mechanism::ScramSha256Plus);

    // No password to fall back to: the failure is reported.
    let mut c = client();
    c.fast_token = Some(token);
    c.password = Default::default();
    let pair = run_tls(c, &tokens);
    match pair.client_error() {
        ClientError::Sasl {
            mechanism,
            condition,
            ..
        } => {
            assert_eq!(*mechanism, Mechanism::HtSha256Expr);
            assert_eq!(*condition, Condition::NotAuthorized);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_token_bound_to_one_channel_fails_on_another() {
    // A man in the middle terminates TLS: the two sides' exporters differ.
    let tokens = Arc::new(MemoryTokenStore::new());
    let (ua, token) = issue_token(&tokens);
    let c = token_client(&ua, &token);
    let store = store();
    let mut pair = Pair::over_tls(
        c,
        server(store.clone(), &tokens),
        store,
        ChannelBindings {
            tls_exporter: Some(vec![1; 32]),
            tls_server_end_point: Some(vec![8; 32]),
        },
        bindings(),
    );
    pair.tokens = Some(tokens);
    pair.run();
    assert!(matches!(
        pair.client_error(),
        ClientError::Sasl {
            condition: Condition::NotAuthorized,
            ..
        }
    ));
}

#[test]
fn an_expired_token_is_refused() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let (ua, token) = issue_token(&tokens);
    let mut c = client();
    c.user_agent = ua;
    c.fast_token = Some(token);
    let store = store();
    let mut pair = Pair::over_tls(
        c,
        server(store.clone(), &tokens),
        store,
        bindings(),
        bindings(),
    );
    pair.tokens = Some(tokens);
    pair.wall_clock += Duration::from_secs(15 * 24 * 3600);
    pair.run();
    assert!(pair.established().0.fast_token_refused);
}

#[test]
fn a_replayed_count_is_refused() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let (ua, token) = issue_token(&tokens);
    let with_count = |n: &'static str| {
        Box::new(move |frame: Frame| match &frame {
            Frame::Element(el) if el.is("authenticate", SASL2) => {
                let mut b = Element::builder("authenticate", SASL2);
                for (k, v) in el.attrs() {
                    b = b.attr(k, v);
                }
                for child in el.children() {
                    if child.is("fast", FAST) {
                        b = b.append(Element::builder("fast", FAST).attr("count", n).build());
                    } else {
                        b = b.append(child.clone());
                    }
                }
                Some(Frame::Element(b.build()))
            }
            _ => Some(frame),
        }) as Filter
    };
    let mut outcomes = Vec::new();
    for count in ["5", "5", "6"] {
        let c = token_client(&ua, &token);
        let store = store();
        let mut pair = Pair::over_tls(
            c,
            server(store.clone(), &tokens),
            store,
            bindings(),
            bindings(),
        );
        pair.tokens = Some(tokens.clone());
        pair.to_server = Some(with_count(count));
        pair.run();
        outcomes.push(pair.client_result().is_ok());
    }
    assert_eq!(outcomes, [true, false, true]);
}

#[test]
fn sasl2_is_not_offered_without_tls_unless_allowed() {
    let store = store();
    let mut c = client_config(&["SCRAM-SHA-1"]);
    c.sasl2 = Sasl2Mode::Required;
    let mut pair = Pair::new(c, server_config(store.clone()), store);
    pair.run();
    assert!(matches!(pair.client_error(), ClientError::Sasl2(_)));

    let store = pair::store();
    let mut c = client_config(&["SCRAM-SHA-1"]);
    c.sasl2 = Sasl2Mode::Auto;
    let mut s = server_config(store.clone());
    s.allow_sasl2_insecure = true;
    let mut pair = Pair::new(c, s, store);
    pair.run();
    let (client, _) = pair.established();
    assert!(client.sasl2);
    assert_eq!(client.mechanism, Mechanism::ScramSha1);
}

#[test]
fn sasl2_off_on_the_server_leaves_rfc6120() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let store = store();
    let mut s = server(store.clone(), &tokens);
    s.sasl2 = false;
    let mut c = client();
    c.sasl2 = Sasl2Mode::Auto;
    let mut pair = Pair::over_tls(c, s, store, bindings(), bindings());
    pair.run();
    let (client, _) = pair.established();
    assert!(!client.sasl2);
    let features = elements(&pair.client_received)
        .find(|e| e.is("features", ns::STREAM))
        .unwrap();
    assert!(features.child("authentication", SASL2).is_none());
}

#[test]
fn plain_and_every_scram_work_under_sasl2() {
    for m in [
        "PLAIN",
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-256-PLUS",
    ] {
        let tokens = Arc::new(MemoryTokenStore::new());
        let mut c = client_config(&[m]);
        c.sasl2 = Sasl2Mode::Required;
        let pair = run_tls(c, &tokens);
        let (client, _) = pair.established();
        assert_eq!(client.mechanism.as_str(), m);
        assert!(client.sasl2);
    }
}

#[test]
fn a_wrong_password_is_a_sasl2_failure_and_the_stream_stays() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let mut c = client();
    c.password = "wrong".to_owned().into();
    let pair = run_tls(c, &tokens);
    let failure = elements(&pair.client_received)
        .find(|e| e.is("failure", SASL2))
        .unwrap();
    assert!(failure.child("not-authorized", ns::SASL).is_some());
    assert!(matches!(
        pair.client_error(),
        ClientError::Sasl {
            condition: Condition::NotAuthorized,
            ..
        }
    ));
}

#[test]
fn a_server_ack_request_after_success_is_tolerated() {
    // ejabberd and Prosody send <r/> right after <success/>, before the
    // features: the client must not choke on it.
    let tokens = Arc::new(MemoryTokenStore::new());
    let store = store();
    let mut pair = Pair::over_tls(
        client(),
        server(store.clone(), &tokens),
        store,
        bindings(),
        bindings(),
    );
    let held = Arc::new(std::sync::Mutex::new(None));
    let hold = held.clone();
    let mut after_success = false;
    pair.to_client = Some(Box::new(move |frame: Frame| {
        if let Frame::Element(el) = &frame {
            if el.is("success", SASL2) {
                after_success = true;
            } else if after_success && el.is("features", ns::STREAM) {
                *hold.lock().unwrap() = Some(el.clone());
                return None;
            }
        }
        Some(frame)
    }));
    pair.run();
    let features = held.lock().unwrap().take().expect("features after success");
    pair.inject_to_client(b"<r xmlns='urn:xmpp:sm:3'/>");
    pair.inject_to_client(features.to_xml().as_bytes());
    pair.run();
    assert!(pair.established().0.sasl2);
}

#[test]
fn the_client_refuses_sasl2_tasks_cleanly() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let store = store();
    let mut pair = Pair::over_tls(
        client(),
        server(store.clone(), &tokens),
        store,
        bindings(),
        bindings(),
    );
    // The success becomes a <continue/>; what the server sends after it
    // (it thinks it succeeded) never arrives.
    let mut replaced = false;
    pair.to_client = Some(Box::new(move |frame: Frame| match &frame {
        _ if replaced => None,
        Frame::Element(el) if el.is("success", SASL2) => {
            replaced = true;
            Some(Frame::Element(
                Element::builder("continue", SASL2)
                    .append(
                        Element::builder("tasks", SASL2)
                            .append(Element::builder("task", SASL2).text("HOTP-EXAMPLE").build())
                            .build(),
                    )
                    .build(),
            ))
        }
        _ => Some(frame),
    }));
    pair.run();
    assert!(elements(&pair.client_sent).any(|e| e.is("abort", SASL2)));
    // A server that asked for a task answers the abort with a failure.
    pair.inject_to_client(
        b"<failure xmlns='urn:xmpp:sasl:2'><aborted xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></failure>",
    );
    pair.run();
    match pair.client_error() {
        ClientError::Sasl2(text) => assert!(text.contains("HOTP-EXAMPLE"), "{text}"),
        other => panic!("{other:?}"),
    }
    assert!(elements(&pair.client_sent).any(|e| e.is("abort", SASL2)));
}

#[test]
fn the_server_answers_tasks_and_stray_elements_with_a_failure() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let store = store();
    let mut pair = Pair::over_tls(
        client(),
        server(store.clone(), &tokens),
        store,
        bindings(),
        bindings(),
    );
    pair.to_server = Some(Box::new(|frame: Frame| match &frame {
        Frame::Element(el) if el.is("authenticate", SASL2) => Some(Frame::Element(
            Element::builder("next", SASL2)
                .attr("task", "HOTP-EXAMPLE")
                .build(),
        )),
        _ => Some(frame),
    }));
    pair.run();
    let failure = elements(&pair.server_sent)
        .find(|e| e.is("failure", SASL2))
        .unwrap();
    assert!(failure.child("malformed-request", ns::SASL).is_some());
}

#[test]
fn a_stripped_plus_offer_under_sasl2_is_detected() {
    // Someone who can read the TLS channel removes -PLUS from the SASL2
    // offer: the server's XEP-0474 hash (and the `y` flag) expose it.
    for policy in [ChannelBindingPolicy::Preferred, ChannelBindingPolicy::Off] {
        let tokens = Arc::new(MemoryTokenStore::new());
        let store = store();
        let mut c = client();
        c.channel_binding = policy;
        let mut pair = Pair::over_tls(
            c,
            server(store.clone(), &tokens),
            store,
            bindings(),
            bindings(),
        );
        pair.to_client = Some(Box::new(|frame: Frame| match &frame {
            Frame::Element(el) if el.is("features", ns::STREAM) => {
                let mut f = Element::builder("features", ns::STREAM);
                for child in el.children() {
                    if child.is("authentication", SASL2) {
                        let mut a = Element::builder("authentication", SASL2);
                        for m in child.children() {
                            if !(m.name() == "mechanism" && m.text().ends_with("-PLUS")) {
                                a = a.append(m.clone());
                            }
                        }
                        f = f.append(a.build());
                    } else {
                        f = f.append(child.clone());
                    }
                }
                Some(Frame::Element(f.build()))
            }
            _ => Some(frame),
        }));
        pair.run();
        assert!(
            pair.client_result().is_err(),
            "{policy:?}: the downgrade went unnoticed"
        );
    }
}

#[test]
fn channel_binding_required_fails_without_tls() {
    let store = store();
    let mut c = client_config(&["SCRAM-SHA-256"]);
    c.channel_binding = ChannelBindingPolicy::Required;
    let mut pair = Pair::new(c, server_config(store.clone()), store);
    pair.run();
    assert!(matches!(
        pair.client_error(),
        ClientError::ChannelBinding(_)
    ));
}

#[test]
fn channel_binding_required_refuses_a_server_without_plus() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let store = store();
    let mut s = server(store.clone(), &tokens);
    s.mechanisms = vec![Mechanism::ScramSha256];
    let mut c = client();
    c.channel_binding = ChannelBindingPolicy::Required;
    let mut pair = Pair::over_tls(c, s, store, bindings(), bindings());
    pair.run();
    assert!(matches!(
        pair.client_error(),
        ClientError::ChannelBinding(_)
    ));
}

#[test]
fn a_refused_plus_attempt_is_not_downgraded_when_required() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let store = store();
    let mut c = client();
    c.channel_binding = ChannelBindingPolicy::Required;
    let mut pair = Pair::over_tls(
        c,
        server(store.clone(), &tokens),
        store,
        bindings(),
        bindings(),
    );
    // The attacker answers the -PLUS attempt with invalid-mechanism.
    pair.to_server = Some(Box::new(|frame: Frame| match &frame {
        Frame::Element(el) if el.is("authenticate", SASL2) => Some(Frame::Element(
            Element::builder("authenticate", SASL2)
                .attr("mechanism", "X-NOT-OFFERED")
                .build(),
        )),
        _ => Some(frame),
    }));
    pair.run();
    assert!(matches!(
        pair.client_error(),
        ClientError::Sasl {
            condition: Condition::InvalidMechanism,
            ..
        }
    ));
    let authenticates = elements(&pair.client_sent)
        .filter(|e| e.is("authenticate", SASL2))
        .count();
    assert_eq!(authenticates, 1, "no second, unbound attempt");
}

#[test]
fn without_bind2_the_client_binds_with_rfc6120() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let store = store();
    let mut pair = Pair::over_tls(
        client(),
        server(store.clone(), &tokens),
        store,
        bindings(),
        bindings(),
    );
    // Strip Bind2 from the offer: the client sends no <bind/> inline.
    pair.to_client = Some(Box::new(|frame: Frame| match &frame {
        Frame::Element(el)
            if el.is("features", ns::STREAM) && el.child("authentication", SASL2).is_some() =>
        {
            let mut f = Element::builder("features", ns::STREAM);
            for child in el.children() {
                if child.is("authentication", SASL2) {
                    let mut a = Element::builder("authentication", SASL2);
                    for m in child.children().filter(|m| m.name() == "mechanism") {
                        a = a.append(m.clone());
                    }
                    f = f.append(a.build());
                } else {
                    f = f.append(child.clone());
                }
            }
            Some(Frame::Element(f.build()))
        }
        _ => Some(frame),
    }));
    pair.run();
    let (client, _) = pair.established();
    assert!(client.sasl2 && !client.bound_inline);
    assert!(elements(&pair.client_sent).any(|e| e.is("iq", ns::CLIENT)));
}

#[test]
fn without_a_password_an_unusable_token_is_not_a_failed_login() {
    // A token for HT-SHA-256-EXPR on a connection without binding data: no
    // attempt at all, rather than an empty password the server would count.
    let tokens = Arc::new(MemoryTokenStore::new());
    let store = store();
    let mut c = client_config(&["SCRAM-SHA-256"]);
    c.sasl2 = Sasl2Mode::Required;
    c.password = Default::default();
    c.fast_token = Some(xmpp_sasl::FastToken::generate(
        Mechanism::HtSha256Expr,
        Duration::from_secs(60),
        std::time::SystemTime::now(),
    ));
    let mut s = server(store.clone(), &tokens);
    s.allow_sasl2_insecure = true;
    let mut pair = Pair::new(c, s, store);
    pair.tokens = Some(tokens);
    pair.run();
    match pair.client_error() {
        ClientError::NoPassword(why) => assert!(why.contains("HT-SHA-256-EXPR"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(
        elements(&pair.client_sent).next().is_none(),
        "nothing was tried"
    );
}

#[test]
fn a_token_request_without_a_user_agent_is_ignored_not_failed() {
    // xmpp.js asks for a token whenever FAST is offered, with or without a
    // user-agent id: the login succeeds, without a token.
    let tokens = Arc::new(MemoryTokenStore::new());
    let store = store();
    let mut pair = Pair::over_tls(
        client(),
        server(store.clone(), &tokens),
        store,
        bindings(),
        bindings(),
    );
    pair.tokens = Some(tokens);
    pair.to_server = Some(Box::new(|frame: Frame| match &frame {
        Frame::Element(el) if el.is("authenticate", SASL2) => {
            let mut b = Element::builder("authenticate", SASL2);
            for (k, v) in el.attrs() {
                b = b.attr(k, v);
            }
            for child in el.children().filter(|c| c.name() != "user-agent") {
                b = b.append(child.clone());
            }
            b = b.append(
                Element::builder("request-token", FAST)
                    .attr("mechanism", "HT-SHA-256-EXPR")
                    .build(),
            );
            Some(Frame::Element(b.build()))
        }
        _ => Some(frame),
    }));
    pair.run();
    let (client, server) = pair.established();
    assert!(client.sasl2 && server.sasl2);
    assert!(client.fast_token.is_none());
}

#[test]
fn an_ageing_token_is_rotated_unasked() {
    let tokens = Arc::new(MemoryTokenStore::new());
    let (ua, token) = issue_token(&tokens);
    let login_at = |days: u64| {
        let c = token_client(&ua, &token);
        let store = store();
        let mut pair = Pair::over_tls(
            c,
            server(store.clone(), &tokens),
            store,
            bindings(),
            bindings(),
        );
        pair.tokens = Some(tokens.clone());
        pair.wall_clock += Duration::from_secs(days * 24 * 3600);
        pair.run();
        pair.established().0.fast_token.clone()
    };
    // Fresh (14-day tokens): no new one. Eight days on: a new one, for the
    // same mechanism, without being asked.
    assert!(login_at(1).is_none());
    let rotated = login_at(8).expect("rotated");
    assert_eq!(rotated.mechanism, token.mechanism);
    assert_ne!(*rotated.secret, *token.secret);
}

#[test]
fn a_from_of_another_domain_is_invalid_from() {
    for (from, ok) in [
        ("juliet@example.com", true),
        ("juliet@example.org", false),
        ("not a jid@", false),
    ] {
        let tokens = Arc::new(MemoryTokenStore::new());
        let store = store();
        let mut pair = Pair::over_tls(
            client(),
            server(store.clone(), &tokens),
            store,
            bindings(),
            bindings(),
        );
        pair.to_server = Some(Box::new(move |frame: Frame| match frame {
            Frame::Header(mut h) => {
                h.from = Some(from.to_owned().into());
                Some(Frame::Header(h))
            }
            other => Some(other),
        }));
        pair.run();
        assert_eq!(pair.client_result().is_ok(), ok, "{from}");
        if !ok {
            assert_eq!(
                stream_error(&pair.server_sent).as_deref(),
                Some("invalid-from")
            );
        }
    }
}

#[test]
fn reusing_the_current_token_writes_nothing() {
    // First use of a new token: recorded (it becomes current). Later uses
    // of the current one: nothing to record, so no store write per login.
    let tokens = Arc::new(MemoryTokenStore::new());
    let mut c = client();
    c.request_fast_token = true;
    let ua = c.user_agent.clone();
    let first = run_tls(c, &tokens);
    assert_eq!(first.token_updates, ["issue"]);
    let token = first.established().0.fast_token.clone().unwrap();
    let mut updates = Vec::new();
    for _ in 0..3 {
        let c = token_client(&ua, &token);
        let pair = run_tls(c, &tokens);
        assert_eq!(pair.established().0.mechanism, token.mechanism);
        updates.push(pair.token_updates.clone());
    }
    assert_eq!(updates, [vec!["used"], vec![], vec![]]);
}

/// A password login of a new user agent that asks for a token: the user
/// agent and the token issued.
fn issue_token(
    tokens: &Arc<MemoryTokenStore>,
) -> (xmpp_stream::client::UserAgent, xmpp_sasl::FastToken) {
    let mut c = client();
    c.request_fast_token = true;
    let ua = c.user_agent.clone();
    let token = run_tls(c, tokens)
        .established()
        .0
        .fast_token
        .clone()
        .expect("a token was issued");
    (ua, token)
}

/// A client of user agent `ua` with `token` and no password.
fn token_client(ua: &xmpp_stream::client::UserAgent, token: &xmpp_sasl::FastToken) -> ClientConfig {
    let mut c = client();
    c.user_agent = ua.clone();
    c.fast_token = Some(token.clone());
    c.password = Default::default();
    c
}
