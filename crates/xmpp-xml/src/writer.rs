//! Serialization: elements written with namespace declarations only where
//! needed, and checked for what XML cannot express; and an indented form for
//! people to read.

use crate::chars::is_ws;
use crate::element::{Element, NodeRef};
use crate::error::XmlError;
use crate::escape::{escape_attr, escape_ns, escape_text};
use crate::ns;

// Serializing lives with the writer, so the element model does not import it.
impl Element {
    /// Serialize on its own: declares its own namespace (`xmlns`) and any prefixes it needs.
    pub fn to_xml(&self) -> String {
        // Most elements of a stream fit: no regrowing on the way.
        let mut out = String::with_capacity(256);
        write_element(&mut out, self, &Scope::standalone());
        out
    }

    /// Serialize for people to read: an element whose children are all
    /// elements (whitespace between them aside) has each child on a line of
    /// its own, indented by two spaces per level; an element with text is
    /// written exactly, so no character of its content changes. The
    /// whitespace-only text that indentation replaces is dropped.
    ///
    /// A parsed element is written as it stands in its stream: the
    /// namespace it inherited from the stream header
    /// ([`Element::default_ns`]) is not declared again.
    ///
    /// ```
    /// use xmpp_xml::{ns, Element};
    /// let message = Element::builder("message", ns::CLIENT)
    ///     .attr("to", "juliet@example.com")
    ///     .append(Element::builder("body", ns::CLIENT).text("Art thou not Romeo?").build())
    ///     .build();
    /// assert_eq!(
    ///     message.to_xml_pretty(),
    ///     "<message xmlns='jabber:client' to='juliet@example.com'>\n  \
    ///      <body>Art thou not Romeo?</body>\n\
    ///      </message>"
    /// );
    /// ```
    pub fn to_xml_pretty(&self) -> String {
        let mut out = String::new();
        let mut prefixes = Vec::new();
        let default_ns = self.default_ns().unwrap_or("");
        write_rec(&mut out, self, default_ns, false, &mut prefixes, Some(0));
        out
    }
}

/// What is declared where an element is written.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    /// The default namespace in effect (`""` = none).
    pub(crate) default_ns: crate::HeaderValue,
    /// Whether the `stream:` prefix is bound to [`ns::STREAM`].
    pub(crate) stream_bound: bool,
}

impl Scope {
    pub(crate) fn standalone() -> Scope {
        Scope {
            default_ns: std::borrow::Cow::Borrowed(""),
            stream_bound: false,
        }
    }
}

pub(crate) fn write_element(out: &mut String, el: &Element, scope: &Scope) {
    let mut prefixes: Vec<(String, String)> = Vec::new();
    write_rec(
        out,
        el,
        &scope.default_ns,
        scope.stream_bound,
        &mut prefixes,
        None,
    );
}

