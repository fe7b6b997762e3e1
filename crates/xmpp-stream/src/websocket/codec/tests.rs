use super::*;

const OPEN: &str = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' \
    version='1.0' xml:lang='en'/>";

fn condition(r: Result<Frame, XmlError>) -> Condition {
    match r {
        Err(e) => e.condition().expect("a peer's error"),
        Ok(f) => panic!("accepted: {f:?}"),
    }
}

#[test]
fn open_becomes_a_client_stream_header() {
    let mut c = WsCodec::default();
    let Ok(Frame::Header(h)) = c.decode(OPEN.as_bytes()) else {
        panic!("no header")
    };
    assert_eq!(h.stream_ns, ns::STREAM);
    assert_eq!(h.default_ns.as_deref(), Some(ns::CLIENT));
    assert_eq!(h.to.as_deref(), Some("example.com"));
    assert_eq!(h.version.as_deref(), Some("1.0"));
    assert_eq!(h.lang.as_deref(), Some("en"));
}

#[test]
fn header_encodes_as_open_and_close_as_close() {
    let c = WsCodec::default();
    let mut h = StreamHeader::client("example.com");
    h.to = None;
    h.from = Some("example.com".into());
    h.id = Some("abc".into());
    let open = c.encode(&Frame::Header(h));
    assert_eq!(
        open,
        "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' from='example.com' id='abc' \
         version='1.0' xml:lang='en'/>"
    );
    assert_eq!(
        c.encode(&Frame::Close),
        "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"
    );
}

#[test]
fn elements_are_written_standalone_with_their_namespaces() {
    let c = WsCodec::default();
    let msg = Element::builder("message", ns::CLIENT)
        .attr("to", "a@b")
        .build();
    assert_eq!(
        c.encode(&Frame::Element(msg)),
        "<message xmlns='jabber:client' to='a@b'/>"
    );
    let features = Element::builder("features", ns::STREAM)
        .append(Element::builder("bind", ns::BIND).build())
        .build();
    let text = c.encode(&Frame::Element(features));
    assert!(
        text.starts_with("<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"),
        "{text}"
    );
    // And each reads back alone in a fresh codec.
    let mut d = WsCodec::default();
    d.decode(OPEN.as_bytes()).expect("open");
    let Ok(Frame::Element(e)) = d.decode(text.as_bytes()) else {
        panic!("features not read back")
    };
    assert!(e.is("features", ns::STREAM));
    assert!(e.child("bind", ns::BIND).is_some());
}

