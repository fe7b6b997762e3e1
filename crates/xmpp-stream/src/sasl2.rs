//! The XML of SASL2 (XEP-0388), Bind2 (XEP-0386) and FAST (XEP-0484): one
//! place builds and reads it, for both sides.
//!
//! Readers find children by name and namespace in any order (ejabberd 24.12
//! puts `<inline/>` before the mechanisms) and ignore what they do not know.

use std::time::SystemTime;

use xmpp_sasl::{Mechanism, MechanismName};
use xmpp_xml::{ns, Element};

use crate::wire::{self, SaslData};

/// `urn:xmpp:sasl:2`
pub const NS_SASL2: &str = "urn:xmpp:sasl:2";
/// `urn:xmpp:bind:0`
pub const NS_BIND2: &str = "urn:xmpp:bind:0";
/// `urn:xmpp:fast:0`
pub const NS_FAST: &str = "urn:xmpp:fast:0";

/// The longest user-agent id, Bind2 tag or software/device text accepted.
const MAX_FIELD: usize = 256;

/// What a server offers in `<authentication xmlns='urn:xmpp:sasl:2'/>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sasl2Offer {
    /// The mechanisms, as listed.
    pub mechanisms: Vec<MechanismName>,
    /// Bind2 is offered inline; its inline features (their `var`s).
    pub bind2: Option<Vec<String>>,
    /// FAST is offered inline, with these token mechanisms.
    pub fast: Option<Vec<MechanismName>>,
    /// Stream resumption (XEP-0198) is offered inline.
    pub sm: bool,
}

/// A client's user agent (XEP-0388 §2.4): a stable id and optional names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserAgent {
    /// A UUID v4, stable per installation.
    pub id: String,
    /// The software, e.g. `xmpp-negotiate`.
    pub software: Option<String>,
    /// The device, e.g. a host name.
    pub device: Option<String>,
}

/// A Bind2 request inside `<authenticate/>`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bind2Request {
    /// The client's tag (its name, no private data).
    pub tag: Option<String>,
    /// The features it asks to enable inline, as sent (XEP-0198's
    /// `<enable xmlns='urn:xmpp:sm:3'/>`, XEP-0352's `<inactive/>`…).
    pub enable: Vec<Element>,
}

/// FAST elements in `<authenticate/>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FastRequest {
    /// `<request-token mechanism='...'/>`.
    pub request_token: Option<MechanismName>,
    /// `<fast/>` came with a token authentication.
    pub used: bool,
    /// Its `count`, for 0-RTT replay protection.
    pub count: Option<u64>,
    /// `invalidate='true'`: log in with the token, then drop it.
    pub invalidate: bool,
}

/// A parsed `<authenticate/>`.
#[derive(Debug)]
pub struct Authenticate {
    /// The mechanism attribute.
    pub mechanism: String,
    /// `<initial-response/>`: absent, or base64-decoded data.
    pub initial: SaslData,
    /// `<user-agent/>`.
    pub user_agent: Option<UserAgent>,
    /// `<bind xmlns='urn:xmpp:bind:0'/>`.
    pub bind: Option<Bind2Request>,
    /// `<resume xmlns='urn:xmpp:sm:3'/>` (XEP-0198 §5), as sent.
    pub resume: Option<Element>,
    /// FAST requests.
    pub fast: FastRequest,
}

/// A parsed SASL2 `<success/>`.
#[derive(Debug, Default)]
pub struct Success {
    /// `<additional-data/>`: the mechanism's last server message.
    pub additional: SaslData,
    /// `<authorization-identifier/>`: the JID, full when bound.
    pub authorization_identifier: Option<String>,
    /// Bind2 bound a resource.
    pub bound: bool,
    /// A FAST token: the secret and its expiry (`None` if absent or
    /// unparsable, then the client keeps the token for a day at most).
    pub token: Option<(String, Option<SystemTime>)>,
    /// The answer to an inline `<resume/>`: `<resumed/>` or `<failed/>`.
    pub sm_answer: Option<Element>,
}

