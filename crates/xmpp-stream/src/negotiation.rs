//! What the client and server negotiations share: the protection of the
//! transport, its channel-binding data, the version rule, and what a
//! finished negotiation established. Neither core owns these, and none of
//! it depends on rustls, so the cores can be driven with synthetic data.

use jid::FullJid;
use xmpp_sasl::Mechanism;
use xmpp_xml::StreamHeader;

/// Whether the byte stream a negotiation runs over is already protected
/// (`server::accept`, `server::ServerCore::new`, `client::ClientConfig`).
///
/// ```
/// use xmpp_stream::Security;
///
/// assert_eq!(Security::default(), Security::Cleartext);
/// assert!(Security::Tls.is_tls());
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Security {
    /// No protection: STARTTLS is used if offered and configured, and
    /// cleartext mechanisms (PLAIN) only where the configuration allows them.
    #[default]
    Cleartext,
    /// Protected by TLS below us (direct TLS, or a TLS-terminating proxy):
    /// no STARTTLS, and every configured mechanism may be used.
    Tls,
}

impl Security {
    /// Whether the transport is protected by TLS.
    pub fn is_tls(self) -> bool {
        self == Security::Tls
    }
}

/// Channel-binding data of a TLS connection, for SCRAM-*-PLUS.
///
/// The TLS layer fills it in after the handshake; the negotiation cores
/// take it as plain data, so tests and fuzzers can hand them synthetic
/// bindings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelBindings {
    /// `tls-exporter` (RFC 9266); only on TLS 1.3, where it is safe without
    /// further checks.
    pub tls_exporter: Option<Vec<u8>>,
    /// `tls-server-end-point` (RFC 5929 §4): the hash of the server's
    /// certificate.
    pub tls_server_end_point: Option<Vec<u8>>,
}

impl ChannelBindings {
    /// The bindings as the SASL mechanisms take them, tls-exporter first
    /// (our order of preference).
    pub(crate) fn for_sasl(&self) -> Vec<xmpp_sasl::ChannelBinding> {
        use xmpp_sasl::{ChannelBinding, ChannelBindingType as T};
        let mut out = Vec::new();
        if let Some(data) = &self.tls_exporter {
            out.push(ChannelBinding::new(T::TlsExporter, data.clone()));
        }
        if let Some(data) = &self.tls_server_end_point {
            out.push(ChannelBinding::new(T::TlsServerEndPoint, data.clone()));
        }
        out
    }

    /// The data a FAST `HT-*` mechanism binds to, if this connection has it
    /// (`tls-unique`, for `-UNIQ`, never: rustls does not expose it).
    pub(crate) fn for_fast(&self, mechanism: xmpp_sasl::Mechanism) -> Option<&[u8]> {
        match mechanism.fast_binding()? {
            "tls-exporter" => self.tls_exporter.as_deref(),
            "tls-server-end-point" => self.tls_server_end_point.as_deref(),
            _ => None,
        }
    }
}

/// Whether `mechanism` reads the advertised lists of XEP-0474 (SCRAM's `h`
/// attribute, [`xmpp_sasl::Ssdp`]): the others get none, so that no
/// connection builds them for nothing.
pub(crate) fn uses_ssdp(mechanism: Mechanism) -> bool {
    matches!(
        mechanism,
        Mechanism::ScramSha1
            | Mechanism::ScramSha256
            | Mechanism::ScramSha1Plus
            | Mechanism::ScramSha256Plus
    )
}

/// What negotiation established.
#[derive(Clone, Debug)]
pub struct StreamInfo {
    /// The bound full JID.
    pub jid: FullJid,
    /// The current stream's id.
    pub stream_id: String,
    /// The peer's current stream header.
    pub peer_header: StreamHeader,
    /// The SASL mechanism used.
    pub mechanism: Mechanism,
    /// The XMPP domain of the stream.
    pub domain: String,
    /// Authentication used SASL2 (XEP-0388).
    pub sasl2: bool,
    /// Bind2 (XEP-0386) bound the resource inside the authentication.
    pub bound_inline: bool,
    /// A FAST token the server issued in this login (client side): store
    /// it and log in with it next time.
    pub fast_token: Option<xmpp_sasl::FastToken>,
    /// The server refused the FAST token we offered (client side): forget
    /// it. The login then went on with the password.
    pub fast_token_refused: bool,
    /// Stream management (XEP-0198) is on: the [`XmppStream`](crate::XmppStream)
    /// answers `<r/>`, and counts acknowledgements of what it sends. With
    /// Bind2 it is known at once; after RFC 6120 binding it comes on later,
    /// when the established stream reads the server's `<enabled/>` (client)
    /// or the client's `<enable/>` (server): read it from
    /// [`XmppStream::info`](crate::XmppStream::info).
    pub stream_management: bool,
    /// The stream resumed an earlier session (XEP-0198 §5) instead of
    /// binding a resource: on the server, the session's stream management
    /// is the resumed one, and what it parked with it is in
    /// [`XmppStream::take_resumed_state`](crate::XmppStream::take_resumed_state).
    pub resumed: bool,
    /// Client side: [`ClientConfig::resume`](crate::client::ClientConfig::resume)
    /// named a session that could not be resumed (the server no longer had
    /// it, or no longer offers resumption): these stanzas of it were never
    /// acknowledged, oldest first. The server may or may not have handled
    /// them; the application decides whether to send them again.
    pub sm_lost: Vec<xmpp_xml::Element>,
}

/// `version` is at least 1.0; major and minor compare as integers
/// (RFC 6120 §4.7.5: `1.10` is newer than `1.9`).
pub(crate) fn version_at_least_1_0(version: Option<&str>) -> bool {
    let Some((major, minor)) = version.and_then(|v| v.split_once('.')) else {
        return false;
    };
    match (major.parse::<u32>(), minor.parse::<u32>()) {
        (Ok(major), Ok(_)) => major >= 1,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_numerically() {
        assert!(version_at_least_1_0(Some("1.0")));
        assert!(version_at_least_1_0(Some("01.00")));
        assert!(version_at_least_1_0(Some("1.10")));
        assert!(version_at_least_1_0(Some("2.0")));
        assert!(!version_at_least_1_0(Some("0.9")));
        assert!(!version_at_least_1_0(Some("1")));
        assert!(!version_at_least_1_0(Some("x.y")));
        assert!(!version_at_least_1_0(None));
    }

    #[test]
    fn bindings_for_sasl_prefer_tls_exporter() {
        let cb = ChannelBindings {
            tls_exporter: Some(vec![1]),
            tls_server_end_point: Some(vec![2]),
        };
        let kinds: Vec<_> = cb.for_sasl().iter().map(|b| b.kind.as_str()).collect();
        assert_eq!(kinds, ["tls-exporter", "tls-server-end-point"]);
        assert!(ChannelBindings::default().for_sasl().is_empty());
    }
}
