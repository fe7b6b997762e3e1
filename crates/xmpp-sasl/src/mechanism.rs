//! SASL mechanism names: the ones this crate implements ([`Mechanism`]), and any
//! name a peer may send ([`MechanismName`]), which keeps the names we do not know.
//!
//! SASL names are case-sensitive and upper-case (RFC 4422 §3.1), so parsing is
//! exact; [`Mechanism::from_name_ignore_ascii_case`] is for names typed by people.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::convert::Infallible;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

/// A mechanism this crate implements.
///
/// `Display` and `Debug` both show the IANA name (`Debug` quoted, as a string's),
/// so a log or a `{:?}` list reads the same as the names on the wire.
///
/// ```
/// use xmpp_sasl::Mechanism;
///
/// let m: Mechanism = "SCRAM-SHA-1-PLUS".parse().unwrap();
/// assert_eq!(m, Mechanism::ScramSha1Plus);
/// assert!(m.is_plus() && m.needs_secure_channel());
/// assert_eq!(m.to_string(), "SCRAM-SHA-1-PLUS");
/// assert!("scram-sha-1".parse::<Mechanism>().is_err()); // names are case-sensitive
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// `SCRAM-SHA-256-PLUS` (RFC 7677 with channel binding).
    ScramSha256Plus,
    /// `SCRAM-SHA-1-PLUS` (RFC 5802 with channel binding).
    ScramSha1Plus,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-1` (RFC 5802).
    ScramSha1,
    /// `DIGEST-MD5` (RFC 2831; historic per RFC 6331).
    DigestMd5,
    /// `PLAIN` (RFC 4616).
    Plain,
    /// `HT-SHA-256-EXPR`: a FAST token (XEP-0484) bound to `tls-exporter`.
    HtSha256Expr,
    /// `HT-SHA-256-ENDP`: a FAST token bound to `tls-server-end-point`.
    HtSha256Endp,
    /// `HT-SHA-256-UNIQ`: a FAST token bound to `tls-unique` (TLS 1.2 only;
    /// implemented, but never usable over rustls, which has no `tls-unique`).
    HtSha256Uniq,
    /// `HT-SHA-256-NONE`: a FAST token without channel binding.
    HtSha256None,
}

impl Mechanism {
    /// Every password-based mechanism this crate implements (what RFC 6120
    /// `<mechanisms/>` and SASL2 `<authentication/>` list), strongest first.
    /// The token mechanisms are in [`FAST`](Self::FAST).
    pub const ALL: [Mechanism; 6] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::DigestMd5,
        Mechanism::Plain,
    ];

    /// The FAST token mechanisms (XEP-0484, `HT-*`), in a client's order of
    /// preference: channel-bound first. A server lists them inside SASL2's
    /// `<fast/>`, never among the password mechanisms.
    pub const FAST: [Mechanism; 4] = [
        Mechanism::HtSha256Expr,
        Mechanism::HtSha256Endp,
        Mechanism::HtSha256Uniq,
        Mechanism::HtSha256None,
    ];

    /// What a server lists by default, in this order. The stream layer drops
    /// what a stream cannot have: those that
    /// [need a secure channel](Self::needs_secure_channel) without TLS, and
    /// the `-PLUS` ones without channel-binding data.
    pub const DEFAULT_OFFER: [Mechanism; 6] = Self::ALL;

    /// A client's default preference, most preferred first (what
    /// [`MechanismSelector::default`](crate::MechanismSelector) uses).
    pub const DEFAULT_PREFERENCE: [Mechanism; 6] = Self::ALL;

    /// The IANA name, e.g. `"SCRAM-SHA-256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::DigestMd5 => "DIGEST-MD5",
            Mechanism::Plain => "PLAIN",
            Mechanism::HtSha256Expr => "HT-SHA-256-EXPR",
            Mechanism::HtSha256Endp => "HT-SHA-256-ENDP",
            Mechanism::HtSha256Uniq => "HT-SHA-256-UNIQ",
            Mechanism::HtSha256None => "HT-SHA-256-NONE",
        }
    }

    /// Parses an IANA name exactly; `None` for a name this crate does not
    /// implement (including a miscased one).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain(Self::FAST)
            .find(|m| m.as_str() == name)
    }

    /// Parses a name typed by a person (`--mechanism scram-sha-1`): ASCII case
    /// is ignored. Names from the wire go through [`from_name`](Self::from_name)
    /// or [`MechanismName`].
    pub fn from_name_ignore_ascii_case(name: &str) -> Result<Self, UnknownMechanism> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownMechanism::new(name))
    }

    /// Whether this is a channel-binding (`-PLUS`) variant: it needs TLS
    /// channel-binding data on both ends (RFC 5802 §6).
    pub const fn is_plus(self) -> bool {
        matches!(self, Mechanism::ScramSha256Plus | Mechanism::ScramSha1Plus)
    }

    /// Whether this is a FAST token mechanism (`HT-*`, XEP-0484): it proves
    /// a token the server issued, not the password.
    pub const fn is_fast(self) -> bool {
        matches!(
            self,
            Mechanism::HtSha256Expr
                | Mechanism::HtSha256Endp
                | Mechanism::HtSha256Uniq
                | Mechanism::HtSha256None
        )
    }

    /// The channel-binding type a mechanism binds to: the `-PLUS` ones to the
    /// type the peers agree on (`None` here), the `HT-*` ones to the type in
    /// their name. `Some("tls-unique")` for `HT-SHA-256-UNIQ`, which no
    /// rustls connection can provide.
    pub const fn fast_binding(self) -> Option<&'static str> {
        match self {
            Mechanism::HtSha256Expr => Some("tls-exporter"),
            Mechanism::HtSha256Endp => Some("tls-server-end-point"),
            Mechanism::HtSha256Uniq => Some("tls-unique"),
            _ => None,
        }
    }

    /// Whether the client's message carries the password itself (PLAIN): such a
    /// mechanism belongs on a protected stream only (RFC 4616 §5, RFC 6120
    /// §13.8), and its payloads are redacted from logs.
    pub const fn sends_password(self) -> bool {
        matches!(self, Mechanism::Plain)
    }

    /// Whether this mechanism is offered and selected only on a TLS-protected
    /// stream: it [sends the password](Self::sends_password), or it
    /// [binds to the channel](Self::is_plus). A stream without TLS offers
    /// only the others (PLAIN too when its policy explicitly allows it; `-PLUS`
    /// never, as there is nothing to bind to).
    pub const fn needs_secure_channel(self) -> bool {
        self.is_plus() || self.sends_password() || self.is_fast()
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl FromStr for Mechanism {
    type Err = UnknownMechanism;

    /// Exact, as [`Mechanism::from_name`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or_else(|| UnknownMechanism::new(s))
    }
}

