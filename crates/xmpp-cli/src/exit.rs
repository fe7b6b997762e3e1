//! Exit codes and the error type every command returns.

use std::fmt;

/// Process exit codes (fixed by the interface contract).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// Bad usage: arguments, missing input, nothing to prompt on.
    Usage = 2,
    /// Authentication failed (SASL failure or failed mutual authentication).
    Auth = 3,
    /// Stream or protocol error.
    Protocol = 4,
    /// Network error or timeout.
    Network = 5,
    /// `xmpp send`: the server bounced the message (a stanza error).
    Bounced = 6,
    /// Anything else (a store that cannot be opened, ...).
    Other = 1,
}

/// A failed command: the message to print and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: Code,
    /// What to tell the user.
    pub message: String,
}

impl Failure {
    /// A failure with this code.
    pub fn new(code: Code, message: impl fmt::Display) -> Self {
        Failure {
            code,
            message: message.to_string(),
        }
    }

    /// Exits with `code` and prints nothing: the command has said it all.
    pub fn silent(code: Code) -> Self {
        Self::new(code, "")
    }

    /// A usage error.
    pub fn usage(message: impl fmt::Display) -> Self {
        Self::new(Code::Usage, message)
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError as E;
        let code = match e {
            E::Exists(_) | E::NotFound(_) | E::Location(..) | E::InvalidUsername(_) => Code::Usage,
            _ => Code::Other,
        };
        Failure::new(code, e)
    }
}

impl From<xmpp_stream::ClientError> for Failure {
    /// Channel-binding and SASL2 policy failures, and a SCRAM downgrade that
    /// XEP-0474 detected, are negotiation failures (4), not wrong
    /// credentials: the password was never in question.
    fn from(e: xmpp_stream::ClientError) -> Self {
        let code = match &e {
            xmpp_stream::ClientError::Mechanism { source, .. }
                if source.kind() == xmpp_sasl::ErrorKind::Downgrade =>
            {
                Code::Protocol
            }
            _ => match e.kind() {
                xmpp_stream::ErrorKind::Auth => Code::Auth,
                xmpp_stream::ErrorKind::Network => Code::Network,
                _ => Code::Protocol,
            },
        };
        // What to do about a channel-binding refusal is the user's call.
        let hint = match &e {
            xmpp_stream::ClientError::ChannelBinding(_) => true,
            xmpp_stream::ClientError::Mechanism { source, .. } => {
                matches!(source, xmpp_sasl::ClientError::NoDowngradeProtection)
            }
            _ => false,
        };
        if hint {
            return Failure::new(
                code,
                format!(
                    "{e}\nhint: a server that lists -PLUS without the channel-binding types it \
                     supports (XEP-0440) and without XEP-0474 (Debian 12's ejabberd 23.01, for one) \
                     cannot be told from a tampered offer; if you trust the path to it, use \
                     --channel-binding off"
                ),
            );
        }
        Failure::new(code, e)
    }
}

/// The result of a command.
pub type CmdResult = Result<(), Failure>;

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_stream::ClientError as E;

    #[test]
    fn policy_failures_and_downgrades_are_negotiation_failures() {
        let code = |e: E| Failure::from(e).code;
        assert_eq!(code(E::ChannelBinding("no TLS".into())), Code::Protocol);
        assert_eq!(code(E::Sasl2("not offered".into())), Code::Protocol);
        let mechanism = xmpp_sasl::Mechanism::ScramSha256;
        let downgrade = E::Mechanism {
            mechanism,
            source: xmpp_sasl::ClientError::Downgrade,
        };
        assert_eq!(code(downgrade), Code::Protocol);
        let mutual = E::Mechanism {
            mechanism,
            source: xmpp_sasl::ClientError::MutualAuth("bad v="),
        };
        assert_eq!(code(mutual), Code::Auth);
    }
}
