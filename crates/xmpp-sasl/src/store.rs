//! Stored (derived, never plaintext) credentials and the store the server side uses.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use zeroize::Zeroize;

use crate::cache::Pbkdf2Cache;
use crate::crypto::{self, ScramHash};
use crate::error::StoreError;
use crate::username::{prepare_username, InvalidUsername};

/// The SCRAM iteration count used by [`StoredCredentials::derive`] (and the
/// client's minimum, RFC 5802 §5.1 / RFC 7677 §4).
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// Looks users up for the server-side mechanisms. One store serves one domain.
#[async_trait::async_trait]
pub trait CredentialStore: Send + Sync {
    /// `Ok(None)` for an unknown user; `Err` when the store itself failed
    /// (reported to the client as `temporary-auth-failure`).
    async fn lookup(&self, username: &str) -> Result<Option<StoredCredentials>, StoreError>;
}

#[async_trait::async_trait]
impl<T: CredentialStore + ?Sized> CredentialStore for std::sync::Arc<T> {
    async fn lookup(&self, username: &str) -> Result<Option<StoredCredentials>, StoreError> {
        (**self).lookup(username).await
    }
}

/// Everything the server needs to verify one user, derived once from the password.
#[derive(Clone, Debug, Default)]
pub struct StoredCredentials {
    /// Refuse every login with `account-disabled` (after the credentials were verified,
    /// so the state of an account is not revealed to someone without its password).
    pub disabled: bool,
    /// Refuse every login with `credentials-expired` (also after verification).
    pub expired: bool,
    /// DIGEST-MD5 secrets, one per realm.
    pub digest_md5: Vec<DigestSecret>,
    /// SCRAM-SHA-1 secret (also used to verify PLAIN when there is no SHA-256 one).
    pub scram_sha1: Option<ScramSecret>,
    /// SCRAM-SHA-256 secret (preferred for verifying PLAIN).
    pub scram_sha256: Option<ScramSecret>,
}

impl StoredCredentials {
    /// Derives every stored form from a password: DIGEST-MD5 `H(user:realm:pass)` for each
    /// realm and SCRAM-SHA-1/SHA-256 secrets with fresh random salts and 4096 iterations.
    pub fn derive(username: &str, password: &str, realms: &[&str]) -> Self {
        Self::derive_with(
            username,
            password,
            realms,
            &crypto::random_salt(),
            &crypto::random_salt(),
            DEFAULT_ITERATIONS,
        )
    }

    /// Like [`derive`](Self::derive) with given salts and iteration count (for tests and imports).
    pub fn derive_with(
        username: &str,
        password: &str,
        realms: &[&str],
        salt_sha1: &[u8],
        salt_sha256: &[u8],
        iterations: u32,
    ) -> Self {
        StoredCredentials {
            disabled: false,
            expired: false,
            digest_md5: realms
                .iter()
                .map(|r| DigestSecret::derive(username, r, password))
                .collect(),
            scram_sha1: Some(ScramSecret::derive(
                ScramHash::Sha1,
                password,
                salt_sha1,
                iterations,
            )),
            scram_sha256: Some(ScramSecret::derive(
                ScramHash::Sha256,
                password,
                salt_sha256,
                iterations,
            )),
        }
    }

    /// The SCRAM secret for a hash, if stored.
    pub fn scram(&self, hash: ScramHash) -> Option<&ScramSecret> {
        match hash {
            ScramHash::Sha1 => self.scram_sha1.as_ref(),
            ScramHash::Sha256 => self.scram_sha256.as_ref(),
        }
    }

    /// The DIGEST-MD5 secret for a realm (exact match), if stored.
    pub fn digest_for_realm(&self, realm: &str) -> Option<&DigestSecret> {
        self.digest_md5.iter().find(|d| d.realm == realm)
    }
}

/// DIGEST-MD5 stored secret for one realm: `H(username:realm:password)` (raw 16 bytes).
#[derive(Clone)]
pub struct DigestSecret {
    /// The realm this secret was derived for (`""` = no realm).
    pub realm: String,
    /// `H(user:realm:pass)` with the per-field ISO-8859-1 rule (RFC 2831 §2.1.2.1).
    pub ha1: [u8; 16],
    /// The same value hashed by the other readings of the ISO-8859-1 rule seen in
    /// the wild (no conversion; password only, as GNU SASL does; realm untouched,
    /// as old Cyrus does). Only those that differ from `ha1`; empty for ASCII.
    pub alt_ha1: Vec<[u8; 16]>,
}

impl DigestSecret {
    /// Derives the secret for one realm.
    pub fn derive(username: &str, realm: &str, password: &str) -> Self {
        let l = crypto::latin1_or_utf8;
        let h = |u: &[u8], r: &[u8], p: &[u8]| crypto::md5(&[u, b":", r, b":", p]);
        let mut pw = l(password).into_owned();
        let ha1 = h(&l(username), &l(realm), &pw);
        let mut alt_ha1 = Vec::new();
        for cand in [
            h(username.as_bytes(), realm.as_bytes(), password.as_bytes()),
            h(username.as_bytes(), realm.as_bytes(), &pw),
            h(&l(username), realm.as_bytes(), &pw),
        ] {
            if cand != ha1 && !alt_ha1.contains(&cand) {
                alt_ha1.push(cand);
            }
        }
        pw.zeroize();
        DigestSecret {
            realm: realm.to_owned(),
            ha1,
            alt_ha1,
        }
    }
}