impl AsRef<str> for Mechanism {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for Mechanism {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Mechanism {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A name this crate does not implement. Its `Display` lists the ones it does.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown mechanism {name:?} (supported: {})", Supported)]
pub struct UnknownMechanism {
    name: String,
}

impl UnknownMechanism {
    fn new(name: &str) -> Self {
        UnknownMechanism {
            name: name.to_owned(),
        }
    }

    /// The name as given.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// `SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, ...`
struct Supported;

impl fmt::Display for Supported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, m) in Mechanism::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(m.as_str())?;
        }
        Ok(())
    }
}

/// A mechanism name as a peer sent it: one we implement, or one we do not,
/// kept as given (a server may offer `SCRAM-SHA-512-PLUS` or `X-OAUTH2`; a
/// client may ask for anything in `<auth/>`).
///
/// The unknown case cannot hold a name that [`Mechanism`] knows, so two names
/// are equal exactly when their text is, and [`known`](Self::known) is the one
/// way to get at the typed mechanism. Equality, ordering and hashing follow the
/// text; `Display` and `Debug` show it as a string's would, so a `Vec` of
/// names prints like a list of the names as sent (e.g. in error messages).
///
/// ```
/// use xmpp_sasl::{Mechanism, MechanismName};
///
/// let offered: Vec<MechanismName> = ["SCRAM-SHA-512-PLUS", "SCRAM-SHA-1"].map(MechanismName::from).into();
/// assert_eq!(offered[0].known(), None);
/// assert!(offered[0].is_plus()); // an unknown -PLUS still counts as a -PLUS offer
/// assert_eq!(offered[1].known(), Some(Mechanism::ScramSha1));
/// assert_eq!(format!("{offered:?}"), r#"["SCRAM-SHA-512-PLUS", "SCRAM-SHA-1"]"#);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct MechanismName(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Known(Mechanism),
    Unknown(Box<str>),
}

impl MechanismName {
    /// Parses a name exactly (SASL names are case-sensitive): one we know, or
    /// the name kept as given.
    pub fn new(name: &str) -> Self {
        match Mechanism::from_name(name) {
            Some(m) => MechanismName(Repr::Known(m)),
            None => MechanismName(Repr::Unknown(name.into())),
        }
    }

    /// The mechanism, if this crate implements it.
    pub fn known(&self) -> Option<Mechanism> {
        match &self.0 {
            Repr::Known(m) => Some(*m),
            Repr::Unknown(_) => None,
        }
    }

    /// The name as sent.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Known(m) => m.as_str(),
            Repr::Unknown(s) => s,
        }
    }

    /// Whether this names a channel-binding variant. For a name we do not know,
    /// its `-PLUS` suffix decides (the naming rule of GS2 and SCRAM, RFC 5801
    /// §4, RFC 5802 §4): a client must count a server's `SCRAM-SHA-512-PLUS` as a
    /// `-PLUS` offer when it chooses its GS2 flag (RFC 5802 §6).
    pub fn is_plus(&self) -> bool {
        match &self.0 {
            Repr::Known(m) => m.is_plus(),
            Repr::Unknown(s) => s.ends_with("-PLUS"),
        }
    }
}

impl From<Mechanism> for MechanismName {
    fn from(m: Mechanism) -> Self {
        MechanismName(Repr::Known(m))
    }
}

impl From<&str> for MechanismName {
    fn from(name: &str) -> Self {
        MechanismName::new(name)
    }
}

impl From<String> for MechanismName {
    fn from(name: String) -> Self {
        match Mechanism::from_name(&name) {
            Some(m) => MechanismName(Repr::Known(m)),
            None => MechanismName(Repr::Unknown(name.into_boxed_str())),
        }
    }
}

impl FromStr for MechanismName {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(MechanismName::new(s))
    }
}

impl fmt::Display for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for MechanismName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl AsRef<str> for MechanismName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for MechanismName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// By the text, as `Borrow<str>` requires.
impl Hash for MechanismName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for MechanismName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for MechanismName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialEq<Mechanism> for MechanismName {
    fn eq(&self, other: &Mechanism) -> bool {
        self.known() == Some(*other)
    }
}

impl PartialEq<MechanismName> for Mechanism {
    fn eq(&self, other: &MechanismName) -> bool {
        other == self
    }
}

impl PartialEq<str> for MechanismName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MechanismName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_of_names_is_looked_up_by_text() {
        let set: std::collections::HashSet<MechanismName> =
            ["PLAIN", "X-FOO"].map(MechanismName::from).into();
        assert!(set.contains("PLAIN") && set.contains("X-FOO") && !set.contains("plain"));
    }
}
