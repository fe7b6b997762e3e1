//! Building and reading the negotiation elements (SASL, features, stream
//! errors, bind and session IQs). One place knows their XML shape.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use xmpp_xml::{ns, Element};
use zeroize::Zeroizing;

use crate::condition::{StanzaCondition, StreamCondition};

/// SASL data as carried in `<auth/>`, `<challenge/>`, `<response/>` and
/// `<success/>`: absent (no character data) or present (possibly empty).
/// Wiped when dropped: a PLAIN `<auth/>` carries the password.
pub(crate) type SaslData = Option<Zeroizing<Vec<u8>>>;

/// Encodes SASL data as element text: `=` for zero-length data (RFC 6120
/// §6.4.2), nothing for absent data. Wiped when dropped: a PLAIN `<auth/>`
/// carries the password.
pub(crate) fn sasl_text(data: Option<&[u8]>) -> Option<Zeroizing<String>> {
    match data {
        None => None,
        Some([]) => Some(Zeroizing::new("=".to_owned())),
        Some(d) => Some(Zeroizing::new(STANDARD.encode(d))),
    }
}

/// The XML whitespace stripped from SASL text.
fn is_xml_space(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Decodes SASL element text. Project policy: XML whitespace (SP, HT, CR, LF)
/// is stripped before decoding, for RFC 3920-era peers that wrap base64 (the
/// RFC 3920 §6.5 example does); every other character outside RFC 4648 §4 is
/// an error.
/// `Ok(None)` means no character data at all.
pub(crate) fn decode_sasl_text(el: &Element) -> Result<SaslData, base64::DecodeError> {
    // Both are the payload in base64, a password for PLAIN: a copy (text
    // with references or CDATA) is wiped too. Plain text is read where it
    // is, in the element's buffer, which is not ours to wipe (SECURITY.md).
    let owned;
    let text: &str = match el.text_ref() {
        Cow::Borrowed(t) => t,
        Cow::Owned(t) => {
            owned = Zeroizing::new(t);
            owned.as_str()
        }
    };
    // Stripped into a copy only when there is whitespace to strip (the
    // bytes are ASCII whitespace, never part of a UTF-8 sequence); sized
    // once, so no partial copy is freed on the way.
    let stripped = text.as_bytes().iter().any(is_xml_space).then(|| {
        let mut v = Zeroizing::new(Vec::with_capacity(text.len()));
        v.extend(text.bytes().filter(|b| !is_xml_space(b)));
        v
    });
    let compact: &[u8] = match &stripped {
        Some(v) => v,
        None => text.as_bytes(),
    };
    if compact.is_empty() {
        return Ok(None);
    }
    if compact == b"=" {
        return Ok(Some(Zeroizing::default()));
    }
    // Decoded into a buffer sized once and wiped however decoding ends:
    // `decode` drops its own unwiped when the input turns out bad midway.
    let mut out = Zeroizing::new(vec![0; base64::decoded_len_estimate(compact.len())]);
    match STANDARD.decode_slice(compact, &mut out) {
        Ok(n) => {
            out.truncate(n);
            Ok(Some(out))
        }
        Err(base64::DecodeSliceError::DecodeError(e)) => Err(e),
        // The estimate is an upper bound; this is not reached.
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            Err(base64::DecodeError::InvalidLength(compact.len()))
        }
    }
}

/// Like [`decode_sasl_text`], but absent data counts as empty (challenges,
/// responses and success data, where no text means zero-length).
pub(crate) fn decode_sasl_payload(el: &Element) -> Result<Zeroizing<Vec<u8>>, base64::DecodeError> {
    decode_sasl_text(el).map(Option::unwrap_or_default)
}

fn sasl_element(name: &str, data: Option<&[u8]>) -> Element {
    let b = Element::builder(name, ns::SASL);
    match sasl_text(data) {
        Some(t) => b.text(t.as_str()).build(),
        None => b.build(),
    }
}

pub(crate) fn auth(mechanism: &str, initial: Option<&[u8]>) -> Element {
    let b = Element::builder("auth", ns::SASL).attr("mechanism", mechanism);
    match sasl_text(initial) {
        Some(t) => b.text(t.as_str()).build(),
        None => b.build(),
    }
}

