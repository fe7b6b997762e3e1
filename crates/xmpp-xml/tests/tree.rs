//! Parsed trees: elements whose descendants are built from the stanza's
//! node records when first navigated to agree with the same elements built
//! by hand, wherever their namespaces come from (the stream header, an
//! escaped declaration, a prefix) and whichever way their attributes are
//! kept; and navigating, cloning, editing and detaching work at any depth.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use xmpp_xml::{Element, Limits};

fn stream(default_ns: &str, body: &str) -> Vec<u8> {
    format!(
        "<stream:stream xmlns='{default_ns}' xmlns:stream='http://etherx.jabber.org/streams' \
         xmlns:h='urn:header:h' version='1.0'>{body}"
    )
    .into_bytes()
}

fn el(name: &str, ns: &str) -> xmpp_xml::ElementBuilder {
    Element::builder(name, ns)
}

const BODY: &str = "<message to='a' xml:lang='en'><h:x><y/>text<h:z a='1&amp;2'/></h:x>\
    <w xmlns='urn:a&amp;b'><v k='&lt;'><u/></v>tail</w>\
    <p:q xmlns:p='urn:p' p:r='s' t='u'><r2 xmlns='urn:r'>one</r2><r3/></p:q><e/></message>";

/// The stanza of [`BODY`], built by hand, in a stream whose default
/// namespace is `dflt`.
fn expected(dflt: &str) -> Element {
    el("message", dflt)
        .attr("to", "a")
        .attr("xml:lang", "en")
        .append(
            el("x", "urn:header:h")
                .append(el("y", dflt).build())
                .text("text")
                .append(el("z", "urn:header:h").attr("a", "1&2").build())
                .build(),
        )
        .append(
            el("w", "urn:a&b")
                .append(
                    el("v", "urn:a&b")
                        .attr("k", "<")
                        .append(el("u", "urn:a&b").build())
                        .build(),
                )
                .text("tail")
                .build(),
        )
        .append(
            el("q", "urn:p")
                .attr_ns("p", "r", "urn:p", "s")
                .attr("t", "u")
                .append(el("r2", "urn:r").text("one").build())
                .append(el("r3", dflt).build())
                .build(),
        )
        .append(el("e", dflt).build())
        .build()
}

#[test]
fn trees_agree_with_built_elements_under_any_default_namespace() {
    // A well-known default namespace, and one the framer has to keep a
    // string of for the tree (a component stream).
    for dflt in ["jabber:client", "jabber:component:accept"] {
        // The next stanzas have no attribute kept apart: their trees share
        // only their records, and the framer's strings when they need them.
        let input = stream(
            dflt,
            &format!(
                "{BODY}<iq id='1'><query><item/></query></iq><w xmlns='urn:a&amp;b'><v/></w>\
                 <p:w xmlns:p='urn:a&amp;b'><p:v/></p:w>"
            ),
        );
        let o = assert_chunking_invariant(&input, &Limits::default());
        assert!(o.error.is_none(), "{o:?}");
        let m = element(&o.frames[1]);
        assert_eq!(m, &expected(dflt), "{dflt}");
        assert_eq!(m.default_ns(), Some(dflt));
        assert_eq!(m.to_xml(), expected(dflt).to_xml());
        let iq = el("iq", dflt)
            .attr("id", "1")
            .append(el("query", dflt).append(el("item", dflt).build()).build())
            .build();
        assert_eq!(element(&o.frames[2]), &iq, "{dflt}");
        let w = el("w", "urn:a&b")
            .append(el("v", "urn:a&b").build())
            .build();
        assert_eq!(element(&o.frames[3]), &w, "{dflt}");
        assert_eq!(element(&o.frames[4]), &w, "{dflt}");
    }
}

/// In a stream whose header binds only well-known namespaces, a tree
/// needs the framer's strings only for a declaration that had to be
/// unescaped: with a prefix (no attribute kept apart) or without.
#[test]
fn escaped_declarations_in_plain_streams() {
    let body = "<w xmlns='urn:a&amp;b'><v/></w><p:w xmlns:p='urn:a&amp;b'><p:v/></p:w><x><y/></x>";
    let input = format!(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>{body}"
    );
    let o = assert_chunking_invariant(input.as_bytes(), &Limits::default());
    let w = el("w", "urn:a&b")
        .append(el("v", "urn:a&b").build())
        .build();
    assert_eq!(element(&o.frames[1]), &w);
    assert_eq!(element(&o.frames[2]), &w);
    let x = el("x", "jabber:client")
        .append(el("y", "jabber:client").build())
        .build();
    assert_eq!(element(&o.frames[3]), &x);
}

