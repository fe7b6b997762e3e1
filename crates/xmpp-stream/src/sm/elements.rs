//! The XML of XEP-0198: one place builds and strictly reads the stream
//! management elements, for both sides.
//!
//! Readers never panic on what a peer sends: a missing or malformed counter,
//! an over-long SM-ID or an unknown element in the namespace is a
//! [`ParseError`].

use std::time::Duration;

use xmpp_xml::{ns, Element};

use crate::condition::StanzaCondition;

/// `urn:xmpp:sm:3`, the namespace of every element here.
pub const NS_SM: &str = ns::SM;

/// The longest SM-ID accepted from a peer (XEP-0198 §5: it SHOULD NOT be
/// longer than 4000 bytes).
pub const MAX_ID_LEN: usize = 4000;

/// The longest `location` accepted: a domain name (at most 1023 bytes,
/// RFC 6120 §3.2) or a bracketed IPv6 address, plus a port.
const MAX_LOCATION_LEN: usize = 1100;

/// How much of a peer's bad value an error keeps, for diagnostics.
const MAX_ECHO: usize = 40;

/// Why a stream management element cannot be read.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A required attribute is absent (`h` on `<a/>`, `<resume/>`,
    /// `<resumed/>`; `previd` on the latter two).
    #[error("<{element}/> has no '{attribute}' attribute")]
    Missing {
        /// The element's name.
        element: &'static str,
        /// The attribute's name.
        attribute: &'static str,
    },
    /// An attribute's value is not of its type: a counter that is not an
    /// unsigned 32-bit integer, a boolean that is not `true`/`false`/`1`/`0`,
    /// an empty or over-long SM-ID or location.
    #[error("<{element}/> has a bad '{attribute}' attribute: {value:?}")]
    Invalid {
        /// The element's name.
        element: &'static str,
        /// The attribute's name.
        attribute: &'static str,
        /// The start of the value.
        value: String,
    },
    /// An element in `urn:xmpp:sm:3` that is not a top-level element of the
    /// protocol (such as the `<sm/>` feature).
    #[error("unknown stream management element <{0}/>")]
    Unknown(String),
}

fn echo(value: &str) -> String {
    let mut end = value.len().min(MAX_ECHO);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

fn invalid(element: &'static str, attribute: &'static str, value: &str) -> ParseError {
    ParseError::Invalid {
        element,
        attribute,
        value: echo(value),
    }
}

/// Strips the whitespace XML Schema's `collapse` facet allows around a
/// number or a boolean.
fn trim_xml(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// An `xs:unsignedInt`: decimal digits, an optional `+`. `None` when it is
/// not one or does not fit 32 bits.
fn parse_u32(value: &str) -> Option<u32> {
    let digits = trim_xml(value);
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    // `u32::from_str` would also take a second sign after ours.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A counter attribute (`h`): required where `required`, always an
/// unsigned 32-bit integer.
fn counter(el: &Element, element: &'static str) -> Result<Option<u32>, ParseError> {
    match el.attr("h") {
        None => Ok(None),
        Some(v) => parse_u32(v)
            .map(Some)
            .ok_or_else(|| invalid(element, "h", v)),
    }
}

fn required_counter(el: &Element, element: &'static str) -> Result<u32, ParseError> {
    counter(el, element)?.ok_or(ParseError::Missing {
        element,
        attribute: "h",
    })
}

/// An `xs:boolean`, absent meaning false.
fn boolean(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<bool, ParseError> {
    match el.attr(attribute).map(|v| (v, trim_xml(v))) {
        None => Ok(false),
        Some((_, "true" | "1")) => Ok(true),
        Some((_, "false" | "0")) => Ok(false),
        Some((v, _)) => Err(invalid(element, attribute, v)),
    }
}

/// `max`, in seconds. Values past `u32::MAX` seconds (136 years) are that:
/// the schema's `positiveInteger` has no bound and the value only caps a
/// wait. Zero is kept as zero (no resumption window), not refused.
fn max(el: &Element, element: &'static str) -> Result<Option<Duration>, ParseError> {
    let Some(v) = el.attr("max") else {
        return Ok(None);
    };
    let digits = trim_xml(v);
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(element, "max", v));
    }
    let secs = digits.parse::<u32>().unwrap_or(u32::MAX);
    Ok(Some(Duration::from_secs(u64::from(secs))))
}

/// Seconds for `max`, rounded up so that a sub-second wish is not sent as
/// "no time at all".
fn max_text(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.to_string()
}

/// A stream management identifier (SM-ID, XEP-0198 §5): opaque, chosen by
/// the server, 1 to 4000 bytes.
///
/// A server makes fresh ones with [`SmId::generate`]; a peer's is checked
/// with [`SmId::new`].
///
/// ```
/// use xmpp_stream::sm::SmId;
///
/// let id = SmId::generate();
/// assert_eq!(id.as_str().len(), 32); // 128 random bits in hex
/// assert_ne!(id, SmId::generate());
/// assert!(SmId::new("some-long-sm-id").is_ok());
/// assert!(SmId::new("").is_err());
/// assert!(SmId::new("x".repeat(4001)).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SmId(String);

impl SmId {
    /// A fresh SM-ID: 128 bits from a CSPRNG (`rand`'s `ThreadRng`, seeded
    /// from the OS), so that one session's id tells nothing about another's
    /// and none can be guessed.
    pub fn generate() -> Self {
        SmId(crate::ids::sm_id())
    }

    /// Checks a peer's SM-ID: not empty, at most [`MAX_ID_LEN`] bytes. The
    /// error names `<enabled id/>`, where a client first meets one; readers
    /// of `<resume previd/>` and `<resumed previd/>` name those.
    pub fn new(id: impl Into<String>) -> Result<Self, ParseError> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_ID_LEN {
            return Err(invalid("enabled", "id", &id));
        }
        Ok(SmId(id))
    }

    /// The id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SmId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SmId").field(&echo(&self.0)).finish()
    }
}