impl std::fmt::Debug for DigestSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // H(user:realm:pass) is password-equivalent: never print it.
        f.debug_struct("DigestSecret")
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl Drop for DigestSecret {
    fn drop(&mut self) {
        self.ha1.zeroize();
        for h in &mut self.alt_ha1 {
            h.zeroize();
        }
    }
}

/// SCRAM stored secret (RFC 5802 §3).
#[derive(Clone)]
pub struct ScramSecret {
    /// The salt.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

impl ScramSecret {
    /// Derives the secret from a password (SASLprep applied where it succeeds).
    pub fn derive(hash: ScramHash, password: &str, salt: &[u8], iterations: u32) -> Self {
        let pw = crypto::normalize_password(password);
        let salted = hash.salted_password(pw.as_bytes(), salt, iterations);
        let (_client_key, stored_key, server_key) = hash.keys(&salted);
        ScramSecret {
            salt: salt.to_vec(),
            iterations,
            stored_key,
            server_key,
        }
    }

    /// Checks a plaintext password against this secret (used by PLAIN): derives the
    /// salted password and compares StoredKey in constant time. Costs one PBKDF2.
    pub fn verify_password(&self, hash: ScramHash, password: &str) -> bool {
        self.verify_password_cached(hash, password, None)
    }

    /// Like [`ScramSecret::verify_password`], looking the derivation up in
    /// `cache` first.
    pub fn verify_password_cached(
        &self,
        hash: ScramHash,
        password: &str,
        cache: Option<&Pbkdf2Cache>,
    ) -> bool {
        let Some(cache) = cache else {
            let candidate = ScramSecret::derive(hash, password, &self.salt, self.iterations);
            return crypto::ct_eq(&candidate.stored_key, &self.stored_key);
        };
        let normalized = crypto::normalize_password(password);
        cache.verify_plain(
            hash,
            normalized.as_bytes(),
            &self.salt,
            self.iterations,
            &self.stored_key,
        )
    }
}

impl std::fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramSecret")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Drop for ScramSecret {
    fn drop(&mut self) {
        self.stored_key.zeroize();
        self.server_key.zeroize();
    }
}

/// An in-memory [`CredentialStore`]. Accounts are keyed by
/// [`prepare_username`] (nodeprep, as a JID's localpart), so every spelling
/// that binds the same JID names the same account: `"Juliet"` and
/// `"juliet"` are one user. A name nodeprep refuses names no account.
#[derive(Debug, Default)]
pub struct MemoryStore {
    users: RwLock<HashMap<String, StoredCredentials>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a user, deriving its stored forms from `password`
    /// (DIGEST-MD5 secrets for each of `realms`, for the prepared username:
    /// DIGEST-MD5 clients must send that spelling, as the hash covers it).
    pub fn add(
        &self,
        username: &str,
        password: &str,
        realms: &[&str],
    ) -> Result<(), InvalidUsername> {
        let key = prepare_username(username)?;
        let creds = StoredCredentials::derive(&key, password, realms);
        self.write().insert(key.into_owned(), creds);
        Ok(())
    }

    /// Adds (or replaces) a user with already derived credentials.
    pub fn insert(&self, username: &str, creds: StoredCredentials) -> Result<(), InvalidUsername> {
        let key = prepare_username(username)?.into_owned();
        self.write().insert(key, creds);
        Ok(())
    }

    /// Marks a user disabled; `false` if unknown.
    pub fn disable(&self, username: &str) -> bool {
        self.update(username, |c| c.disabled = true)
    }

    /// Re-enables a user; `false` if unknown.
    pub fn enable(&self, username: &str) -> bool {
        self.update(username, |c| c.disabled = false)
    }

    /// Marks a user's credentials expired; `false` if unknown.
    pub fn expire(&self, username: &str) -> bool {
        self.update(username, |c| c.expired = true)
    }

    /// Removes a user; `false` if unknown.
    pub fn remove(&self, username: &str) -> bool {
        let Ok(key) = prepare_username(username) else {
            return false;
        };
        self.write().remove(key.as_ref()).is_some()
    }

    /// Synchronous lookup (what [`CredentialStore::lookup`] returns).
    pub fn get(&self, username: &str) -> Option<StoredCredentials> {
        let key = prepare_username(username).ok()?;
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key.as_ref())
            .cloned()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, StoredCredentials>> {
        // Each update is a single insert, remove or field store: a panicking
        // holder cannot leave the map half-changed.
        self.users.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, username: &str, f: impl FnOnce(&mut StoredCredentials)) -> bool {
        let Ok(key) = prepare_username(username) else {
            return false;
        };
        match self.write().get_mut(key.as_ref()) {
            Some(c) => {
                f(c);
                true
            }
            None => false,
        }
    }
}

#[async_trait::async_trait]
impl CredentialStore for MemoryStore {
    async fn lookup(&self, username: &str) -> Result<Option<StoredCredentials>, StoreError> {
        Ok(self.get(username))
    }
}
