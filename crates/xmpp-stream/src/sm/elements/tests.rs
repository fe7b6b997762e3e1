//! Each element built, written as XML text, read back; and the readers' errors.

use super::*;

/// Parses `xml` as a top-level element of a `jabber:client` stream.
pub(crate) fn parse(xml: &str) -> Element {
    use tokio_util::codec::Decoder as _;
    let mut codec = xmpp_xml::StreamCodec::new(xmpp_xml::Limits::default());
    let mut buf = bytes::BytesMut::from(
        format!(
            "<stream:stream xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams'>{xml}"
        )
        .as_str(),
    );
    let _header = codec.decode(&mut buf).unwrap().unwrap();
    match codec.decode(&mut buf).unwrap().unwrap() {
        xmpp_xml::Frame::Element(el) => el,
        other => panic!("{other:?}"),
    }
}

fn read(xml: &str) -> Result<Option<SmElement>, ParseError> {
    SmElement::read(&parse(xml))
}

#[test]
fn every_element_reads_back() {
    let id = SmId::new("some-long-sm-id").unwrap();
    let all = [
        SmElement::Enable(Enable::default()),
        SmElement::Enable(Enable {
            resume: true,
            max: Some(Duration::from_secs(600)),
        }),
        SmElement::Enabled(Enabled::default()),
        SmElement::Enabled(Enabled {
            id: Some(id.clone()),
            resume: true,
            max: Some(Duration::from_secs(300)),
            location: Some("[2001:41D0:1:A49b::1]:9222".to_owned()),
        }),
        SmElement::Request,
        SmElement::Ack(0),
        SmElement::Ack(u32::MAX),
        SmElement::Resume(Resume {
            previd: id.clone(),
            h: 42,
        }),
        SmElement::Resumed(Resumed { previd: id, h: 7 }),
        SmElement::Failed(Failed::default()),
        SmElement::Failed(Failed::new(StanzaCondition::UnexpectedRequest)),
        SmElement::Failed(Failed::new(StanzaCondition::ItemNotFound).with_h(9)),
    ];
    for e in all {
        let xml = e.to_element().to_xml();
        assert_eq!(read(&xml), Ok(Some(e.clone())), "{xml}");
        assert_eq!(SmElement::read(&e.to_element()), Ok(Some(e)));
    }
}

#[test]
fn the_xep_examples_read() {
    assert_eq!(
        read("<enabled xmlns='urn:xmpp:sm:3' id='some-long-sm-id' location='[2001:41D0:1:A49b::1]:9222' resume='1'/>")
            .unwrap()
            .unwrap(),
        SmElement::Enabled(Enabled {
            id: Some(SmId::new("some-long-sm-id").unwrap()),
            resume: true,
            max: None,
            location: Some("[2001:41D0:1:A49b::1]:9222".to_owned()),
        })
    );
    // A prefixed form is the same element.
    assert_eq!(
        read("<sm:a xmlns:sm='urn:xmpp:sm:3' h='1'/>"),
        Ok(Some(SmElement::Ack(1)))
    );
    assert_eq!(
        read("<failed xmlns='urn:xmpp:sm:3' h='another'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"),
        Err(ParseError::Invalid { element: "failed", attribute: "h", value: "another".to_owned() })
    );
    // An unknown condition is kept as a failure, `undefined-condition`.
    assert_eq!(
        read("<failed xmlns='urn:xmpp:sm:3'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>x</text><gone-fishing xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"),
        Ok(Some(SmElement::Failed(Failed::new(StanzaCondition::UndefinedCondition))))
    );
}