/// Reads an id attribute with the error naming the element it came from.
fn id_attr(
    el: &Element,
    element: &'static str,
    attribute: &'static str,
) -> Result<Option<SmId>, ParseError> {
    match el.attr(attribute) {
        None => Ok(None),
        Some(v) if v.is_empty() || v.len() > MAX_ID_LEN => Err(invalid(element, attribute, v)),
        Some(v) => Ok(Some(SmId(v.to_owned()))),
    }
}

fn sm(name: &str) -> xmpp_xml::ElementBuilder {
    Element::builder(name, NS_SM)
}

/// `<enable/>`: the client asks to turn stream management on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enable {
    /// `resume='true'`: the client wants to be able to resume.
    pub resume: bool,
    /// `max`: the client's preferred longest resumption time.
    pub max: Option<Duration>,
}

impl Enable {
    /// The element.
    ///
    /// ```
    /// use std::time::Duration;
    /// use xmpp_stream::sm::Enable;
    ///
    /// let e = Enable { resume: true, max: Some(Duration::from_secs(300)) };
    /// assert_eq!(e.to_element().to_xml(), "<enable xmlns='urn:xmpp:sm:3' resume='true' max='300'/>");
    /// ```
    pub fn to_element(&self) -> Element {
        let mut b = sm("enable");
        if self.resume {
            b = b.attr("resume", "true");
        }
        if let Some(m) = self.max {
            b = b.attr("max", &max_text(m));
        }
        b.build()
    }

    fn read(el: &Element) -> Result<Self, ParseError> {
        Ok(Enable {
            resume: boolean(el, "enable", "resume")?,
            max: max(el, "enable")?,
        })
    }
}

/// `<enabled/>`: the server turned stream management on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enabled {
    /// The SM-ID; present when the stream can be resumed.
    pub id: Option<SmId>,
    /// `resume='true'`: the server will keep the session for a resumption.
    pub resume: bool,
    /// `max`: the server's longest resumption time.
    pub max: Option<Duration>,
    /// `location`: where the server prefers the client to reconnect
    /// (`host:port`, RFC 6120 §4.9.3.19 syntax).
    pub location: Option<String>,
}

impl Enabled {
    /// The element.
    ///
    /// ```
    /// use xmpp_stream::sm::{Enabled, SmId};
    ///
    /// let e = Enabled { id: Some(SmId::new("a1").unwrap()), resume: true, ..Enabled::default() };
    /// assert_eq!(e.to_element().to_xml(), "<enabled xmlns='urn:xmpp:sm:3' id='a1' resume='true'/>");
    /// ```
    pub fn to_element(&self) -> Element {
        let mut b = sm("enabled");
        if let Some(id) = &self.id {
            b = b.attr("id", id.as_str());
        }
        if self.resume {
            b = b.attr("resume", "true");
        }
        if let Some(m) = self.max {
            b = b.attr("max", &max_text(m));
        }
        if let Some(l) = &self.location {
            b = b.attr("location", l);
        }
        b.build()
    }

    fn read(el: &Element) -> Result<Self, ParseError> {
        let location = match el.attr("location") {
            Some(l) if l.is_empty() || l.len() > MAX_LOCATION_LEN => {
                return Err(invalid("enabled", "location", l))
            }
            l => l.map(str::to_owned),
        };
        Ok(Enabled {
            id: id_attr(el, "enabled", "id")?,
            resume: boolean(el, "enabled", "resume")?,
            max: max(el, "enabled")?,
            location,
        })
    }
}

