//! The one preparation of a username as an account key.
//!
//! An XMPP server binds `authcid@domain` after SASL, and a JID's localpart is
//! prepared with nodeprep (RFC 6122 Appendix A, RFC 7622's predecessor that
//! the `jid` crate implements). If a store keyed accounts any other way (say
//! SASLprep, which keeps case), "Juliet" and "juliet" would be two accounts
//! binding one JID, each able to replace the other's sessions. So every
//! store keys by [`prepare_username`], and whoever binds uses the same rule.

use std::borrow::Cow;

/// The longest prepared localpart, in bytes (RFC 7622 §3.3.1).
const MAX_LEN: usize = 1023;

/// Why a username cannot name an account.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUsername {
    /// Nodeprep refused it: a prohibited character (`@`, `/`, `"`, `&`, `'`,
    /// `:`, `<`, `>`, spaces, controls...) or bidirectional text it forbids.
    #[error("{0:?} is not a valid localpart (nodeprep refuses it)")]
    Prohibited(String),
    /// Empty once prepared.
    #[error("empty username")]
    Empty,
    /// Longer than 1023 bytes once prepared.
    #[error("username longer than {MAX_LEN} bytes")]
    TooLong,
}

/// Prepares `username` as the key of its account: nodeprep, as for a JID's
/// localpart, so the account and the JID bound for it always agree
/// (`"Juliet"` → `"juliet"`). Borrows when the name is already prepared.
///
/// ```
/// use xmpp_sasl::prepare_username;
///
/// assert_eq!(prepare_username("Juliet").unwrap(), "juliet");
/// assert!(prepare_username("juliet@example.com").is_err());
/// ```
pub fn prepare_username(username: &str) -> Result<Cow<'_, str>, InvalidUsername> {
    let prepared = stringprep::nodeprep(username)
        .map_err(|_| InvalidUsername::Prohibited(username.to_owned()))?;
    match prepared.len() {
        0 => Err(InvalidUsername::Empty),
        n if n > MAX_LEN => Err(InvalidUsername::TooLong),
        _ => Ok(prepared),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_folds_and_refuses_what_a_localpart_cannot_hold() {
        assert_eq!(prepare_username("JULIET").unwrap(), "juliet");
        assert!(matches!(
            prepare_username("juliet").unwrap(),
            Cow::Borrowed("juliet")
        ));
        assert_eq!(prepare_username("Straße").unwrap(), "strasse");
        assert_eq!(prepare_username(""), Err(InvalidUsername::Empty));
        assert_eq!(
            prepare_username(&"a".repeat(1024)),
            Err(InvalidUsername::TooLong)
        );
        for bad in ["a@b", "a b", "a/b", "a:b", "a\u{a0}b"] {
            assert!(
                matches!(prepare_username(bad), Err(InvalidUsername::Prohibited(_))),
                "{bad:?}"
            );
        }
    }
}