/// An element in the SASL2 namespace.
pub fn el(name: &str) -> xmpp_xml::ElementBuilder {
    Element::builder(name, NS_SASL2)
}

fn text_child(name: &str, ns: &str, text: &str) -> Element {
    Element::builder(name, ns).text(text).build()
}

/// `<authentication/>` with `mechanisms` and the inline features.
pub fn authentication<'a>(
    mechanisms: impl IntoIterator<Item = &'a str>,
    inline: Vec<Element>,
) -> Element {
    let mut b = mechanisms.into_iter().fold(el("authentication"), |b, m| {
        b.append(text_child("mechanism", NS_SASL2, m))
    });
    if !inline.is_empty() {
        b = b.append(
            inline
                .into_iter()
                .fold(el("inline"), |b, c| b.append(c))
                .build(),
        );
    }
    b.build()
}

/// Bind2's inline feature, listing the features it can enable.
pub fn bind2_feature<'a>(features: impl IntoIterator<Item = &'a str>) -> Element {
    let inline = features
        .into_iter()
        .fold(Element::builder("inline", NS_BIND2), |b, var| {
            b.append(
                Element::builder("feature", NS_BIND2)
                    .attr("var", var)
                    .build(),
            )
        });
    Element::builder("bind", NS_BIND2)
        .append(inline.build())
        .build()
}

/// FAST's inline feature with its token mechanisms.
pub fn fast_feature<'a>(mechanisms: impl IntoIterator<Item = &'a str>) -> Element {
    mechanisms
        .into_iter()
        .fold(Element::builder("fast", NS_FAST), |b, m| {
            b.append(text_child("mechanism", NS_FAST, m))
        })
        .build()
}

fn names(parent: &Element, ns: &str) -> Vec<MechanismName> {
    parent
        .children()
        .filter(|c| c.is("mechanism", ns))
        .map(|c| c.text())
        .filter(|n| !n.trim().is_empty())
        .map(|n| MechanismName::new(n.trim()))
        .collect()
}