/// `<resume/>`: the client asks to resume the session `previd`, having
/// handled `h` stanzas from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resume {
    /// The SM-ID of the session to resume.
    pub previd: SmId,
    /// How many stanzas the client handled from the server.
    pub h: u32,
}

impl Resume {
    /// The element.
    ///
    /// ```
    /// use xmpp_stream::sm::{Resume, SmId};
    ///
    /// let r = Resume { previd: SmId::new("a1").unwrap(), h: 7 };
    /// assert_eq!(r.to_element().to_xml(), "<resume xmlns='urn:xmpp:sm:3' previd='a1' h='7'/>");
    /// ```
    pub fn to_element(&self) -> Element {
        sm("resume")
            .attr("previd", self.previd.as_str())
            .attr("h", &self.h.to_string())
            .build()
    }

    fn read(el: &Element) -> Result<Self, ParseError> {
        Ok(Resume {
            previd: id_attr(el, "resume", "previd")?.ok_or(ParseError::Missing {
                element: "resume",
                attribute: "previd",
            })?,
            h: required_counter(el, "resume")?,
        })
    }
}

/// `<resumed/>`: the server resumed the session `previd`, having handled
/// `h` stanzas from the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resumed {
    /// The SM-ID of the resumed session.
    pub previd: SmId,
    /// How many stanzas the server handled from the client: its inbound
    /// count, never its outbound one.
    pub h: u32,
}

impl Resumed {
    /// The element.
    ///
    /// ```
    /// use xmpp_stream::sm::{Resumed, SmId};
    ///
    /// let r = Resumed { previd: SmId::new("a1").unwrap(), h: 2 };
    /// assert_eq!(r.to_element().to_xml(), "<resumed xmlns='urn:xmpp:sm:3' previd='a1' h='2'/>");
    /// ```
    pub fn to_element(&self) -> Element {
        sm("resumed")
            .attr("previd", self.previd.as_str())
            .attr("h", &self.h.to_string())
            .build()
    }

    fn read(el: &Element) -> Result<Self, ParseError> {
        Ok(Resumed {
            previd: id_attr(el, "resumed", "previd")?.ok_or(ParseError::Missing {
                element: "resumed",
                attribute: "previd",
            })?,
            h: required_counter(el, "resumed")?,
        })
    }
}

/// `<failed/>`: enabling or resuming did not work.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failed {
    /// For a failed resumption, how many stanzas the server handled from
    /// the client before the session ended, when it still knows.
    pub h: Option<u32>,
    /// The stanza error condition (`urn:ietf:params:xml:ns:xmpp-stanzas`);
    /// one this crate does not know reads as `undefined-condition`.
    pub condition: Option<StanzaCondition>,
}

impl Failed {
    /// A `<failed/>` with `condition`.
    ///
    /// ```
    /// use xmpp_stream::sm::Failed;
    /// use xmpp_stream::StanzaCondition;
    ///
    /// let f = Failed::new(StanzaCondition::ItemNotFound).with_h(3);
    /// assert_eq!(
    ///     f.to_element().to_xml(),
    ///     "<failed xmlns='urn:xmpp:sm:3' h='3'>\
    ///      <item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></failed>"
    /// );
    /// ```
    pub fn new(condition: StanzaCondition) -> Self {
        Failed {
            h: None,
            condition: Some(condition),
        }
    }

    /// With the `h` of a session the server still remembers.
    pub fn with_h(mut self, h: u32) -> Self {
        self.h = Some(h);
        self
    }

    /// The element.
    pub fn to_element(&self) -> Element {
        let mut b = sm("failed");
        if let Some(h) = self.h {
            b = b.attr("h", &h.to_string());
        }
        if let Some(c) = self.condition {
            b = b.append(Element::builder(c.as_str(), ns::STANZAS).build());
        }
        b.build()
    }

    fn read(el: &Element) -> Result<Self, ParseError> {
        let condition = el
            .children()
            .find(|c| c.ns() == ns::STANZAS && c.name() != "text")
            .map(|c| {
                StanzaCondition::from_name(c.name()).unwrap_or(StanzaCondition::UndefinedCondition)
            });
        Ok(Failed {
            h: counter(el, "failed")?,
            condition,
        })
    }
}