#[test]
fn counters_are_unsigned_32_bit_integers() {
    let h = |v: &str| read(&format!("<a xmlns='urn:xmpp:sm:3' h='{v}'/>"));
    assert_eq!(h("0"), Ok(Some(SmElement::Ack(0))));
    assert_eq!(h("007"), Ok(Some(SmElement::Ack(7))));
    assert_eq!(h(" 5 "), Ok(Some(SmElement::Ack(5))));
    assert_eq!(h("+5"), Ok(Some(SmElement::Ack(5))));
    assert_eq!(h("4294967295"), Ok(Some(SmElement::Ack(u32::MAX))));
    for bad in [
        "",
        " ",
        "-1",
        "-0",
        "+",
        "++5",
        "+-5",
        "4294967296",
        "99999999999999999999",
        "1.0",
        "0x10",
        "1e3",
        "five",
        "٣",
    ] {
        assert!(
            matches!(
                h(bad),
                Err(ParseError::Invalid {
                    element: "a",
                    attribute: "h",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        read("<a xmlns='urn:xmpp:sm:3'/>"),
        Err(ParseError::Missing {
            element: "a",
            attribute: "h"
        })
    );
    for (xml, element, attribute) in [
        ("<resume xmlns='urn:xmpp:sm:3' previd='x'/>", "resume", "h"),
        ("<resume xmlns='urn:xmpp:sm:3' h='1'/>", "resume", "previd"),
        (
            "<resumed xmlns='urn:xmpp:sm:3' previd='x'/>",
            "resumed",
            "h",
        ),
        (
            "<resumed xmlns='urn:xmpp:sm:3' h='1'/>",
            "resumed",
            "previd",
        ),
    ] {
        assert_eq!(
            read(xml),
            Err(ParseError::Missing { element, attribute }),
            "{xml}"
        );
    }
    assert!(matches!(
        read("<resumed xmlns='urn:xmpp:sm:3' previd='x' h='-3'/>"),
        Err(ParseError::Invalid {
            element: "resumed",
            attribute: "h",
            ..
        })
    ));
    // A long bad value is echoed only in part.
    let long = "9".repeat(10_000);
    match h(&long) {
        Err(ParseError::Invalid { value, .. }) => assert_eq!(value.len(), MAX_ECHO),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ids_booleans_and_max_are_checked() {
    let ok = "x".repeat(MAX_ID_LEN);
    let over = "x".repeat(MAX_ID_LEN + 1);
    assert!(read(&format!(
        "<enabled xmlns='urn:xmpp:sm:3' id='{ok}' resume='true'/>"
    ))
    .is_ok());
    assert!(matches!(
        read(&format!(
            "<enabled xmlns='urn:xmpp:sm:3' id='{over}' resume='true'/>"
        )),
        Err(ParseError::Invalid {
            attribute: "id",
            ..
        })
    ));
    assert!(matches!(
        read(&format!(
            "<resume xmlns='urn:xmpp:sm:3' previd='{over}' h='0'/>"
        )),
        Err(ParseError::Invalid {
            element: "resume",
            attribute: "previd",
            ..
        })
    ));
    assert!(matches!(
        read("<resume xmlns='urn:xmpp:sm:3' previd='' h='0'/>"),
        Err(ParseError::Invalid {
            attribute: "previd",
            ..
        })
    ));
    assert!(matches!(
        read("<enable xmlns='urn:xmpp:sm:3' resume='yes'/>"),
        Err(ParseError::Invalid {
            attribute: "resume",
            ..
        })
    ));
    assert_eq!(
        read("<enable xmlns='urn:xmpp:sm:3' resume='0' max='99999999999'/>"),
        Ok(Some(SmElement::Enable(Enable {
            resume: false,
            max: Some(Duration::from_secs(u64::from(u32::MAX)))
        })))
    );
    assert!(matches!(
        read("<enable xmlns='urn:xmpp:sm:3' max='-1'/>"),
        Err(ParseError::Invalid {
            attribute: "max",
            ..
        })
    ));
    assert!(matches!(
        read("<enabled xmlns='urn:xmpp:sm:3' location=''/>"),
        Err(ParseError::Invalid {
            attribute: "location",
            ..
        })
    ));
    // Sub-second wishes round up, never to "0".
    assert_eq!(
        Enable {
            resume: true,
            max: Some(Duration::from_millis(1500))
        }
        .to_element()
        .attr("max"),
        Some("2")
    );
}

#[test]
fn foreign_and_unknown_elements() {
    assert_eq!(read("<message><body>hi</body></message>"), Ok(None));
    assert_eq!(read("<r xmlns='urn:xmpp:sm:2'/>"), Ok(None));
    assert_eq!(
        read("<sm xmlns='urn:xmpp:sm:3'/>"),
        Err(ParseError::Unknown("sm".to_owned()))
    );
}

#[test]
fn the_feature() {
    let features = parse(
        "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/></stream:features>",
    );
    assert!(offered(&features));
    assert!(!offered(&parse("<stream:features/>")));
    assert_eq!(feature().to_xml(), "<sm xmlns='urn:xmpp:sm:3'/>");
}

#[test]
fn handled_count_too_high_reads_back_from_the_wire() {
    let e = parse(&handled_count_too_high(10, 8).to_xml());
    assert!(e.is("error", ns::STREAM));
    assert!(e.child("undefined-condition", ns::STREAM_ERRORS).is_some());
    assert_eq!(read_handled_count_too_high(&e), Some((10, 8)));
    assert_eq!(
        read_handled_count_too_high(&parse(
            "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>"
        )),
        None
    );
}
