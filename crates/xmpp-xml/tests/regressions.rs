//! One test per bug XMPP XML parsers have had in the field, plus the
//! restricted-XML and limit behaviour of RFC 6120 §11.
//! (Long by design: one named test per field bug, kept in one file as quick-xml keeps `tests/issues.rs`.)
#![allow(clippy::unwrap_used)]

mod common;

use bytes::BytesMut;
use common::{assert_chunking_invariant, element, run_whole};
use tokio_util::codec::{Decoder, Encoder};
use xmpp_xml::{ns, Condition, Element, Frame, Limits, StreamCodec, StreamHeader, XmlError};

const HDR: &str = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

fn stream(body: &str) -> Vec<u8> {
    format!("{HDR}{body}").into_bytes()
}

fn decode_one(codec: &mut StreamCodec, buf: &mut BytesMut) -> Result<Option<Frame>, XmlError> {
    codec.decode(buf)
}

fn error_of(body: &str) -> Condition {
    let o = assert_chunking_invariant(&stream(body), &Limits::default());
    let e = o
        .error
        .unwrap_or_else(|| panic!("no error for {body:?}: {:#?}", o.frames));
    let mut codec = StreamCodec::default();
    let mut buf = BytesMut::from(stream(body).as_slice());
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error"),
            Err(err) => {
                assert!(e.contains(&format!("{err:?}")));
                return err.condition().unwrap();
            }
        }
    }
}

