//! Elements the negotiation sends unchanged on every connection: built once
//! per process and cloned. Cloning a built element shares its strings (a
//! reference count each) where building one allocates every name, value and
//! text anew.

use std::sync::LazyLock;

use xmpp_sasl::Mechanism;
use xmpp_xml::{ns, Element};

use crate::server::SessionFeature;
use crate::wire;

/// Every mechanism a `<mechanisms/>` feature or an `<auth/>` may name.
const MECHANISMS: [Mechanism; 10] = {
    let mut all = [Mechanism::Plain; 10];
    let mut i = 0;
    while i < Mechanism::ALL.len() {
        all[i] = Mechanism::ALL[i];
        i += 1;
    }
    while i < all.len() {
        all[i] = Mechanism::FAST[i - Mechanism::ALL.len()];
        i += 1;
    }
    all
};

struct Fixed {
    /// `<mechanism>NAME</mechanism>`, in the order of [`MECHANISMS`].
    mechanism: Vec<Element>,
    /// `<auth mechanism='NAME'/>`, without initial response.
    auth: Vec<Element>,
    /// `<success/>`.
    success: Element,
    /// `<response/>`.
    response: Element,
    /// The features after authentication: `[sm offered][SessionFeature]`.
    bind_features: [[Element; 3]; 2],
}

const SESSIONS: [SessionFeature; 3] = [
    SessionFeature::Optional,
    SessionFeature::Required,
    SessionFeature::Omitted,
];

static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let bind_features = |sm: bool| {
        SESSIONS.map(|session| {
            let mut children = vec![Element::builder("bind", ns::BIND).build()];
            if sm {
                children.push(crate::sm::feature());
            }
            match session {
                SessionFeature::Optional => children.push(
                    Element::builder("session", ns::SESSION)
                        .append(Element::builder("optional", ns::SESSION).build())
                        .build(),
                ),
                SessionFeature::Required => {
                    children.push(Element::builder("session", ns::SESSION).build())
                }
                SessionFeature::Omitted => {}
            }
            wire::features(children)
        })
    };
    Fixed {
        mechanism: MECHANISMS
            .iter()
            .map(|m| {
                Element::builder("mechanism", ns::SASL)
                    .text(m.as_str())
                    .build()
            })
            .collect(),
        auth: MECHANISMS
            .iter()
            .map(|m| wire::auth(m.as_str(), None))
            .collect(),
        success: wire::success(None),
        response: wire::response(&[]),
        bind_features: [bind_features(false), bind_features(true)],
    }
});

fn index(m: Mechanism) -> usize {
    MECHANISMS.iter().position(|x| *x == m).unwrap_or(0)
}

/// `<mechanisms/>` listing `offered`, in that order.
pub(crate) fn mechanisms(offered: &[Mechanism]) -> Element {
    offered
        .iter()
        .fold(Element::builder("mechanisms", ns::SASL), |b, m| {
            b.append(FIXED.mechanism[index(*m)].clone())
        })
        .build()
}

/// `<auth mechanism='NAME'/>` with `initial` as its text: built when there
/// is an initial response, a copy of the fixed one otherwise.
pub(crate) fn auth(mechanism: Mechanism, initial: Option<&[u8]>) -> Element {
    match initial {
        None => FIXED.auth[index(mechanism)].clone(),
        Some(_) => wire::auth(mechanism.as_str(), initial),
    }
}

/// `<success/>` with its additional data, if any.
pub(crate) fn success(additional: Option<&[u8]>) -> Element {
    match additional {
        None => FIXED.success.clone(),
        Some(_) => wire::success(additional),
    }
}

/// `<response/>` with `data` (empty data: an empty element).
pub(crate) fn response(data: &[u8]) -> Element {
    match data {
        [] => FIXED.response.clone(),
        _ => wire::response(data),
    }
}

/// The features of an authenticated stream without a resource: RFC 6120
/// binding, stream management if `sm`, and the session feature per policy.
pub(crate) fn bind_features(sm: bool, session: SessionFeature) -> Element {
    let s = SESSIONS.iter().position(|x| *x == session).unwrap_or(0);
    FIXED.bind_features[usize::from(sm)][s].clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_are_what_building_gives() {
        for m in MECHANISMS {
            assert_eq!(
                auth(m, None).to_xml(),
                format!("<auth xmlns='{}' mechanism='{}'/>", ns::SASL, m.as_str())
            );
            assert_eq!(auth(m, Some(b"")), wire::auth(m.as_str(), Some(b"")));
        }
        assert_eq!(
            mechanisms(&[Mechanism::ScramSha256, Mechanism::DigestMd5]).to_xml(),
            "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
             <mechanism>SCRAM-SHA-256</mechanism><mechanism>DIGEST-MD5</mechanism></mechanisms>"
        );
        assert_eq!(success(None), wire::success(None));
        assert_eq!(success(Some(b"x")), wire::success(Some(b"x")));
        assert_eq!(response(&[]), wire::response(&[]));
        assert_eq!(response(b"x"), wire::response(b"x"));
        assert_eq!(
            bind_features(true, SessionFeature::Optional).to_xml(),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><sm xmlns='urn:xmpp:sm:3'/>\
             <session xmlns='urn:ietf:params:xml:ns:xmpp-session'><optional/></session>\
             </stream:features>"
        );
        assert_eq!(
            bind_features(false, SessionFeature::Required).to_xml(),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>\
             <session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></stream:features>"
        );
        assert_eq!(
            bind_features(false, SessionFeature::Omitted).to_xml(),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>\
             <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
        );
    }
}
