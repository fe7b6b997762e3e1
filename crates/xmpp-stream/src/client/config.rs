//! What a client asks for during negotiation.

use std::fmt;
use std::time::Duration;

use xmpp_sasl::MechanismSelector;
use xmpp_xml::Limits;
use zeroize::Zeroizing;

use crate::negotiation::Security;
pub use crate::sasl2::UserAgent;

/// What the client does about TLS.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Use STARTTLS; fail if the server does not offer it.
    #[default]
    Required,
    /// Use STARTTLS when offered, else go on without TLS.
    Opportunistic,
    /// Never use STARTTLS.
    Off,
}

/// Whether the client uses SASL2 (XEP-0388).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sasl2Mode {
    /// Use SASL2 (with Bind2 and FAST when offered) when the server offers
    /// it, else RFC 6120 SASL.
    #[default]
    Auto,
    /// Fail unless the server offers SASL2.
    Required,
    /// Always RFC 6120 SASL.
    Off,
}

/// What the client does about channel binding (RFC 5056; `-PLUS` SCRAM and
/// the bound FAST mechanisms).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ChannelBindingPolicy {
    /// Bind to the TLS channel or fail: no TLS, no binding type in common,
    /// or a `-PLUS` attempt refused all end the login.
    Required,
    /// Bind when possible; without binding only where nothing suggests the
    /// offer was tampered with: the server offers no `-PLUS` at all (then
    /// we say so with the `y` flag, which such a server checks), or its
    /// XEP-0474 hash proves the lists we saw are the ones it sent.
    #[default]
    Preferred,
    /// Never bind (flag `n`): for servers behind TLS-terminating proxies.
    Off,
}

