//! The RFC 3920 §6.5 example exchange, framed element by element.
#![allow(clippy::unwrap_used)]

mod common;

use common::{assert_chunking_invariant, element};
use xmpp_xml::{ns, Frame, Limits, StreamHeader};

const CLIENT: &[u8] = include_bytes!("fixtures/seed-client.xml");
const SERVER: &[u8] = include_bytes!("fixtures/seed-server.xml");
const FAILURE: &[u8] = include_bytes!("fixtures/seed-server-failure.xml");

fn header(id: Option<&str>, to: Option<&str>, from: Option<&str>) -> Frame {
    Frame::Header(StreamHeader {
        stream_ns: ns::STREAM.into(),
        name: "stream".into(),
        default_ns: Some(ns::CLIENT.into()),
        to: to.map(xmpp_xml::header_value),
        from: from.map(xmpp_xml::header_value),
        id: id.map(xmpp_xml::header_value),
        version: Some("1.0".into()),
        lang: None,
    })
}

#[test]
fn client_side() {
    let o = assert_chunking_invariant(CLIENT, &Limits::default());
    assert_eq!(o.error, None);
    assert_eq!(o.frames.len(), 4, "{:#?}", o.frames);
    assert_eq!(o.frames[0], header(None, Some("example.com"), None));
    let auth = element(&o.frames[1]);
    assert!(auth.is("auth", ns::SASL));
    assert_eq!(auth.attr("mechanism"), Some("DIGEST-MD5"));
    assert_eq!(auth.default_ns(), Some(ns::CLIENT));
    let resp = element(&o.frames[2]);
    assert!(resp.is("response", ns::SASL));
    // The text keeps the RFC's spaces; the SASL layer decides what to do with them.
    assert!(resp
        .text()
        .starts_with(" dXNlcm5hbWU9InNvbWVub2RlIixyZWFsbT0ic29tZXJlYWxtIixub25jZT0i T0E2"));
    assert!(resp.text().ends_with("YXJzZXQ9dXRmLTgK "));
    let empty = element(&o.frames[3]);
    assert!(empty.is("response", ns::SASL));
    assert_eq!(empty.text(), "");
    // Step 10 is a new stream header: it stays in the buffer until the client's
    // peer resets its decoder (the driver only resets after <success/>).
    assert!(o.rest.starts_with(b"<stream:stream xmlns='jabber:client'"));
    assert!(o.rest.ends_with(b"version='1.0'>\n"));
}

#[test]
fn server_side_with_restart() {
    let o = assert_chunking_invariant(SERVER, &Limits::default());
    assert_eq!(o.error, None);
    let f = &o.frames;
    assert_eq!(f.len(), 7, "{f:#?}");
    assert_eq!(f[0], header(Some("c2s_234"), None, Some("example.com")));
    let features = element(&f[1]);
    assert!(features.is("features", ns::STREAM));
    let mechs = features.child("mechanisms", ns::SASL).unwrap();
    let names: Vec<String> = mechs
        .children()
        .filter(|c| c.is("mechanism", ns::SASL))
        .map(|c| c.text())
        .collect();
    assert_eq!(names, ["DIGEST-MD5", "PLAIN"]);
    // The whitespace between children is kept as text.
    assert_eq!(features.text(), "  ");
    assert_eq!(mechs.text(), "   ");
    let ch = element(&f[2]);
    assert!(ch.is("challenge", ns::SASL));
    assert!(ch
        .text()
        .contains("cmVhbG09InNvbWVyZWFsbSIsbm9uY2U9Ik9BNk1HOXRFUUdtMmhoIixxb3A9ImF1dGgi LGNo"));
    assert_eq!(
        element(&f[3]).text(),
        " cnNwYXV0aD1lYTQwZjYwMzM1YzQyN2I1NTI3Yjg0ZGJhYmNkZmZmZAo= "
    );
    assert!(element(&f[4]).is("success", ns::SASL));
    assert_eq!(f[5], header(Some("c2s_345"), None, Some("example.com")));
    let features = element(&f[6]);
    assert!(features.is("features", ns::STREAM));
    assert!(features.child("bind", ns::BIND).is_some());
    assert!(features.child("session", ns::SESSION).is_some());
    assert!(o.rest.is_empty());
}

#[test]
fn server_failure_and_close() {
    let o = assert_chunking_invariant(FAILURE, &Limits::default());
    assert_eq!(o.error, None);
    assert_eq!(o.frames.len(), 4);
    let failure = element(&o.frames[2]);
    assert!(failure.is("failure", ns::SASL));
    assert!(failure.child("temporary-auth-failure", ns::SASL).is_some());
    assert_eq!(o.frames[3], Frame::Close);
    // The newline after the close is not part of the stream; it is left alone.
    assert_eq!(o.rest, b"\n");
}
