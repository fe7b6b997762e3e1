//! Reads a `<stream:features>` element into [`Features`].

use xmpp_xml::{ns, Element};

use super::report::{Features, Sasl2, Session};
use crate::transcript::{NS_BIND2, NS_FAST, NS_SASL2};

/// XEP-0440's `<sasl-channel-binding>`.
const NS_CB: &str = "urn:xmpp:sasl-cb:0";
/// XEP-0352 client state indication.
const NS_CSI: &str = "urn:xmpp:csi:0";
/// XEP-0138 stream compression (the stream feature's namespace).
const NS_COMPRESS: &str = "http://jabber.org/features/compress";
/// XEP-0077 in-band registration (the stream feature's namespace).
const NS_REGISTER: &str = "http://jabber.org/features/iq-register";
/// XEP-0237 roster versioning.
const NS_ROSTERVER: &str = "urn:xmpp:features:rosterver";

/// `{namespace}name`, as the report lists elements.
pub fn qname(el: &Element) -> String {
    format!("{{{}}}{}", el.ns(), el.name())
}

/// Reads `features`. Unknown elements are listed in `all` only.
pub fn parse(features: &Element) -> Features {
    let mut f = Features::default();
    for el in features.children() {
        f.all.push(qname(el));
        match (el.ns(), el.name()) {
            (ns::TLS, "starttls") => {
                f.starttls = true;
                f.starttls_required = el.child("required", ns::TLS).is_some();
            }
            (ns::SASL, "mechanisms") => f.mechanisms = texts(el, "mechanism", ns::SASL),
            (NS_CB, "sasl-channel-binding") => {
                let types = el
                    .children()
                    .filter(|c| c.is("channel-binding", NS_CB))
                    .filter_map(|c| c.attr("type").map(str::to_owned))
                    .collect();
                f.channel_binding_types = Some(types);
            }
            (NS_SASL2, "authentication") => f.sasl2 = Some(sasl2(el)),
            (ns::BIND, "bind") => f.bind = true,
            (ns::SESSION, "session") => {
                f.session = Some(Session {
                    optional: el.child("optional", ns::SESSION).is_some(),
                });
            }
            (ns, "sm") if ns.starts_with("urn:xmpp:sm:") => f.sm.push(ns.to_owned()),
            (NS_CSI, "csi") => f.csi = true,
            (NS_COMPRESS, "compression") => f.compression = texts(el, "method", NS_COMPRESS),
            (NS_REGISTER, "register") => f.register = true,
            (NS_ROSTERVER, "ver") => f.roster_versioning = true,
            _ => {}
        }
    }
    f
}

/// The trimmed texts of the `name` children of `el`.
fn texts(el: &Element, name: &str, ns: &str) -> Vec<String> {
    el.children()
        .filter(|c| c.is(name, ns))
        .map(|c| c.text().trim().to_owned())
        .collect()
}

/// SASL2's `<authentication>`: mechanisms and inline features.
fn sasl2(el: &Element) -> Sasl2 {
    let mut s = Sasl2 {
        mechanisms: texts(el, "mechanism", NS_SASL2),
        ..Sasl2::default()
    };
    let Some(inline) = el.child("inline", NS_SASL2) else {
        return s;
    };
    for feature in inline.children() {
        s.inline.push(qname(feature));
        match (feature.ns(), feature.name()) {
            (NS_BIND2, "bind") => {
                let vars = feature
                    .child("inline", NS_BIND2)
                    .map(|i| {
                        i.children()
                            .filter(|c| c.is("feature", NS_BIND2))
                            .filter_map(|c| c.attr("var").map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                s.bind2 = Some(vars);
            }
            (NS_FAST, "fast") => s.fast = Some(texts(feature, "mechanism", NS_FAST)),
            (ns::SM, "sm") => s.sm = true,
            _ => {}
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use tokio_util::codec::Decoder as _;
    use xmpp_xml::{Frame, StreamCodec};

    fn features(xml: &str) -> Features {
        let mut codec = StreamCodec::default();
        let mut buf = BytesMut::from(
            format!(
                "<stream:stream xmlns='jabber:client' \
                 xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>{xml}"
            )
            .as_bytes(),
        );
        let _header = codec.decode(&mut buf).unwrap();
        match codec.decode(&mut buf).unwrap() {
            Some(Frame::Element(el)) => parse(&el),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_rfc6120_features() {
        // The features of the RFC 3920 §6.5 example's second stream, plus
        // the optional session of RFC 6121 and a STARTTLS that is required.
        let f = features(
            "<stream:features>\
             <starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>\
             <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
             <mechanism>DIGEST-MD5</mechanism><mechanism> PLAIN </mechanism></mechanisms>\
             <compression xmlns='http://jabber.org/features/compress'><method>zlib</method></compression>\
             <register xmlns='http://jabber.org/features/iq-register'/>\
             <x xmlns='urn:example:unknown'/>\
             </stream:features>",
        );
        assert!(f.starttls && f.starttls_required);
        assert_eq!(f.mechanisms, ["DIGEST-MD5", "PLAIN"]);
        assert_eq!(f.compression, ["zlib"]);
        assert!(f.register);
        assert!(!f.bind && f.sasl2.is_none() && f.channel_binding_types.is_none());
        assert_eq!(f.all.last().unwrap(), "{urn:example:unknown}x");
    }

    #[test]
    fn reads_sasl2_inline_features() {
        // Shaped as Prosody 13 sends them (XEP-0388, -0386, -0484, -0440).
        let f = features(
            "<stream:features>\
             <sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>\
             <channel-binding type='tls-exporter'/><channel-binding type='tls-server-end-point'/>\
             </sasl-channel-binding>\
             <authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256</mechanism>\
             <inline><bind xmlns='urn:xmpp:bind:0'><inline>\
             <feature var='urn:xmpp:carbons:2'/><feature var='urn:xmpp:csi:0'/></inline></bind>\
             <fast xmlns='urn:xmpp:fast:0'><mechanism>HT-SHA-256-NONE</mechanism></fast>\
             <sm xmlns='urn:xmpp:sm:3'/></inline></authentication>\
             <sm xmlns='urn:xmpp:sm:3'/><csi xmlns='urn:xmpp:csi:0'/>\
             </stream:features>",
        );
        assert_eq!(
            f.channel_binding_types.as_deref(),
            Some(&["tls-exporter".to_owned(), "tls-server-end-point".to_owned()][..])
        );
        let s = f.sasl2.unwrap();
        assert_eq!(s.mechanisms, ["SCRAM-SHA-256"]);
        assert_eq!(s.bind2.unwrap(), ["urn:xmpp:carbons:2", "urn:xmpp:csi:0"]);
        assert_eq!(s.fast.unwrap(), ["HT-SHA-256-NONE"]);
        assert!(s.sm);
        assert_eq!(f.sm, ["urn:xmpp:sm:3"]);
        assert!(f.csi);
    }
}