/// Writes `el`. `depth`: indent its children as [`Element::to_xml_pretty`]
/// does, `el` being that deep; `None` writes it exactly.
fn write_rec(
    out: &mut String,
    el: &Element,
    default_ns: &str,
    stream_bound: bool,
    prefixes: &mut Vec<(String, String)>,
    depth: Option<usize>,
) {
    let ns = el.ns();
    let name = el.name();
    let mark = prefixes.len();
    let mut child_default = default_ns;
    let mut child_stream = stream_bound;
    out.push('<');
    let use_stream_prefix = ns == ns::STREAM && ns != default_ns;
    if use_stream_prefix {
        out.push_str("stream:");
        out.push_str(name);
        if !stream_bound {
            out.push_str(" xmlns:stream='");
            escape_ns(out, ns::STREAM);
            out.push('\'');
            child_stream = true;
        }
    } else {
        out.push_str(name);
        if ns != default_ns {
            out.push_str(" xmlns='");
            escape_ns(out, ns);
            out.push('\'');
            child_default = ns;
        }
    }
    for a in el.attrs.iter(&el.buf) {
        let value = a.value(&el.buf);
        let local = a.name(&el.buf);
        out.push(' ');
        match a.ns(&el.buf) {
            None => out.push_str(local),
            Some(ans) => {
                if ans == ns::XML {
                    out.push_str("xml:");
                } else {
                    let prefix = a.prefix(&el.buf).unwrap_or("ns");
                    // `stream` is already taken by the stream namespace in stream context.
                    let prefix = if prefix == "stream"
                        || prefix == "xml"
                        || prefix == "xmlns"
                        || prefix.is_empty()
                    {
                        "a"
                    } else {
                        prefix
                    };
                    let bound = prefixes
                        .iter()
                        .rev()
                        .find(|(p, _)| p == prefix)
                        .map(|(_, u)| u.as_str());
                    if bound != Some(ans) {
                        out.push_str("xmlns:");
                        out.push_str(prefix);
                        out.push_str("='");
                        escape_ns(out, ans);
                        out.push_str("' ");
                        prefixes.push((prefix.to_owned(), ans.to_owned()));
                    }
                    out.push_str(prefix);
                    out.push(':');
                }
                out.push_str(local);
            }
        }
        out.push_str("='");
        escape_attr(out, value);
        out.push('\'');
    }
    if el.nodes.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        // Indenting adds text: only where the element has no text of its own.
        let layout = depth.filter(|_| {
            el.children().next().is_some()
                && el
                    .texts()
                    .all(|(is_text, t)| !is_text || t.bytes().all(is_ws))
        });
        for n in el.node_iter() {
            match n {
                NodeRef::Element(c) => {
                    let inner = layout.map(|d| d + 1);
                    if let Some(d) = inner {
                        new_line(out, d);
                    }
                    write_rec(out, c, child_default, child_stream, prefixes, inner);
                }
                NodeRef::Text(_) if layout.is_some() => {}
                NodeRef::Text(t) => escape_text(out, &t.get(&el.buf)),
            }
        }
        if let Some(d) = layout {
            new_line(out, d);
        }
        out.push_str("</");
        if use_stream_prefix {
            out.push_str("stream:");
        }
        out.push_str(name);
        out.push('>');
    }
    prefixes.truncate(mark);
}

