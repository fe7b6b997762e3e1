//! The namespace-resolved element model and its builder.
//!
//! A parsed [`Element`] shares the bytes of its top-level element (a [`Bytes`])
//! and stores names, namespaces, attribute values and text as offsets into it;
//! only values that contained references, CDATA or line ends that XML
//! normalises are stored unescaped on their own. Builder-made elements own
//! their strings, but for well-known namespaces, names and `type` values,
//! which are `'static`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::ns;
use crate::parsed::{Extra, Lazy};

/// A string that lives either in the element's shared buffer or on its own.
#[derive(Clone, Debug)]
pub(crate) enum Str {
    Static(&'static str),
    /// Byte range into the owning element's buffer (validated UTF-8).
    Span(u32, u32),
    Shared(Arc<str>),
}

impl Str {
    #[inline]
    pub(crate) fn get<'a>(&'a self, buf: &'a Bytes) -> &'a str {
        match self {
            Str::Static(s) => s,
            Str::Shared(s) => s,
            // The scanner validated these bytes as UTF-8 before making the span,
            // so the fallback is never taken; it only avoids a panic path.
            Str::Span(a, b) => buf
                .get(*a as usize..*b as usize)
                .and_then(|s| std::str::from_utf8(s).ok())
                .unwrap_or(""),
        }
    }

    /// The bytes, without the UTF-8 check [`Str::get`] makes; for comparisons.
    #[inline]
    pub(crate) fn bytes<'a>(&'a self, buf: &'a Bytes) -> &'a [u8] {
        match self {
            Str::Static(s) => s.as_bytes(),
            Str::Shared(s) => s.as_bytes(),
            Str::Span(a, b) => buf.get(*a as usize..*b as usize).unwrap_or(b""),
        }
    }

    pub(crate) fn owned(s: &str) -> Str {
        match ns::well_known(s) {
            Some(st) => Str::Static(st),
            None if s.is_empty() => Str::Static(""),
            None => Str::Shared(Arc::from(s)),
        }
    }

    /// A builder's name or attribute value: `'static` when it is one of
    /// the [`well_known_name`]s, else a copy.
    fn name(s: &str) -> Str {
        match well_known_name(s) {
            Some(st) => Str::Static(st),
            None => Str::Shared(Arc::from(s)),
        }
    }
}

/// Element and attribute names, and `type` values, that stream negotiation
/// and everyday stanzas build over and over: the builder takes them as
/// `'static` strings instead of allocating a copy of each (about 40
/// allocations of an in-memory negotiation). Grouped by length, so a miss
/// costs one or two comparisons.
fn well_known_name(s: &str) -> Option<&'static str> {
    let known: &[&'static str] = match s.len() {
        2 => &["iq", "id", "to"],
        3 => &["jid", "set", "get"],
        4 => &["bind", "auth", "type", "from", "body", "lang", "text"],
        5 => &["error"],
        6 => &["result", "abort"],
        7 => &["message", "session", "success", "failure", "proceed"],
        8 => &[
            "resource", "optional", "required", "features", "presence", "starttls", "response",
        ],
        9 => &["mechanism", "challenge"],
        10 => &["mechanisms"],
        _ => return None,
    };
    known.iter().find(|k| **k == s).copied()
}

/// An attribute: local name, value, and its namespace with the prefix it
/// was written with.
#[derive(Clone, Debug)]
pub(crate) struct Attr {
    pub(crate) name: Str,
    pub(crate) value: Str,
    pub(crate) qual: Qual,
}

/// An attribute's namespace and prefix. `xml:` attributes (`xml:lang` is on
/// most messages) need no allocation; other prefixed ones are rare.
#[derive(Clone, Debug)]
pub(crate) enum Qual {
    /// Unprefixed: no namespace.
    None,
    /// The `xml` prefix and namespace.
    Xml,
    /// (namespace, prefix).
    Other(Box<(Str, Str)>),
}

static XML_NS: Str = Str::Static(ns::XML);
static XML_PREFIX: Str = Str::Static("xml");

