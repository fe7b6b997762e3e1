//! Error types and the one mapping from causes to RFC 6120 §6.5 conditions.

use std::fmt;

/// A SASL failure condition (RFC 6120 §6.5), as carried in `<failure/>`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    /// `aborted`: acknowledges the client's `<abort/>`.
    Aborted,
    /// `account-disabled`: the account is (temporarily) disabled.
    AccountDisabled,
    /// `credentials-expired`: the credentials have expired.
    CredentialsExpired,
    /// `encryption-required`: the mechanism needs a protected stream.
    EncryptionRequired,
    /// `incorrect-encoding`: the data was not valid base64.
    IncorrectEncoding,
    /// `invalid-authzid`: the authzid is malformed or not permitted.
    InvalidAuthzid,
    /// `invalid-mechanism`: no or unsupported mechanism.
    InvalidMechanism,
    /// `malformed-request`: the data violates the mechanism's syntax or sequence.
    MalformedRequest,
    /// `mechanism-too-weak`: the mechanism is weaker than policy permits.
    MechanismTooWeak,
    /// `not-authorized`: bad credentials or unspecified authentication failure.
    NotAuthorized,
    /// `temporary-auth-failure`: a temporary server error; retry later.
    TemporaryAuthFailure,
}

impl Condition {
    /// All conditions, in RFC 6120 §6.5 order.
    pub const ALL: [Condition; 11] = [
        Condition::Aborted,
        Condition::AccountDisabled,
        Condition::CredentialsExpired,
        Condition::EncryptionRequired,
        Condition::IncorrectEncoding,
        Condition::InvalidAuthzid,
        Condition::InvalidMechanism,
        Condition::MalformedRequest,
        Condition::MechanismTooWeak,
        Condition::NotAuthorized,
        Condition::TemporaryAuthFailure,
    ];

    /// The element name, e.g. `"not-authorized"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Condition::Aborted => "aborted",
            Condition::AccountDisabled => "account-disabled",
            Condition::CredentialsExpired => "credentials-expired",
            Condition::EncryptionRequired => "encryption-required",
            Condition::IncorrectEncoding => "incorrect-encoding",
            Condition::InvalidAuthzid => "invalid-authzid",
            Condition::InvalidMechanism => "invalid-mechanism",
            Condition::MalformedRequest => "malformed-request",
            Condition::MechanismTooWeak => "mechanism-too-weak",
            Condition::NotAuthorized => "not-authorized",
            Condition::TemporaryAuthFailure => "temporary-auth-failure",
        }
    }

    /// Parses an element name; `None` for anything not defined in RFC 6120 §6.5.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The broad kind of a failure: lets callers tell a malformed message from a
/// protocol violation from a wrong credential without matching every variant.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The peer's message does not follow the mechanism's syntax.
    Malformed,
    /// Syntactically valid, but breaks the mechanism's rules (wrong nonce, step out of order, ...).
    Protocol,
    /// The credentials (password, proof, digest) are wrong, or the user is unknown.
    Credentials,
    /// Mutual authentication failed: the server did not prove knowledge of the secret.
    MutualAuth,
    /// The authorization identity is not permitted.
    Authorization,
    /// Account state or local policy refused the attempt.
    Policy,
    /// A temporary failure outside the mechanism (the credential store).
    Temporary,
    /// The exchange was aborted.
    Aborted,
    /// A local problem (credentials unusable with this mechanism, bad injected nonce).
    Local,
    /// XEP-0474 downgrade protection failed: the advertised mechanisms or
    /// channel-binding types were changed in transit, or the server does not
    /// offer the protection the client requires.
    Downgrade,
}

