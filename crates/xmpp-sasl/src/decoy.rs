//! What a server verifies against when it has nothing real to verify: a
//! decoy secret for a user who does not exist (or has no secret for the
//! chosen mechanism), derived from a server secret and the username.
//!
//! The decoy makes such a user indistinguishable from a real one with a
//! wrong password: SCRAM shows a salt that is stable across connections and
//! restarts (a fresh random salt on every attempt would tell that the account
//! does not exist), and every mechanism does the same work (PLAIN one PBKDF2
//! at the count real accounts use, DIGEST-MD5 and SCRAM the same hashes) and
//! fails with the same condition after the same number of round trips.
//!
//! The mechanisms compute the decoy on every attempt, for real accounts too,
//! so that its cost (a few HMACs) does not tell the two apart either.

use std::sync::{Arc, OnceLock};

use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

use crate::crypto::{self, ScramHash};
use crate::store::{DigestSecret, ScramSecret, DEFAULT_ITERATIONS};

/// Salt length of decoys: what [`crate::StoredCredentials::derive`] gives
/// real accounts.
const SALT_LEN: usize = 16;

/// A server-wide secret key from which decoy credentials are derived.
/// Cloning shares it; it is zeroized when the last clone is dropped and
/// never printed.
///
/// Servers that share an account store (or restart) should share the
/// secret too: otherwise the salt an unknown user is shown changes with the
/// node or the restart, while a real account's does not.
#[derive(Clone)]
pub struct ServerSecret(Arc<Zeroizing<[u8; ServerSecret::LEN]>>);

impl ServerSecret {
    /// Length of the secret in bytes.
    pub const LEN: usize = 32;

    /// A fresh secret from the OS CSPRNG.
    pub fn random() -> Self {
        let mut key = Zeroizing::new([0u8; Self::LEN]);
        OsRng.fill_bytes(key.as_mut());
        ServerSecret(Arc::new(key))
    }

    /// A secret loaded from storage.
    pub fn from_bytes(bytes: &[u8; Self::LEN]) -> Self {
        ServerSecret(Arc::new(Zeroizing::new(*bytes)))
    }

    /// The secret's bytes, to store them (e.g. next to the accounts).
    pub fn to_bytes(&self) -> Zeroizing<[u8; Self::LEN]> {
        Zeroizing::new(**self.0)
    }

    /// `HMAC-SHA-256(secret, label || fields)`, each field length-prefixed so
    /// that no two inputs share an encoding, truncated to `len` (at most 32).
    fn derive(&self, label: &str, fields: &[&[u8]], len: usize) -> Vec<u8> {
        let mut input = Vec::with_capacity(64);
        for f in std::iter::once(label.as_bytes()).chain(fields.iter().copied()) {
            input.extend_from_slice(&(f.len() as u64).to_be_bytes());
            input.extend_from_slice(f);
        }
        let mut out = ScramHash::Sha256.hmac(self.0.as_slice(), &input);
        out.truncate(len);
        out
    }
}

impl Default for ServerSecret {
    /// One random secret for the whole process, so that every connection
    /// of a server that sets none still agrees with the others.
    fn default() -> Self {
        static PROCESS: OnceLock<ServerSecret> = OnceLock::new();
        PROCESS.get_or_init(Self::random).clone()
    }
}

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret(..)")
    }
}