/// A top-level stream management element, read or to be sent.
///
/// ```
/// use xmpp_xml::Element;
/// use xmpp_stream::sm::{ParseError, SmElement, NS_SM};
///
/// let a = Element::builder("a", NS_SM).attr("h", "4294967295").build();
/// assert_eq!(SmElement::read(&a), Ok(Some(SmElement::Ack(u32::MAX))));
///
/// let bad = Element::builder("a", NS_SM).attr("h", "4294967296").build();
/// assert!(matches!(SmElement::read(&bad), Err(ParseError::Invalid { .. })));
///
/// // Not stream management's: not read.
/// let message = Element::builder("message", "jabber:client").build();
/// assert_eq!(SmElement::read(&message), Ok(None));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmElement {
    /// `<enable/>`
    Enable(Enable),
    /// `<enabled/>`
    Enabled(Enabled),
    /// `<r/>`: a request for an acknowledgement.
    Request,
    /// `<a h='…'/>`: an acknowledgement of `h` handled stanzas.
    Ack(u32),
    /// `<resume/>`
    Resume(Resume),
    /// `<resumed/>`
    Resumed(Resumed),
    /// `<failed/>`
    Failed(Failed),
}

impl SmElement {
    /// Reads `el`: `Ok(None)` when it is not in `urn:xmpp:sm:3`, an error
    /// when it is but is not a well-formed protocol element.
    pub fn read(el: &Element) -> Result<Option<Self>, ParseError> {
        if el.ns() != NS_SM {
            return Ok(None);
        }
        Ok(Some(match el.name() {
            "r" => SmElement::Request,
            "a" => SmElement::Ack(required_counter(el, "a")?),
            "enable" => SmElement::Enable(Enable::read(el)?),
            "enabled" => SmElement::Enabled(Enabled::read(el)?),
            "resume" => SmElement::Resume(Resume::read(el)?),
            "resumed" => SmElement::Resumed(Resumed::read(el)?),
            "failed" => SmElement::Failed(Failed::read(el)?),
            other => return Err(ParseError::Unknown(echo(other))),
        }))
    }

    /// The element to send.
    pub fn to_element(&self) -> Element {
        match self {
            SmElement::Enable(e) => e.to_element(),
            SmElement::Enabled(e) => e.to_element(),
            SmElement::Request => request(),
            SmElement::Ack(h) => ack(*h),
            SmElement::Resume(r) => r.to_element(),
            SmElement::Resumed(r) => r.to_element(),
            SmElement::Failed(f) => f.to_element(),
        }
    }

    /// The element's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            SmElement::Enable(_) => "enable",
            SmElement::Enabled(_) => "enabled",
            SmElement::Request => "r",
            SmElement::Ack(_) => "a",
            SmElement::Resume(_) => "resume",
            SmElement::Resumed(_) => "resumed",
            SmElement::Failed(_) => "failed",
        }
    }
}

/// `<r/>`: asks the peer how many stanzas it handled.
pub fn request() -> Element {
    sm("r").build()
}

/// `<a h='…'/>`: says `h` stanzas were handled.
///
/// ```
/// assert_eq!(xmpp_stream::sm::ack(3).to_xml(), "<a xmlns='urn:xmpp:sm:3' h='3'/>");
/// ```
pub fn ack(h: u32) -> Element {
    sm("a").attr("h", &h.to_string()).build()
}

/// The stream feature, `<sm xmlns='urn:xmpp:sm:3'/>`.
pub fn feature() -> Element {
    sm("sm").build()
}

/// Whether `<stream:features/>` offers stream management.
pub fn offered(features: &Element) -> bool {
    features.child("sm", NS_SM).is_some()
}

/// The stream error for a peer that acknowledged more than was sent
/// (XEP-0198 §6): `<undefined-condition/>` with
/// `<handled-count-too-high h='…' send-count='…'/>`.
///
/// ```
/// let e = xmpp_stream::sm::handled_count_too_high(10, 8);
/// assert_eq!(
///     e.to_xml(),
///     "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>\
///      <undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>\
///      <handled-count-too-high xmlns='urn:xmpp:sm:3' h='10' send-count='8'/>\
///      </stream:error>"
/// );
/// assert_eq!(xmpp_stream::sm::read_handled_count_too_high(&e), Some((10, 8)));
/// ```
pub fn handled_count_too_high(h: u32, send_count: u32) -> Element {
    Element::builder("error", ns::STREAM)
        .append(Element::builder("undefined-condition", ns::STREAM_ERRORS).build())
        .append(
            sm("handled-count-too-high")
                .attr("h", &h.to_string())
                .attr("send-count", &send_count.to_string())
                .build(),
        )
        .build()
}

/// Reads `<handled-count-too-high/>` from a `<stream:error/>`: the peer's
/// view of the `h` we sent and of what it sent.
pub fn read_handled_count_too_high(error: &Element) -> Option<(u32, u32)> {
    let c = error.child("handled-count-too-high", NS_SM)?;
    Some((parse_u32(c.attr("h")?)?, parse_u32(c.attr("send-count")?)?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests;
