//! Editing a parsed element: the rare changes a server makes to a stanza it
//! forwards (an attribute set or removed), and detaching it from the buffer
//! it was read into. Kept apart from the read-only model in `element.rs`.

use std::sync::Arc;

use bytes::Bytes;

use crate::element::{Attr, AttrList, AttrRef, Element, Node, Nodes, Qual, Str};
use crate::ns;

impl Element {
    /// Sets an attribute, named as for [`ElementBuilder::attr`](crate::ElementBuilder::attr) (unprefixed,
    /// or `xml:lang`): its value is replaced where it stands, or it is added
    /// after the others. Nothing else changes: the other attributes and
    /// their order, the children, the text and where it stands among them
    /// (whitespace-only runs included) serialize as they did.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use xmpp_xml::{Frame, StreamCodec};
    /// use tokio_util::codec::Decoder;
    ///
    /// let mut codec = StreamCodec::default();
    /// let mut buf = BytesMut::from(&b"<stream:stream xmlns='jabber:client' \
    ///     xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\
    ///     <message to='a@b'>hi <b xmlns='urn:x'>you</b>\n </message>"[..]);
    /// codec.decode(&mut buf)?;
    /// let Some(Frame::Element(mut m)) = codec.decode(&mut buf)? else { panic!() };
    /// m.set_attr("from", "c@b/d");
    /// assert_eq!(
    ///     m.to_xml(),
    ///     "<message xmlns='jabber:client' to='a@b' from='c@b/d'>hi <b xmlns='urn:x'>you</b>\n </message>"
    /// );
    /// # Ok::<(), xmpp_xml::XmlError>(())
    /// ```
    pub fn set_attr(&mut self, name: &str, value: &str) {
        let (xml, local) = match name.strip_prefix("xml:") {
            Some(local) => (true, local),
            None => (false, name),
        };
        let buf = &self.buf;
        let same = |a: &Attr| {
            a.name.bytes(buf) == local.as_bytes()
                && match &a.qual {
                    Qual::None => !xml,
                    Qual::Xml => xml,
                    Qual::Other(q) => xml && q.0.bytes(buf) == ns::XML.as_bytes(),
                }
        };
        let mut attrs: Vec<Attr> = self.attrs.iter(buf).map(AttrRef::to_attr).collect();
        let value = Str::Shared(Arc::from(value));
        match attrs.iter_mut().find(|a| same(a)) {
            Some(a) => a.value = value,
            None => attrs.push(Attr {
                name: Str::owned(local),
                value,
                qual: if xml { Qual::Xml } else { Qual::None },
            }),
        }
        self.attrs = AttrList::Own(attrs.into_boxed_slice());
    }

    /// Keeps only the attributes for which `keep(local_name, namespace)`
    /// is true (`None` for an unprefixed attribute); the others are
    /// removed, and nothing else changes. Nothing is copied when all stay.
    ///
    /// ```
    /// use xmpp_xml::Element;
    ///
    /// let mut m = Element::builder("message", "jabber:client")
    ///     .attr("to", "a@b")
    ///     .attr_ns("c", "from", "jabber:client", "admin@b")
    ///     .build();
    /// m.retain_attrs(|name, ns| !(name == "from" && ns.is_some()));
    /// assert_eq!(m.to_xml(), "<message xmlns='jabber:client' to='a@b'/>");
    /// ```
    pub fn retain_attrs(&mut self, mut keep: impl FnMut(&str, Option<&str>) -> bool) {
        let buf = &self.buf;
        if self.attrs.iter(buf).all(|a| keep(a.name(buf), a.ns(buf))) {
            return;
        }
        let attrs: Vec<Attr> = self
            .attrs
            .iter(buf)
            .filter(|a| keep(a.name(buf), a.ns(buf)))
            .map(AttrRef::to_attr)
            .collect();
        self.attrs = if attrs.is_empty() {
            AttrList::Empty
        } else {
            AttrList::Own(attrs.into_boxed_slice())
        };
    }

    /// A copy that holds only its own bytes. A parsed element shares the
    /// buffer its stanza was read into, and that whole allocation stays alive
    /// while any element from it does: an element kept for long (queued for
    /// a slow reader, say) should be detached, so that it costs what it
    /// weighs.
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokio_util::codec::Decoder;
    /// use xmpp_xml::{Frame, StreamCodec};
    ///
    /// let mut codec = StreamCodec::default();
    /// let mut buf = BytesMut::with_capacity(64 * 1024);
    /// buf.extend_from_slice(b"<stream:stream xmlns='jabber:client' \
    ///     xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\
    ///     <message to='a@b'><body>hi</body></message>");
    /// let _header = codec.decode(&mut buf)?;
    /// let Some(Frame::Element(msg)) = codec.decode(&mut buf)? else { panic!() };
    /// let kept = msg.detached();
    /// assert_eq!(kept.to_xml(), msg.to_xml());
    /// assert_ne!(kept.source().as_ptr(), msg.source().as_ptr());
    /// # Ok::<(), xmpp_xml::XmlError>(())
    /// ```
    pub fn detached(&self) -> Element {
        let mut el = self.clone();
        if !self.buf.is_empty() {
            el.rebase(&Bytes::copy_from_slice(&self.buf));
        }
        el
    }

    /// Points this element and its descendants at `own`, a copy of the
    /// bytes they share (their spans are offsets into it).
    fn rebase(&mut self, own: &Bytes) {
        if !self.buf.is_empty() {
            self.buf = own.clone();
        }
        // Children not built yet will share this element's new bytes.
        let nodes: &mut [Node] = match &mut self.nodes {
            Nodes::Many(nodes) => nodes,
            Nodes::Parsed(lazy) => match lazy.built_mut() {
                Some(nodes) => nodes,
                None => return,
            },
            _ => return,
        };
        for node in nodes {
            if let Node::Element(child) = node {
                child.rebase(own);
            }
        }
    }
}
