//! What a server offers and enforces during negotiation.

use std::sync::Arc;
use std::time::Duration;

use xmpp_sasl::{Authorizer, CredentialStore, TokenStore};
use xmpp_xml::Limits;

use super::derivations::DerivationLimit;
use super::resumption::ResumableSessions;
use crate::registry::{ConflictPolicy, ResourceRegistry};

/// How the legacy session feature (RFC 3921 §3) is advertised after SASL.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SessionFeature {
    /// `<session><optional/></session>`: clients may skip the IQ.
    #[default]
    Optional,
    /// A bare `<session/>`, as in the RFC 3920 example: clients send the IQ.
    Required,
    /// Not advertised (RFC 6121); the IQ is still answered if sent.
    Omitted,
}

/// Whether the server offers or requires STARTTLS (RFC 6120 §5).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// No STARTTLS.
    #[default]
    Off,
    /// STARTTLS offered next to the SASL mechanisms.
    Optional,
    /// STARTTLS offered with `<required/>`; nothing else before it.
    Required,
}

/// A served domain and the accounts that may log in to it.
#[derive(Clone)]
pub struct ServedDomain {
    /// The domain, e.g. `example.com`.
    pub name: String,
    /// The DIGEST-MD5 realm offered for it (defaults to the domain).
    pub realm: String,
    /// Its accounts.
    pub store: Arc<dyn CredentialStore>,
    /// Where FAST tokens (XEP-0484) are kept; FAST is offered only with
    /// one.
    pub tokens: Option<Arc<dyn TokenStore>>,
}

/// Server negotiation settings. Build with [`ServerConfig::new`] and adjust
/// the public fields; every limit has a safe default.
///
/// ```
/// use std::sync::Arc;
/// use xmpp_sasl::{Mechanism, MemoryStore};
/// use xmpp_stream::server::ServerConfig;
///
/// let store = Arc::new(MemoryStore::default());
/// let mut config = ServerConfig::new("example.com", store);
/// config.mechanisms = vec![Mechanism::DigestMd5, Mechanism::Plain];
/// config.allow_plain_insecure = true;
/// ```
#[non_exhaustive]
pub struct ServerConfig {
    /// Served domains; the first is used when a client's header has no `to`.
    pub domains: Vec<ServedDomain>,
    /// Offered SASL mechanisms, in the order they are listed.
    pub mechanisms: Vec<xmpp_sasl::Mechanism>,
    /// Offer PLAIN (and other cleartext mechanisms) on a stream that is not
    /// protected by TLS. Off by default (RFC 6120 §13.8, RFC 4616 §5).
    pub allow_plain_insecure: bool,
    /// Send DIGEST-MD5's `rspauth` as additional data with `<success/>`
    /// (RFC 6120 style) instead of in a `<challenge/>` (the form of the
    /// RFC 3920 §6.5 example).
    pub rspauth_in_success: bool,
    /// SASL failures tolerated before the stream is closed with
    /// `<policy-violation/>` (RFC 6120 §6.4.5 suggests 2 to 5).
    pub sasl_retries: u32,
    /// Close the stream after every SASL `<failure/>`, as RFC 3920 servers
    /// did (the alternative steps of the RFC 3920 §6.5 example). Off by
    /// default.
    pub close_after_sasl_failure: bool,
    /// How the session feature is offered.
    pub session: SessionFeature,
    /// Failed bind attempts tolerated before `<policy-violation/>`.
    pub bind_retries: u32,
    /// XML limits before authentication (smaller: an unauthenticated peer
    /// gets fewer resources).
    pub pre_auth_limits: Limits,
    /// XML limits after authentication.
    pub limits: Limits,
    /// The whole negotiation, from connect to bound resource, must finish
    /// within this time, else `<connection-timeout/>`.
    pub negotiation_timeout: Duration,
    /// Who may act for whom (a SASL authzid other than the user's own JID).
    pub authorizer: Arc<dyn Authorizer>,
    /// Bound resources, shared by every connection of this server.
    pub registry: Arc<ResourceRegistry>,
    /// PLAIN: cache which offered password derived which StoredKey, to skip
    /// PBKDF2 on repeated logins. Off by default; see
    /// [`xmpp_sasl::Pbkdf2Cache`] for the trade-off.
    pub plain_cache: Option<xmpp_sasl::Pbkdf2Cache>,
    /// How many password checks (PBKDF2, for PLAIN) may run at once on the
    /// blocking pool; beyond it a login gets `<temporary-auth-failure/>`.
    /// Twice the cores by default.
    pub derivations: DerivationLimit,
    /// What users who do not exist (or have no secret for the chosen
    /// mechanism) are verified against, so that they look like real
    /// accounts with a wrong password. The default secret is random per
    /// process: servers that share a store or restart should load a
    /// persisted one, so that an unknown user's SCRAM salt never changes.
    pub decoys: xmpp_sasl::Decoys,
    /// Whether STARTTLS is offered or required; needs [`ServerConfig::tls`].
    pub tls_policy: TlsPolicy,
    /// Offer SASL2 (XEP-0388) with Bind2 (XEP-0386) and, for domains with a
    /// token store, FAST (XEP-0484), beside RFC 6120 SASL. On by default.
    pub sasl2: bool,
    /// Offer SASL2 on a stream without TLS too. XEP-0388 expects TLS: for
    /// tests and TLS-terminating proxies only. Off by default.
    pub allow_sasl2_insecure: bool,
    /// How long a FAST token is valid (14 days by default).
    pub fast_token_ttl: Duration,
    /// Stream management (XEP-0198): offered after authentication (in the
    /// features with `<bind/>`, and as a Bind2 inline feature) and enabled
    /// for a bound client that asks, with these queue limits; `None` to
    /// offer none. On by default.
    ///
    /// Sessions are resumable (XEP-0198 §5) for
    /// [`resumption`](crate::sm::ServerOptions::resumption) only when
    /// [`resumable`](Self::resumable) is set too.
    pub stream_management: Option<crate::sm::ServerOptions>,
    /// Where resumable sessions are kept: `None` (the default) to grant no
    /// resumption. Set it only if the application parks the sessions whose
    /// connection is lost ([`XmppStream::detach`](crate::XmppStream::detach),
    /// then [`ResumableSessions::park`]): a promise to resume that nobody
    /// keeps makes clients wait, then lose what they queued.
    pub resumable: Option<Arc<ResumableSessions>>,
    /// How long a resumption waits for the old stream of a session that
    /// still looks live to let go (default 5 s), then fails with
    /// `<item-not-found/>`.
    pub takeover_wait: Duration,
    /// Keys the stable part of Bind2 resources: the same user agent gets the
    /// same resource for a tag, without the resource revealing its id.
    pub(crate) resource_key: [u8; 32],
    /// The certificate and key for STARTTLS and direct TLS.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::ServerTls>,
}

