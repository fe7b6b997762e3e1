//! What every client mechanism is: the credentials it authenticates with and
//! the trait the stream layer drives it through.

use zeroize::Zeroizing;

use crate::cache::Pbkdf2Cache;
use crate::channel_binding::ClientChannelBinding;
use crate::error::ClientError;
use crate::mechanism::Mechanism;
use crate::ssdp::Ssdp;

/// What a client authenticates with.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The authentication identity: the JID's localpart (RFC 6120 §6.3.7).
    pub username: String,
    /// The password: wiped when dropped, never printed by `Debug`.
    pub password: Zeroizing<String>,
    /// The authorization identity (a bare JID), sent only when it differs from
    /// `username@host` (RFC 6120 §6.3.8).
    pub authzid: Option<String>,
    /// The XMPP domain (the stream's `to`; DIGEST-MD5's digest-uri host).
    pub host: String,
    /// The service name, `"xmpp"`.
    pub service: String,
    /// What this connection can do about channel binding (default
    /// [`ClientChannelBinding::Unsupported`]). `-PLUS` mechanisms need
    /// [`ClientChannelBinding::Use`].
    pub channel_binding: ClientChannelBinding,
    /// A cache of SCRAM salted passwords shared across logins (RFC 5802
    /// §5.1), so that repeated logins skip PBKDF2. `None`: derive each time.
    pub pbkdf2_cache: Option<Pbkdf2Cache>,
    /// XEP-0474: the mechanisms and channel-binding types this stream's
    /// features advertised, as received. A SCRAM client checks the server's
    /// `h=` against them and fails with [`ClientError::Downgrade`] on a
    /// mismatch. `None`: nothing to check, an `h=` is ignored.
    pub ssdp: Option<Ssdp>,
    /// XEP-0474: fail with [`ClientError::NoDowngradeProtection`] when the
    /// server-first-message carries no `h=`. Needs [`ssdp`](Self::ssdp) set
    /// (a SCRAM client fails before sending anything otherwise). Only SCRAM
    /// can carry `h=`: PLAIN and DIGEST-MD5 ignore this flag, so a caller
    /// that requires the protection must not pick them.
    pub require_ssdp: bool,
}

impl ClientCredentials {
    /// Credentials for `username@host` with service `xmpp` and no authzid.
    pub fn new(
        username: impl Into<String>,
        password: impl Into<String>,
        host: impl Into<String>,
    ) -> Self {
        ClientCredentials {
            username: username.into(),
            password: Zeroizing::new(password.into()),
            authzid: None,
            host: host.into(),
            service: "xmpp".to_owned(),
            channel_binding: ClientChannelBinding::Unsupported,
            pbkdf2_cache: None,
            ssdp: None,
            require_ssdp: false,
        }
    }

    /// Sets what the stream advertised, for XEP-0474 (see [`ssdp`](Self::ssdp)).
    pub fn with_ssdp(mut self, ssdp: Ssdp) -> Self {
        self.ssdp = Some(ssdp);
        self
    }

    /// Requires XEP-0474 protection (see [`require_ssdp`](Self::require_ssdp)).
    pub fn require_ssdp(mut self, require: bool) -> Self {
        self.require_ssdp = require;
        self
    }

    /// Shares a cache of SCRAM salted passwords across logins.
    pub fn with_pbkdf2_cache(mut self, cache: Pbkdf2Cache) -> Self {
        self.pbkdf2_cache = Some(cache);
        self
    }

    /// Sets the channel-binding capability (SCRAM's GS2 flag; required for `-PLUS`).
    pub fn with_channel_binding(mut self, cb: ClientChannelBinding) -> Self {
        self.channel_binding = cb;
        self
    }

    /// Sets the authorization identity.
    pub fn with_authzid(mut self, authzid: impl Into<String>) -> Self {
        self.authzid = Some(authzid.into());
        self
    }

    /// The authzid to send: `None` when absent, empty, or equal to the identity the
    /// username implies (`username@host`, domain compared case-insensitively).
    pub(crate) fn effective_authzid(&self) -> Option<&str> {
        let a = self.authzid.as_deref().filter(|a| !a.is_empty())?;
        match a.split_once('@') {
            Some((local, domain))
                if local == self.username && domain.eq_ignore_ascii_case(&self.host) =>
            {
                None
            }
            _ => Some(a),
        }
    }
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("authzid", &self.authzid)
            .field("host", &self.host)
            .field("service", &self.service)
            .field("channel_binding", &self.channel_binding)
            .field("pbkdf2_cache", &self.pbkdf2_cache.is_some())
            .field("ssdp", &self.ssdp)
            .field("require_ssdp", &self.require_ssdp)
            .finish()
    }
}

/// A client-side SASL mechanism, driven by the stream layer.
///
/// Sequence: [`initial_response`](Self::initial_response) once (for `<auth/>`), then
/// [`respond`](Self::respond) for each `<challenge/>`, then
/// [`success`](Self::success) with the `<success/>` data. Any `Err` ends the
/// exchange: send `<abort/>` (or close the stream after `<success/>`).
pub trait ClientMechanism: Send {
    /// Which mechanism this is.
    fn name(&self) -> Mechanism;
    /// The initial response; `None` = the mechanism has none (DIGEST-MD5).
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, ClientError>;
    /// Answers a challenge (decoded bytes).
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ClientError>;
    /// Processes `<success/>` and its additional data. `Err` = the server did not
    /// authenticate itself (rspauth / `v=` missing or wrong): treat the login as failed.
    fn success(&mut self, additional: Option<&[u8]>) -> Result<(), ClientError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authzid_sent_only_when_different() {
        let c = ClientCredentials::new("juliet", "pw", "example.com");
        assert_eq!(c.effective_authzid(), None);
        let c = c.with_authzid("juliet@EXAMPLE.com");
        assert_eq!(c.effective_authzid(), None);
        let c = ClientCredentials::new("juliet", "pw", "example.com").with_authzid("");
        assert_eq!(c.effective_authzid(), None);
        let c =
            ClientCredentials::new("juliet", "pw", "example.com").with_authzid("romeo@example.com");
        assert_eq!(c.effective_authzid(), Some("romeo@example.com"));
        assert!(!format!("{c:?}").contains("pw\""));
    }

    #[test]
    fn the_password_is_wiped_on_drop_and_never_printed() {
        let c = ClientCredentials::new("juliet", "r0m30myr0m30", "example.com");
        // The type does the wiping (issue #12), clones included.
        let _: &Zeroizing<String> = &c.clone().password;
        let shown = format!("{c:?}");
        assert!(!shown.contains("r0m30"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