/// Client negotiation settings.
///
/// ```
/// use xmpp_stream::client::ClientConfig;
///
/// let config = ClientConfig::new("juliet@example.com", "r0m30myr0m30")
///     .expect("a valid JID")
///     .with_resource("balcony");
/// assert_eq!(config.domain, "example.com");
/// ```
#[non_exhaustive]
#[derive(Clone)]
pub struct ClientConfig {
    /// The localpart we authenticate as (the SASL authcid).
    pub username: String,
    /// The domain we connect to (the stream's `to`).
    pub domain: String,
    /// The password; wiped from memory when the config is dropped.
    pub password: Zeroizing<String>,
    /// An authorization identity to request, if it differs from our own.
    pub authzid: Option<String>,
    /// The resource to ask for; the server may assign another.
    pub resource: Option<String>,
    /// Which mechanisms we accept, in our order of preference, and whether
    /// PLAIN may be used without TLS.
    pub selector: MechanismSelector,
    /// After a SASL `<failure/>` about the mechanism itself
    /// (`invalid-mechanism`, `mechanism-too-weak`, `encryption-required`,
    /// `malformed-request`, `incorrect-encoding`), try the next acceptable
    /// one. Never after a credential failure.
    pub fallback: bool,
    /// Whether the transport given to the client is protected by TLS
    /// already (no STARTTLS then, and PLAIN may be used).
    pub security: Security,
    /// Our `xml:lang`.
    pub lang: String,
    /// The whole negotiation must finish within this time.
    pub timeout: Duration,
    /// XML limits for what the server sends.
    pub limits: Limits,
    /// A cache of SCRAM salted passwords shared across logins with the same
    /// password (RFC 5802 §5.1); `None` derives each time.
    pub pbkdf2_cache: Option<xmpp_sasl::Pbkdf2Cache>,
    /// After we close a failing stream, how long to keep reading for the
    /// server's `</stream:stream>` (RFC 6120 §4.4).
    pub close_timeout: Duration,
    /// STARTTLS policy. Required by default.
    pub tls: TlsMode,
    /// The rustls configuration (trust roots); the system's roots when
    /// `None`.
    #[cfg(feature = "tls")]
    pub tls_config: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The name the server's certificate must carry; the domain when
    /// `None`.
    pub tls_server_name: Option<String>,
    /// SASL2 use. Auto by default.
    pub sasl2: Sasl2Mode,
    /// Channel-binding policy. Preferred by default.
    pub channel_binding: ChannelBindingPolicy,
    /// Who we are to SASL2 (a random id unless set: give it a stable one,
    /// stored with the FAST token, for FAST to work across runs).
    pub user_agent: UserAgent,
    /// The Bind2 tag (the software's name; never private data). Bind2 is
    /// used only without [`resource`](Self::resource): the server makes the
    /// resource from the tag; a requested resource is bound with RFC 6120
    /// after the SASL2 success.
    pub bind2_tag: String,
    /// A FAST token to log in with instead of the password, when the server
    /// offers its mechanism. If the server refuses it, the password is used
    /// (when there is one) and [`StreamInfo::fast_token_refused`](crate::StreamInfo) says so.
    pub fast_token: Option<xmpp_sasl::FastToken>,
    /// Ask for a FAST token in a SASL2 password login (a token login keeps
    /// its token; the server replaces it when it ages, and a new one comes
    /// back in [`StreamInfo::fast_token`](crate::StreamInfo) either way).
    pub request_fast_token: bool,
    /// Enable stream management (XEP-0198) when the server offers it:
    /// inline in Bind2, or with `<enable/>` after binding, asking for
    /// resumption. The [`XmppStream`](crate::XmppStream) then answers the
    /// server's `<r/>` and counts what the server acknowledged. Off by
    /// default, so that a plain negotiation is exactly RFC 6120's;
    /// [`ReconnectingClient`](super::ReconnectingClient) turns it on.
    pub stream_management: bool,
    /// Bounds on the queue of stanzas sent and not yet acknowledged (500
    /// stanzas and 1 MiB by default). A full queue holds the next stanza
    /// back until the server's acknowledgements make room: the sink is not
    /// ready meanwhile.
    pub sm_queue: crate::sm::QueueLimits,
    /// Resume this session (XEP-0198 §5) instead of binding a new one: the
    /// one [`XmppStream::suspend`](crate::XmppStream::suspend) took from a
    /// lost connection. If the server cannot resume it, a new session is
    /// bound and [`StreamInfo::sm_lost`](crate::StreamInfo::sm_lost) lists
    /// what it never acknowledged.
    pub resume: Option<super::SuspendedSession>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the password.
        f.debug_struct("ClientConfig")
            .field("username", &self.username)
            .field("domain", &self.domain)
            .field("resource", &self.resource)
            .field("fallback", &self.fallback)
            .field("security", &self.security)
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// The JID given is not a bare JID with a localpart.
#[derive(Debug, thiserror::Error)]
#[error("invalid JID {jid:?}: {reason}")]
pub struct InvalidJid {
    jid: String,
    reason: String,
}

impl ClientConfig {
    /// A config for `jid` (`localpart@domain`, a resource part is used as
    /// the requested resource) with safe defaults: SCRAM-SHA-256 >
    /// SCRAM-SHA-1 > DIGEST-MD5 > PLAIN, PLAIN refused without TLS, fallback
    /// on, STARTTLS required (verified against the system's roots), a 30 s
    /// timeout.
    pub fn new(jid: &str, password: &str) -> Result<Self, InvalidJid> {
        let invalid = |reason: String| InvalidJid {
            jid: jid.to_owned(),
            reason,
        };
        let parsed = jid::Jid::new(jid).map_err(|e| invalid(e.to_string()))?;
        let username = parsed
            .node()
            .map(|n| n.as_str().to_owned())
            .ok_or_else(|| invalid("no localpart".to_owned()))?;
        Ok(ClientConfig {
            username,
            domain: parsed.domain().as_str().to_owned(),
            password: Zeroizing::new(password.to_owned()),
            authzid: None,
            resource: parsed.resource().map(|r| r.as_str().to_owned()),
            selector: MechanismSelector::default(),
            fallback: true,
            security: Security::Cleartext,
            lang: "en".to_owned(),
            timeout: Duration::from_secs(30),
            limits: Limits::default(),
            close_timeout: Duration::from_secs(2),
            pbkdf2_cache: None,
            tls: TlsMode::Required,
            #[cfg(feature = "tls")]
            tls_config: None,
            tls_server_name: None,
            sasl2: Sasl2Mode::Auto,
            channel_binding: ChannelBindingPolicy::Preferred,
            user_agent: UserAgent {
                id: crate::ids::uuid_v4(),
                software: Some("xmpp-negotiate".to_owned()),
                device: None,
            },
            bind2_tag: "xmpp-negotiate".to_owned(),
            fast_token: None,
            request_fast_token: false,
            stream_management: false,
            sm_queue: crate::sm::QueueLimits::default(),
            resume: None,
        })
    }

    /// Asks for this resource.
    pub fn with_resource(mut self, resource: &str) -> Self {
        self.resource = Some(resource.to_owned());
        self
    }

    /// Uses this TLS policy.
    pub fn with_tls(mut self, tls: TlsMode) -> Self {
        self.tls = tls;
        self
    }

    /// Uses this mechanism selector.
    pub fn with_selector(mut self, selector: MechanismSelector) -> Self {
        self.selector = selector;
        self
    }
}
