//! What every server mechanism is: the trait the stream layer drives it
//! through, the steps it answers with, and the settings and authorization
//! policy the mechanisms share.

use std::sync::Arc;

use crate::cache::Pbkdf2Cache;
use crate::channel_binding::ChannelBinding;
use crate::decoy::Decoys;
use crate::error::{ServerError, ServerFailure, StoreError};
use crate::mechanism::Mechanism;
use crate::ssdp::Ssdp;
use crate::store::StoredCredentials;
use crate::username::prepare_username;

/// What the server does next.
#[derive(Debug)]
pub enum ServerStep {
    /// Send `<challenge/>` with these bytes and feed the `<response/>` to
    /// [`ServerMechanism::step`].
    Challenge(Vec<u8>),
    /// Look `username` up in the [`crate::CredentialStore`] and pass the result to
    /// [`ServerMechanism::credentials`]. The mechanism never touches the store itself.
    NeedCredentials {
        /// The user to look up (as the client sent it, after SASLprep for PLAIN/SCRAM).
        username: String,
    },
    /// Send `<success/>` (with `additional` data if any). The client is authenticated.
    Success {
        /// The authenticated identity (the localpart).
        authcid: String,
        /// The authorized identity when it differs from `authcid@domain`, after the
        /// [`Authorizer`] allowed it; `None` otherwise.
        authzid: Option<String>,
        /// Additional data with success (SCRAM `v=`, DIGEST-MD5 `rspauth=`).
        additional: Option<Vec<u8>>,
    },
    /// Send `<failure/>` with the error's condition. The mechanism is finished.
    Failure(ServerError),
}

impl ServerStep {
    pub(crate) fn fail(f: ServerFailure) -> Self {
        ServerStep::Failure(ServerError::new(f))
    }
}

/// A server-side SASL mechanism (sans-IO).
pub trait ServerMechanism: Send {
    /// Which mechanism this is.
    fn name(&self) -> Mechanism;
    /// Starts on `<auth/>`; `initial` = its decoded data (`None` when the element was empty).
    fn start(&mut self, initial: Option<&[u8]>) -> ServerStep;
    /// Processes a `<response/>`.
    fn step(&mut self, response: &[u8]) -> ServerStep;
    /// Delivers the store's answer after [`ServerStep::NeedCredentials`].
    fn credentials(&mut self, found: Result<Option<StoredCredentials>, StoreError>) -> ServerStep;
    /// Whether the next call of [`credentials`](Self::credentials) or
    /// [`step`](Self::step) may run a PBKDF2 key derivation (milliseconds of
    /// CPU at the default iteration count), so that an async driver runs
    /// that call on a blocking pool rather than on its executor. That call
    /// costs the same for unknown and known users, so the driver must not
    /// treat them differently either. Only PLAIN's `credentials` derives
    /// today: SCRAM and DIGEST-MD5 servers check stored keys with a few
    /// hashes.
    fn derives_key(&self) -> bool {
        false
    }
}

/// Decides whether `authcid` may act as `authzid` (a different identity than its own bare JID).
pub trait Authorizer: Send + Sync {
    /// `true` to allow.
    fn authorize(&self, authcid: &str, authzid: &str) -> bool;
}

/// The default authorizer: nobody may act as someone else.
#[derive(Clone, Copy, Debug, Default)]
pub struct DenyAll;

impl Authorizer for DenyAll {
    fn authorize(&self, _authcid: &str, _authzid: &str) -> bool {
        false
    }
}

impl<F: Fn(&str, &str) -> bool + Send + Sync> Authorizer for F {
    fn authorize(&self, authcid: &str, authzid: &str) -> bool {
        self(authcid, authzid)
    }
}