/// How a server answers for a user it cannot verify. Part of
/// [`ServerMechanismConfig`](crate::ServerMechanismConfig).
///
/// ```
/// use xmpp_sasl::{Decoys, ServerSecret};
///
/// // Loaded from the account store, so every node and restart agrees.
/// let secret = ServerSecret::from_bytes(&[7; 32]);
/// let decoys = Decoys::new(secret).with_iterations(4096);
/// # let _ = decoys;
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Decoys {
    /// The key decoys are derived from. Default: one random secret per
    /// process ([`ServerSecret::default`]).
    pub secret: ServerSecret,
    /// The SCRAM iteration count new accounts get (and so the count an
    /// unknown user is shown, and PLAIN's decoy derivation costs). Default:
    /// [`DEFAULT_ITERATIONS`], what [`crate::StoredCredentials::derive`] uses.
    pub iterations: u32,
    /// The name the credential store files a username under (after the
    /// mechanism's SASLprep). Two usernames that reach the same account must
    /// get the same decoy, or comparing their salts tells the account does
    /// not exist. Default: [`crate::prepare_username`] (XMPP nodeprep), what
    /// [`crate::MemoryStore`] and binding do, falling back to the name as
    /// given where it fails; a store that files names otherwise sets its own.
    pub account_key: fn(&str) -> String,
}

impl Decoys {
    /// Decoys from `secret`, with the default iteration count and account key.
    pub fn new(secret: ServerSecret) -> Self {
        Decoys {
            secret,
            iterations: DEFAULT_ITERATIONS,
            account_key: nodeprep_key,
        }
    }

    /// Sets the iteration count of new accounts.
    pub fn with_iterations(mut self, iterations: u32) -> Self {
        self.iterations = iterations;
        self
    }

    /// Sets how the store names accounts.
    pub fn with_account_key(mut self, account_key: fn(&str) -> String) -> Self {
        self.account_key = account_key;
        self
    }

    /// The SCRAM secret `username@domain` would have if it existed. Its salt
    /// is shown; its keys match no password anyone can know.
    pub(crate) fn scram(&self, hash: ScramHash, domain: &str, username: &str) -> ScramSecret {
        let account = (self.account_key)(username);
        let name: &[u8] = match hash {
            ScramHash::Sha1 => b"SHA-1",
            ScramHash::Sha256 => b"SHA-256",
        };
        let field = |what: &str, len: usize| {
            self.secret
                .derive(what, &[name, domain.as_bytes(), account.as_bytes()], len)
        };
        ScramSecret {
            salt: field("scram-salt", SALT_LEN),
            iterations: self.iterations,
            stored_key: field("scram-stored-key", hash.output_len()),
            server_key: field("scram-server-key", hash.output_len()),
        }
    }

    /// The DIGEST-MD5 secret `username@domain` would have for `realm`: as
    /// many readings as an account with an ASCII password has, so that
    /// verifying against it costs the same.
    pub(crate) fn digest(&self, domain: &str, username: &str, realm: &str) -> DigestSecret {
        let account = (self.account_key)(username);
        let key = |i: u8| {
            let mut out = [0u8; 16];
            let v = self.secret.derive(
                "digest-md5-ha1",
                &[
                    domain.as_bytes(),
                    account.as_bytes(),
                    realm.as_bytes(),
                    &[i],
                ],
                16,
            );
            out.copy_from_slice(&v);
            out
        };
        // DigestSecret::derive's readings for an ASCII password: the UTF-8
        // one differs when the username or realm has a Latin-1 character,
        // the unconverted-realm one when both do.
        let differs = |s: &str| crypto::latin1_or_utf8(s).as_ref() != s.as_bytes();
        // The stored secret is derived from the account name, so the decoy
        // counts its readings from that too.
        let (user, realm_differs) = (differs(&account), differs(realm));
        let alts = u8::from(user || realm_differs) + u8::from(user && realm_differs);
        DigestSecret {
            realm: realm.to_owned(),
            ha1: key(0),
            alt_ha1: (1..=alts).map(key).collect(),
        }
    }
}

impl Default for Decoys {
    fn default() -> Self {
        Self::new(ServerSecret::default())
    }
}

/// The default [`Decoys::account_key`]: nodeprep where it succeeds.
fn nodeprep_key(username: &str) -> String {
    crate::prepare_username(username).map_or_else(|_| username.to_owned(), |p| p.into_owned())
}

#[cfg(test)]
mod tests;
