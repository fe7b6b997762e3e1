//! Stream management (XEP-0198) negotiated between our own client and
//! server cores, in memory: `<enable/>` after RFC 6120 binding, inline in
//! Bind2, refused before binding, and off on either side. The pair driver
//! answers `<enable/>` on the established stream as `XmppStream` does.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod pair;

use pair::*;
use xmpp_stream::client::{ClientConfig, Sasl2Mode};
use xmpp_stream::sm::State;
use xmpp_stream::ChannelBindings;
use xmpp_xml::{ns, Element, Frame};

const BIND2: &str = "urn:xmpp:bind:0";

fn rfc6120() -> Pair {
    let store = store();
    Pair::new(
        sm_client(&["SCRAM-SHA-256"]),
        server_config(store.clone()),
        store,
    )
}

fn bind2(client: ClientConfig, server: xmpp_stream::server::ServerConfig) -> Pair {
    let cb = ChannelBindings {
        tls_exporter: Some(vec![7; 32]),
        tls_server_end_point: None,
    };
    Pair::over_tls(client, server, store(), cb.clone(), cb)
}

fn sasl2_client() -> ClientConfig {
    let mut c = ClientConfig::new("juliet@example.com", PASSWORD).unwrap();
    c.stream_management = true;
    c.sasl2 = Sasl2Mode::Required;
    c
}

/// The elements in `frames` in the stream management namespace.
fn sm_elements(frames: &[Frame]) -> Vec<&Element> {
    elements(frames).filter(|e| e.ns() == ns::SM).collect()
}

/// The last `<stream:features/>` in `frames`.
fn last_features(frames: &[Frame]) -> &Element {
    elements(frames)
        .filter(|e| e.is("features", ns::STREAM))
        .last()
        .expect("features")
}

#[test]
fn rfc6120_enable_after_bind_is_answered_with_enabled() {
    let mut pair = rfc6120();
    pair.run();
    let (client, server) = pair.established();
    assert!(!client.sasl2);
    assert!(!server.stream_management, "not enabled at binding");
    // Offered with the bind feature, after the restart only.
    assert!(sm::offered(last_features(&pair.server_sent)));
    let first = elements(&pair.server_sent)
        .find(|e| e.is("features", ns::STREAM))
        .unwrap();
    assert!(!sm::offered(first));
    // The client's last word: <enable/>, asking for resumption, after the
    // bind.
    let sent: Vec<_> = elements(&pair.client_sent).collect();
    let enable = sent.last().unwrap();
    assert_eq!(
        enable.to_xml(),
        "<enable xmlns='urn:xmpp:sm:3' resume='true'/>"
    );
    assert!(sent[sent.len() - 2].child("bind", ns::BIND).is_some());
    // The server's answer: <enabled/>, not resumable: this server keeps
    // no detached sessions (`ServerConfig::resumable` is unset).
    let answers = sm_elements(&pair.server_sent);
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].to_xml(), "<enabled xmlns='urn:xmpp:sm:3'/>");
    assert_eq!(pair.client_sm.as_ref().unwrap().state(), State::Active);
    assert_eq!(pair.server_sm.as_ref().unwrap().state(), State::Active);
    assert!(!pair.client_sm.as_ref().unwrap().is_resumable());
}

#[test]
fn a_required_session_comes_before_enable() {
    let store = store();
    let mut server = server_config(store.clone());
    server.session = xmpp_stream::server::SessionFeature::Required;
    let mut pair = Pair::new(sm_client(&["SCRAM-SHA-1"]), server, store);
    pair.run();
    pair.established();
    let names: Vec<_> = elements(&pair.client_sent)
        .map(|e| e.children().next().map_or(e.name(), |c| c.name()))
        .collect();
    let n = names.len();
    assert_eq!(names[n - 3..], ["bind", "session", "enable"], "{names:?}");
    assert_eq!(pair.client_sm.unwrap().state(), State::Active);
}

#[test]
fn bind2_enables_inline_in_bound() {
    let mut pair = bind2(sasl2_client(), server_config(store()));
    pair.run();
    let (client, server) = pair.established();
    assert!(client.bound_inline && server.bound_inline);
    assert!(client.stream_management && server.stream_management);
    // Offered as a Bind2 inline feature.
    let offer = elements(&pair.server_sent)
        .find_map(|f| f.child("authentication", "urn:xmpp:sasl:2"))
        .expect("SASL2 offer");
    let inline = offer.to_xml();
    assert!(
        inline.contains("<feature var='urn:xmpp:sm:3'/>"),
        "{inline}"
    );
    // Asked in <bind/>, answered in <bound/>; nothing at the top level.
    let authenticate = elements(&pair.client_sent)
        .find(|e| e.name() == "authenticate")
        .unwrap();
    let bind = authenticate.child("bind", BIND2).expect("bind2");
    assert!(bind.child("enable", ns::SM).is_some());
    let success = elements(&pair.server_sent)
        .find(|e| e.name() == "success")
        .unwrap();
    let enabled = success
        .child("bound", BIND2)
        .and_then(|b| b.child("enabled", ns::SM))
        .expect("<enabled/> in <bound/>");
    assert_eq!(enabled.attr("resume"), None);
    assert!(sm_elements(&pair.client_sent).is_empty());
    assert!(sm_elements(&pair.server_sent).is_empty());
    assert_eq!(pair.client_sm.as_ref().unwrap().state(), State::Active);
    assert_eq!(pair.server_sm.as_ref().unwrap().state(), State::Active);
}

