//! Property tests: generated element trees survive serialize -> parse under
//! any chunking, and arbitrary (mutated) input decodes the same however it is split.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::BytesMut;
use common::run_chunks;
use proptest::prelude::*;
use tokio_util::codec::Encoder;
use xmpp_xml::{ns, Element, Frame, Limits, StreamCodec, StreamHeader};

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("message".to_string()),
        Just("body".to_string()),
        Just("x".to_string()),
        Just("ünï".to_string()),
        "[a-z][a-z0-9._-]{0,6}",
    ]
}

fn namespace() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(ns::CLIENT.to_string()),
        Just(ns::STREAM.to_string()),
        Just("urn:xmpp:delay".to_string()),
        Just("".to_string()),
        Just("urn:a&b'<\"c".to_string()),
    ]
}

fn text() -> impl Strategy<Value = String> {
    // Any XML Char, weighted towards the ones that need escaping or normalising.
    let ch = prop_oneof![
        4 => "[a-z ]",
        1 => prop::sample::select(vec!["<", ">", "&", "'", "\"", "\r", "\n", "\t", "\r\n", "]]>", "é", "😀", "\u{fffd}"])
            .prop_map(str::to_string),
        1 => any::<char>().prop_filter("XML Char", |c| matches!(*c as u32, 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..))
            .prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(ch, 1..12).prop_map(|v| v.concat())
}

fn tree() -> impl Strategy<Value = Element> {
    let leaf = (
        name(),
        namespace(),
        prop::collection::vec((name(), text()), 0..3),
        prop::option::of(text()),
    )
        .prop_map(|(n, ns, attrs, t)| {
            let mut b = Element::builder(&n, &ns);
            for (an, av) in attrs {
                b = b.attr(&an, &av);
            }
            if let Some(t) = t {
                b = b.text(&t);
            }
            b.build()
        });
    leaf.prop_recursive(4, 24, 4, |inner| {
        (
            name(),
            namespace(),
            prop::option::of(text()),
            prop::collection::vec((inner, prop::option::of(text())), 0..4),
            prop::option::of(text()),
        )
            .prop_map(|(n, ns, lang, kids, tail)| {
                let mut b = Element::builder(&n, &ns);
                if let Some(l) = lang {
                    b = b.attr("xml:lang", &l);
                }
                for (k, t) in kids {
                    b = b.append(k);
                    if let Some(t) = t {
                        b = b.text(&t);
                    }
                }
                if let Some(t) = tail {
                    b = b.text(&t);
                }
                b.build()
            })
    })
}

fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..64, 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn serialize_parse_round_trip(elems in prop::collection::vec(tree(), 1..4), cuts in cuts()) {
        let mut codec = StreamCodec::default();
        let mut wire = BytesMut::new();
        let header = StreamHeader::client("example.com");
        codec.encode(Frame::Header(header.clone()), &mut wire).unwrap();
        for e in &elems {
            codec.encode(Frame::Element(e.clone()), &mut wire).unwrap();
            wire.extend_from_slice(b" \n");
        }
        codec.encode(Frame::Close, &mut wire).unwrap();
        let whole = run_chunks(&wire, &[], &Limits::default());
        prop_assert_eq!(whole.error.as_deref(), None, "{}", String::from_utf8_lossy(&wire));
        let mut expected = vec![Frame::Header(header)];
        expected.extend(elems.iter().cloned().map(Frame::Element));
        expected.push(Frame::Close);
        prop_assert_eq!(&whole.frames, &expected);
        let split = run_chunks(&wire, &cuts, &Limits::default());
        prop_assert_eq!(split, whole);
        // Standalone serialization parses back to the same element as well.
        for e in &elems {
            let doc = format!("<s:stream xmlns:s='{}'>{}", ns::STREAM, e.to_xml());
            let o = run_chunks(doc.as_bytes(), &cuts, &Limits::default());
            prop_assert_eq!(o.error.as_deref(), None);
            prop_assert_eq!(&o.frames[1], &Frame::Element(e.clone()));
        }
    }

    #[test]
    fn mutated_streams_are_chunking_invariant(
        elems in prop::collection::vec(tree(), 1..3),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..4),
        cuts in cuts(),
    ) {
        let mut codec = StreamCodec::default();
        let mut wire = BytesMut::new();
        codec.encode(Frame::Header(StreamHeader::client("example.com")), &mut wire).unwrap();
        for e in &elems {
            codec.encode(Frame::Element(e.clone()), &mut wire).unwrap();
        }
        let mut bytes = wire.to_vec();
        for (at, b, op) in edits {
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = b,
                1 => bytes.insert(i, b),
                _ => { bytes.remove(i); }
            }
        }
        let limits = Limits { max_stanza_bytes: 300, max_depth: 3, ..Limits::default() };
        let whole = run_chunks(&bytes, &[], &limits);
        let split = run_chunks(&bytes, &cuts, &limits);
        prop_assert_eq!(split, whole);
    }
}
