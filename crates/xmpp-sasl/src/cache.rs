//! A bounded cache of PBKDF2 results, so that repeated logins with the same
//! password skip the deliberately slow key derivation.
//!
//! - A SCRAM client may cache its SaltedPassword per (password, salt,
//!   iteration count) (RFC 5802 §5.1); a load generator needs this to
//!   measure the server rather than itself.
//! - A server verifying PLAIN against a stored SCRAM secret may remember
//!   which (password, salt, iteration count) derived which StoredKey. It
//!   never caches anything that would let someone log in: the value is the
//!   StoredKey it already stores, and the entry's key is an HMAC of the
//!   password under a random key of this cache. Someone who can read the
//!   process's memory could still test password guesses at HMAC speed for
//!   the cached entries, rather than at PBKDF2 speed; that is why the server
//!   cache is opt-in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use hmac::{Hmac, Mac as _};
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

use crate::crypto::ScramHash;

/// A bounded, thread-safe cache of PBKDF2 results. Cloning shares it.
///
/// ```
/// use xmpp_sasl::{client_mechanism, ClientCredentials, Mechanism, Pbkdf2Cache};
///
/// let cache = Pbkdf2Cache::new(10_000);
/// let creds = ClientCredentials::new("juliet", "r0m30myr0m30", "example.com")
///     .with_pbkdf2_cache(cache.clone());
/// let client = client_mechanism(Mechanism::ScramSha256, creds).expect("not -PLUS");
/// # let _ = client;
/// ```
#[derive(Clone)]
pub struct Pbkdf2Cache {
    inner: Arc<Mutex<Inner>>,
}

struct Inner {
    key: Zeroizing<[u8; 32]>,
    capacity: usize,
    entries: HashMap<[u8; 32], Zeroizing<Vec<u8>>>,
}

/// What an entry holds; part of its key, so the two uses never mix.
#[derive(Clone, Copy)]
enum Purpose {
    ClientSaltedPassword = 1,
    ServerStoredKey = 2,
}

impl Pbkdf2Cache {
    /// A cache holding at most `capacity` entries (when full, it starts
    /// afresh: cheap, and an attacker cannot pin entries).
    pub fn new(capacity: usize) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        Pbkdf2Cache {
            inner: Arc::new(Mutex::new(Inner {
                key,
                capacity,
                entries: HashMap::new(),
            })),
        }
    }

    /// The number of cached entries.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Entries are inserted whole; a panic elsewhere cannot leave one torn.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn entry_key(
        &self,
        purpose: Purpose,
        hash: ScramHash,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> [u8; 32] {
        let inner = self.lock();
        // The HMAC key is 32 bytes: any length is accepted, so this cannot fail.
        #[allow(clippy::expect_used)]
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(inner.key.as_ref()).expect("any key length");
        drop(inner);
        mac.update(&[purpose as u8, hash as u8]);
        mac.update(&iterations.to_be_bytes());
        mac.update(&(salt.len() as u64).to_be_bytes());
        mac.update(salt);
        mac.update(password);
        mac.finalize().into_bytes().into()
    }

    /// Looks `key` up, or computes the value (outside the lock: PBKDF2 is
    /// slow) and remembers it.
    fn get_or_insert(
        &self,
        key: [u8; 32],
        compute: impl FnOnce() -> Zeroizing<Vec<u8>>,
    ) -> Zeroizing<Vec<u8>> {
        if let Some(v) = self.lock().entries.get(&key) {
            return v.clone();
        }
        let value = compute();
        self.insert(key, value.clone());
        value
    }

    fn insert(&self, key: [u8; 32], value: Zeroizing<Vec<u8>>) {
        let mut inner = self.lock();
        if inner.entries.len() >= inner.capacity {
            inner.entries.clear();
        }
        if inner.capacity > 0 {
            inner.entries.insert(key, value);
        }
    }

    /// SaltedPassword for a SCRAM client.
    pub(crate) fn client_salted_password(
        &self,
        hash: ScramHash,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
    ) -> Zeroizing<Vec<u8>> {
        let key = self.entry_key(
            Purpose::ClientSaltedPassword,
            hash,
            password,
            salt,
            iterations,
        );
        self.get_or_insert(key, || hash.salted_password(password, salt, iterations))
    }

    /// Whether an offered PLAIN password derives `stored_key` with this
    /// salt and count. Only verified passwords are remembered: every wrong
    /// guess still costs a full PBKDF2, and guesses cannot flush the cache
    /// cheaply.
    pub(crate) fn verify_plain(
        &self,
        hash: ScramHash,
        password: &[u8],
        salt: &[u8],
        iterations: u32,
        stored_key: &[u8],
    ) -> bool {
        let key = self.entry_key(Purpose::ServerStoredKey, hash, password, salt, iterations);
        let cached = self.lock().entries.get(&key).cloned();
        // A cached value that no longer matches (the secret was replaced)
        // is not trusted either way: derive afresh.
        if cached.is_some_and(|c| crate::crypto::ct_eq(&c, stored_key)) {
            return true;
        }
        let salted = hash.salted_password(password, salt, iterations);
        let (_, derived, _) = hash.keys(&salted);
        let ok = crate::crypto::ct_eq(&derived, stored_key);
        if ok {
            self.insert(key, Zeroizing::new(derived));
        }
        ok
    }
}

impl std::fmt::Debug for Pbkdf2Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pbkdf2Cache")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_values_equal_fresh_derivations_and_keys_separate_inputs() {
        let cache = Pbkdf2Cache::new(8);
        let h = ScramHash::Sha256;
        let a = cache.client_salted_password(h, b"pencil", b"salt", 4096);
        assert_eq!(*a, *h.salted_password(b"pencil", b"salt", 4096));
        let again = cache.client_salted_password(h, b"pencil", b"salt", 4096);
        assert_eq!(*a, *again);
        assert_eq!(cache.len(), 1);
        // Another password, salt, count or hash is another entry.
        let b = cache.client_salted_password(h, b"pencil2", b"salt", 4096);
        assert_ne!(*a, *b);
        cache.client_salted_password(h, b"pencil", b"salt2", 4096);
        cache.client_salted_password(h, b"pencil", b"salt", 4097);
        cache.client_salted_password(ScramHash::Sha1, b"pencil", b"salt", 4096);
        assert_eq!(cache.len(), 5);
        // The server's entries never collide with the client's, and only
        // verified passwords are remembered.
        let stored_key = h.keys(&a).1;
        assert!(!cache.verify_plain(h, b"wrong", b"salt", 4096, &stored_key));
        assert_eq!(cache.len(), 5);
        assert!(cache.verify_plain(h, b"pencil", b"salt", 4096, &stored_key));
        assert!(cache.verify_plain(h, b"pencil", b"salt", 4096, &stored_key));
        assert_eq!(cache.len(), 6);
        // A replaced secret is never matched from the cache.
        assert!(!cache.verify_plain(h, b"pencil", b"salt", 4096, &[0u8; 32]));
    }

    #[test]
    fn a_full_cache_starts_afresh() {
        let cache = Pbkdf2Cache::new(2);
        for i in 0..5u32 {
            cache.client_salted_password(ScramHash::Sha1, b"pw", b"salt", 4096 + i);
        }
        assert!(cache.len() <= 2);
    }
}