impl ServerConfig {
    /// A server for one domain, with safe defaults: SCRAM-SHA-256-PLUS and
    /// SCRAM-SHA-1-PLUS (with TLS), SCRAM-SHA-256, SCRAM-SHA-1, DIGEST-MD5
    /// and PLAIN (PLAIN only on protected streams),
    /// 3 SASL retries, a 30 s negotiation bound, 16 KiB stanzas before
    /// authentication, twice as many password derivations at once as there
    /// are cores, and a session that replaces an older one with the same
    /// resource.
    pub fn new(domain: &str, store: Arc<dyn CredentialStore>) -> Self {
        let pre_auth_limits = Limits {
            max_stanza_bytes: 16 * 1024,
            ..Limits::default()
        };
        ServerConfig {
            domains: vec![ServedDomain {
                name: domain.to_owned(),
                realm: domain.to_owned(),
                store,
                tokens: None,
            }],
            mechanisms: xmpp_sasl::Mechanism::DEFAULT_OFFER.to_vec(),
            allow_plain_insecure: false,
            rspauth_in_success: false,
            sasl_retries: 3,
            close_after_sasl_failure: false,
            session: SessionFeature::Optional,
            bind_retries: 3,
            pre_auth_limits,
            limits: Limits::default(),
            negotiation_timeout: Duration::from_secs(30),
            authorizer: Arc::new(RefuseOthers),
            registry: Arc::new(ResourceRegistry::new(ConflictPolicy::Replace)),
            plain_cache: None,
            derivations: DerivationLimit::default(),
            decoys: xmpp_sasl::Decoys::default(),
            tls_policy: TlsPolicy::Off,
            sasl2: true,
            allow_sasl2_insecure: false,
            fast_token_ttl: Duration::from_secs(14 * 24 * 3600),
            stream_management: Some(crate::sm::ServerOptions::default()),
            resumable: None,
            takeover_wait: Duration::from_secs(5),
            resource_key: crate::ids::random_key(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Serves one more domain with its own accounts.
    pub fn add_domain(&mut self, domain: &str, store: Arc<dyn CredentialStore>) {
        self.domains.push(ServedDomain {
            name: domain.to_owned(),
            realm: domain.to_owned(),
            store,
            tokens: None,
        });
    }

    /// Sets the DIGEST-MD5 realm of every served domain.
    pub fn set_realm(&mut self, realm: &str) {
        for d in &mut self.domains {
            d.realm = realm.to_owned();
        }
    }

    /// The STARTTLS policy in force: `Off` when no certificate is set.
    pub(crate) fn starttls(&self) -> TlsPolicy {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.tls_policy;
        }
        TlsPolicy::Off
    }

    /// The stream management options to enable a session with: no
    /// resumption without a place to keep detached sessions.
    pub(crate) fn sm_options(&self) -> Option<crate::sm::ServerOptions> {
        let resumable = self.resumable.is_some();
        self.stream_management
            .clone()
            .map(|o| crate::sm::ServerOptions {
                resumption: o.resumption.filter(|_| resumable),
                location: o.location.filter(|_| resumable),
                ..o
            })
    }

    pub(crate) fn domain(&self, name: &str) -> Option<&ServedDomain> {
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }
}

/// The default authorizer: nobody may act for another identity.
struct RefuseOthers;

impl Authorizer for RefuseOthers {
    fn authorize(&self, _authcid: &str, _authzid: &str) -> bool {
        false
    }
}