impl Attr {
    /// Namespace (`None` for unprefixed attributes).
    #[inline]
    pub(crate) fn ns(&self) -> Option<&Str> {
        match &self.qual {
            Qual::None => None,
            Qual::Xml => Some(&XML_NS),
            Qual::Other(q) => Some(&q.0),
        }
    }

    /// The prefix it was written with.
    #[inline]
    pub(crate) fn prefix(&self) -> Option<&Str> {
        match &self.qual {
            Qual::None => None,
            Qual::Xml => Some(&XML_PREFIX),
            Qual::Other(q) => Some(&q.1),
        }
    }
}

/// An element's attributes. A parsed element reads them from its start
/// tag when they are asked for, unless one needs unescaping or has a
/// namespace other than `xml`: then they are a range of one array shared
/// by the whole stanza. A built element has its own vector.
#[derive(Clone, Default)]
pub(crate) enum AttrList {
    #[default]
    Empty,
    Own(Box<[Attr]>),
    /// A range of the attributes of a parsed stanza's elements.
    Shared(Arc<Extra>, u32, u32),
    /// The bytes of the (validated) start tag that hold the attributes:
    /// nothing is allocated for them while parsing.
    Tag(u32, u32),
}

impl AttrList {
    /// The attributes in document order; `buf` is the element's buffer.
    #[inline]
    pub(crate) fn iter<'a>(&'a self, buf: &'a Bytes) -> AttrIter<'a> {
        match self {
            AttrList::Empty => AttrIter::Slice([].iter()),
            AttrList::Own(v) => AttrIter::Slice(v.iter()),
            AttrList::Shared(x, s, e) => {
                AttrIter::Slice(x.attrs.get(*s as usize..*e as usize).unwrap_or(&[]).iter())
            }
            AttrList::Tag(s, e) => AttrIter::Tag(TagAttrs {
                rest: buf.get(*s as usize..*e as usize).unwrap_or(b""),
            }),
        }
    }
}

/// Iterator of [`AttrList::iter`].
pub(crate) enum AttrIter<'a> {
    Slice(std::slice::Iter<'a, Attr>),
    Tag(TagAttrs<'a>),
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = AttrRef<'a>;
    #[inline]
    fn next(&mut self) -> Option<AttrRef<'a>> {
        match self {
            AttrIter::Slice(i) => i.next().map(AttrRef::Full),
            AttrIter::Tag(t) => t.next().map(|(q, v)| AttrRef::Tag(q, v)),
        }
    }
}

/// The attributes of a start tag the scanner validated, as (qualified
/// name, raw value), namespace declarations skipped.
pub(crate) struct TagAttrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for TagAttrs<'a> {
    type Item = (&'a [u8], &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let t = self.rest;
            let ws = |b: &u8| crate::chars::is_ws(*b);
            let start = t.iter().position(|b| !ws(b))?;
            let t = &t[start..];
            let name_len = t.iter().position(|&b| b == b'=' || ws(&b))?;
            let (name, t) = t.split_at(name_len);
            let eq = t.iter().position(|&b| b == b'=')?;
            let t = &t[eq + 1..];
            let q = t.iter().position(|b| !ws(b))?;
            let quote = t[q];
            let t = &t[q + 1..];
            let end = t.iter().position(|&b| b == quote)?;
            let value = &t[..end];
            self.rest = &t[end + 1..];
            if name == b"xmlns" || name.starts_with(b"xmlns:") {
                continue;
            }
            return Some((name, value));
        }
    }
}

/// One attribute: stored, or read from a start tag (where it is
/// unprefixed or `xml:`, and its value needs no unescaping).
#[derive(Clone, Copy)]
pub(crate) enum AttrRef<'a> {
    Full(&'a Attr),
    /// Qualified name and raw value.
    Tag(&'a [u8], &'a [u8]),
}

fn utf8(b: &[u8]) -> &str {
    // The scanner validated these bytes; the fallback is never taken.
    std::str::from_utf8(b).unwrap_or("")
}

