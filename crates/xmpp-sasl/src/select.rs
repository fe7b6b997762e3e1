//! The client's choice of a mechanism from a server's offer.

use crate::mechanism::{Mechanism, MechanismName};

/// Picks a mechanism from the server's offer by the client's own preference order
/// (the server's order is not a preference signal, RFC 6120 §6.3.3).
#[derive(Clone, Debug)]
pub struct MechanismSelector {
    preference: Vec<Mechanism>,
    allowed: Option<Vec<Mechanism>>,
    allow_plain_insecure: bool,
}

impl Default for MechanismSelector {
    /// [`Mechanism::DEFAULT_PREFERENCE`]: SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS,
    /// SCRAM-SHA-256, SCRAM-SHA-1, DIGEST-MD5, PLAIN; PLAIN and the `-PLUS`
    /// names only on a protected stream.
    fn default() -> Self {
        Self::with_preference(Mechanism::DEFAULT_PREFERENCE)
    }
}

impl MechanismSelector {
    /// A selector with a custom preference order (most preferred first).
    pub fn with_preference(preference: impl IntoIterator<Item = Mechanism>) -> Self {
        MechanismSelector {
            preference: preference.into_iter().collect(),
            allowed: None,
            allow_plain_insecure: false,
        }
    }

    /// Restricts selection to these mechanisms (in addition to the preference order).
    pub fn allow_only(mut self, allowed: impl IntoIterator<Item = Mechanism>) -> Self {
        self.allowed = Some(allowed.into_iter().collect());
        self
    }

    /// Allows PLAIN on a stream without TLS (tests, loopback). Default `false`
    /// (RFC 4616 §5, RFC 6120 §13.8).
    pub fn allow_plain_insecure(mut self, allow: bool) -> Self {
        self.allow_plain_insecure = allow;
        self
    }

    /// The preference order.
    pub fn preference(&self) -> &[Mechanism] {
        &self.preference
    }

    /// The best mechanism that the server `offered`, that is allowed and not in
    /// `exclude` (mechanisms that already failed: the fallback after
    /// `<failure/>`). `secure` = the stream is TLS-protected. Offered names
    /// match exactly (SASL names are case-sensitive); names we do not implement
    /// are never chosen. `-PLUS` mechanisms are never selected when `secure` is
    /// false; a caller without channel-binding data passes them in `exclude`.
    pub fn select(
        &self,
        offered: &[MechanismName],
        secure: bool,
        exclude: &[Mechanism],
    ) -> Option<Mechanism> {
        self.preference
            .iter()
            .copied()
            .filter(|m| offered.iter().any(|o| o == m))
            .filter(|m| !exclude.contains(m))
            .filter(|m| self.allowed.as_ref().is_none_or(|a| a.contains(m)))
            .filter(|m| secure || !m.is_plus())
            .find(|m| secure || self.allow_plain_insecure || !m.sends_password())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Mechanism::*;

    fn offer(s: &[&str]) -> Vec<MechanismName> {
        s.iter().copied().map(MechanismName::from).collect()
    }

    #[test]
    fn selector_prefers_own_order_and_refuses_insecure_plain() {
        let s = MechanismSelector::default();
        let offered = offer(&["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "X-OAUTH2"]);
        assert_eq!(s.select(&offered, false, &[]), Some(ScramSha1));
        assert_eq!(s.select(&offered, false, &[ScramSha1]), Some(DigestMd5));
        assert_eq!(s.select(&offered, false, &[ScramSha1, DigestMd5]), None);
        assert_eq!(
            s.select(&offered, true, &[ScramSha1, DigestMd5]),
            Some(Plain)
        );
        let s = s.allow_plain_insecure(true);
        assert_eq!(
            s.select(&offered, false, &[ScramSha1, DigestMd5]),
            Some(Plain)
        );
        assert_eq!(
            s.select(&offer(&["X-OAUTH2", "scram-sha-1"]), true, &[]),
            None
        );
    }

    #[test]
    fn selector_allow_list_and_custom_order() {
        let offered = offer(&["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]);
        let s = MechanismSelector::default().allow_only([DigestMd5, Plain]);
        assert_eq!(s.select(&offered, true, &[]), Some(DigestMd5));
        let s = MechanismSelector::with_preference([Plain, ScramSha1]);
        assert_eq!(s.select(&offered, true, &[]), Some(Plain));
        assert_eq!(s.select(&offered, false, &[]), Some(ScramSha1));
    }
}
