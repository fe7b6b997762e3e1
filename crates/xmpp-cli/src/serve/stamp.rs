//! Stamping `from` on routed stanzas (RFC 6120 §8.1.2.1): the server sets
//! the sender's full JID, replacing whatever the client put there, and
//! changes nothing else.

use jid::FullJid;
use xmpp_xml::Element;

/// `el` with `from` set to the sender's full JID. Only the attribute
/// changes: the content is forwarded as the sender wrote it (issue #12:
/// rebuilding the stanza moved text before the child elements and dropped
/// whitespace-only text).
pub fn stamp_from(el: &Element, from: &FullJid) -> Element {
    let mut stamped = el.clone();
    if el.attr("from") != Some(from.as_str()) {
        stamped.set_attr("from", from.as_str());
    }
    // A `from` in a namespace (`c:from`, with `c` bound to jabber:client)
    // could pass for the sender's address with a receiver that matches
    // attributes by local name: only the server's own `from` goes out.
    stamped.retain_attrs(|name, ns| !(name == "from" && ns.is_some()));
    stamped
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use tokio_util::codec::{Decoder as _, Encoder as _};
    use xmpp_xml::{Frame, StreamCodec, StreamHeader};

    use super::*;

    const ROMEO: &str = "romeo@example.com/orchard";

    /// `stanza` read from a client's stream, then written to another
    /// client's stream as a session writes it: unstamped and stamped.
    fn forwarded(stanza: &str) -> (String, String) {
        let mut read = StreamCodec::default();
        let mut buf = BytesMut::from(
            format!(
                "<stream:stream xmlns='jabber:client' \
                 xmlns:stream='http://etherx.jabber.org/streams' to='example.com' \
                 version='1.0'>{stanza}"
            )
            .as_bytes(),
        );
        assert!(matches!(read.decode(&mut buf), Ok(Some(Frame::Header(_)))));
        let Ok(Some(Frame::Element(el))) = read.decode(&mut buf) else {
            panic!("not a stanza: {stanza}");
        };
        let stamped = stamp_from(&el, &FullJid::new(ROMEO).unwrap());
        let write = |el: Element| {
            let mut out = StreamCodec::default();
            let mut wire = BytesMut::new();
            let header = Frame::Header(StreamHeader::client("example.com"));
            out.encode(header, &mut wire).unwrap();
            let header_len = wire.len();
            out.encode(Frame::Element(el), &mut wire).unwrap();
            String::from_utf8(wire[header_len..].to_vec()).unwrap()
        };
        (write(el), write(stamped))
    }

    /// Where the root's start tag ends (`>` or `/>`) in written XML, whose
    /// attribute values are single-quoted and never contain a quote.
    fn end_of_start_tag(xml: &str) -> usize {
        let mut quoted = false;
        for (i, c) in xml.char_indices() {
            match c {
                '\'' => quoted = !quoted,
                '>' | '/' if !quoted => return i,
                _ => {}
            }
        }
        panic!("no start tag in {xml}")
    }

    #[test]
    fn stamping_adds_the_attribute_and_keeps_mixed_content_byte_for_byte() {
        let input = "<message to='juliet@example.com/balcony' type='chat'>Hello \
                     <em xmlns='urn:example:em'>you</em>!\n  <body>hi</body>\n</message>";
        let (_, stamped) = forwarded(input);
        assert_eq!(
            stamped,
            input.replace(" type='chat'>", &format!(" type='chat' from='{ROMEO}'>"))
        );
    }

    /// Review of issue #12: a prefixed `from` in the client namespace must
    /// not ride along beside the stamped one.
    #[test]
    fn a_namespaced_from_is_dropped() {
        let input = "<message xmlns:c='jabber:client' c:from='admin@example.com/x' \
                     to='juliet@example.com/balcony'><body>hi</body></message>";
        let (_, stamped) = forwarded(input);
        assert!(!stamped.contains("admin@example.com"), "{stamped}");
        assert!(stamped.contains(&format!("from='{ROMEO}'")), "{stamped}");
        assert!(stamped.contains("<body>hi</body>"), "{stamped}");
    }

    #[test]
    fn whitespace_only_text_between_children_survives() {
        let input = "<message to='juliet@example.com/balcony'>\n  <body>hi</body>\n  \
                     <thread>t1</thread>\n</message>";
        let (_, stamped) = forwarded(input);
        assert_eq!(
            stamped,
            input.replace("balcony'>", &format!("balcony' from='{ROMEO}'>"))
        );
    }

    #[test]
    fn a_forged_from_is_replaced_where_it_stands_and_the_content_kept() {
        let input = "<message from='tybalt@example.com/x' to='juliet@example.com/balcony'>\
                     a <b xmlns='urn:x'/> c<body>hi</body> </message>";
        let (_, stamped) = forwarded(input);
        assert_eq!(stamped, input.replace("tybalt@example.com/x", ROMEO));
    }

    #[test]
    fn cdata_references_prefixes_and_escaped_attributes_serialize_as_before() {
        // The server writes every stanza from its parsed form (CDATA as
        // escaped text, references resolved); stamping must not change
        // that form beyond the attribute.
        for input in [
            "<message to='j@example.com/b'><body><![CDATA[<3 & ]]>more</body>&#x41;&amp;\
             <x:data xmlns:x='urn:example:x' x:k='v'>1</x:data></message>",
            "<message to='j@example.com/b' xml:lang='fr' id='a&apos;b'>\
             <body xml:lang='en'>x &gt; y</body>\r\n</message>",
            "<presence to='j@example.com/b'><c xmlns='http://jabber.org/protocol/caps' \
             hash='sha-1' node='n' ver='v'/>  </presence>",
            "<iq type='get' id='q' to='j@example.com/b'><query xmlns='jabber:iq:version'/></iq>",
        ] {
            let (unstamped, stamped) = forwarded(input);
            let mut expected = unstamped.clone();
            expected.insert_str(end_of_start_tag(&unstamped), &format!(" from='{ROMEO}'"));
            assert_eq!(stamped, expected, "{input}");
        }
    }

    #[test]
    fn a_correct_from_is_left_alone() {
        let input =
            format!("<message from='{ROMEO}' to='j@example.com/b'> <body>hi</body></message>");
        let (unstamped, stamped) = forwarded(&input);
        assert_eq!(stamped, unstamped);
        assert_eq!(stamped, input);
    }
}
