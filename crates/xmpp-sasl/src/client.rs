//! Client side: credentials, the mechanism trait, and the mechanism selector.

use zeroize::Zeroize;

use crate::cache::Pbkdf2Cache;
use crate::channel_binding::ClientChannelBinding;
use crate::crypto::ScramHash;
use crate::error::ClientError;
use crate::{digest_md5, plain, scram};

/// What a client authenticates with.
#[derive(Clone)]
pub struct ClientCredentials {
    /// The authentication identity: the JID's localpart (RFC 6120 §6.3.7).
    pub username: String,
    /// The password. Zeroized on drop; never printed by `Debug`.
    pub password: String,
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
            password: password.into(),
            authzid: None,
            host: host.into(),
            service: "xmpp".to_owned(),
            channel_binding: ClientChannelBinding::Unsupported,
            pbkdf2_cache: None,
        }
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
            .finish()
    }
}

impl Drop for ClientCredentials {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// A client-side SASL mechanism, driven by the stream layer.
///
/// Sequence: [`initial_response`](Self::initial_response) once (for `<auth/>`), then
/// [`respond`](Self::respond) for each `<challenge/>`, then
/// [`success`](Self::success) with the `<success/>` data. Any `Err` ends the
/// exchange: send `<abort/>` (or close the stream after `<success/>`).
pub trait ClientMechanism: Send {
    /// The IANA mechanism name.
    fn name(&self) -> &'static str;
    /// The initial response; `None` = the mechanism has none (DIGEST-MD5).
    fn initial_response(&mut self) -> Result<Option<Vec<u8>>, ClientError>;
    /// Answers a challenge (decoded bytes).
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, ClientError>;
    /// Processes `<success/>` and its additional data. `Err` = the server did not
    /// authenticate itself (rspauth / `v=` missing or wrong): treat the login as failed.
    fn success(&mut self, additional: Option<&[u8]>) -> Result<(), ClientError>;
}

/// Creates a client mechanism by IANA name with CSPRNG nonces; `None` if unsupported,
/// or for a `-PLUS` name when `creds.channel_binding` is not [`ClientChannelBinding::Use`].
pub fn client_mechanism(name: &str, creds: ClientCredentials) -> Option<Box<dyn ClientMechanism>> {
    Some(match name {
        "SCRAM-SHA-1-PLUS" => Box::new(scram::ScramClient::new_plus(ScramHash::Sha1, creds)?),
        "SCRAM-SHA-256-PLUS" => Box::new(scram::ScramClient::new_plus(ScramHash::Sha256, creds)?),
        digest_md5::NAME => Box::new(digest_md5::DigestMd5Client::new(creds)),
        plain::NAME => Box::new(plain::PlainClient::new(creds)),
        "SCRAM-SHA-1" => Box::new(scram::ScramClient::new(ScramHash::Sha1, creds)),
        "SCRAM-SHA-256" => Box::new(scram::ScramClient::new(ScramHash::Sha256, creds)),
        _ => return None,
    })
}

/// The mechanisms this crate implements, strongest first.
pub const SUPPORTED_MECHANISMS: [&str; 6] = [
    "SCRAM-SHA-256-PLUS",
    "SCRAM-SHA-1-PLUS",
    "SCRAM-SHA-256",
    "SCRAM-SHA-1",
    "DIGEST-MD5",
    "PLAIN",
];

/// Whether `name` is a channel-binding (`-PLUS`) mechanism.
fn is_plus(name: &str) -> bool {
    name.ends_with("-PLUS")
}

/// Picks a mechanism from the server's offer by the client's own preference order
/// (the server's order is not a preference signal, RFC 6120 §6.3.3).
#[derive(Clone, Debug)]
pub struct MechanismSelector {
    preference: Vec<String>,
    allowed: Option<Vec<String>>,
    allow_plain_insecure: bool,
}

impl Default for MechanismSelector {
    /// SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, DIGEST-MD5,
    /// PLAIN; PLAIN and the `-PLUS` names only on a protected stream.
    fn default() -> Self {
        Self::with_preference(SUPPORTED_MECHANISMS.iter().map(|s| s.to_string()).collect())
    }
}

impl MechanismSelector {
    /// A selector with a custom preference order (most preferred first). Names not
    /// implemented by this crate are never selected.
    pub fn with_preference(preference: Vec<String>) -> Self {
        MechanismSelector {
            preference,
            allowed: None,
            allow_plain_insecure: false,
        }
    }