pub(crate) fn challenge(data: &[u8]) -> Element {
    sasl_element("challenge", Some(data))
}

/// A `<response/>`: empty data is sent as an empty element, as step 8 of the
/// RFC 3920 §6.5 example does (both forms mean zero-length data).
pub(crate) fn response(data: &[u8]) -> Element {
    sasl_element("response", if data.is_empty() { None } else { Some(data) })
}

pub(crate) fn success(additional: Option<&[u8]>) -> Element {
    sasl_element("success", additional)
}

pub(crate) fn abort() -> Element {
    Element::builder("abort", ns::SASL).build()
}

pub(crate) fn failure(condition: xmpp_sasl::Condition, text: Option<&str>) -> Element {
    let mut b = Element::builder("failure", ns::SASL)
        .append(Element::builder(condition.as_str(), ns::SASL).build());
    if let Some(t) = text {
        b = b.append(
            Element::builder("text", ns::SASL)
                .attr("xml:lang", "en")
                .text(t)
                .build(),
        );
    }
    b.build()
}

/// Reads a `<failure/>`: its condition (unknown ones map to
/// `not-authorized`, RFC 6120 §6.5) and optional text.
pub(crate) fn read_failure(el: &Element) -> (xmpp_sasl::Condition, Option<String>) {
    let mut condition = None;
    let mut text = None;
    for c in el.children().filter(|c| c.ns() == ns::SASL) {
        if c.name() == "text" {
            text = Some(c.text());
        } else if condition.is_none() {
            condition = xmpp_sasl::Condition::from_name(c.name());
        }
    }
    (
        condition.unwrap_or(xmpp_sasl::Condition::NotAuthorized),
        text,
    )
}

pub(crate) fn stream_error(condition: StreamCondition, text: Option<&str>) -> Element {
    let mut b = Element::builder("error", ns::STREAM)
        .append(Element::builder(condition.as_str(), ns::STREAM_ERRORS).build());
    if let Some(t) = text {
        b = b.append(
            Element::builder("text", ns::STREAM_ERRORS)
                .attr("xml:lang", "en")
                .text(t)
                .build(),
        );
    }
    b.build()
}

/// Reads a `<stream:error/>`. Unknown or legacy names become
/// `undefined-condition` (RFC 6120 §4.9.3.21).
pub(crate) fn read_stream_error(el: &Element) -> (StreamCondition, Option<String>) {
    let mut condition = None;
    let mut text = None;
    for c in el.children().filter(|c| c.ns() == ns::STREAM_ERRORS) {
        if c.name() == "text" {
            text = Some(c.text());
        } else if condition.is_none() {
            condition = StreamCondition::from_name(c.name());
        }
    }
    (
        condition.unwrap_or(StreamCondition::UndefinedCondition),
        text,
    )
}

pub(crate) fn is_stream_error(el: &Element) -> bool {
    el.is("error", ns::STREAM)
}

pub(crate) fn features(children: Vec<Element>) -> Element {
    children
        .into_iter()
        .fold(Element::builder("features", ns::STREAM), |b, c| b.append(c))
        .build()
}

/// The mechanism names inside a `<mechanisms/>` feature.
pub(crate) fn read_mechanisms(mechs: &Element) -> Vec<xmpp_sasl::MechanismName> {
    mechs
        .children()
        .filter(|c| c.is("mechanism", ns::SASL))
        .map(|c| c.text())
        .filter(|n| !n.trim().is_empty())
        .map(|n| xmpp_sasl::MechanismName::new(n.trim()))
        .collect()
}

pub(crate) fn iq(kind: &str, id: &str) -> xmpp_xml::ElementBuilder {
    Element::builder("iq", ns::CLIENT)
        .attr("type", kind)
        .attr("id", id)
}

pub(crate) fn bind_request(id: &str, resource: Option<&str>) -> Element {
    let mut bind = Element::builder("bind", ns::BIND);
    if let Some(r) = resource {
        bind = bind.append(Element::builder("resource", ns::BIND).text(r).build());
    }
    iq("set", id).append(bind.build()).build()
}