impl<'a> AttrRef<'a> {
    /// Local name, as bytes (for comparisons).
    #[inline]
    pub(crate) fn name_bytes(self, buf: &'a Bytes) -> &'a [u8] {
        match self {
            AttrRef::Full(a) => a.name.bytes(buf),
            AttrRef::Tag(q, _) => q.strip_prefix(b"xml:").unwrap_or(q),
        }
    }
    /// Local name.
    #[inline]
    pub(crate) fn name(self, buf: &'a Bytes) -> &'a str {
        match self {
            AttrRef::Full(a) => a.name.get(buf),
            AttrRef::Tag(..) => utf8(self.name_bytes(buf)),
        }
    }
    /// Value, unescaped.
    #[inline]
    pub(crate) fn value(self, buf: &'a Bytes) -> &'a str {
        match self {
            AttrRef::Full(a) => a.value.get(buf),
            AttrRef::Tag(_, v) => utf8(v),
        }
    }
    /// Namespace (`None` for unprefixed attributes).
    #[inline]
    pub(crate) fn ns(self, buf: &'a Bytes) -> Option<&'a str> {
        match self {
            AttrRef::Full(a) => a.ns().map(|n| n.get(buf)),
            AttrRef::Tag(q, _) => q.starts_with(b"xml:").then_some(ns::XML),
        }
    }
    /// The prefix it was written with.
    #[inline]
    pub(crate) fn prefix(self, buf: &'a Bytes) -> Option<&'a str> {
        match self {
            AttrRef::Full(a) => a.prefix().map(|p| p.get(buf)),
            AttrRef::Tag(q, _) => q.starts_with(b"xml:").then_some("xml"),
        }
    }
}

impl AttrRef<'_> {
    /// The attribute as stored by a built element (values of parsed ones
    /// are copied: this is for the rare edit, not for reading).
    pub(crate) fn to_attr(self) -> Attr {
        match self {
            AttrRef::Full(a) => a.clone(),
            AttrRef::Tag(q, v) => {
                let (qual, local) = match q.strip_prefix(b"xml:") {
                    Some(local) => (Qual::Xml, local),
                    None => (Qual::None, q),
                };
                Attr {
                    name: Str::owned(utf8(local)),
                    value: Str::owned(utf8(v)),
                    qual,
                }
            }
        }
    }
}

/// A run of character data: ready text, or a span of the element's bytes
/// that holds references, CDATA or line ends to normalise, decoded when it
/// is read (a server routes most stanzas without reading their text).
#[derive(Clone, Debug)]
pub(crate) enum Text {
    Str(Str),
    Escaped(u32, u32),
}

impl Text {
    #[inline]
    pub(crate) fn get<'a>(&'a self, buf: &'a Bytes) -> Cow<'a, str> {
        match self {
            Text::Str(s) => Cow::Borrowed(s.get(buf)),
            Text::Escaped(a, b) => Cow::Owned(crate::escape::unescape(
                buf.get(*a as usize..*b as usize).unwrap_or(b""),
                false,
            )),
        }
    }
}

#[derive(Clone)]
pub(crate) enum Node {
    Element(Element),
    Text(Text),
}

/// A child node, borrowed.
#[derive(Clone, Copy)]
pub(crate) enum NodeRef<'a> {
    Element(&'a Element),
    Text(&'a Text),
}

/// An element's children. Many XMPP elements have none or a single run of
/// text (`<body>`, `<show>`, `<status>`): those need no vector of their own.
/// A parsed element with child elements builds them when they are first
/// looked at (`Parsed`).
#[derive(Clone, Default)]
pub(crate) enum Nodes {
    #[default]
    Empty,
    Text(Text),
    Many(Vec<Node>),
    Parsed(Lazy),
}

impl Nodes {
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Nodes::Empty => 0,
            Nodes::Text(_) => 1,
            Nodes::Many(v) => v.len(),
            Nodes::Parsed(l) => l.len(),
        }
    }

    /// Append (building an element); `hint` is the final number of nodes
    /// when known.
    #[inline]
    pub(crate) fn push(&mut self, node: Node, hint: usize) {
        match self {
            Nodes::Many(v) => v.push(node),
            // Not made by the builder: an element is parsed with all its nodes.
            Nodes::Parsed(_) => {}
            Nodes::Empty => match node {
                Node::Text(t) if hint <= 1 => *self = Nodes::Text(t),
                n => {
                    let mut v = Vec::with_capacity(hint.max(1));
                    v.push(n);
                    *self = Nodes::Many(v);
                }
            },
            Nodes::Text(_) => {
                let mut v = Vec::with_capacity(hint.max(2));
                if let Nodes::Text(t) = std::mem::take(self) {
                    v.push(Node::Text(t));
                }
                v.push(node);
                *self = Nodes::Many(v);
            }
        }
    }

    /// The last node if it is text, for merging text in the builder.
    pub(crate) fn last_text_mut(&mut self) -> Option<&mut Text> {
        match self {
            Nodes::Empty | Nodes::Parsed(_) => None,
            Nodes::Text(t) => Some(t),
            Nodes::Many(v) => match v.last_mut() {
                Some(Node::Text(t)) => Some(t),
                _ => None,
            },
        }
    }

    /// The nodes in document order; `buf` and `default_ns` are their
    /// element's, for building parsed ones.
    pub(crate) fn iter<'a>(
        &'a self,
        buf: &Bytes,
        default_ns: &Option<Str>,
    ) -> impl Iterator<Item = NodeRef<'a>> {
        let (one, many) = match self {
            Nodes::Empty => (None, &[][..]),
            Nodes::Text(t) => (Some(NodeRef::Text(t)), &[][..]),
            Nodes::Many(v) => (None, &v[..]),
            Nodes::Parsed(l) => (None, l.nodes(buf, default_ns)),
        };
        one.into_iter().chain(many.iter().map(|n| match n {
            Node::Element(e) => NodeRef::Element(e),
            Node::Text(t) => NodeRef::Text(t),
        }))
    }
}

/// An XML element with namespace-resolved names.
///
/// Matching never depends on prefixes: `<ns0:starttls xmlns:ns0='urn:ietf:params:xml:ns:xmpp-tls'/>`
/// and `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>` are equal.
/// Equality compares name, namespace, attributes (in order, namespace
/// declarations excluded) and children; it ignores [`Element::default_ns`].
///
/// ```
/// use xmpp_xml::{ns, Element};
/// let auth = Element::builder("auth", ns::SASL).attr("mechanism", "PLAIN").text("AGEAYg==").build();
/// assert_eq!(auth.attr("mechanism"), Some("PLAIN"));
/// assert_eq!(auth.to_xml(), "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>");
/// ```
#[derive(Clone)]
pub struct Element {
    pub(crate) buf: Bytes,
    pub(crate) name: Str,
    pub(crate) ns: Str,
    pub(crate) default_ns: Option<Str>,
    pub(crate) attrs: AttrList,
    pub(crate) nodes: Nodes,
}

impl Element {
    /// Start building an element named `name` in namespace `ns`.
    pub fn builder(name: &str, ns: &str) -> ElementBuilder {
        ElementBuilder {
            el: Element {
                buf: Bytes::new(),
                name: Str::name(name),
                ns: Str::owned(ns),
                default_ns: None,
                attrs: AttrList::Empty,
                nodes: Nodes::Empty,
            },
            attrs: Vec::new(),
        }
    }