/// A line break and the indentation of an element `depth` deep.
fn new_line(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Check that an element (tree) can be written as XML: valid names and only
/// characters XML allows. Parsed elements were validated by the scanner.
pub(crate) fn validate(el: &Element) -> Result<(), XmlError> {
    if el.buf.is_empty() {
        let name = el.name();
        if !ncname(name) {
            return Err(XmlError::Unencodable(format!(
                "invalid element name {name:?}"
            )));
        }
        for a in el.attrs.iter(&el.buf) {
            let n = a.name(&el.buf);
            if !ncname(n) {
                return Err(XmlError::Unencodable(format!(
                    "invalid attribute name {n:?}"
                )));
            }
            if let Some(p) = a.prefix(&el.buf) {
                if !ncname(p) {
                    return Err(XmlError::Unencodable(format!("invalid prefix {p:?}")));
                }
            }
            legal_chars(a.value(&el.buf))?;
        }
        for (is_text, t) in el.texts() {
            if is_text {
                legal_chars(&t)?;
            }
        }
    }
    for c in el.children() {
        validate(c)?;
    }
    Ok(())
}

/// [`crate::chars::is_ncname`], deciding ASCII names (nearly all) with a
/// table lookup per byte.
fn ncname(s: &str) -> bool {
    let b = s.as_bytes();
    match b.first() {
        Some(&first) if b.is_ascii() => {
            crate::chars::is_name_start(first)
                && b.iter()
                    .all(|&x| x != b':' && crate::chars::is_name_char(x))
        }
        _ => crate::chars::is_ncname(s),
    }
}

/// Whether `s` is ASCII without the control characters XML forbids (all
/// but TAB, LF and CR): legal as it stands, nothing to decode.
#[inline]
pub(crate) fn plain_ascii(s: &str) -> bool {
    s.bytes()
        .all(|b| (0x20..0x80).contains(&b) || matches!(b, b'\t' | b'\n' | b'\r'))
}

fn legal_chars(s: &str) -> Result<(), XmlError> {
    if plain_ascii(s) {
        return Ok(());
    }
    match s.chars().find(|c| !crate::chars::is_xml_char(*c as u32)) {
        Some(c) => Err(XmlError::Unencodable(format!(
            "character U+{:04X} is not allowed in XML",
            c as u32
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use crate::{ns, Element, Frame, Framer};

    /// `xml` as a top-level element of a `jabber:client` stream.
    fn parse(xml: &str) -> Element {
        let mut framer = Framer::default();
        let mut buf = BytesMut::from(
            format!(
                "<stream:stream xmlns='jabber:client' xmlns:stream='{}'>{xml}",
                ns::STREAM
            )
            .as_str(),
        );
        assert!(matches!(
            framer.decode(&mut buf),
            Ok(Some(Frame::Header(_)))
        ));
        match framer.decode(&mut buf) {
            Ok(Some(Frame::Element(el))) => el,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fast_checks_agree_with_the_full_ones() {
        use super::{legal_chars, ncname};
        use crate::chars::{is_ncname, is_xml_char};
        for name in [
            "", "a", "iq", "a1", "1a", "-a", ".a", "_a", "a-b.c_d", "a:b", ":a", "a:", "a b", "é",
            "aé", "a\u{b7}", "\u{b7}a", "a\u{0}", "stream", "xml:lang",
        ] {
            assert_eq!(ncname(name), is_ncname(name), "{name:?}");
        }
        for text in [
            "",
            "plain",
            "a\tb\nc\rd",
            "a\u{1}",
            "\u{7f}",
            "\u{0}",
            "é",
            "\u{fffe}",
            "😀",
            "a\u{1b}b",
        ] {
            let full = text.chars().all(|c| is_xml_char(c as u32));
            assert_eq!(legal_chars(text).is_ok(), full, "{text:?}");
        }
    }

    #[test]
    fn pretty_indents_element_children_and_keeps_text_exact() {
        let iq = parse(
            "<iq type='result' id='r1'>\n <query xmlns='jabber:iq:roster'>\
             <item jid='romeo@example.net' name='Romeo'><group>Friends</group></item>\
             <item jid='mercutio@example.com'/></query></iq>",
        );
        // The stream's namespace is not declared again; the roster's is.
        assert_eq!(
            iq.to_xml_pretty(),
            "<iq type='result' id='r1'>\n  \
             <query xmlns='jabber:iq:roster'>\n    \
             <item jid='romeo@example.net' name='Romeo'>\n      \
             <group>Friends</group>\n    \
             </item>\n    \
             <item jid='mercutio@example.com'/>\n  \
             </query>\n\
             </iq>"
        );
        // Mixed content: written exactly, children included.
        let mixed = "<message><body>a <b>b</b>\n  <i>c</i></body></message>";
        assert_eq!(
            parse(mixed).to_xml_pretty(),
            "<message>\n  <body>a <b>b</b>\n  <i>c</i></body>\n</message>"
        );
        // Escaping as in `to_xml`; an empty element self-closes.
        let text = "<message to='a&amp;b'><body>1 &lt; 2 &amp;&amp; ]]&gt;</body></message>";
        assert_eq!(
            parse(text).to_xml_pretty(),
            "<message to='a&amp;b'>\n  <body>1 &lt; 2 &amp;&amp; ]]&gt;</body>\n</message>"
        );
        assert_eq!(parse("<presence/>").to_xml_pretty(), "<presence/>");
    }

    #[test]
    fn pretty_output_parses_back_to_the_same_element() {
        let source = "<message type='chat' xml:lang='en'><body>hi\n there</body>\
                      <x xmlns='jabber:x:data' type='form'><field var='a'><value>1</value></field></x>\
                      <thread>t1</thread></message>";
        let el = parse(source);
        let pretty = el.to_xml_pretty();
        // The same but for the indentation, which is whitespace-only text.
        let again = parse(&pretty);
        assert_eq!(again.to_xml_pretty(), pretty);
        assert_eq!(
            again.to_xml().replace(['\n', ' '], ""),
            el.to_xml().replace(['\n', ' '], "")
        );
        assert_eq!(again.attr("xml:lang"), Some("en"));
        assert_eq!(
            again
                .child("body", ns::CLIENT)
                .map(Element::text)
                .as_deref(),
            Some("hi\n there")
        );
        // A builder-made element declares its namespace.
        let built = Element::builder("presence", ns::CLIENT)
            .append(Element::builder("show", ns::CLIENT).text("away").build())
            .build();
        let pretty = built.to_xml_pretty();
        assert_eq!(
            pretty,
            "<presence xmlns='jabber:client'>\n  <show>away</show>\n</presence>"
        );
        assert_eq!(
            parse(&pretty).to_xml_pretty(),
            "<presence>\n  <show>away</show>\n</presence>"
        );
    }
}
