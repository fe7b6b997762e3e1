//! RFC 6120 §4.9.3 stream error conditions and §8.3.3 stanza error conditions.

use std::fmt;
use std::str::FromStr;

macro_rules! conditions {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $(
                #[doc = concat!("`<", $text, "/>`")]
                $variant,
            )*
        }

        impl $name {
            /// The element name used on the wire.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// Looks a condition up by its element name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCondition;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_name(s).ok_or(UnknownCondition)
            }
        }
    };
}

/// The name given is not a defined condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown condition")]
pub struct UnknownCondition;

conditions! {
    /// A stream error condition (RFC 6120 §4.9.3), namespace
    /// `urn:ietf:params:xml:ns:xmpp-streams`.
    StreamCondition {
        BadFormat => "bad-format",
        BadNamespacePrefix => "bad-namespace-prefix",
        Conflict => "conflict",
        ConnectionTimeout => "connection-timeout",
        HostGone => "host-gone",
        HostUnknown => "host-unknown",
        ImproperAddressing => "improper-addressing",
        InternalServerError => "internal-server-error",
        InvalidFrom => "invalid-from",
        InvalidNamespace => "invalid-namespace",
        InvalidXml => "invalid-xml",
        NotAuthorized => "not-authorized",
        NotWellFormed => "not-well-formed",
        PolicyViolation => "policy-violation",
        RemoteConnectionFailed => "remote-connection-failed",
        Reset => "reset",
        ResourceConstraint => "resource-constraint",
        RestrictedXml => "restricted-xml",
        SeeOtherHost => "see-other-host",
        SystemShutdown => "system-shutdown",
        UndefinedCondition => "undefined-condition",
        UnsupportedEncoding => "unsupported-encoding",
        UnsupportedFeature => "unsupported-feature",
        UnsupportedStanzaType => "unsupported-stanza-type",
        UnsupportedVersion => "unsupported-version",
    }
}

conditions! {
    /// A stanza error condition (RFC 6120 §8.3.3), namespace
    /// `urn:ietf:params:xml:ns:xmpp-stanzas`; the subset negotiation uses
    /// and a server's minimal IQ handling needs.
    StanzaCondition {
        BadRequest => "bad-request",
        Conflict => "conflict",
        FeatureNotImplemented => "feature-not-implemented",
        Forbidden => "forbidden",
        InternalServerError => "internal-server-error",
        ItemNotFound => "item-not-found",
        NotAllowed => "not-allowed",
        NotAuthorized => "not-authorized",
        PolicyViolation => "policy-violation",
        RecipientUnavailable => "recipient-unavailable",
        ResourceConstraint => "resource-constraint",
        ServiceUnavailable => "service-unavailable",
        UndefinedCondition => "undefined-condition",
        UnexpectedRequest => "unexpected-request",
    }
}

impl StanzaCondition {
    /// The error `type` RFC 6120 §8.3.3 suggests for this condition.
    pub fn default_type(&self) -> &'static str {
        match self {
            Self::BadRequest | Self::PolicyViolation => "modify",
            Self::NotAuthorized | Self::Forbidden => "auth",
            Self::InternalServerError | Self::ResourceConstraint | Self::UnexpectedRequest => {
                "wait"
            }
            _ => "cancel",
        }
    }
}

impl From<xmpp_xml::Condition> for StreamCondition {
    fn from(c: xmpp_xml::Condition) -> Self {
        use xmpp_xml::Condition as X;
        match c {
            X::NotWellFormed => Self::NotWellFormed,
            X::RestrictedXml => Self::RestrictedXml,
            X::InvalidNamespace => Self::InvalidNamespace,
            X::BadNamespacePrefix => Self::BadNamespacePrefix,
            X::PolicyViolation => Self::PolicyViolation,
            X::UnsupportedEncoding => Self::UnsupportedEncoding,
            X::BadFormat => Self::BadFormat,
            X::InvalidXml => Self::InvalidXml,
            _ => Self::BadFormat,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_25_stream_conditions_round_trip() {
        let names = [
            "bad-format",
            "bad-namespace-prefix",
            "conflict",
            "connection-timeout",
            "host-gone",
            "host-unknown",
            "improper-addressing",
            "internal-server-error",
            "invalid-from",
            "invalid-namespace",
            "invalid-xml",
            "not-authorized",
            "not-well-formed",
            "policy-violation",
            "remote-connection-failed",
            "reset",
            "resource-constraint",
            "restricted-xml",
            "see-other-host",
            "system-shutdown",
            "undefined-condition",
            "unsupported-encoding",
            "unsupported-feature",
            "unsupported-stanza-type",
            "unsupported-version",
        ];
        for n in names {
            let c = StreamCondition::from_name(n).expect(n);
            assert_eq!(c.as_str(), n);
        }
        assert_eq!(StreamCondition::from_name("xml-not-well-formed"), None);
    }
}