    /// Restricts selection to these names (in addition to the preference order).
    pub fn allow_only(mut self, allowed: Vec<String>) -> Self {
        self.allowed = Some(allowed);
        self
    }

    /// Allows PLAIN on a stream without TLS (tests, loopback). Default `false`
    /// (RFC 4616 §5, RFC 6120 §13.8).
    pub fn allow_plain_insecure(mut self, allow: bool) -> Self {
        self.allow_plain_insecure = allow;
        self
    }

    /// The preference order.
    pub fn preference(&self) -> &[String] {
        &self.preference
    }

    /// The best mechanism that the server `offered`, that is allowed, implemented and
    /// not in `exclude` (mechanisms that already failed: the fallback after
    /// `<failure/>`). `secure` = the stream is TLS-protected. Names compare exactly
    /// (SASL names are case-sensitive). `-PLUS` names are never selected when
    /// `secure` is false; a caller without channel-binding data passes them in
    /// `exclude`.
    pub fn select(&self, offered: &[String], secure: bool, exclude: &[String]) -> Option<&str> {
        self.preference
            .iter()
            .filter(|m| SUPPORTED_MECHANISMS.contains(&m.as_str()))
            .filter(|m| offered.iter().any(|o| o == *m))
            .filter(|m| !exclude.iter().any(|e| e == *m))
            .filter(|m| {
                self.allowed
                    .as_ref()
                    .map_or(true, |a| a.iter().any(|x| x == *m))
            })
            .filter(|m| secure || !is_plus(m))
            .find(|m| secure || self.allow_plain_insecure || m.as_str() != plain::NAME)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn selector_prefers_own_order_and_refuses_insecure_plain() {
        let s = MechanismSelector::default();
        let offered = v(&["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "X-OAUTH2"]);
        assert_eq!(s.select(&offered, false, &[]), Some("SCRAM-SHA-1"));
        assert_eq!(
            s.select(&offered, false, &v(&["SCRAM-SHA-1"])),
            Some("DIGEST-MD5")
        );
        assert_eq!(
            s.select(&offered, false, &v(&["SCRAM-SHA-1", "DIGEST-MD5"])),
            None
        );
        assert_eq!(
            s.select(&offered, true, &v(&["SCRAM-SHA-1", "DIGEST-MD5"])),
            Some("PLAIN")
        );
        let s = s.allow_plain_insecure(true);
        assert_eq!(
            s.select(&offered, false, &v(&["SCRAM-SHA-1", "DIGEST-MD5"])),
            Some("PLAIN")
        );
        assert_eq!(s.select(&v(&["X-OAUTH2", "scram-sha-1"]), true, &[]), None);
    }

    #[test]
    fn selector_allow_list_and_custom_order() {
        let offered = v(&["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"]);
        let s = MechanismSelector::default().allow_only(v(&["DIGEST-MD5", "PLAIN"]));
        assert_eq!(s.select(&offered, true, &[]), Some("DIGEST-MD5"));
        let s = MechanismSelector::with_preference(v(&["PLAIN", "X-FOO", "SCRAM-SHA-1"]));
        assert_eq!(s.select(&offered, true, &[]), Some("PLAIN"));
        assert_eq!(s.select(&offered, false, &[]), Some("SCRAM-SHA-1"));
    }

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
    fn factory_knows_every_supported_name() {
        use crate::channel_binding::{ChannelBinding, ChannelBindingType};
        let cb = ClientChannelBinding::Use(ChannelBinding::new(
            ChannelBindingType::TlsExporter,
            vec![1; 32],
        ));
        for m in SUPPORTED_MECHANISMS {
            let c = ClientCredentials::new("u", "p", "h").with_channel_binding(cb.clone());
            assert_eq!(client_mechanism(m, c).map(|m| m.name()), Some(m));
        }
        assert!(client_mechanism("CRAM-MD5", ClientCredentials::new("u", "p", "h")).is_none());
    }
}
