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
    let sasl = match crate::wire::decode_sasl_text(el) {
        Ok(Some(data)) => Some(xmpp_sasl::describe_payload(mechanism, from_client, &data)),
        Ok(None) => None,
        Err(_) => Some("(not valid base64)".to_owned()),
    };
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

fn redact(el: &Element) -> Element {
    let mut b = Element::builder(el.name(), el.ns());
    for (k, v) in el.attrs() {
        b = b.attr(k, v);
    }
    b.text("(redacted: contains the password)").build()
}
