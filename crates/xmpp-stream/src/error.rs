//! Why a negotiation failed.

use crate::condition::{StanzaCondition, StreamCondition};

/// Why the server side of a negotiation ended without a bound session.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// We sent this stream error and closed the stream.
    #[error("sent stream error <{condition}/>{}", fmt_text(text))]
    Sent {
        /// The condition sent.
        condition: StreamCondition,
        /// The text sent with it.
        text: Option<String>,
    },
    /// The client sent this stream error.
    #[error("client sent stream error <{condition}/>{}", fmt_text(text))]
    Received {
        /// The condition received.
        condition: StreamCondition,
        /// The client's text.
        text: Option<String>,
    },
    /// A SASL failure ended the stream (RFC 3920 behaviour, when configured).
    #[error("authentication failed: <{0}/>")]
    SaslFailed(xmpp_sasl::Condition),
    /// The client closed the stream or the connection.
    #[error("the client closed the stream")]
    PeerClosed,
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[source] std::io::Error),
    /// A frame could not be encoded (a bug: the negotiation only sends
    /// frames it built itself).
    #[error("XML error: {0}")]
    Xml(#[source] xmpp_xml::XmlError),
    /// The client sent `<starttls/>` where it is not offered; we answered
    /// with `<failure/>` and closed the stream (RFC 6120 §5.4.2.2).
    #[error("TLS: STARTTLS not available")]
    StartTlsRefused,
    /// Direct TLS was asked for, but no certificate is configured.
    #[error("TLS: no certificate configured")]
    NoCertificate,
    /// The TLS handshake failed or did not finish in time.
    #[error("TLS: {0}")]
    Tls(#[source] std::io::Error),
    /// A bug: the negotiation reached a state it should not.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<xmpp_xml::XmlError> for ServerError {
    /// I/O failures under the codec are [`ServerError::Io`]; anything else
    /// the codec reports is [`ServerError::Xml`].
    fn from(e: xmpp_xml::XmlError) -> Self {
        match e {
            xmpp_xml::XmlError::Io(e) => ServerError::Io(e),
            other => ServerError::Xml(other),
        }
    }
}

impl ServerError {
    /// The stream error condition involved, if any.
    pub fn condition(&self) -> Option<StreamCondition> {
        match self {
            ServerError::Sent { condition, .. } | ServerError::Received { condition, .. } => {
                Some(*condition)
            }
            _ => None,
        }
    }
}

/// Broad classes of client failure, e.g. for a command-line exit code.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Authentication failed: a SASL failure, or the server failed mutual
    /// authentication.
    Auth,
    /// The server sent a stream error or broke the protocol.
    Protocol,
    /// The network failed or timed out.
    Network,
}

/// Why the client side of a negotiation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server sent a stream error.
    #[error("stream error <{condition}/>{}", fmt_text(text))]
    Stream {
        /// The condition.
        condition: StreamCondition,
        /// The server's text.
        text: Option<String>,
    },
    /// The server answered SASL with `<failure/>` (after any fallback).
    #[error(
        "authentication failed with {mechanism}: <{condition}/>{}",
        fmt_text(text)
    )]
    Sasl {
        /// The mechanism that failed last.
        mechanism: xmpp_sasl::Mechanism,
        /// The condition.
        condition: xmpp_sasl::Condition,
        /// The server's text.
        text: Option<String>,
    },
    /// The server did not prove that it knows the credentials (DIGEST-MD5
    /// `rspauth`, SCRAM `v=`), or sent SASL data the mechanism rejects.
    #[error("{mechanism}: {source}")]
    Mechanism {
        /// The mechanism.
        mechanism: xmpp_sasl::Mechanism,
        /// What the mechanism found.
        source: xmpp_sasl::ClientError,
    },
    /// None of the offered mechanisms is acceptable to us.
    #[error("no acceptable SASL mechanism among those offered: {offered:?}")]
    NoMechanism {
        /// What the server offered, names we do not know included.
        offered: Vec<xmpp_sasl::MechanismName>,
    },
    /// The server's stream header is not XMPP 1.0.
    #[error("unsupported stream version {0:?}")]
    UnsupportedVersion(Option<String>),
    /// The server broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// Our channel-binding policy cannot be met, or the offer shows signs
    /// of tampering (a `-PLUS` offer without usable binding types and no
    /// XEP-0474 proof that the list is genuine).
    #[error("channel binding: {0}")]
    ChannelBinding(String),
    /// We have no password, and no FAST token that can be used here: the
    /// login is not attempted (an empty password would only count as a
    /// failed login on the server).
    #[error("no password to log in with: {0}")]
    NoPassword(String),
    /// SASL2 is required but not offered, or the server asks for SASL2
    /// tasks we do not implement.
    #[error("SASL2: {0}")]
    Sasl2(String),
    /// The server's XML is not acceptable.
    #[error("bad XML from the server: {0}")]
    Xml(#[from] xmpp_xml::XmlError),
    /// TLS could not be established: the server does not offer it while
    /// our policy requires it, refused it, or the handshake failed (e.g. the
    /// certificate does not verify).
    #[error("TLS: {0}")]
    Tls(String),
    /// Resource binding failed.
    #[error("resource binding failed: <{0}/>")]
    Bind(StanzaCondition),
    /// Session establishment failed.
    #[error("session establishment failed: <{0}/>")]
    Session(StanzaCondition),
    /// The server closed the stream or connection.
    #[error("the server closed the stream")]
    Closed,
    /// Negotiation did not finish in time.
    #[error("negotiation timed out")]
    Timeout,
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A bug: the negotiation reached a state it should not.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl ClientError {
    /// The broad class of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ClientError::Sasl { .. }
            | ClientError::Mechanism { .. }
            | ClientError::NoPassword(_) => ErrorKind::Auth,
            ClientError::Io(_) | ClientError::Timeout | ClientError::Closed => ErrorKind::Network,
            ClientError::Xml(e) if e.condition().is_none() => ErrorKind::Network,
            _ => ErrorKind::Protocol,
        }
    }
}

fn fmt_text(text: &Option<String>) -> String {
    match text {
        Some(t) => format!(" ({t})"),
        None => String::new(),
    }
}