    /// Local name (without prefix).
    pub fn name(&self) -> &str {
        self.name.get(&self.buf)
    }

    /// Namespace URI (`""` for no namespace).
    pub fn ns(&self) -> &str {
        self.ns.get(&self.buf)
    }

    /// Whether this element has local name `name` in namespace `ns`.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name() == name && self.ns() == ns
    }

    /// Value of an unprefixed attribute by local name, or of `xml:lang`
    /// (and other `xml:` attributes) by its `xml:` name. Values are unescaped.
    pub fn attr(&self, name: &str) -> Option<&str> {
        // Compare bytes first: only the value found is converted to `&str`.
        let want = name.as_bytes();
        let lang = want == b"xml:lang";
        self.attrs
            .iter(&self.buf)
            .find(|a| match *a {
                AttrRef::Full(a) => match &a.qual {
                    Qual::None => a.name.bytes(&self.buf) == want,
                    Qual::Xml => lang && a.name.bytes(&self.buf) == b"lang",
                    Qual::Other(q) => {
                        lang && a.name.bytes(&self.buf) == b"lang"
                            && q.0.bytes(&self.buf) == ns::XML.as_bytes()
                    }
                },
                AttrRef::Tag(q, _) => q == want && (lang || !q.starts_with(b"xml:")),
            })
            .map(|a| a.value(&self.buf))
    }