/// Why the server side refused an authentication. Each variant maps to exactly
/// one [`Condition`] in [`ServerFailure::condition`].
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServerFailure {
    /// The client aborted the exchange.
    #[error("aborted by the client")]
    Aborted,
    /// The account is disabled.
    #[error("account disabled")]
    AccountDisabled,
    /// The account's credentials have expired.
    #[error("credentials expired")]
    CredentialsExpired,
    /// The mechanism is offered only on a protected stream.
    #[error("mechanism requires an encrypted stream")]
    EncryptionRequired,
    /// The base64 transport encoding was invalid.
    #[error("invalid base64")]
    IncorrectEncoding,
    /// The authzid is malformed or the authenticated user may not act as it.
    #[error("authorization identity not permitted: {0}")]
    InvalidAuthzid(String),
    /// The mechanism is unknown or not offered.
    #[error("unsupported mechanism")]
    InvalidMechanism,
    /// The client's message does not follow the mechanism's syntax.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A step arrived that the mechanism does not expect now (e.g. an initial
    /// response for DIGEST-MD5, or data after success).
    #[error("unexpected message: {0}")]
    OutOfSequence(&'static str),
    /// No secret usable with this mechanism is stored for the user. This
    /// crate's mechanisms never report it: said before the password is
    /// checked, it tells that the account exists, so they answer
    /// [`BadCredentials`](Self::BadCredentials) after checking against a
    /// decoy ([`crate::Decoys`]). For policies a driver enforces itself.
    #[error("no credentials for this mechanism")]
    MechanismTooWeak,
    /// Valid syntax, but the mechanism's rules are broken (nonce, nc, digest-uri, channel binding, ...).
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// Unknown user or wrong password/proof. One variant for both so that
    /// nothing reveals which.
    #[error("invalid username or password")]
    BadCredentials,
    /// The credential store failed.
    #[error("credential store unavailable")]
    Store,
}

impl ServerFailure {
    /// The single place that maps a cause to its SASL condition.
    pub fn condition(&self) -> Condition {
        match self {
            ServerFailure::Aborted => Condition::Aborted,
            ServerFailure::AccountDisabled => Condition::AccountDisabled,
            ServerFailure::CredentialsExpired => Condition::CredentialsExpired,
            ServerFailure::EncryptionRequired => Condition::EncryptionRequired,
            ServerFailure::IncorrectEncoding => Condition::IncorrectEncoding,
            ServerFailure::InvalidAuthzid(_) => Condition::InvalidAuthzid,
            ServerFailure::InvalidMechanism => Condition::InvalidMechanism,
            ServerFailure::Malformed(_) | ServerFailure::OutOfSequence(_) => {
                Condition::MalformedRequest
            }
            ServerFailure::MechanismTooWeak => Condition::MechanismTooWeak,
            ServerFailure::Protocol(_) | ServerFailure::BadCredentials => Condition::NotAuthorized,
            ServerFailure::Store => Condition::TemporaryAuthFailure,
        }
    }

    /// The broad kind of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServerFailure::Aborted => ErrorKind::Aborted,
            ServerFailure::AccountDisabled
            | ServerFailure::CredentialsExpired
            | ServerFailure::EncryptionRequired
            | ServerFailure::InvalidMechanism
            | ServerFailure::MechanismTooWeak => ErrorKind::Policy,
            ServerFailure::IncorrectEncoding | ServerFailure::Malformed(_) => ErrorKind::Malformed,
            ServerFailure::InvalidAuthzid(_) => ErrorKind::Authorization,
            ServerFailure::OutOfSequence(_) | ServerFailure::Protocol(_) => ErrorKind::Protocol,
            ServerFailure::BadCredentials => ErrorKind::Credentials,
            ServerFailure::Store => ErrorKind::Temporary,
        }
    }
}

/// A server-side failure: the cause plus an optional human-readable text for
/// `<failure><text/></failure>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerError {
    failure: ServerFailure,
    text: Option<String>,
}

impl ServerError {
    /// Wraps a cause, without text.
    pub fn new(failure: ServerFailure) -> Self {
        ServerError {
            failure,
            text: None,
        }
    }

    /// Adds a human-readable text (never include secrets).
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// The SASL condition to send.
    pub fn condition(&self) -> Condition {
        self.failure.condition()
    }

    /// The optional `<text/>`.
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// The cause.
    pub fn failure(&self) -> &ServerFailure {
        &self.failure
    }

    /// The broad kind of the cause.
    pub fn kind(&self) -> ErrorKind {
        self.failure.kind()
    }
}

impl From<ServerFailure> for ServerError {
    fn from(failure: ServerFailure) -> Self {
        ServerError::new(failure)
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.failure, self.condition())
    }
}

impl std::error::Error for ServerError {}