#[test]
fn stanzas_pass_through_and_close_ends_the_stream() {
    let mut c = WsCodec::default();
    c.decode(OPEN.as_bytes()).expect("open");
    let Ok(Frame::Element(m)) =
        c.decode(b"<message xmlns='jabber:client' to='x@y'><body>hi</body></message>")
    else {
        panic!("no element")
    };
    assert!(m.is("message", ns::CLIENT));
    assert_eq!(m.attr("to"), Some("x@y"));
    assert!(matches!(
        c.decode(b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"),
        Ok(Frame::Close)
    ));
}

#[test]
fn restart_expects_a_new_open() {
    let mut c = WsCodec::default();
    c.decode(OPEN.as_bytes()).expect("open");
    // A second <open/> without a restart is refused...
    assert_eq!(condition(c.decode(OPEN.as_bytes())), Condition::BadFormat);
    // ...but after one it starts the new stream.
    let mut c = WsCodec::default();
    c.decode(OPEN.as_bytes()).expect("open");
    c.reset();
    assert!(matches!(c.decode(OPEN.as_bytes()), Ok(Frame::Header(_))));
    assert!(matches!(c.decode(b"<presence/>"), Ok(Frame::Element(_))));
}

#[test]
fn open_in_another_namespace_is_invalid_namespace() {
    let mut c = WsCodec::default();
    assert_eq!(
        condition(c.decode(b"<open xmlns='urn:example' to='example.com' version='1.0'/>")),
        Condition::InvalidNamespace
    );
    let mut c = WsCodec::default();
    assert_eq!(
        condition(c.decode(b"<open to='example.com' version='1.0'/>")),
        Condition::InvalidNamespace
    );
}

#[test]
fn a_tcp_stream_header_is_refused() {
    // Openfire accepted this over WebSocket; RFC 7395 does not.
    let mut c = WsCodec::default();
    let header = "<stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";
    assert_eq!(
        condition(c.decode(header.as_bytes())),
        Condition::NotWellFormed
    );
    let mut c = WsCodec::default();
    let closed =
        "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='example.com'/>";
    assert_eq!(
        condition(c.decode(closed.as_bytes())),
        Condition::InvalidNamespace
    );
}

#[test]
fn xml_declaration_and_whitespace_only_messages_are_refused() {
    let mut c = WsCodec::default();
    let with_decl = format!("<?xml version='1.0'?>{OPEN}");
    assert_eq!(
        condition(c.decode(with_decl.as_bytes())),
        Condition::BadFormat
    );
    let mut c = WsCodec::default();
    c.decode(OPEN.as_bytes()).expect("open");
    assert_eq!(condition(c.decode(b" \r\n ")), Condition::BadFormat);
    let mut c = WsCodec::default();
    c.decode(OPEN.as_bytes()).expect("open");
    assert_eq!(condition(c.decode(b"")), Condition::BadFormat);
}

#[test]
fn two_elements_or_a_fragment_in_one_message_are_refused() {
    let mut c = WsCodec::default();
    c.decode(OPEN.as_bytes()).expect("open");
    assert_eq!(
        condition(c.decode(b"<presence/><presence/>")),
        Condition::BadFormat
    );
    let mut c = WsCodec::default();
    c.decode(OPEN.as_bytes()).expect("open");
    assert_eq!(
        condition(c.decode(b"<message><body>")),
        Condition::NotWellFormed
    );
}

#[test]
fn size_limit_is_the_stanza_limit() {
    let limits = Limits {
        max_stanza_bytes: 200,
        ..Limits::default()
    };
    let mut c = WsCodec::new(limits);
    c.decode(OPEN.as_bytes()).expect("open");
    let body = "x".repeat(150);
    let small = format!("<message><body>{body}</body></message>");
    assert!(c.decode(small.as_bytes()).is_ok());
    let big = format!("<message><body>{body}{body}</body></message>");
    assert_eq!(
        condition(c.decode(big.as_bytes())),
        Condition::PolicyViolation
    );
    // Whitespace padding counts too: the message is what is buffered.
    let mut c = WsCodec::new(Limits {
        max_stanza_bytes: 200,
        ..Limits::default()
    });
    c.decode(OPEN.as_bytes()).expect("open");
    let padded = format!("{}<presence/>", " ".repeat(300));
    assert_eq!(
        condition(c.decode(padded.as_bytes())),
        Condition::PolicyViolation
    );
}

#[test]
fn see_other_uri_becomes_see_other_host() {
    let mut c = WsCodec::default();
    c.decode(OPEN.as_bytes()).expect("open");
    let Ok(Frame::Element(e)) = c.decode(
        b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='wss://other.example/ws'/>",
    ) else {
        panic!("no stream error")
    };
    assert!(e.is("error", ns::STREAM));
    assert!(e.child("see-other-host", ns::STREAM_ERRORS).is_some());
    assert_eq!(e.text_of_child(), Some("wss://other.example/ws".to_owned()));
    assert_eq!(
        close(Some("wss://a/b")),
        "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='wss://a/b'/>"
    );
}

#[test]
fn a_redirect_may_answer_the_first_open() {
    // RFC 7395 §3.6.1: the server's first message may be the close.
    let mut c = WsCodec::default();
    let Ok(Frame::Element(e)) = c.decode(
        b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing' see-other-uri='wss://b.example/ws'/>",
    ) else {
        panic!("no stream error")
    };
    assert!(e.child("see-other-host", ns::STREAM_ERRORS).is_some());
    assert_eq!(e.text_of_child(), Some("wss://b.example/ws".to_owned()));
    let mut c = WsCodec::default();
    assert!(matches!(
        c.decode(b"<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"),
        Ok(Frame::Close)
    ));
}

trait TextChild {
    fn text_of_child(&self) -> Option<String>;
}

impl TextChild for Element {
    fn text_of_child(&self) -> Option<String> {
        self.child("text", ns::STREAM_ERRORS).map(Element::text)
    }
}