    /// Value of an attribute in namespace `ns` with local name `name`.
    pub fn attr_ns(&self, name: &str, ns: &str) -> Option<&str> {
        self.attrs
            .iter(&self.buf)
            .find(|a| a.name(&self.buf) == name && a.ns(&self.buf) == Some(ns))
            .map(|a| a.value(&self.buf))
    }

    fn attrs_any(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attrs
            .iter(&self.buf)
            .filter_map(move |a| match a.ns(&self.buf) {
                None => Some((a.name(&self.buf), a.value(&self.buf))),
                Some(n) if n == ns::XML && a.name(&self.buf) == "lang" => {
                    Some(("xml:lang", a.value(&self.buf)))
                }
                Some(_) => None,
            })
    }

    /// Unprefixed attributes and `xml:lang`, in document order.
    /// Attributes in other namespaces are reachable with [`Element::attr_ns`].
    pub fn attrs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.attrs_any()
    }

    /// Child nodes in document order.
    pub(crate) fn node_iter(&self) -> impl Iterator<Item = NodeRef<'_>> {
        self.nodes.iter(&self.buf, &self.default_ns)
    }

    /// Child elements in document order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.node_iter().filter_map(|n| match n {
            NodeRef::Element(e) => Some(e),
            NodeRef::Text(_) => None,
        })
    }

    /// First child element with local name `name` in namespace `ns`.
    pub fn child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children().find(|c| c.is(name, ns))
    }

    /// Direct character data, concatenated and unescaped.
    pub fn text(&self) -> String {
        let mut s = String::new();
        for n in self.node_iter() {
            if let NodeRef::Text(t) = n {
                s.push_str(&t.get(&self.buf));
            }
        }
        s
    }

    /// What [`Element::text`] returns, borrowed from the element when its
    /// character data is one run without references or CDATA (the usual
    /// case, e.g. the base64 of a SASL element): no copy is made.
    ///
    /// ```
    /// use std::borrow::Cow;
    /// use xmpp_xml::{ns, Element};
    /// let el = Element::builder("response", ns::SASL).text("dXNlcg==").build();
    /// assert!(matches!(el.text_ref(), Cow::Borrowed("dXNlcg==")));
    /// ```
    pub fn text_ref(&self) -> Cow<'_, str> {
        let mut texts = self.node_iter().filter_map(|n| match n {
            NodeRef::Text(t) => Some(t.get(&self.buf)),
            NodeRef::Element(_) => None,
        });
        let Some(first) = texts.next() else {
            return Cow::Borrowed("");
        };
        match texts.next() {
            None => first,
            Some(second) => {
                let mut s = first.into_owned();
                s.push_str(&second);
                texts.for_each(|t| s.push_str(&t));
                Cow::Owned(s)
            }
        }
    }

    /// The stream's default namespace (`jabber:client` / `jabber:server`)
    /// that a parsed element inherited from the stream header; `None` for
    /// builder-made elements.
    pub fn default_ns(&self) -> Option<&str> {
        self.default_ns.as_ref().map(|s| s.get(&self.buf))
    }

    /// The raw bytes this top-level element was parsed from (empty for
    /// builder-made elements and for children).
    pub fn source(&self) -> &Bytes {
        &self.buf
    }

    pub(crate) fn texts(&self) -> impl Iterator<Item = (bool, Cow<'_, str>)> {
        self.node_iter().map(move |n| match n {
            NodeRef::Text(t) => (true, t.get(&self.buf)),
            NodeRef::Element(_) => (false, Cow::Borrowed("")),
        })
    }
}

