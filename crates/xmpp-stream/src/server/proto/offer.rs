//! What this stream offers: the mechanisms listed in its features and the
//! channel bindings `-PLUS` can use.

use xmpp_sasl::Mechanism;

use super::ServerCore;
use crate::server::TlsPolicy;

impl ServerCore {
    /// The channel bindings `-PLUS` can use on this stream (none before
    /// TLS).
    pub(super) fn plus_bindings(&self) -> Vec<xmpp_sasl::ChannelBinding> {
        match (&self.channel_bindings, self.secure) {
            (Some(cb), true) => cb.for_sasl(),
            _ => Vec::new(),
        }
    }

    /// Whether `-PLUS` can bind on this stream: TLS with binding data.
    pub(super) fn can_bind(&self) -> bool {
        self.secure
            && self
                .channel_bindings
                .as_ref()
                .is_some_and(|cb| cb.tls_exporter.is_some() || cb.tls_server_end_point.is_some())
    }

    /// The mechanisms listed in the features of this stream: none while
    /// TLS is required but not active; `-PLUS` only with channel bindings.
    pub(super) fn offered(&self) -> Vec<Mechanism> {
        self.config
            .mechanisms
            .iter()
            .copied()
            .filter(|m| self.offers(*m))
            .collect()
    }

    /// Whether `m` is among [`Self::offered`], without listing them.
    pub(super) fn offers(&self, m: Mechanism) -> bool {
        if !self.secure && self.starttls() == TlsPolicy::Required {
            return false;
        }
        self.config.mechanisms.contains(&m)
            && (self.can_bind() || !m.is_plus())
            && (self.secure || self.config.allow_plain_insecure || !m.needs_secure_channel())
    }
}