/// Server-side settings shared by the mechanisms.
#[derive(Clone)]
pub struct ServerMechanismConfig {
    /// The served XMPP domain (digest-uri host, and the domain of users' bare JIDs).
    pub domain: String,
    /// The DIGEST-MD5 realm offered (`""` = offer none, as ejabberd does).
    pub realm: String,
    /// The service name in digest-uri, `"xmpp"`.
    pub service: String,
    /// DIGEST-MD5: send rspauth as additional data with `<success/>` (RFC 6120 style)
    /// instead of in a final `<challenge/>` (RFC 3920 style, as the RFC 3920 §6.5 example, ejabberd and Cyrus).
    pub rspauth_in_success: bool,
    /// Decides authzids other than the user's own bare JID.
    pub authorizer: Arc<dyn Authorizer>,
    /// The channel bindings this connection offers (from its TLS session). Empty =
    /// no TLS or no binding data: no `-PLUS` mechanism is offered, and the SCRAM
    /// `y` flag is accepted. Non-empty: `-PLUS` is offered and `y` is refused as a
    /// downgrade (RFC 5802 §6).
    pub channel_bindings: Vec<ChannelBinding>,
    /// PLAIN: remember which offered password derived which StoredKey, so
    /// that repeated logins skip PBKDF2. Off by default: see
    /// [`Pbkdf2Cache`] for what it trades.
    pub plain_cache: Option<Pbkdf2Cache>,
    /// What a user who does not exist, or has no secret for the chosen
    /// mechanism, is verified against, so that they look like a real account
    /// with a wrong password. Default: a secret random per process; a server
    /// should load a persisted one ([`Decoys`]).
    pub decoys: Decoys,
    /// XEP-0474: the mechanisms and channel-binding types advertised on this
    /// stream, for the SASL profile the client uses. `Some`: the SCRAM
    /// servers add `h=` to their server-first-message. `None` (default): no
    /// `h=`.
    pub ssdp: Option<Ssdp>,
}

impl ServerMechanismConfig {
    /// Realm = domain, service `xmpp`, rspauth in a challenge, [`DenyAll`]
    /// authorizer, the process's default [`Decoys`].
    pub fn new(domain: impl Into<String>) -> Self {
        let domain = domain.into();
        ServerMechanismConfig {
            realm: domain.clone(),
            domain,
            service: "xmpp".to_owned(),
            rspauth_in_success: false,
            authorizer: Arc::new(DenyAll),
            channel_bindings: Vec::new(),
            plain_cache: None,
            decoys: Decoys::default(),
            ssdp: None,
        }
    }

    /// Sets what was advertised, for XEP-0474 (see [`ssdp`](Self::ssdp)).
    pub fn with_ssdp(mut self, ssdp: Ssdp) -> Self {
        self.ssdp = Some(ssdp);
        self
    }

    /// Sets the channel bindings this connection offers.
    pub fn with_channel_bindings(mut self, bindings: Vec<ChannelBinding>) -> Self {
        self.channel_bindings = bindings;
        self
    }

    /// Sets the authorizer.
    pub fn with_authorizer(mut self, authorizer: Arc<dyn Authorizer>) -> Self {
        self.authorizer = authorizer;
        self
    }

    /// Accepts an authzid that is empty or the user's own bare JID; asks the authorizer
    /// about anything else. `Ok(None)` = acting as itself.
    pub(crate) fn check_authzid(
        &self,
        authcid: &str,
        authzid: Option<&str>,
    ) -> Result<Option<String>, ServerFailure> {
        let Some(a) = authzid.filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        if let Some((local, domain)) = a.split_once('@') {
            // Compared as accounts are keyed: "Juliet" acting as
            // juliet@domain is juliet herself.
            let same = |x: &str, y: &str| matches!((prepare_username(x), prepare_username(y)), (Ok(x), Ok(y)) if x == y);
            if same(local, authcid) && domain.eq_ignore_ascii_case(&self.domain) {
                return Ok(None);
            }
        }
        if self.authorizer.authorize(authcid, a) {
            Ok(Some(a.to_owned()))
        } else {
            Err(ServerFailure::InvalidAuthzid(
                "not permitted for this user".to_owned(),
            ))
        }
    }
}

impl std::fmt::Debug for ServerMechanismConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMechanismConfig")
            .field("domain", &self.domain)
            .field("realm", &self.realm)
            .field("service", &self.service)
            .field("rspauth_in_success", &self.rspauth_in_success)
            .field("channel_bindings", &self.channel_bindings)
            .field("decoys", &self.decoys)
            .field("ssdp", &self.ssdp)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authzid_policy() {
        let cfg = ServerMechanismConfig::new("example.com");
        assert_eq!(cfg.check_authzid("juliet", None), Ok(None));
        assert_eq!(cfg.check_authzid("juliet", Some("")), Ok(None));
        assert_eq!(
            cfg.check_authzid("juliet", Some("juliet@Example.COM")),
            Ok(None)
        );
        assert!(cfg
            .check_authzid("juliet", Some("romeo@example.com"))
            .is_err());
        assert!(cfg
            .check_authzid("juliet", Some("juliet@evil.example"))
            .is_err());
        let cfg = cfg.with_authorizer(Arc::new(|c: &str, z: &str| {
            c == "admin" && z.ends_with("@example.com")
        }));
        assert_eq!(
            cfg.check_authzid("admin", Some("romeo@example.com")),
            Ok(Some("romeo@example.com".to_owned()))
        );
    }
}