/// Reads `<authentication/>`.
pub fn read_authentication(auth: &Element) -> Sasl2Offer {
    let inline = auth.child("inline", NS_SASL2);
    let bind2 = inline.and_then(|i| i.child("bind", NS_BIND2)).map(|b| {
        b.child("inline", NS_BIND2)
            .map(|i| {
                i.children()
                    .filter(|f| f.is("feature", NS_BIND2))
                    .filter_map(|f| f.attr("var").map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    });
    let fast = inline
        .and_then(|i| i.child("fast", NS_FAST))
        .map(|f| names(f, NS_FAST));
    Sasl2Offer {
        mechanisms: names(auth, NS_SASL2),
        bind2,
        fast,
        sm: inline.is_some_and(|i| i.child("sm", crate::sm::NS_SM).is_some()),
    }
}

/// What a client puts in `<authenticate/>` besides the mechanism.
#[derive(Debug, Default)]
pub struct AuthenticateExtras<'a> {
    /// Our user agent.
    pub user_agent: Option<&'a UserAgent>,
    /// A Bind2 request with this tag.
    pub bind: Option<&'a Bind2Request>,
    /// Ask for a FAST token for this mechanism.
    pub request_token: Option<Mechanism>,
    /// This is a FAST token authentication.
    pub fast: bool,
    /// Resume this stream management session (XEP-0198's `<resume/>`).
    pub resume: Option<&'a Element>,
}

/// `<authenticate mechanism='...'/>`.
pub fn authenticate(
    mechanism: &str,
    initial: Option<&[u8]>,
    extras: &AuthenticateExtras<'_>,
) -> Element {
    let mut b = el("authenticate").attr("mechanism", mechanism);
    if let Some(text) = wire::sasl_text(initial) {
        b = b.append(el("initial-response").text(text.as_str()).build());
    }
    if let Some(ua) = extras.user_agent {
        let mut u = el("user-agent").attr("id", &ua.id);
        if let Some(s) = &ua.software {
            u = u.append(text_child("software", NS_SASL2, s));
        }
        if let Some(d) = &ua.device {
            u = u.append(text_child("device", NS_SASL2, d));
        }
        b = b.append(u.build());
    }
    if let Some(bind) = extras.bind {
        let mut e = Element::builder("bind", NS_BIND2);
        if let Some(tag) = &bind.tag {
            e = e.append(text_child("tag", NS_BIND2, tag));
        }
        for feature in &bind.enable {
            e = e.append(feature.clone());
        }
        b = b.append(e.build());
    }
    if let Some(resume) = extras.resume {
        b = b.append(resume.clone());
    }
    if extras.fast {
        b = b.append(Element::builder("fast", NS_FAST).build());
    }
    if let Some(m) = extras.request_token {
        b = b.append(
            Element::builder("request-token", NS_FAST)
                .attr("mechanism", m.as_str())
                .build(),
        );
    }
    b.build()
}

/// Why an `<authenticate/>` cannot be read.
#[derive(Debug, PartialEq, Eq)]
pub enum AuthenticateError {
    /// The initial response is not base64.
    Encoding,
    /// A required part is missing or too long.
    Malformed(&'static str),
}

fn bounded(text: String, what: &'static str) -> Result<String, AuthenticateError> {
    if text.len() > MAX_FIELD {
        return Err(AuthenticateError::Malformed(what));
    }
    Ok(text)
}

/// Reads `<authenticate/>`.
pub fn read_authenticate(auth: &Element) -> Result<Authenticate, AuthenticateError> {
    let mechanism = auth
        .attr("mechanism")
        .ok_or(AuthenticateError::Malformed("no mechanism attribute"))?
        .to_owned();
    let initial = match auth.child("initial-response", NS_SASL2) {
        Some(ir) => wire::decode_sasl_text(ir)
            .map_err(|_| AuthenticateError::Encoding)?
            // `<initial-response/>` present but empty: zero-length data.
            .or_else(|| Some(Default::default())),
        None => None,
    };
    let user_agent = match auth.child("user-agent", NS_SASL2) {
        Some(ua) => {
            let id = ua
                .attr("id")
                .ok_or(AuthenticateError::Malformed("user-agent without an id"))?;
            let child = |n: &str| ua.child(n, NS_SASL2).map(Element::text);
            Some(UserAgent {
                id: bounded(id.to_owned(), "user-agent id too long")?,
                software: child("software")
                    .map(|s| bounded(s, "software too long"))
                    .transpose()?,
                device: child("device")
                    .map(|s| bounded(s, "device too long"))
                    .transpose()?,
            })
        }
        None => None,
    };
    let bind = match auth.child("bind", NS_BIND2) {
        Some(b) => Some(Bind2Request {
            tag: b
                .child("tag", NS_BIND2)
                .map(|t| bounded(t.text(), "tag too long"))
                .transpose()?,
            enable: b
                .children()
                .filter(|c| c.name() == "enable" || c.name() == "inactive")
                .cloned()
                .collect(),
        }),
        None => None,
    };
    let fast_el = auth.child("fast", NS_FAST);
    let fast = FastRequest {
        request_token: auth
            .child("request-token", NS_FAST)
            .and_then(|r| r.attr("mechanism"))
            .map(MechanismName::new),
        used: fast_el.is_some(),
        count: fast_el
            .and_then(|f| f.attr("count"))
            .and_then(|c| c.parse().ok()),
        invalidate: fast_el
            .and_then(|f| f.attr("invalidate"))
            .is_some_and(|v| v == "true" || v == "1"),
    };
    Ok(Authenticate {
        mechanism,
        initial,
        user_agent,
        bind,
        resume: auth.child("resume", crate::sm::NS_SM).cloned(),
        fast,
    })
}

/// `<challenge/>`, `<response/>` or `<additional-data/>`: zero-length data
/// is an empty element in SASL2 (XEP-0388 §2.6), not RFC 6120's `=`.
pub fn payload(name: &str, data: &[u8]) -> Element {
    match data {
        [] => el(name).build(),
        d => el(name)
            .text(wire::sasl_text(Some(d)).unwrap_or_default().as_str())
            .build(),
    }
}

/// What goes into a server's `<success/>` besides the identifier.
#[derive(Debug, Default)]
pub struct SuccessExtras {
    /// The mechanism's additional data (SCRAM `v=`, the HT proof).
    pub additional: Option<Vec<u8>>,
    /// Bind2 bound the resource.
    pub bound: bool,
    /// The answers of the features enabled inline (XEP-0198's
    /// `<enabled/>`), inside `<bound/>`.
    pub bound_features: Vec<Element>,
    /// The answer to an inline `<resume/>`: `<resumed/>` or `<failed/>`.
    pub sm_answer: Option<Element>,
    /// A FAST token: its secret and expiry.
    pub token: Option<(String, SystemTime)>,
}

/// A server's `<success/>`.
pub fn success(authorization_identifier: &str, extras: &SuccessExtras) -> Element {
    let mut b = el("success");
    if let Some(d) = &extras.additional {
        b = b.append(payload("additional-data", d));
    }
    b = b.append(text_child(
        "authorization-identifier",
        NS_SASL2,
        authorization_identifier,
    ));
    if let Some(answer) = &extras.sm_answer {
        b = b.append(answer.clone());
    }
    if extras.bound {
        let bound = extras
            .bound_features
            .iter()
            .fold(Element::builder("bound", NS_BIND2), |b, f| {
                b.append(f.clone())
            });
        b = b.append(bound.build());
    }
    if let Some((secret, expiry)) = &extras.token {
        b = b.append(
            Element::builder("token", NS_FAST)
                .attr("token", secret)
                .attr("expiry", &format_datetime(*expiry))
                .build(),
        );
    }
    b.build()
}

/// Reads a SASL2 `<success/>`; `Err` when the additional data is not
/// base64.
pub fn read_success(s: &Element) -> Result<Success, base64::DecodeError> {
    let additional = match s.child("additional-data", NS_SASL2) {
        Some(d) => Some(wire::decode_sasl_payload(d)?),
        None => None,
    };
    let token = s.child("token", NS_FAST).and_then(|t| {
        let secret = t.attr("token")?.to_owned();
        Some((secret, t.attr("expiry").and_then(parse_datetime)))
    });
    Ok(Success {
        additional,
        authorization_identifier: s
            .child("authorization-identifier", NS_SASL2)
            .map(|a| a.text().trim().to_owned()),
        bound: s.child("bound", NS_BIND2).is_some(),
        token,
        sm_answer: s
            .children()
            .find(|c| c.ns() == crate::sm::NS_SM && matches!(c.name(), "resumed" | "failed"))
            .cloned(),
    })
}

/// A SASL2 `<failure/>`: the RFC 6120 condition, in its own namespace, and
/// an optional text.
pub fn failure(condition: xmpp_sasl::Condition, text: Option<&str>) -> Element {
    let mut b = el("failure").append(Element::builder(condition.as_str(), ns::SASL).build());
    if let Some(t) = text {
        b = b.append(text_child("text", NS_SASL2, t));
    }
    b.build()
}

/// Reads a SASL2 `<failure/>` (an unknown condition is `not-authorized`).
pub fn read_failure(f: &Element) -> (xmpp_sasl::Condition, Option<String>) {
    let condition = f
        .children()
        .filter(|c| c.ns() == ns::SASL)
        .find_map(|c| xmpp_sasl::Condition::from_name(c.name()))
        .unwrap_or(xmpp_sasl::Condition::NotAuthorized);
    let text = f.child("text", NS_SASL2).map(Element::text);
    (condition, text)
}

/// XEP-0082 date-time in UTC, whole seconds: `2026-12-31T00:00:00Z`.
pub fn format_datetime(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parses a XEP-0082 date-time (`Z` or fractional seconds; offsets other
/// than `Z` are not accepted).
pub fn parse_datetime(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s.trim()).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn parse(xml: &str) -> Element {
        let mut codec = xmpp_xml::StreamCodec::new(xmpp_xml::Limits::default());
        let mut buf = bytes::BytesMut::from(
            format!("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>{xml}").as_str(),
        );
        use tokio_util::codec::Decoder as _;
        let _header = codec.decode(&mut buf).unwrap().unwrap();
        match codec.decode(&mut buf).unwrap().unwrap() {
            xmpp_xml::Frame::Element(el) => el,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_offer_is_read_in_any_order() {
        // ejabberd 24.12 puts <inline/> before the mechanisms.
        let el = parse(
            "<authentication xmlns='urn:xmpp:sasl:2'><inline>\
             <fast xmlns='urn:xmpp:fast:0'><mechanism>HT-SHA-256-NONE</mechanism></fast>\
             <bind xmlns='urn:xmpp:bind:0'><inline><feature var='urn:xmpp:sm:3'/></inline></bind>\
             </inline><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></authentication>",
        );
        let offer = read_authentication(&el);
        assert_eq!(offer.mechanisms, ["SCRAM-SHA-1", "PLAIN"]);
        assert_eq!(offer.fast.unwrap(), ["HT-SHA-256-NONE"]);
        assert_eq!(offer.bind2.unwrap(), ["urn:xmpp:sm:3"]);
    }

    #[test]
    fn stale_spec_names_are_not_read() {
        // Old examples' <mechanisms xmlns='urn:xmpp:sasl:2'> and bind2:1.
        let el = parse(
            "<authentication xmlns='urn:xmpp:sasl:2'><mechanisms><mechanism>PLAIN</mechanism></mechanisms>\
             <inline><bind xmlns='urn:xmpp:bind2:1'/></inline></authentication>",
        );
        let offer = read_authentication(&el);
        assert!(offer.mechanisms.is_empty() && offer.bind2.is_none());
    }

    #[test]
    fn what_we_send_reads_back() {
        let ua = UserAgent {
            id: "d4565fa7-4d72-4749-b3d3-740edbf87770".to_owned(),
            software: Some("xmpp-negotiate".to_owned()),
            device: None,
        };
        let bind = Bind2Request {
            tag: Some("App".to_owned()),
            enable: Vec::new(),
        };
        let extras = AuthenticateExtras {
            user_agent: Some(&ua),
            bind: Some(&bind),
            request_token: Some(Mechanism::HtSha256None),
            fast: false,
            resume: None,
        };
        let xml = authenticate("SCRAM-SHA-1", Some(b"n,,n=user,r=abc"), &extras).to_xml();
        let back = read_authenticate(&parse(&xml)).unwrap();
        assert_eq!(back.mechanism, "SCRAM-SHA-1");
        assert_eq!(
            back.initial.as_deref().map(|d| d.as_slice()),
            Some(&b"n,,n=user,r=abc"[..])
        );
        assert_eq!(back.user_agent, Some(ua));
        assert_eq!(back.bind, Some(bind));
        assert_eq!(back.fast.request_token.unwrap(), "HT-SHA-256-NONE");
        assert!(!back.fast.used);
        // An over-long user-agent id is refused, not stored.
        let long = format!(
            "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent id='{}'/></authenticate>",
            "x".repeat(300)
        );
        assert!(read_authenticate(&parse(&long)).is_err());
    }

    #[test]
    fn datetimes() {
        // 2026-12-31T00:00:00Z is 1798675200 seconds after the epoch.
        let t = UNIX_EPOCH + Duration::from_secs(1_798_675_200);
        assert_eq!(format_datetime(t), "2026-12-31T00:00:00Z");
        assert_eq!(parse_datetime("2026-12-31T00:00:00Z"), Some(t));
        assert_eq!(
            parse_datetime("2026-12-31T00:00:00.5Z"),
            Some(t + Duration::from_millis(500))
        );
        assert_eq!(parse_datetime("tomorrow"), None);
    }
}
