//! Channel-binding data for SCRAM-*-PLUS (RFC 5802 §6, RFC 5056).
//!
//! The stream layer takes the data from the TLS session: `tls-exporter` (RFC 9266:
//! 32 bytes exported with label `EXPORTER-Channel-Binding` and an empty context;
//! TLS 1.3, or TLS 1.2 with extended master secret) or `tls-server-end-point`
//! (RFC 5929 §4: the hash of the server's certificate, SHA-256 for MD5/SHA-1
//! signed certificates). This crate only carries the bytes and checks them.

use std::fmt;

/// A channel-binding type this crate can carry (`tls-unique` is deliberately absent:
/// it is unsafe without extended master secret and undefined for TLS 1.3, RFC 9266).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelBindingType {
    /// `tls-exporter` (RFC 9266).
    TlsExporter,
    /// `tls-server-end-point` (RFC 5929 §4).
    TlsServerEndPoint,
}

impl ChannelBindingType {
    /// All types, in the order a server should prefer them.
    pub const ALL: [ChannelBindingType; 2] = [
        ChannelBindingType::TlsExporter,
        ChannelBindingType::TlsServerEndPoint,
    ];

    /// The registered name, as sent in the GS2 header (`p=<name>`) and in
    /// XEP-0440's `<channel-binding type='...'/>`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelBindingType::TlsExporter => "tls-exporter",
            ChannelBindingType::TlsServerEndPoint => "tls-server-end-point",
        }
    }

    /// Parses a registered name (exact, case-sensitive as RFC 5056 names are
    /// compared octet by octet); `None` for anything else, including `tls-unique`.
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

impl fmt::Display for ChannelBindingType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Channel-binding data of one type, taken from the TLS session.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// The type.
    pub kind: ChannelBindingType,
    /// The data (exporter output or certificate hash).
    pub data: Vec<u8>,
}

impl ChannelBinding {
    /// Binding data of `kind`.
    pub fn new(kind: ChannelBindingType, data: impl Into<Vec<u8>>) -> Self {
        ChannelBinding {
            kind,
            data: data.into(),
        }
    }
}

impl fmt::Debug for ChannelBinding {
    /// Shows the type, the length and a short prefix: enough to compare two logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = crate::crypto::hex(&self.data[..self.data.len().min(4)]);
        write!(
            f,
            "ChannelBinding({}, {} bytes, {prefix}..)",
            self.kind,
            self.data.len()
        )
    }
}

/// What a client can do about channel binding on this connection; it decides the
/// SCRAM GS2 flag (RFC 5802 §6).
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClientChannelBinding {
    /// No channel binding possible (no TLS, or no data available): flag `n`.
    #[default]
    Unsupported,
    /// We could bind, but the server offered no `-PLUS` mechanism: flag `y`, so that
    /// a server that did offer one (a stripped offer) detects the downgrade.
    NotOffered,
    /// Bind to this data: flag `p=<type>` with a `-PLUS` mechanism. With a non-PLUS
    /// mechanism the client sends `y` (it supports binding but is not using it),
    /// which a `-PLUS`-advertising server rejects; so pick `-PLUS` whenever offered.
    Use(ChannelBinding),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ChannelBindingType::ALL {
            assert_eq!(ChannelBindingType::from_name(t.as_str()), Some(t));
        }
        assert_eq!(ChannelBindingType::from_name("tls-unique"), None);
        assert_eq!(ChannelBindingType::from_name("TLS-EXPORTER"), None);
    }

    #[test]
    fn debug_is_short() {
        let cb = ChannelBinding::new(ChannelBindingType::TlsExporter, vec![0xab; 64]);
        let d = format!("{cb:?}");
        assert_eq!(d, "ChannelBinding(tls-exporter, 64 bytes, abababab..)");
    }
}