pub(crate) fn bind_result(id: &str, jid: &str) -> Element {
    iq("result", id)
        .append(
            Element::builder("bind", ns::BIND)
                .append(Element::builder("jid", ns::BIND).text(jid).build())
                .build(),
        )
        .build()
}

pub(crate) fn session_request(id: &str, to: &str) -> Element {
    iq("set", id)
        .attr("to", to)
        .append(Element::builder("session", ns::SESSION).build())
        .build()
}

/// An IQ error reply to `request` (RFC 6120 §8.3): same id, addresses
/// swapped, the stanza error inside.
pub fn iq_error(request: &Element, condition: StanzaCondition) -> Element {
    // An IQ reply always carries an id (RFC 6120 §8.2.3), empty if the
    // request had none.
    let b = iq("error", request.attr("id").unwrap_or(""));
    reply_to(b, request).append(error(condition)).build()
}

/// A stanza error reply to a `<message/>` or `<presence/>` (RFC 6120
/// §8.3): same kind, `type='error'`, the id if there was one, addresses
/// swapped, the stanza error inside. For IQs use [`iq_error`].
pub fn stanza_error(request: &Element, condition: StanzaCondition) -> Element {
    let mut b = Element::builder(request.name(), ns::CLIENT).attr("type", "error");
    if let Some(id) = request.attr("id") {
        b = b.attr("id", id);
    }
    reply_to(b, request).append(error(condition)).build()
}

/// An empty IQ result reply to `request`.
pub fn iq_result(request: &Element) -> Element {
    reply_to(iq("result", request.attr("id").unwrap_or("")), request).build()
}

/// Addresses a reply: to the request's sender, from its recipient.
fn reply_to(mut b: xmpp_xml::ElementBuilder, request: &Element) -> xmpp_xml::ElementBuilder {
    if let Some(from) = request.attr("from") {
        b = b.attr("to", from);
    }
    if let Some(to) = request.attr("to") {
        b = b.attr("from", to);
    }
    b
}

/// The `<error/>` child of an error stanza.
fn error(condition: StanzaCondition) -> Element {
    Element::builder("error", ns::CLIENT)
        .attr("type", condition.default_type())
        .append(Element::builder(condition.as_str(), ns::STANZAS).build())
        .build()
}

/// The stanza error condition of an IQ of type `error`, if one is there.
pub(crate) fn read_stanza_error(iq: &Element) -> Option<StanzaCondition> {
    let err = iq.children().find(|c| c.name() == "error")?;
    err.children()
        .filter(|c| c.ns() == ns::STANZAS && c.name() != "text")
        .find_map(|c| StanzaCondition::from_name(c.name()))
        .or(Some(StanzaCondition::UndefinedCondition))
}

/// Whether the element is one of the three stanza kinds (RFC 6120 §8) in
/// the client namespace.
pub(crate) fn is_stanza(el: &Element) -> bool {
    el.ns() == ns::CLIENT && matches!(el.name(), "iq" | "message" | "presence")
}

/// The STARTTLS feature, with `<required/>` when TLS is mandatory.
pub(crate) fn starttls(required: bool) -> Element {
    let b = Element::builder("starttls", ns::TLS);
    if required {
        b.append(Element::builder("required", ns::TLS).build())
            .build()
    } else {
        b.build()
    }
}

/// XEP-0440: the channel-binding types a server supports.
pub(crate) const SASL_CB: &str = "urn:xmpp:sasl-cb:0";

pub(crate) fn channel_binding_types<'a>(types: impl IntoIterator<Item = &'a str>) -> Element {
    types
        .into_iter()
        .fold(Element::builder("sasl-channel-binding", SASL_CB), |b, t| {
            b.append(
                Element::builder("channel-binding", SASL_CB)
                    .attr("type", t)
                    .build(),
            )
        })
        .build()
}

/// The types in a features element's XEP-0440 advertisement, if present.
pub(crate) fn read_channel_binding_types(features: &Element) -> Option<Vec<String>> {
    let cb = features.child("sasl-channel-binding", SASL_CB)?;
    Some(
        cb.children()
            .filter(|c| c.is("channel-binding", SASL_CB))
            .filter_map(|c| c.attr("type").map(str::to_owned))
            .collect(),
    )
}
