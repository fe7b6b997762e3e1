//! Channel binding on the client: which binding `-PLUS` uses, the GS2 flag
//! for the others, and why none could be used (for error messages).

use xmpp_sasl::{ClientChannelBinding, Mechanism, MechanismName};

use super::{ChannelBindingPolicy, ClientCore};

impl ClientCore {
    /// Whether this connection has channel-binding data at all.
    pub(super) fn can_bind(&self) -> bool {
        self.channel_bindings
            .as_ref()
            .is_some_and(|cb| !cb.for_sasl().is_empty())
    }

    /// Why [`Self::usable_binding`] found nothing, for error messages.
    pub(super) fn why_no_binding(&self) -> String {
        if !self.can_bind() {
            return "the connection has no TLS channel-binding data (no TLS?)".to_owned();
        }
        if !self.offered.iter().any(MechanismName::is_plus) {
            return "the server offers no -PLUS mechanism".to_owned();
        }
        match &self.server_cb_types {
            None => "the server lists no channel-binding types (XEP-0440)".to_owned(),
            Some(types) => {
                format!("the server lists only channel-binding types we cannot use: {types:?}")
            }
        }
    }

    /// The channel binding to use for `-PLUS`: one of the server's
    /// advertised types (XEP-0440) in our order of preference, tls-exporter
    /// first. A server that advertises none supports only tls-unique, RFC
    /// 5802's default (ejabberd and Prosody do this), which TLS 1.3 lacks and
    /// we do not implement: no `-PLUS` with it.
    pub(super) fn usable_binding(&self) -> Option<xmpp_sasl::ChannelBinding> {
        let ours = self.channel_bindings.as_ref()?.for_sasl();
        let types = self.server_cb_types.as_ref()?;
        ours.into_iter()
            .find(|cb| types.iter().any(|t| t == cb.kind.as_str()))
    }

    /// The GS2 channel-binding flag for `mechanism` (RFC 5802 §6): bind
    /// with `-PLUS`; say "I could bind" (`y`) when the server offered no
    /// `-PLUS` at all, so that a stripped offer is detected as a downgrade.
    pub(super) fn channel_binding_for(&self, mechanism: Mechanism) -> ClientChannelBinding {
        if self.config.channel_binding == ChannelBindingPolicy::Off {
            return ClientChannelBinding::Unsupported;
        }
        if mechanism.is_plus() {
            return match self.usable_binding() {
                Some(cb) => ClientChannelBinding::Use(cb),
                None => ClientChannelBinding::Unsupported,
            };
        }
        // `y` ("I could bind, you offer no -PLUS") only when the server
        // really offers none; else `n`, which is also right when its -PLUS
        // needs a binding type we lack.
        let server_offers_plus = self.offered.iter().any(MechanismName::is_plus);
        if self.can_bind() && !server_offers_plus {
            ClientChannelBinding::NotOffered
        } else {
            ClientChannelBinding::Unsupported
        }
    }
}
