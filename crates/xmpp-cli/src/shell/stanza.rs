//! The stanzas the shell's commands make, and what it recognises in the
//! ones that arrive.

use jid::Jid;
use xmpp_xml::{ns, Element};

use super::command::Show;

/// `/msg`: a chat message.
pub(crate) fn message(to: &Jid, text: &str, id: &str) -> Element {
    Element::builder("message", ns::CLIENT)
        .attr("to", to.as_str())
        .attr("type", "chat")
        .attr("id", id)
        .append(Element::builder("body", ns::CLIENT).text(text).build())
        .build()
}

/// `/presence`: available, with a show and a status if given; a bare
/// `<presence/>` without.
pub(crate) fn presence(show: Option<Show>, status: Option<&str>) -> Element {
    let mut b = Element::builder("presence", ns::CLIENT);
    if let Some(show) = show {
        b = b.append(
            Element::builder("show", ns::CLIENT)
                .text(show.as_str())
                .build(),
        );
    }
    if let Some(status) = status {
        b = b.append(Element::builder("status", ns::CLIENT).text(status).build());
    }
    b.build()
}

/// `/ping`: an XEP-0199 ping to `to`.
pub(crate) fn ping(to: &str, id: &str) -> Element {
    Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", id)
        .attr("to", to)
        .append(Element::builder("ping", ns::PING).build())
        .build()
}

/// An IQ request (`get` or `set`) with an id: one that must be answered.
pub(crate) fn request_id(el: &Element) -> Option<&str> {
    let request = el.is("iq", ns::CLIENT) && matches!(el.attr("type"), Some("get" | "set"));
    el.attr("id").filter(|_| request)
}

/// An IQ answer (`result` or `error`): its id.
pub(crate) fn answer_id(el: &Element) -> Option<&str> {
    let answer = el.is("iq", ns::CLIENT) && matches!(el.attr("type"), Some("result" | "error"));
    el.attr("id").filter(|_| answer)
}

/// A ping to us (XEP-0199 §4.1), which the shell answers itself.
pub(crate) fn is_ping(el: &Element) -> bool {
    el.is("iq", ns::CLIENT)
        && el.attr("type") == Some("get")
        && el.child("ping", ns::PING).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_and_recognised() {
        let to = Jid::new("juliet@example.com").unwrap();
        assert_eq!(
            message(&to, "a < b", "m1").to_xml(),
            "<message xmlns='jabber:client' to='juliet@example.com' type='chat' id='m1'>\
             <body>a &lt; b</body></message>"
        );
        assert_eq!(
            presence(None, None).to_xml(),
            "<presence xmlns='jabber:client'/>"
        );
        assert_eq!(
            presence(Some(Show::Xa), Some("gone")).to_xml(),
            "<presence xmlns='jabber:client'><show>xa</show><status>gone</status></presence>"
        );
        let p = ping("example.com", "p1");
        assert!(is_ping(&p));
        assert_eq!(request_id(&p), Some("p1"));
        assert_eq!(answer_id(&p), None);
        let result = xmpp_stream::iq_result(&p);
        assert_eq!(answer_id(&result), Some("p1"));
        assert_eq!(request_id(&result), None);
    }
}