#[test]
fn enable_before_bind_is_refused_and_negotiation_goes_on() {
    let mut pair = rfc6120();
    // The client's bind request turns into <enable/>; the refusal is kept
    // from the client, whose bind request is then delivered.
    let mut bind = None;
    pair.to_server = Some(Box::new(move |frame| match frame {
        Frame::Element(e) if e.child("bind", ns::BIND).is_some() && bind.is_none() => {
            bind = Some(e);
            Some(Frame::Element(Element::builder("enable", ns::SM).build()))
        }
        other => Some(other),
    }));
    pair.to_client = Some(Box::new(|frame| match frame {
        Frame::Element(e) if e.is("failed", ns::SM) => None,
        other => Some(other),
    }));
    pair.run();
    let failed = sm_elements(&pair.server_sent);
    assert_eq!(failed.len(), 1);
    assert!(failed[0].is("failed", ns::SM));
    assert!(failed[0].child("unexpected-request", ns::STANZAS).is_some());
    assert!(pair.server_outcome.is_none(), "still waiting for the bind");
    pair.to_server = None;
    pair.inject_to_server(
        b"<iq type='set' id='bind_1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>",
    );
    pair.run();
    pair.established();
    assert_eq!(pair.server_sm.unwrap().state(), State::Active);
}

#[test]
fn off_on_the_server_nothing_is_offered_or_enabled() {
    let store = store();
    let mut server = server_config(store.clone());
    server.stream_management = None;
    let mut pair = Pair::new(sm_client(&["SCRAM-SHA-256"]), server, store);
    pair.run();
    let (client, _) = pair.established();
    assert!(!client.stream_management);
    assert!(!sm::offered(last_features(&pair.server_sent)));
    assert!(sm_elements(&pair.client_sent).is_empty());
    assert!(pair.client_sm.is_none() && pair.server_sm.is_none());

    // Nor inline in Bind2.
    let mut server = server_config(pair::store());
    server.stream_management = None;
    let mut pair = bind2(sasl2_client(), server);
    pair.run();
    let (client, _) = pair.established();
    assert!(client.bound_inline && !client.stream_management);
    let offer = elements(&pair.server_sent)
        .find_map(|f| f.child("authentication", "urn:xmpp:sasl:2"))
        .unwrap()
        .to_xml();
    assert!(!offer.contains("urn:xmpp:sm:3"), "{offer}");
    let authenticate = elements(&pair.client_sent)
        .find(|e| e.name() == "authenticate")
        .unwrap();
    assert!(authenticate
        .child("bind", BIND2)
        .unwrap()
        .child("enable", ns::SM)
        .is_none());
    assert!(pair.client_sm.is_none() && pair.server_sm.is_none());
}

#[test]
fn off_on_the_client_nothing_is_asked() {
    let mut client = sm_client(&["SCRAM-SHA-256"]);
    client.stream_management = false;
    let store = store();
    let mut pair = Pair::new(client, server_config(store.clone()), store);
    pair.run();
    pair.established();
    assert!(sm::offered(last_features(&pair.server_sent)));
    assert!(sm_elements(&pair.client_sent).is_empty());
    assert!(pair.client_sm.is_none() && pair.server_sm.is_none());

    let mut client = sasl2_client();
    client.stream_management = false;
    let mut pair = bind2(client, server_config(pair::store()));
    pair.run();
    let (client, server) = pair.established();
    assert!(client.bound_inline && !client.stream_management && !server.stream_management);
    let authenticate = elements(&pair.client_sent)
        .find(|e| e.name() == "authenticate")
        .unwrap();
    assert!(authenticate
        .child("bind", BIND2)
        .unwrap()
        .child("enable", ns::SM)
        .is_none());
    assert!(pair.server_sm.is_none());
}

#[test]
fn a_refused_enable_leaves_stream_management_off() {
    let mut pair = rfc6120();
    pair.sm_offer = None;
    pair.run();
    pair.established();
    let answers = sm_elements(&pair.server_sent);
    assert!(answers[0].is("failed", ns::SM), "{answers:?}");
    assert_eq!(pair.client_sm.unwrap().state(), State::Off);
}

use xmpp_stream::sm;

/// `client_config` with stream management asked for (it is off by default).
fn sm_client(mechanisms: &[&str]) -> ClientConfig {
    let mut c = client_config(mechanisms);
    c.stream_management = true;
    c
}