impl PartialEq for Element {
    fn eq(&self, other: &Self) -> bool {
        if self.name() != other.name()
            || self.ns() != other.ns()
            || self.attrs.iter(&self.buf).count() != other.attrs.iter(&other.buf).count()
        {
            return false;
        }
        let attrs_eq = self
            .attrs
            .iter(&self.buf)
            .zip(other.attrs.iter(&other.buf))
            .all(|(a, b)| {
                a.name(&self.buf) == b.name(&other.buf)
                    && a.value(&self.buf) == b.value(&other.buf)
                    && a.ns(&self.buf) == b.ns(&other.buf)
            });
        attrs_eq
            && self.nodes.len() == other.nodes.len()
            && self
                .node_iter()
                .zip(other.node_iter())
                .all(|(a, b)| match (a, b) {
                    (NodeRef::Element(x), NodeRef::Element(y)) => x == y,
                    (NodeRef::Text(x), NodeRef::Text(y)) => x.get(&self.buf) == y.get(&other.buf),
                    _ => false,
                })
    }
}

struct DebugAttrs<'a>(&'a Element);
impl fmt::Debug for DebugAttrs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        f.debug_list()
            .entries(
                e.attrs
                    .iter(&e.buf)
                    .map(|a| (a.ns(&e.buf), a.name(&e.buf), a.value(&e.buf))),
            )
            .finish()
    }
}

struct DebugNodes<'a>(&'a Element);
impl fmt::Debug for DebugNodes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.0;
        let mut l = f.debug_list();
        for n in e.node_iter() {
            match n {
                NodeRef::Element(c) => l.entry(c),
                NodeRef::Text(t) => l.entry(&t.get(&e.buf)),
            };
        }
        l.finish()
    }
}

impl fmt::Debug for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Element")
            .field("name", &self.name())
            .field("ns", &self.ns())
            .field("attrs", &DebugAttrs(self))
            .field("children", &DebugNodes(self))
            .finish()
    }
}

/// Builds an [`Element`]; see [`Element::builder`].
#[derive(Clone, Debug)]
pub struct ElementBuilder {
    el: Element,
    attrs: Vec<Attr>,
}

impl ElementBuilder {
    /// Add an attribute. `name` is an unprefixed local name, or `xml:lang`
    /// (any `xml:` name) for the XML namespace. A later value for the same name replaces the earlier one.
    pub fn attr(mut self, name: &str, value: &str) -> Self {
        let (qual, local) = match name.strip_prefix("xml:") {
            Some(local) => (Qual::Xml, local),
            None => (Qual::None, name),
        };
        let value = Str::name(value);
        let xml = matches!(qual, Qual::Xml);
        if let Some(a) = self
            .attrs
            .iter_mut()
            .find(|a| a.name.get(&Bytes::new()) == local && a.ns().is_some() == xml)
        {
            a.value = value;
        } else {
            self.attrs.push(Attr {
                name: Str::name(local),
                value,
                qual,
            });
        }
        self
    }

    /// Add an attribute in namespace `ns`, written with `prefix`.
    pub fn attr_ns(mut self, prefix: &str, name: &str, ns: &str, value: &str) -> Self {
        self.attrs.push(Attr {
            name: Str::Shared(Arc::from(name)),
            value: Str::Shared(Arc::from(value)),
            qual: Qual::Other(Box::new((Str::owned(ns), Str::Shared(Arc::from(prefix))))),
        });
        self
    }

    /// Append a child element.
    pub fn append(mut self, child: Element) -> Self {
        self.el.nodes.push(Node::Element(child), 0);
        self
    }

    /// Append character data (merged with directly preceding text).
    pub fn text(mut self, text: &str) -> Self {
        if text.is_empty() {
            return self;
        }
        if let Some(Text::Str(Str::Shared(prev))) = self.el.nodes.last_text_mut() {
            let mut s = String::with_capacity(prev.len() + text.len());
            s.push_str(prev);
            s.push_str(text);
            *prev = Arc::from(s);
        } else {
            self.el
                .nodes
                .push(Node::Text(Text::Str(Str::Shared(Arc::from(text)))), 0);
        }
        self
    }

    /// Finish.
    pub fn build(self) -> Element {
        let mut el = self.el;
        if !self.attrs.is_empty() {
            el.attrs = AttrList::Own(self.attrs.into_boxed_slice());
        }
        el
    }
}