#[test]
fn message_open_tag_split_across_reads() {
    let mut codec = StreamCodec::default();
    let mut buf = BytesMut::from(stream("<message ").as_slice());
    assert!(matches!(
        decode_one(&mut codec, &mut buf).unwrap(),
        Some(Frame::Header(_))
    ));
    assert_eq!(decode_one(&mut codec, &mut buf).unwrap(), None);
    buf.extend_from_slice(b"type='chat'><body>hi</body></message>");
    let m = match decode_one(&mut codec, &mut buf).unwrap() {
        Some(Frame::Element(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(m.is("message", ns::CLIENT));
    assert_eq!(m.attr("type"), Some("chat"));
    assert_eq!(m.child("body", ns::CLIENT).unwrap().text(), "hi");
}

#[test]
fn utf8_character_split_across_reads() {
    let body = "<message><body>Jürgen 😀 ünïcödé</body></message>";
    let o = assert_chunking_invariant(&stream(body), &Limits::default());
    assert_eq!(o.error, None);
    assert_eq!(
        element(&o.frames[1])
            .child("body", ns::CLIENT)
            .unwrap()
            .text(),
        "Jürgen 😀 ünïcödé"
    );
    // Non-ASCII names and attribute values too.
    let body = "<ü xmlns='urn:x' ä='ö😀'/>";
    let o = assert_chunking_invariant(&stream(body), &Limits::default());
    let e = element(&o.frames[1]);
    assert_eq!((e.name(), e.attr("ä")), ("ü", Some("ö😀")));
}

#[test]
fn whitespace_keepalives_between_stanzas_and_before_close() {
    let input = stream(" \n<presence/>\n\n \t<presence/> \r\n </stream:stream>");
    let o = assert_chunking_invariant(&input, &Limits::default());
    assert_eq!(o.error, None);
    assert_eq!(o.frames.len(), 4);
    assert_eq!(o.frames[3], Frame::Close);
    // Keepalives are consumed as they arrive, not buffered.
    let mut codec = StreamCodec::default();
    let mut buf = BytesMut::from(stream("").as_slice());
    codec.decode(&mut buf).unwrap();
    for _ in 0..1000 {
        buf.extend_from_slice(b" ");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }
}

#[test]
fn odd_prefixes_for_stream_and_content() {
    let input = b"<s:stream xmlns:s='http://etherx.jabber.org/streams' xmlns='jabber:client' version='1.0'>\
        <s:features><ns0:starttls xmlns:ns0='urn:ietf:params:xml:ns:xmpp-tls'><ns0:required/></ns0:starttls></s:features>\
        <stream:features xmlns:stream='http://etherx.jabber.org/streams'/>\
        <x:message xmlns:x='jabber:client'><body>hi</body></x:message></s:stream>";
    let o = assert_chunking_invariant(input, &Limits::default());
    assert_eq!(o.error, None, "{:#?}", o.frames);
    match &o.frames[0] {
        Frame::Header(h) => {
            assert_eq!((&*h.stream_ns, &*h.name), (ns::STREAM, "stream"));
            assert_eq!(h.default_ns.as_deref(), Some(ns::CLIENT));
        }
        f => panic!("{f:?}"),
    }
    let f = element(&o.frames[1]);
    assert!(f.is("features", ns::STREAM));
    let tls = f.child("starttls", ns::TLS).unwrap();
    assert!(tls.child("required", ns::TLS).is_some());
    assert_eq!(
        f,
        &Element::builder("features", ns::STREAM)
            .append(
                Element::builder("starttls", ns::TLS)
                    .append(Element::builder("required", ns::TLS).build())
                    .build()
            )
            .build()
    );
    assert!(element(&o.frames[2]).is("features", ns::STREAM));
    let m = element(&o.frames[3]);
    assert!(m.is("message", ns::CLIENT));
    // The unprefixed child is in the stream's default namespace, not x's.
    assert!(m.child("body", ns::CLIENT).is_some());
    assert_eq!(o.frames[4], Frame::Close);
}

#[test]
fn success_then_new_header_in_one_read_then_reset() {
    let mut codec = StreamCodec::default();
    let mut buf = BytesMut::from(stream("").as_slice());
    codec.decode(&mut buf).unwrap();
    let new_header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='2' from='example.com' version='1.0'>";
    buf.extend_from_slice(
        format!(
            "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{new_header}<stream:features/>"
        )
        .as_bytes(),
    );
    let s = codec.decode(&mut buf).unwrap().unwrap();
    assert!(element(&s).is("success", ns::SASL));
    // The new header is left untouched in the buffer.
    assert_eq!(
        &buf[..],
        format!("{new_header}<stream:features/>").as_bytes()
    );
    codec.reset();
    match codec.decode(&mut buf).unwrap() {
        Some(Frame::Header(h)) => assert_eq!(h.id.as_deref(), Some("2")),
        f => panic!("{f:?}"),
    }
    assert!(element(&codec.decode(&mut buf).unwrap().unwrap()).is("features", ns::STREAM));
    assert!(buf.is_empty());
}

#[test]
fn proceed_leaves_tls_bytes_untouched() {
    let mut codec = StreamCodec::default();
    let mut buf = BytesMut::from(
        stream("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01\x02\x00\x01")
            .as_slice(),
    );
    codec.decode(&mut buf).unwrap();
    assert!(element(&codec.decode(&mut buf).unwrap().unwrap()).is("proceed", ns::TLS));
    assert_eq!(&buf[..], b"\x16\x03\x01\x02\x00\x01");
}

#[test]
fn oversize_stanza_detected_before_fully_buffered() {
    let limits = Limits {
        max_stanza_bytes: 1024,
        ..Limits::default()
    };
    let mut codec = StreamCodec::new(limits.clone());
    let mut buf = BytesMut::from(stream("").as_slice());
    codec.decode(&mut buf).unwrap();
    buf.extend_from_slice(b"<message><body>");
    let mut fed = 15;
    let err = loop {
        buf.extend_from_slice(&[b'a'; 100]);
        fed += 100;
        match codec.decode(&mut buf) {
            Ok(None) => assert!(fed < 2000, "not detected"),
            Ok(Some(f)) => panic!("{f:?}"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, XmlError::StanzaTooLarge { limit: 1024 }),
        "{err:?}"
    );
    assert_eq!(err.condition(), Some(Condition::PolicyViolation));
    assert!(fed <= 1024 + 100);
    // The stream is dead afterwards.
    assert!(matches!(
        codec.decode(&mut buf),
        Err(XmlError::Poisoned(Condition::PolicyViolation))
    ));
    // A complete element over the limit is rejected too, and one at the limit accepted,
    // whichever way it is split.
    let exact = format!("<a xmlns='x'>{}</a>", "b".repeat(1024 - 17));
    assert_eq!(exact.len(), 1024);
    let o = assert_chunking_invariant(&stream(&exact), &limits);
    assert_eq!(o.error, None);
    let over = format!("<a xmlns='x'>{}</a>", "b".repeat(1024 - 16));
    let o = assert_chunking_invariant(&stream(&over), &limits);
    assert!(o.error.unwrap().contains("StanzaTooLarge"));
}

#[test]
fn deep_nesting_bomb() {
    let bomb = "<a>".repeat(100_000);
    let o = run_whole(&stream(&bomb));
    assert!(o.error.unwrap().contains("TooDeep { limit: 64 }"));
    let ok = format!("{}{}", "<a>".repeat(64), "</a>".repeat(64));
    assert_eq!(run_whole(&stream(&ok)).error, None);
    let deep = format!("{}{}", "<a>".repeat(65), "</a>".repeat(65));
    assert!(run_whole(&stream(&deep)).error.unwrap().contains("TooDeep"));
}

#[test]
fn too_many_attributes_and_long_names() {
    // The header has 4 attributes and a 13-byte name.
    let limits = Limits {
        max_attributes: 4,
        max_name_len: 13,
        ..Limits::default()
    };
    let o = assert_chunking_invariant(
        &stream("<a b='1' c='2' d='3' e='4'/><a b='1' c='2' d='3' e='4' f='5'/>"),
        &limits,
    );
    assert_eq!(o.frames.len(), 2);
    assert!(o.error.unwrap().contains("TooManyAttributes"));
    let o = assert_chunking_invariant(&stream("<abcdefghijklm/><abcdefghijklmn/>"), &limits);
    assert_eq!(o.frames.len(), 2);
    assert!(o.error.unwrap().contains("NameTooLong"));
}

#[test]
fn restricted_xml_is_rejected() {
    assert_eq!(error_of("<!-- hi -->"), Condition::RestrictedXml);
    assert_eq!(
        error_of("<message><!-- hi --></message>"),
        Condition::RestrictedXml
    );
    assert_eq!(
        error_of("<message><?pi x?></message>"),
        Condition::RestrictedXml
    );
    assert_eq!(error_of("<?pi x?>"), Condition::RestrictedXml);
    assert_eq!(
        error_of("<message><body>&nbsp;</body></message>"),
        Condition::RestrictedXml
    );
    assert_eq!(error_of("<message a='&foo;'/>"), Condition::RestrictedXml);
    let o = assert_chunking_invariant(
        b"<!DOCTYPE stream [<!ENTITY x 'y'>]><stream:stream/>",
        &Limits::default(),
    );
    assert!(o.error.unwrap().contains("Restricted"));
    // XML declaration only before the header.
    let o = assert_chunking_invariant(
        format!("<?xml version='1.0' encoding='UTF-8'?>\n{HDR}<?xml version='1.0'?>").as_bytes(),
        &Limits::default(),
    );
    assert_eq!(o.frames.len(), 1);
    assert!(o.error.unwrap().contains("Restricted"));
}

#[test]
fn allowed_markup_refs_and_cdata() {
    let body = "<message to='a&amp;b&#x40;c' x=\"&quot;&apos;\"><body>1 &lt; 2 &gt; 0 &#65;&#x1F600; <![CDATA[<not> &a tag]]>!</body></message>";
    let o = assert_chunking_invariant(&stream(body), &Limits::default());
    assert_eq!(o.error, None);
    let m = element(&o.frames[1]);
    assert_eq!(m.attr("to"), Some("a&b@c"));
    assert_eq!(m.attr("x"), Some("\"'"));
    assert_eq!(
        m.child("body", ns::CLIENT).unwrap().text(),
        "1 < 2 > 0 A😀 <not> &a tag!"
    );
}

#[test]
fn line_ends_and_attribute_whitespace_are_normalised() {
    let o = assert_chunking_invariant(
        &stream("<m a='x\ty\r\nz'>1\r\n2\r3&#13;</m>"),
        &Limits::default(),
    );
    let m = element(&o.frames[1]);
    assert_eq!(m.attr("a"), Some("x y z"));
    assert_eq!(m.text(), "1\n2\n3\r");
}

#[test]
fn encodings() {
    let o = assert_chunking_invariant(
        format!("<?xml version='1.0' encoding='utf-8'?>{HDR}").as_bytes(),
        &Limits::default(),
    );
    assert_eq!((o.frames.len(), o.error), (1, None));
    let o = assert_chunking_invariant(
        format!("\u{feff}<?xml version='1.0'?>{HDR}").as_bytes(),
        &Limits::default(),
    );
    assert_eq!((o.frames.len(), o.error), (1, None));
    let o = assert_chunking_invariant(
        format!("<?xml version='1.0' encoding='ISO-8859-1'?>{HDR}").as_bytes(),
        &Limits::default(),
    );
    assert!(o.error.unwrap().contains("Some(UnsupportedEncoding)"));
    let mut bad = stream("<message><body>");
    bad.extend_from_slice(b"\xe9t\xe9</body></message>");
    let o = assert_chunking_invariant(&bad, &Limits::default());
    assert!(o.error.unwrap().contains("InvalidUtf8"));
    let mut bad = stream("<m");
    bad.extend_from_slice(b"\xc3\x28/>");
    let o = assert_chunking_invariant(&bad, &Limits::default());
    assert!(o.error.unwrap().contains("InvalidUtf8"));
    assert_eq!(
        error_of("<message>\u{1}</message>"),
        Condition::NotWellFormed
    );
    assert_eq!(
        error_of("<message>&#0;</message>"),
        Condition::NotWellFormed
    );
}

#[test]
fn namespace_errors() {
    assert_eq!(error_of("<foo:bar/>"), Condition::BadNamespacePrefix);
    assert_eq!(error_of("<bar foo:a='1'/>"), Condition::BadNamespacePrefix);
    assert_eq!(error_of("<bar xmlns:p=''/>"), Condition::BadNamespacePrefix);
    assert_eq!(
        error_of("<bar xmlns:xmlns='urn:x'/>"),
        Condition::BadNamespacePrefix
    );
    // A prefix declared on a sibling is not in scope.
    assert_eq!(
        error_of("<a><b xmlns:p='urn:p'/><p:c/></a>"),
        Condition::BadNamespacePrefix
    );
    assert_eq!(error_of("<a x='1' x='2'/>"), Condition::NotWellFormed);
    // Duplicates inside a stanza and among xml: attributes; names that
    // only look alike (same length, same first and last byte) are not.
    assert_eq!(
        error_of("<m><c a='1' bb='2' a='3'/></m>"),
        Condition::NotWellFormed
    );
    assert_eq!(
        error_of("<m xml:lang='en' id='1' xml:lang='de'/>"),
        Condition::NotWellFormed
    );
    let many = "<m><c a='1' b='2' c='3' d='4' e='5' f='6' g='7' h='8' i='9' j='10' \
        ab='1' ba='2' aa='3' bb='4' aba='5' aca='6' lang='7' xml:lang='8' xmlns='urn:c'/></m>";
    let o = assert_chunking_invariant(&stream(many), &Limits::default());
    assert_eq!(o.error, None);
    // decode_raw checks duplicates below the root too.
    let mut framer = xmpp_xml::Framer::default();
    let mut buf = BytesMut::from(stream("<m><c a='1' a='2'/></m>").as_slice());
    let err = loop {
        match framer.decode_raw(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, XmlError::DuplicateAttribute(ref a) if a == "a"),
        "{err:?}"
    );
    assert_eq!(
        error_of("<a xmlns:p='urn:x' xmlns:q='urn:x' p:x='1' q:x='2'/>"),
        Condition::NotWellFormed
    );
    let o = run_whole(b"<stream:stream xmlns='jabber:client' version='1.0'>");
    assert!(o.error.unwrap().contains("UndeclaredPrefix"));
}

#[test]
fn not_well_formed() {
    assert_eq!(error_of("<a></b>"), Condition::NotWellFormed);
    assert_eq!(error_of("<a b='1'c='2'/>"), Condition::NotWellFormed);
    assert_eq!(error_of("<a b=1/>"), Condition::NotWellFormed);
    assert_eq!(error_of("<a b='<'/>"), Condition::NotWellFormed);
    assert_eq!(error_of("<a>& </a>"), Condition::NotWellFormed);
    assert_eq!(error_of("<1a/>"), Condition::NotWellFormed);
    assert_eq!(error_of("<a:/>"), Condition::NotWellFormed);
    assert_eq!(error_of("</stream:features>"), Condition::NotWellFormed);
    assert_eq!(error_of("hello"), Condition::BadFormat);
    let o = run_whole(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>");
    assert!(o.error.unwrap().contains("HeaderSelfClosed"));
}

#[test]
fn encoder_writes_header_elements_and_close() {
    let mut codec = StreamCodec::default();
    let mut out = BytesMut::new();
    codec
        .encode(Frame::Header(StreamHeader::client("example.com")), &mut out)
        .unwrap();
    assert_eq!(&out[..], b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0' xml:lang='en'>");
    out.clear();
    let msg = Element::builder("message", ns::CLIENT)
        .attr("to", "a'b<c>&\"d")
        .attr("xml:lang", "de")
        .append(
            Element::builder("body", ns::CLIENT)
                .text("x < y & z > ]]>")
                .build(),
        )
        .append(Element::builder("ping", ns::PING).build())
        .build();
    codec.encode(Frame::Element(msg.clone()), &mut out).unwrap();
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        "<message to='a&apos;b&lt;c>&amp;&quot;d' xml:lang='de'><body>x &lt; y &amp; z &gt; ]]&gt;</body><ping xmlns='urn:xmpp:ping'/></message>"
    );
    out.clear();
    codec
        .encode(
            Frame::Element(Element::builder("features", ns::STREAM).build()),
            &mut out,
        )
        .unwrap();
    assert_eq!(&out[..], b"<stream:features/>");
    out.clear();
    codec.encode(Frame::Close, &mut out).unwrap();
    assert_eq!(&out[..], b"</stream:stream>");
    // Standalone serialization declares its namespaces.
    assert_eq!(
        Element::builder("features", ns::STREAM).build().to_xml(),
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>"
    );
    assert_eq!(msg.attr("xml:lang"), Some("de"));
    // Round trip through the decoder.
    codec.reset();
    let mut wire = BytesMut::new();
    codec
        .encode(
            Frame::Header(StreamHeader::client("example.com")),
            &mut wire,
        )
        .unwrap();
    codec
        .encode(Frame::Element(msg.clone()), &mut wire)
        .unwrap();
    let mut dec = StreamCodec::default();
    assert!(
        matches!(dec.decode(&mut wire).unwrap(), Some(Frame::Header(h)) if h == StreamHeader::client("example.com"))
    );
    assert_eq!(dec.decode(&mut wire).unwrap(), Some(Frame::Element(msg)));
    // Things XML cannot carry are refused.
    let bad = Element::builder("a", "urn:x").text("\u{1}").build();
    assert!(codec.encode(Frame::Element(bad), &mut out).is_err());
    assert!(codec
        .encode(
            Frame::Element(Element::builder("a b", "urn:x").build()),
            &mut out
        )
        .is_err());
}

#[test]
fn errors_have_conditions() {
    for (c, s) in [
        (Condition::NotWellFormed, "not-well-formed"),
        (Condition::RestrictedXml, "restricted-xml"),
        (Condition::InvalidNamespace, "invalid-namespace"),
        (Condition::BadNamespacePrefix, "bad-namespace-prefix"),
        (Condition::PolicyViolation, "policy-violation"),
        (Condition::UnsupportedEncoding, "unsupported-encoding"),
        (Condition::BadFormat, "bad-format"),
        (Condition::InvalidXml, "invalid-xml"),
    ] {
        assert_eq!(c.as_str(), s);
    }
    assert_eq!(XmlError::Io(std::io::Error::other("x")).condition(), None);
    assert_eq!(XmlError::BufferShrank.condition(), None);
}

/// Inputs the fuzzer (fuzz/fuzz_targets/decode_chunked.rs) found; each must
/// now decode the same way under every split.
#[test]
fn fuzz_findings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let input = std::fs::read(entry.unwrap().path()).unwrap();
        assert_chunking_invariant(&input, &Limits::default());
        n += 1;
    }
    assert!(n > 0);
}

/// Found by the fuzzer: a control character after invalid UTF-8 in one text
/// run was reported as IllegalChar when whole, InvalidUtf8 when split.
#[test]
fn first_error_in_a_text_run_wins() {
    let mut input = stream("<m>");
    input.extend_from_slice(b"a\xff b \x01 c</m>");
    let o = assert_chunking_invariant(&input, &Limits::default());
    assert!(o.error.unwrap().contains("InvalidUtf8"));
    let mut input = stream("<m>");
    input.extend_from_slice("\u{ffff} \u{fffe}</m>".as_bytes());
    let o = assert_chunking_invariant(&input, &Limits::default());
    assert!(o.error.unwrap().contains("IllegalChar(65535)"));
}

/// XML 1.0 §2.4: the literal `]]>` may not appear in character data; it
/// was accepted. It may end a CDATA section, and `]]&gt;`, `]>` or a `]`
/// from a reference followed by `>` are fine.
#[test]
fn cdata_end_in_character_data_is_rejected() {
    for body in [
        "<m>a]]>b</m>",
        "<m>]]></m>",
        "<m><b/>]]></m>",
        "<m>x&amp;]]>y</m>",
        "<m><![CDATA[a]]>]]></m>",
        "<m><![CDATA[a]]>b]]>c</m>",
    ] {
        let o = assert_chunking_invariant(&stream(body), &Limits::default());
        let e = o.error.unwrap_or_else(|| panic!("accepted {body:?}"));
        assert!(e.contains("']]>' in character data"), "{body:?}: {e}");
        assert_eq!(error_of(body), Condition::NotWellFormed);
    }
    for (body, text) in [
        ("<m>a]]&gt;b</m>", "a]]>b"),
        ("<m>]>]</m>", "]>]"),
        ("<m>]&#93;>x></m>", "]]>x>"),
        ("<m><![CDATA[a]]]>></m>", "a]>"),
        ("<m><![CDATA[]]>]>]</m>", "]>]"),
        ("<m>]]<b/>></m>", "]]>"),
    ] {
        let o = assert_chunking_invariant(&stream(body), &Limits::default());
        assert_eq!(o.error, None, "{body:?}");
        assert_eq!(element(&o.frames[1]).text(), text, "{body:?}");
    }
}

/// The elements `decode_raw` hands out for `input` fed whole.
fn raw_elements(input: &[u8]) -> Vec<xmpp_xml::RawElement> {
    let mut framer = xmpp_xml::Framer::default();
    let mut raw = Vec::new();
    let mut buf = BytesMut::from(input);
    while let Some(f) = framer.decode_raw(&mut buf).unwrap() {
        if let xmpp_xml::RawFrame::Element(e) = f {
            raw.push(e);
        }
    }
    raw
}

/// `Framer::decode_raw` reads the root's attributes lazily from the start
/// tag; it must agree with the full element on name, namespace and attributes.
#[test]
fn raw_elements_agree_with_elements() {
    let body = "<message to='a&amp;b' type=\"chat\" xml:lang='de' id = 'x/>y'><body a='1'>hi</body></message>\
        <p:iq xmlns:p='jabber:client' xmlns:q='urn:q' q:x='no' id='i&#9;d' v='a\tb\r\nc'/> \
        <r xmlns='urn:xmpp:sm:3'/><presence/><a xmlns='urn:xmpp:sm:3' h='7' xmlns:xml='http://www.w3.org/XML/1998/namespace'></a>\
        <ü ä='ö😀' xmlns='urn:x'>t</ü><iq a='1' b='2' c='3' xmlns:z='urn:z' z:d='4' e='5&amp;' f='6' g='7' xml:lang='x'/>\
        <message xml:space='preserve' xml:lang='en' id='m'/><x xmlns:y='urn:y' xml:space='default' xml:lang='fr' y:lang='no'/>";
    let input = stream(body);
    let raw = raw_elements(&input);
    let o = run_whole(&input);
    let full: Vec<&Element> = o.frames[1..].iter().map(element).collect();
    assert_eq!(raw.len(), full.len());
    assert_eq!(raw.len(), 9);
    for (r, e) in raw.iter().zip(&full) {
        assert_eq!((r.name(), r.ns()), (e.name(), e.ns()));
        let ra: Vec<(String, String)> = r
            .attrs()
            .map(|(n, v)| (n.to_owned(), v.into_owned()))
            .collect();
        let ea: Vec<(String, String)> = e
            .attrs()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(ra, ea, "{}", e.to_xml());
        for (n, v) in &ea {
            assert_eq!(r.attr(n).as_deref(), Some(v.as_str()));
        }
        for n in [
            "xmlns",
            "xmlns:p",
            "q:x",
            "x",
            "p:iq",
            "z:d",
            "d",
            "lang",
            "xml:lang",
            "xml:space",
            "space",
            "y:lang",
        ] {
            assert_eq!(r.attr(n).as_deref(), e.attr(n), "{n}");
        }
        let text = std::str::from_utf8(r.bytes()).unwrap();
        assert!(text.starts_with('<') && text.ends_with('>'));
    }
    assert_eq!(raw[0].attr("to").as_deref(), Some("a&b"));
    assert_eq!(raw[0].attr("id").as_deref(), Some("x/>y"));
    assert_eq!(raw[1].attr("v").as_deref(), Some("a b c"));
    // More attributes than RawElement keeps spans for: the tag is re-read.
    assert_eq!(raw[6].attr("e").as_deref(), Some("5&"));
    assert_eq!(raw[6].attr("xml:lang").as_deref(), Some("x"));
    assert_eq!(raw[2].attr("h").as_deref(), None);
    assert_eq!(raw[4].attr("h").as_deref(), Some("7"));
    assert_eq!(raw[7].attr("xml:lang").as_deref(), Some("en"));
    assert_eq!(raw[8].attr("xml:lang").as_deref(), Some("fr"));
}

/// `RawElement` keeps 16-bit spans of the root's attributes; a start tag
/// reaching past offset 65535 is re-read instead, with the same answers.
#[test]
fn raw_element_with_a_long_root_tag() {
    let long = "v".repeat(70_000);
    let body = format!("<iq big='{long}' id='x' e='a&amp;b'/><iq id='y' e='c&amp;d'/>");
    let input = stream(&body);
    let raw = raw_elements(&input);
    assert_eq!(raw.len(), 2);
    assert_eq!(raw[0].attr("big").as_deref(), Some(long.as_str()));
    assert_eq!(raw[0].attr("id").as_deref(), Some("x"));
    assert_eq!(raw[0].attr("e").as_deref(), Some("a&b"));
    assert_eq!(raw[1].attr("id").as_deref(), Some("y"));
    assert_eq!(raw[1].attr("e").as_deref(), Some("c&d"));
    assert_eq!(raw[1].attr("big").as_deref(), None);
}

/// End tags are matched against the open name directly when it is all
/// there; whitespace before '>', names that merely start like the open one,
/// and `</stream:stream >` must still behave as the state machine does.
#[test]
fn end_tag_shortcut_agrees_with_the_state_machine() {
    let body = "<message><body>x</body ><c/></message\n\t><iq><q:query xmlns:q='urn:q'/></iq>";
    let o = assert_chunking_invariant(&stream(body), &Limits::default());
    assert_eq!(o.error, None, "{:#?}", o.frames);
    assert_eq!(o.frames.len(), 3);
    assert_eq!(
        element(&o.frames[1])
            .child("body", "jabber:client")
            .unwrap()
            .text(),
        "x"
    );
    let close = stream("<presence/></stream:stream >");
    let o = assert_chunking_invariant(&close, &Limits::default());
    assert_eq!(o.error, None);
    assert!(matches!(o.frames.last(), Some(Frame::Close)));
    for body in [
        "<m></m2>",
        "<mm></m>",
        "<m></M>",
        "<m></m/>",
        "<m:a xmlns:m='u'></m:b>",
        "<a></a",
    ] {
        if body == "<a></a" {
            let o = assert_chunking_invariant(&stream(body), &Limits::default());
            assert_eq!(o.error, None);
            continue;
        }
        assert_eq!(error_of(body), Condition::NotWellFormed, "{body}");
    }
}

/// Start tags whose only declaration is a default `xmlns` take a shorter
/// path; it must make the same checks, with the same outcome, as the
/// general one.
#[test]
fn default_declaration_shortcut_agrees() {
    let cases: &[(&str, Option<Condition>)] = &[
        (
            "<a xmlns='http://www.w3.org/XML/1998/namespace'/>",
            Some(Condition::BadNamespacePrefix),
        ),
        (
            "<a xmlns='http://www.w3.org/2000/xmlns/'/>",
            Some(Condition::BadNamespacePrefix),
        ),
        ("<a xmlns='x' xmlns='y'/>", Some(Condition::NotWellFormed)),
        ("<a b='1' xmlns='u' b='2'/>", Some(Condition::NotWellFormed)),
        ("<p:a xmlns='u'/>", Some(Condition::BadNamespacePrefix)),
        ("<a xmlns='u' xmlns:p='v' p:b='1' b='2'/>", None),
        ("<a xmlns='u&amp;v' id='1'><b/></a>", None),
        ("<a xmlns=''><b xmlns='w'/></a>", None),
    ];
    for (body, want) in cases {
        match want {
            Some(c) => assert_eq!(error_of(body), *c, "{body}"),
            None => {
                let o = assert_chunking_invariant(&stream(body), &Limits::default());
                assert_eq!(o.error, None, "{body}");
            }
        }
    }
    let o = assert_chunking_invariant(
        &stream("<a xmlns='u&amp;v' id='1'><b/></a><a xmlns=''><b xmlns='w'/></a>"),
        &Limits::default(),
    );
    let a = element(&o.frames[1]);
    assert_eq!((a.ns(), a.attr("id")), ("u&v", Some("1")));
    assert_eq!(a.children().next().unwrap().ns(), "u&v");
    let a = element(&o.frames[2]);
    assert_eq!(a.ns(), "");
    assert_eq!(a.children().next().unwrap().ns(), "w");
}

/// `decode_raw` skips the events a tree needs; if `decode` takes over in
/// the middle of an element that `decode_raw` began, at every split point,
/// the element must come out whole and equal to one decoded throughout.
#[test]
fn decode_after_decode_raw_mid_element() {
    use xmpp_xml::Framer;
    let body = "<message to='a&amp;b'><body>hi &lt;there&gt;</body><x xmlns='urn:x'><y z='1'/>t</x></message><presence/>";
    let input = stream(body);
    let o = run_whole(&input);
    let want: Vec<&Element> = o.frames[1..].iter().map(element).collect();
    let header_end = input.iter().position(|&b| b == b'>').unwrap() + 1;
    for split in header_end..input.len() {
        let mut framer = Framer::default();
        let mut buf = BytesMut::from(&input[..split]);
        let mut got = Vec::new();
        while let Some(f) = framer.decode_raw(&mut buf).unwrap() {
            if let xmpp_xml::RawFrame::Element(e) = f {
                got.push((e.name().to_owned(), None));
            }
        }
        buf.extend_from_slice(&input[split..]);
        while let Some(f) = framer.decode(&mut buf).unwrap() {
            if let Frame::Element(e) = f {
                got.push((e.name().to_owned(), Some(e)));
            }
        }
        assert_eq!(got.len(), want.len(), "split {split}");
        for ((name, e), w) in got.iter().zip(&want) {
            assert_eq!(name, w.name(), "split {split}");
            if let Some(e) = e {
                assert_eq!(e, *w, "split {split}");
            }
        }
    }
}

/// The reverse: `decode` begins an element and `decode_raw` finishes it;
/// the root's name, namespace and attributes must still be known.
#[test]
fn decode_raw_after_decode_mid_element() {
    use xmpp_xml::{Framer, RawFrame};
    let body = "<message to='a&amp;b' id='m1' xmlns='urn:m'><body>hi</body></message><iq id='i2'/>";
    let input = stream(body);
    let header_end = input.iter().position(|&b| b == b'>').unwrap() + 1;
    for split in header_end..input.len() {
        let mut framer = Framer::default();
        let mut buf = BytesMut::from(&input[..split]);
        let mut got = Vec::new();
        while let Some(f) = framer.decode(&mut buf).unwrap() {
            if let Frame::Element(e) = f {
                let to = e.attr("to").map(str::to_owned);
                got.push((
                    e.name().to_owned(),
                    e.ns().to_owned(),
                    to,
                    e.attr("id").map(str::to_owned),
                ));
            }
        }
        buf.extend_from_slice(&input[split..]);
        while let Some(f) = framer.decode_raw(&mut buf).unwrap() {
            if let RawFrame::Element(e) = f {
                let to = e.attr("to").map(|v| v.into_owned());
                got.push((
                    e.name().to_owned(),
                    e.ns().to_owned(),
                    to,
                    e.attr("id").map(|v| v.into_owned()),
                ));
            }
        }
        let want = [
            ("message", "urn:m", Some("a&b"), Some("m1")),
            ("iq", "jabber:client", None, Some("i2")),
        ];
        assert_eq!(got.len(), want.len(), "split {split}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(
                (g.0.as_str(), g.1.as_str(), g.2.as_deref(), g.3.as_deref()),
                w,
                "split {split}"
            );
        }
    }
}

/// Text is checked inline for a while, then with memchr: references,
/// line ends and UTF-8 sequences must be handled alike on both sides of
/// that point, wherever the input is split.
#[test]
fn long_text_with_references_and_utf8() {
    let piece = "ab &amp; c\u{e9}\u{1f600} &#x20AC;\r\n\t\u{20ac}x&lt;";
    let mut text = String::new();
    let mut want = String::new();
    for i in 0..40 {
        text.push_str(&"z".repeat(i % 7));
        text.push_str(piece);
        want.push_str(&"z".repeat(i % 7));
        want.push_str("ab & c\u{e9}\u{1f600} \u{20ac}\n\t\u{20ac}x<");
    }
    let body = format!("<message><body>{text}</body></message>");
    let o = assert_chunking_invariant(&stream(&body), &Limits::default());
    assert_eq!(o.error, None);
    let e = element(&o.frames[1]);
    assert_eq!(e.child("body", "jabber:client").unwrap().text(), want);
    // The same run with a bad byte, a non-character and a control character
    // at every offset: the error must not depend on where the scan switches.
    for (bad, want_err) in [
        (&b"\xC3\x28"[..], "InvalidUtf8"),
        (&b"\xEF\xBF\xBE"[..], "IllegalChar(65534)"),
        (&b"\x01"[..], "IllegalChar(1)"),
        (&b"]]>"[..], "Syntax"),
    ] {
        let mut cut = 420;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let short = &text[..cut];
        // Before a `b` or `z`: never inside a reference.
        let spots = short.match_indices(['b', 'z']).map(|(i, _)| i);
        for at in spots.step_by(3) {
            let mut input = stream(&format!("<message><body>{}", &short[..at]));
            input.extend_from_slice(bad);
            input.extend_from_slice(format!("{}</body></message>", &short[at..]).as_bytes());
            let o = assert_chunking_invariant(&input, &Limits::default());
            let err = format!("{:?}", o.error);
            assert!(err.contains(want_err), "{at}: {err}");
        }
    }
}

/// Offsets inside an element are 32-bit: an unbounded `max_stanza_bytes`
/// acts as the largest size they allow, and ordinary streams decode as
/// with the default.
#[test]
fn unbounded_stanza_limit() {
    let limits = Limits {
        max_stanza_bytes: usize::MAX,
        ..Limits::default()
    };
    let body = "<message xmlns:p='urn:p' p:a='1' xml:lang='en'><body>x</body></message>";
    let o = assert_chunking_invariant(&stream(body), &limits);
    assert_eq!(o.error, None);
    assert_eq!(o, run_whole(&stream(body)));
}

/// A parsed element reads plain attributes back from its start tag: quotes
/// of both kinds, whitespace around `=`, declarations among them, `xml:`
/// attributes, `>` and the other quote inside values, on the root and on
/// children. Everything must read as the equivalent built element does.
#[test]
fn attributes_read_from_the_start_tag() {
    let body = "<message xmlns:p='urn:p' to = \"a@b\" xml:lang='en' xmlns='jabber:client' id='x>\"y'>\
        <c a='1' xmlns='urn:c' b = \"it's\" xml:space='keep'/><p:d e='2' xmlns:q='urn:q'/></message>";
    let o = assert_chunking_invariant(&stream(body), &Limits::default());
    assert_eq!(o.error, None);
    let m = element(&o.frames[1]);
    assert_eq!(m.attr("to"), Some("a@b"));
    assert_eq!(m.attr("id"), Some("x>\"y"));
    assert_eq!(m.attr("xml:lang"), Some("en"));
    assert_eq!(m.attr_ns("lang", ns::XML), Some("en"));
    assert_eq!(m.attr("xmlns"), None);
    assert_eq!(m.attr("lang"), None);
    let attrs: Vec<(&str, &str)> = m.attrs().collect();
    assert_eq!(attrs, [("to", "a@b"), ("xml:lang", "en"), ("id", "x>\"y")]);
    let c = m.child("c", "urn:c").unwrap();
    assert_eq!(c.attrs().collect::<Vec<_>>(), [("a", "1"), ("b", "it's")]);
    assert_eq!(c.attr_ns("space", ns::XML), Some("keep"));
    assert_eq!(c.attr("xml:space"), None);
    let d = m.child("d", "urn:p").unwrap();
    assert_eq!(d.attr("e"), Some("2"));
    let built = Element::builder("message", "jabber:client")
        .attr("to", "a@b")
        .attr("xml:lang", "en")
        .attr("id", "x>\"y")
        .append(
            Element::builder("c", "urn:c")
                .attr("a", "1")
                .attr("b", "it's")
                .attr("xml:space", "keep")
                .build(),
        )
        .append(Element::builder("d", "urn:p").attr("e", "2").build())
        .build();
    assert_eq!(*m, built);
    let again = assert_chunking_invariant(&stream(&m.to_xml()), &Limits::default());
    assert_eq!(element(&again.frames[1]), m);
}

/// What a raw or borrowed element reports, for comparing the two.
type Seen = (
    Vec<u8>,
    String,
    String,
    Vec<(String, String)>,
    Option<String>,
);

/// A `RawElement` or `BorrowedElement` as `Seen`.
macro_rules! seen {
    ($e:expr) => {{
        let e = $e;
        let attrs = e.attrs().map(|(n, v)| (n.to_owned(), v.into_owned()));
        let id = e.attr("id").map(|v| v.into_owned());
        let (name, ns) = (e.name().to_owned(), e.ns().to_owned());
        (e.bytes().to_vec(), name, ns, attrs.collect(), id)
    }};
}

/// What `decode_raw` (or `decode_borrowed`) hands out for `input` fed
/// in two pieces, and what it leaves in the buffer.
fn frames_seen(input: &[u8], split: usize, borrowed: bool) -> (Vec<Seen>, BytesMut) {
    use xmpp_xml::{BorrowedFrame, Framer, RawFrame};
    let mut framer = Framer::default();
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in [&input[..split], &input[split..]] {
        buf.extend_from_slice(piece);
        if borrowed {
            while let Some(f) = framer.decode_borrowed(&mut buf).unwrap() {
                if let BorrowedFrame::Element(e) = f {
                    out.push(seen!(e));
                }
            }
        } else {
            while let Some(f) = framer.decode_raw(&mut buf).unwrap() {
                if let RawFrame::Element(e) = f {
                    out.push(seen!(e));
                }
            }
        }
    }
    (out, buf)
}

/// `decode_borrowed` reports what `decode_raw` does, wherever the input
/// is split, and leaves nothing behind.
#[test]
fn borrowed_frames_agree_with_raw_frames() {
    let body = "<message to='a&amp;b' type=\"chat\" xml:lang='de' id = 'x/>y'><body a='1'>hi</body></message>\
        <p:iq xmlns:p='jabber:client' xmlns:q='urn:q' q:x='no' id='i&#9;d'/> <r xmlns='urn:xmpp:sm:3'/>\
        <presence/><ü ä='ö😀' xmlns='urn:x'>t</ü><iq a='1' b='2' c='3' d='4' e='5&amp;' f='6' id='7'/>";
    let input = stream(body);
    for split in 0..=input.len() {
        let (want, _) = frames_seen(&input, split, false);
        assert_eq!(want.len(), 6);
        let (got, buf) = frames_seen(&input, split, true);
        assert_eq!(got, want, "split {split}");
        assert!(buf.is_empty(), "split {split}");
    }
}

/// A framer that has decoded the stream header at the front of `input`
/// (with `decode_borrowed`), and the rest of `input`.
fn past_header(input: &[u8]) -> (xmpp_xml::Framer, BytesMut) {
    let mut framer = xmpp_xml::Framer::default();
    let mut buf = BytesMut::from(input);
    assert!(matches!(
        framer.decode_borrowed(&mut buf),
        Ok(Some(xmpp_xml::BorrowedFrame::Header(_)))
    ));
    (framer, buf)
}

/// A borrowed element stays at the front of the buffer until the next
/// call; a buffer that lost it by then is an error, not a misparse.
#[test]
fn borrowed_element_is_removed_by_the_next_call() {
    use xmpp_xml::BorrowedFrame;
    let input = stream("<presence/><iq id='1'/>");
    let (mut framer, mut buf) = past_header(&input);
    match framer.decode_borrowed(&mut buf) {
        Ok(Some(BorrowedFrame::Element(e))) => assert_eq!(e.bytes(), b"<presence/>"),
        other => panic!("{other:?}"),
    }
    assert_eq!(&buf[..], b"<presence/><iq id='1'/>");
    // Appending is fine; the next call (of any decode method) removes it.
    buf.extend_from_slice(b"<r xmlns='urn:xmpp:sm:3'/>");
    match framer.decode(&mut buf) {
        Ok(Some(Frame::Element(e))) => assert_eq!(e.attr("id"), Some("1")),
        other => panic!("{other:?}"),
    }
    match framer.decode_borrowed(&mut buf) {
        Ok(Some(BorrowedFrame::Element(e))) => assert_eq!(e.ns(), "urn:xmpp:sm:3"),
        other => panic!("{other:?}"),
    }
    buf.clear();
    let err = framer.decode_borrowed(&mut buf).unwrap_err();
    assert!(matches!(err, XmlError::BufferShrank), "{err:?}");
}

/// Truncating the buffer under a partly scanned element is the caller's
/// bug: its own error, with no stream condition to send to the peer, and
/// the framer stays failed.
#[test]
fn buffer_truncated_mid_element_is_misuse() {
    let input = stream("<message to='a@b'><body>hel");
    let (mut framer, mut buf) = past_header(&input);
    assert!(matches!(framer.decode(&mut buf), Ok(None)));
    buf.truncate(4);
    let err = framer.decode(&mut buf).unwrap_err();
    assert!(matches!(err, XmlError::BufferShrank), "{err:?}");
    assert_eq!(err.condition(), None);
    assert!(matches!(
        framer.decode(&mut buf),
        Err(XmlError::Poisoned(Condition::NotWellFormed))
    ));
}

/// `<success/>` and the peer's new header in one read, with borrowed
/// frames: the success element is removed after `reset()`, and the new
/// header is decoded from the same buffer.
#[test]
fn borrowed_success_then_new_header_then_reset() {
    use xmpp_xml::BorrowedFrame;
    let new_header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s2' version='1.0'>";
    let input = stream(&format!(
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>{new_header}<stream:features/>"
    ));
    let (mut framer, mut buf) = past_header(&input);
    match framer.decode_borrowed(&mut buf) {
        Ok(Some(BorrowedFrame::Element(e))) => {
            assert_eq!((e.name(), e.ns()), ("success", ns::SASL))
        }
        other => panic!("{other:?}"),
    }
    framer.reset();
    match framer.decode_borrowed(&mut buf) {
        Ok(Some(BorrowedFrame::Header(h))) => assert_eq!(h.id.as_deref(), Some("s2")),
        other => panic!("{other:?}"),
    }
    match framer.decode_borrowed(&mut buf) {
        Ok(Some(BorrowedFrame::Element(e))) => {
            assert_eq!((e.name(), e.ns()), ("features", ns::STREAM))
        }
        other => panic!("{other:?}"),
    }
}
