//! A hook that sees every frame sent and received, with SASL payloads
//! decoded: what the CLI's transcript prints. Passwords never reach it.

use xmpp_xml::{ns, Element, Frame};

/// Which way a frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// We sent it.
    Sent,
    /// The peer sent it.
    Received,
}

/// One observed frame.
#[derive(Debug)]
pub struct Observed<'a> {
    /// Which way it went.
    pub direction: Direction,
    /// The frame; cleartext credentials (PLAIN) are replaced by a marker.
    pub frame: &'a Frame,
    /// For SASL elements with data: the decoded payload, as text, with any
    /// password redacted.
    pub sasl: Option<String>,
}

/// Sees every frame of a negotiation (and of the session after it).
///
/// ```
/// use xmpp_stream::{Observed, Observer};
///
/// struct Print;
/// impl Observer for Print {
///     fn observe(&self, event: &Observed<'_>) {
///         println!("{:?} {:?}", event.direction, event.frame);
///     }
/// }
/// ```
pub trait Observer: Send + Sync {
    /// Called once per frame, in wire order.
    fn observe(&self, event: &Observed<'_>);
}

/// Calls `observer` for `frame`; `from_client` says whether the client sent
/// it, `mechanism` is the SASL mechanism in use.
pub(crate) fn notify(
    observer: &dyn Observer,
    direction: Direction,
    from_client: bool,
    mechanism: Option<xmpp_sasl::Mechanism>,
    frame: &Frame,
) {
    let Frame::Element(el) = frame else {
        return observer.observe(&Observed {
            direction,
            frame,
            sasl: None,
        });
    };
    if el.ns() == crate::sasl2::NS_SASL2 {
        return notify_sasl2(observer, direction, from_client, mechanism, el, frame);
    }
    if el.ns() != ns::SASL || !matches!(el.name(), "auth" | "challenge" | "response" | "success") {
        return observer.observe(&Observed {
            direction,
            frame,
            sasl: None,
        });
    }
    let mechanism = el
        .attr("mechanism")
        .or(mechanism.map(xmpp_sasl::Mechanism::as_str))
        .unwrap_or_default();
    let sasl = describe(el, mechanism, from_client);
    if from_client && xmpp_sasl::carries_password(mechanism) && !el.text().trim().is_empty() {
        let redacted = Frame::Element(redact(el));
        return observer.observe(&Observed {
            direction,
            frame: &redacted,
            sasl,
        });
    }
    observer.observe(&Observed {
        direction,
        frame,
        sasl,
    });
}

/// The decoded payload of `el`'s text, described for a log.
fn describe(el: &Element, mechanism: &str, from_client: bool) -> Option<String> {
    match crate::wire::decode_sasl_text(el) {
        Ok(Some(data)) => Some(xmpp_sasl::describe_payload(mechanism, from_client, &data)),
        Ok(None) => None,
        Err(_) => Some("(not valid base64)".to_owned()),
    }
}

/// SASL2 (XEP-0388): the payload is the text of `<challenge/>` and
/// `<response/>`, and a child of `<authenticate/>` (`<initial-response/>`)
/// and `<success/>` (`<additional-data/>`). A PLAIN initial response and a
/// FAST token are redacted from the frame itself.
fn notify_sasl2(
    observer: &dyn Observer,
    direction: Direction,
    from_client: bool,
    mechanism: Option<xmpp_sasl::Mechanism>,
    el: &Element,
    frame: &Frame,
) {
    use crate::sasl2::{NS_FAST, NS_SASL2};
    let mechanism = el
        .attr("mechanism")
        .or(mechanism.map(xmpp_sasl::Mechanism::as_str))
        .unwrap_or_default();
    let carrier = match el.name() {
        "authenticate" => el.child("initial-response", NS_SASL2),
        "success" => el.child("additional-data", NS_SASL2),
        "challenge" | "response" => Some(el),
        _ => None,
    };
    let sasl = carrier.and_then(|c| describe(c, mechanism, from_client));
    let password = from_client
        && xmpp_sasl::carries_password(mechanism)
        && el.name() == "authenticate"
        && carrier.is_some_and(|c| !c.text().trim().is_empty());
    let token = el.child("token", NS_FAST).is_some();
    if password || token {
        let redacted = Frame::Element(redact_sasl2(el));
        return observer.observe(&Observed {
            direction,
            frame: &redacted,
            sasl,
        });
    }
    observer.observe(&Observed {
        direction,
        frame,
        sasl,
    });
}

/// `el` with a PLAIN initial response and FAST token values replaced.
fn redact_sasl2(el: &Element) -> Element {
    use crate::sasl2::{NS_FAST, NS_SASL2};
    let mut b = Element::builder(el.name(), el.ns());
    for (k, v) in el.attrs() {
        b = b.attr(k, v);
    }
    for child in el.children() {
        let replaced = if child.is("initial-response", NS_SASL2) {
            redact(child)
        } else if child.is("token", NS_FAST) {
            let mut t = Element::builder("token", NS_FAST);
            for (k, v) in child.attrs() {
                t = t.attr(k, if k == "token" { "(redacted)" } else { v });
            }
            t.build()
        } else {
            child.clone()
        };
        b = b.append(replaced);
    }
    b.build()
}

fn redact(el: &Element) -> Element {
    let mut b = Element::builder(el.name(), el.ns());
    for (k, v) in el.attrs() {
        b = b.attr(k, v);
    }
    b.text("(redacted: contains the password)").build()
}