#[test]
fn navigation_reaches_every_level() {
    let o = run_whole(&stream("jabber:client", BODY));
    let m = element(&o.frames[1]);
    assert_eq!(m.children().count(), 4);
    assert_eq!(m.attr("xml:lang"), Some("en"));
    let x = m.child("x", "urn:header:h").unwrap();
    assert_eq!(x.text(), "text");
    assert_eq!(
        x.children().map(Element::name).collect::<Vec<_>>(),
        ["y", "z"]
    );
    assert_eq!(x.child("z", "urn:header:h").unwrap().attr("a"), Some("1&2"));
    let w = m.child("w", "urn:a&b").unwrap();
    assert_eq!(w.text(), "tail");
    let v = w.child("v", "urn:a&b").unwrap();
    assert_eq!(v.attr("k"), Some("<"));
    assert_eq!(v.child("u", "urn:a&b").unwrap().ns(), "urn:a&b");
    let q = m.child("q", "urn:p").unwrap();
    assert_eq!(q.attr_ns("r", "urn:p"), Some("s"));
    assert_eq!(q.attr("t"), Some("u"));
    assert_eq!(q.child("r2", "urn:r").unwrap().text(), "one");
    assert_eq!(
        q.child("r3", "jabber:client").unwrap().default_ns(),
        Some("jabber:client")
    );
    assert!(m
        .child("e", "jabber:client")
        .unwrap()
        .children()
        .next()
        .is_none());
    // Looked at again: the same children, not built twice.
    let first: *const Element = m.child("w", "urn:a&b").unwrap();
    assert!(std::ptr::eq(first, w));
}

#[test]
fn children_outlive_their_parents_and_edit_on_their_own() {
    let o = run_whole(&stream("jabber:client", BODY));
    let m = element(&o.frames[1]).clone();
    // A child cloned out of its (lazily built) parent, which then goes away.
    let mut w = m.child("w", "urn:a&b").unwrap().clone();
    drop(m);
    drop(o);
    w.set_attr("id", "1");
    assert_eq!(w.attr("id"), Some("1"));
    assert_eq!(
        w.to_xml(),
        "<w xmlns='urn:a&amp;b' id='1'><v k='&lt;'><u/></v>tail</w>"
    );
    assert_eq!(w.child("v", "urn:a&b").unwrap().children().count(), 1);
}

#[test]
fn detached_trees_before_and_after_navigation() {
    let o = run_whole(&stream("jabber:component:accept", BODY));
    let m = element(&o.frames[1]);
    // Not navigated yet: the copy builds its children from its own bytes.
    let fresh = m.detached();
    assert_ne!(fresh.source().as_ptr(), m.source().as_ptr());
    assert_eq!(&fresh, m);
    // Navigated: the children already built move to the copy's bytes.
    let x = m.child("x", "urn:header:h").unwrap();
    assert_eq!(x.children().count(), 2);
    let copy = m.detached();
    assert_eq!(&copy, m);
    let cx = copy.child("x", "urn:header:h").unwrap();
    assert_eq!(cx.source().as_ptr(), copy.source().as_ptr());
    assert_eq!(copy.to_xml(), expected("jabber:component:accept").to_xml());
}

#[test]
fn many_stanzas_of_every_shape() {
    // Root alone, root with text, with one child, deep, wide, mixed.
    let body = "<r/><a>t</a><b><c/></b><d><e><f><g>deep</g></f></e></d>\
        <h><i/><i/><i/><i/><i/><i/><i/><i/><i/></h><j>1<k/>2<l/>3</j>";
    let o = assert_chunking_invariant(&stream("jabber:client", body), &Limits::default());
    let got: Vec<String> = o.frames[1..].iter().map(|f| element(f).to_xml()).collect();
    assert_eq!(
        got,
        [
            "<r xmlns='jabber:client'/>",
            "<a xmlns='jabber:client'>t</a>",
            "<b xmlns='jabber:client'><c/></b>",
            "<d xmlns='jabber:client'><e><f><g>deep</g></f></e></d>",
            "<h xmlns='jabber:client'><i/><i/><i/><i/><i/><i/><i/><i/><i/></h>",
            "<j xmlns='jabber:client'>1<k/>2<l/>3</j>",
        ]
    );
    let j = element(&o.frames[6]);
    assert_eq!(j.text(), "123");
    assert_eq!(j.children().count(), 2);
    let h = element(&o.frames[5]);
    assert_eq!(h.children().count(), 9);
    let g = element(&o.frames[4])
        .child("e", "jabber:client")
        .and_then(|e| e.child("f", "jabber:client"))
        .and_then(|f| f.child("g", "jabber:client"))
        .unwrap();
    assert_eq!(g.text(), "deep");
}

/// Idle streams free the decoder's records ([`xmpp_xml::StreamCodec::release_memory`]):
/// between elements and in the middle of one, with the input fed a byte at
/// a time, every element decodes as it does without.
#[test]
fn releasing_memory_between_and_inside_elements_changes_no_frame() {
    use bytes::BytesMut;
    use tokio_util::codec::Decoder as _;
    use xmpp_xml::{Frame, StreamCodec};
    let input = stream("jabber:client", &format!("{BODY}{BODY}"));
    let mut codec = StreamCodec::default();
    let mut buf = BytesMut::new();
    let mut elements = Vec::new();
    for &b in &input {
        buf.extend_from_slice(&[b]);
        codec.release_memory();
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            if let Frame::Element(e) = frame {
                elements.push(e);
            }
            codec.release_memory();
        }
    }
    assert_eq!(
        elements,
        [expected("jabber:client"), expected("jabber:client")]
    );
}
