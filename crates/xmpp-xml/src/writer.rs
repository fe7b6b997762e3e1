//! Serialization: elements written with namespace declarations only where
//! needed, and checked for what XML cannot express.

use crate::element::{Element, NodeRef};
use crate::error::XmlError;
use crate::escape::{escape_attr, escape_text};
use crate::ns;

// Serializing lives with the writer, so the element model does not import it.
impl Element {
    /// Serialize on its own: declares its own namespace (`xmlns`) and any prefixes it needs.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        write_element(&mut out, self, &Scope::standalone());
        out
    }
}

/// What is declared where an element is written.
#[derive(Clone, Debug)]
pub(crate) struct Scope {
    /// The default namespace in effect (`""` = none).
    pub(crate) default_ns: String,
    /// Whether the `stream:` prefix is bound to [`ns::STREAM`].
    pub(crate) stream_bound: bool,
}

impl Scope {
    pub(crate) fn standalone() -> Scope {
        Scope {
            default_ns: String::new(),
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
    );
}

fn write_rec(
    out: &mut String,
    el: &Element,
    default_ns: &str,
    stream_bound: bool,
    prefixes: &mut Vec<(String, String)>,
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
            escape_attr(out, ns::STREAM);
            out.push('\'');
            child_stream = true;
        }
    } else {
        out.push_str(name);
        if ns != default_ns {
            out.push_str(" xmlns='");
            escape_attr(out, ns);
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
                        escape_attr(out, ans);
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
        for n in el.nodes.iter() {
            match n {
                NodeRef::Element(c) => write_rec(out, c, child_default, child_stream, prefixes),
                NodeRef::Text(t) => escape_text(out, &t.get(&el.buf)),
            }
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

/// Check that an element (tree) can be written as XML: valid names and only
/// characters XML allows. Parsed elements were validated by the scanner.
pub(crate) fn validate(el: &Element) -> Result<(), XmlError> {
    if el.buf.is_empty() {
        let name = el.name();
        if !crate::chars::is_ncname(name) {
            return Err(XmlError::Unencodable(format!(
                "invalid element name {name:?}"
            )));
        }
        for a in el.attrs.iter(&el.buf) {
            let n = a.name(&el.buf);
            if !crate::chars::is_ncname(n) {
                return Err(XmlError::Unencodable(format!(
                    "invalid attribute name {n:?}"
                )));
            }
            if let Some(p) = a.prefix(&el.buf) {
                if !crate::chars::is_ncname(p) {
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

fn legal_chars(s: &str) -> Result<(), XmlError> {
    match s.chars().find(|c| !crate::chars::is_xml_char(*c as u32)) {
        Some(c) => Err(XmlError::Unencodable(format!(
            "character U+{:04X} is not allowed in XML",
            c as u32
        ))),
        None => Ok(()),
    }
}