/// Why the client side gave up. The stream layer answers any of these with
/// `<abort/>` (during the exchange) or by closing the stream (after `<success/>`).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The server's message does not follow the mechanism's syntax.
    #[error("malformed server message: {0}")]
    Malformed(String),
    /// The server's message is well-formed but breaks the mechanism's rules
    /// (missing nonce, wrong algorithm, nonce not extending ours, too few iterations, ...).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The server failed to prove knowledge of the secret (rspauth / `v=` wrong or missing).
    #[error("mutual authentication failed: {0}")]
    MutualAuth(&'static str),
    /// The server reported an error inside the mechanism (SCRAM `e=`).
    #[error("server reported: {0}")]
    Server(String),
    /// The exchange is already over or a step came out of order.
    #[error("unexpected step: {0}")]
    OutOfSequence(&'static str),
    /// The local credentials cannot be used with this mechanism (e.g. SASLprep
    /// failed, or a non-Latin-1 name without `charset=utf-8`).
    #[error("unusable credentials: {0}")]
    Credentials(&'static str),
    /// XEP-0474: the server's `h=` does not match the mechanisms and
    /// channel-binding types the client saw advertised. Someone between
    /// client and server changed those lists: an active attack.
    #[error("downgrade detected (XEP-0474): the mechanism or channel-binding list was changed in transit")]
    Downgrade,
    /// XEP-0474 protection is required
    /// ([`ClientCredentials::require_ssdp`](crate::ClientCredentials::require_ssdp)),
    /// but the server-first-message has no `h=`.
    #[error("the server does not support XEP-0474 downgrade protection")]
    NoDowngradeProtection,
}

impl ClientError {
    /// The broad kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Malformed(_) => ErrorKind::Malformed,
            ClientError::Protocol(_) | ClientError::OutOfSequence(_) => ErrorKind::Protocol,
            ClientError::MutualAuth(_) => ErrorKind::MutualAuth,
            ClientError::Server(_) => ErrorKind::Credentials,
            ClientError::Credentials(_) => ErrorKind::Local,
            ClientError::Downgrade | ClientError::NoDowngradeProtection => ErrorKind::Downgrade,
        }
    }
}

/// The credential store could not answer (I/O, database down, ...). Becomes
/// `temporary-auth-failure`; the cause stays reachable through
/// [`source`](std::error::Error::source) for the store's own logs.
///
/// ```
/// use std::error::Error as _;
/// use xmpp_sasl::StoreError;
///
/// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "database timed out");
/// let e = StoreError::new(io);
/// assert_eq!(e.to_string(), "credential store error: database timed out");
/// let cause = e.source().and_then(|s| s.downcast_ref::<std::io::Error>());
/// assert_eq!(cause.map(|c| c.kind()), Some(std::io::ErrorKind::TimedOut));
/// ```
#[derive(Debug, thiserror::Error)]
// The cause's text is in the message as well as in `source()`: most callers
// log only `Display`, and the message alone would not say what failed.
#[error("credential store error: {source}")]
pub struct StoreError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl StoreError {
    /// Wraps the store's error (anything that converts into a boxed error,
    /// including a `String`).
    pub fn new(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        StoreError {
            source: source.into(),
        }
    }

    /// An error with only a message as its cause.
    pub fn msg(message: impl fmt::Display) -> Self {
        Self::new(message.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_names_round_trip() {
        let names = [
            "aborted",
            "account-disabled",
            "credentials-expired",
            "encryption-required",
            "incorrect-encoding",
            "invalid-authzid",
            "invalid-mechanism",
            "malformed-request",
            "mechanism-too-weak",
            "not-authorized",
            "temporary-auth-failure",
        ];
        for (c, n) in Condition::ALL.iter().zip(names) {
            assert_eq!(c.as_str(), n);
            assert_eq!(Condition::from_name(n), Some(*c));
        }
        assert_eq!(Condition::from_name("bad-auth"), None);
        assert_eq!(Condition::from_name("Aborted"), None);
    }

    #[test]
    fn store_error_keeps_its_cause() {
        use std::error::Error as _;
        #[derive(Debug, thiserror::Error)]
        #[error("pool exhausted")]
        struct Pool(#[source] std::io::Error);

        let e = StoreError::new(Pool(std::io::Error::other("connection refused")));
        assert_eq!(e.to_string(), "credential store error: pool exhausted");
        let pool = e.source().and_then(|s| s.downcast_ref::<Pool>());
        assert!(pool.is_some());
        // The whole chain is there: store error -> pool -> io.
        let io = e.source().and_then(|s| s.source());
        assert_eq!(
            io.map(|s| s.to_string()).as_deref(),
            Some("connection refused")
        );

        let e = StoreError::msg("db down");
        assert_eq!(e.to_string(), "credential store error: db down");
        assert_eq!(
            e.source().map(|s| s.to_string()).as_deref(),
            Some("db down")
        );
        assert!(e.source().and_then(|s| s.source()).is_none());
    }

    #[test]
    fn failures_map_to_distinct_kinds() {
        assert_eq!(
            ServerFailure::Malformed("x".into()).condition(),
            Condition::MalformedRequest
        );
        assert_eq!(
            ServerFailure::Protocol("x").condition(),
            Condition::NotAuthorized
        );
        assert_eq!(
            ServerFailure::BadCredentials.condition(),
            Condition::NotAuthorized
        );
        assert_ne!(
            ServerFailure::Protocol("x").kind(),
            ServerFailure::BadCredentials.kind()
        );
        assert_eq!(
            ServerFailure::Store.condition(),
            Condition::TemporaryAuthFailure
        );
    }
}
