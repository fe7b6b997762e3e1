//! The read-through credential cache of [`super::SqlStore`].
//!
//! It remembers misses too: if only found accounts were cached, the second
//! lookup of an existing account would be fast and that of a missing one
//! slow, and timing two logins would tell which names exist (issue #12).
//! With negative entries both take the same path: the first lookup of a
//! name goes to the database, the next ones within the TTL do not. A name
//! cached as missing is seen once created as an entry is after a change:
//! at once through this store or (SQLite) another process, within the TTL
//! for PostgreSQL written elsewhere.
//!
//! Why a cache at all: a lookup through sqlx's SQLite pool is a message to
//! the connection's worker thread and a wake-up back, i.e. two futex
//! round-trips and a cross-thread task wake per login, costing more server
//! CPU than the DIGEST-MD5 or PLAIN computation itself. ejabberd caches
//! authentication data by default (`auth_use_cache`, one hour); we keep the
//! lifetime short so that out-of-process changes still take effect quickly.
//!
//! For SQLite, an entry is also dropped as soon as the database or its WAL
//! changes on disk (size, modification time or inode, checked with a
//! `stat` per lookup, which costs far less than the thread hop): `xmpp user
//! disable` in another process takes effect at the next login, as before the
//! cache. PostgreSQL stores (shared by several nodes) drop an entry when its
//! change is notified (`super::watch`), and rely on the TTL should that fail.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use xmpp_sasl::StoredCredentials;

/// How the credential cache behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long a looked-up account is reused; zero disables the cache.
    pub ttl: Duration,
    /// Most accounts kept (over all domains).
    pub max_entries: usize,
}

/// What the watched files looked like: (inode, size, mtime ns) of each.
pub(super) type Fingerprint = Vec<(u64, u64, i128)>;

/// The fingerprint of `files` now (also what [`super::watch`] polls).
pub(super) fn fingerprint(files: &[PathBuf]) -> Fingerprint {
    files
        .iter()
        .map(|p| match std::fs::metadata(p) {
            Ok(m) => (
                m.ino(),
                m.len(),
                i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ),
            // A missing WAL (after the last connection closed) is a state too.
            Err(_) => (0, 0, 0),
        })
        .collect()
}

struct Entry {
    fetched: Instant,
    files: Fingerprint,
    /// `None`: the account did not exist.
    creds: Option<StoredCredentials>,
}

#[derive(Default)]
struct Inner {
    /// domain -> username -> entry: two levels so a lookup by `&str` needs
    /// no key allocation.
    domains: HashMap<String, HashMap<String, Entry>>,
    len: usize,
    /// Bumped by every invalidation: a read that started before it must not
    /// insert what it read.
    generation: u64,
}

/// A read-through cache of looked-up accounts, found or not.
pub(super) struct CredCache {
    config: CacheConfig,
    /// Files whose change invalidates every entry (an SQLite database and
    /// its WAL); empty for PostgreSQL.
    watch: Vec<PathBuf>,
    inner: Mutex<Inner>,
}

/// When a database read started, for [`CredCache::put`].
struct Stamp {
    at: Instant,
    files: Fingerprint,
    generation: u64,
}

impl CredCache {
    pub(super) fn new(config: CacheConfig) -> Self {
        CredCache {
            config,
            watch: Vec::new(),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Also drops entries when one of `files` changes.
    pub(super) fn watching(mut self, files: Vec<PathBuf>) -> Self {
        self.watch = files;
        self
    }

    fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.watch)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map holds no invariant a panicking holder could break halfway.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The credentials of `username@domain` from the cache, or from `load`
    /// (the database) when it holds no fresh entry, remembering what `load`
    /// found, account or none.
    pub(super) async fn read_through<F, E>(
        &self,
        domain: &str,
        username: &str,
        load: impl FnOnce() -> F,
    ) -> Result<Option<StoredCredentials>, E>
    where
        F: std::future::Future<Output = Result<Option<StoredCredentials>, E>>,
    {
        if let Some(hit) = self.get(domain, username) {
            return Ok(hit);
        }
        // Stamp before reading so that an entry is never considered fresher
        // than the read that produced it.
        let stamp = self.stamp();
        let found = load().await?;
        self.put(domain, username, found.as_ref(), stamp);
        Ok(found)
    }

    /// A fresh entry for `username@domain`: `Some(None)` if it is cached as
    /// missing, `None` if not cached.
    fn get(&self, domain: &str, username: &str) -> Option<Option<StoredCredentials>> {
        let files = self.fingerprint();
        let inner = self.lock();
        let e = inner.domains.get(domain)?.get(username)?;
        (e.fetched.elapsed() < self.config.ttl && e.files == files).then(|| e.creds.clone())
    }

    /// Taken before reading the database: a change after this point makes
    /// the entry stale at the next lookup.
    fn stamp(&self) -> Stamp {
        Stamp {
            at: Instant::now(),
            files: self.fingerprint(),
            generation: self.lock().generation,
        }
    }

    /// Remembers what a read started at `stamp` found (`None`: no such
    /// account), unless a write through this store happened meanwhile.
    fn put(&self, domain: &str, username: &str, creds: Option<&StoredCredentials>, stamp: Stamp) {
        let mut inner = self.lock();
        if inner.generation != stamp.generation {
            return;
        }
        if inner.len >= self.config.max_entries {
            let ttl = self.config.ttl;
            let mut len = 0;
            for users in inner.domains.values_mut() {
                users.retain(|_, e| e.fetched.elapsed() < ttl);
                len += users.len();
            }
            inner.len = len;
            if inner.len >= self.config.max_entries {
                // Everything is fresh: more accounts log in per TTL than we
                // keep. Start over rather than track recency on every hit.
                inner.domains.clear();
                inner.len = 0;
            }
        }
        let entry = Entry {
            fetched: stamp.at,
            files: stamp.files,
            creds: creds.cloned(),
        };
        let users = match inner.domains.get_mut(domain) {
            Some(u) => u,
            None => inner.domains.entry(domain.to_owned()).or_default(),
        };
        if users.insert(username.to_owned(), entry).is_none() {
            inner.len += 1;
        }
    }

    /// Forgets every account (a change notification may have been lost).
    pub(super) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.domains.clear();
        inner.len = 0;
    }

    /// Forgets `username@domain`, or every account of `domain`.
    pub(super) fn invalidate(&self, domain: &str, username: Option<&str>) {
        let mut inner = self.lock();
        inner.generation += 1;
        let removed = match (inner.domains.get_mut(domain), username) {
            (Some(users), Some(u)) => usize::from(users.remove(u).is_some()),
            (Some(users), None) => {
                let n = users.len();
                users.clear();
                n
            }
            (None, _) => 0,
        };
        inner.len -= removed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(disabled: bool) -> StoredCredentials {
        let mut c = StoredCredentials::derive("u", "p", &["example.com"]);
        c.disabled = disabled;
        c
    }

    fn cache(ttl_ms: u64, max: usize) -> CredCache {
        CredCache::new(CacheConfig {
            ttl: Duration::from_millis(ttl_ms),
            max_entries: max,
        })
    }

    #[test]
    fn hit_until_ttl() {
        let c = cache(50, 10);
        assert!(c.get("d", "u").is_none());
        c.put("d", "u", Some(&creds(true)), c.stamp());
        assert!(c.get("d", "u").flatten().is_some_and(|c| c.disabled));
        assert!(c.get("other", "u").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get("d", "u").is_none());
    }

    #[test]
    fn invalidation_wins_over_a_read_in_flight() {
        let c = cache(60_000, 10);
        let stamp = c.stamp();
        c.invalidate("d", Some("u"));
        c.put("d", "u", Some(&creds(false)), stamp);
        assert!(c.get("d", "u").is_none());
        c.put("d", "u", Some(&creds(false)), c.stamp());
        c.put("d", "v", Some(&creds(false)), c.stamp());
        c.invalidate("d", Some("u"));
        assert!(c.get("d", "u").is_none());
        assert!(c.get("d", "v").is_some());
        c.invalidate("d", None);
        assert!(c.get("d", "v").is_none());
        assert_eq!(c.lock().len, 0);
    }

    #[test]
    fn bounded() {
        let c = cache(60_000, 3);
        for u in ["a", "b", "c", "d", "e"] {
            c.put("d", u, Some(&creds(false)), c.stamp());
            assert!(c.lock().len <= 3);
        }
        assert!(c.get("d", "e").is_some());
    }

    #[test]
    fn a_changed_file_invalidates() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("db");
        std::fs::write(&f, b"1").unwrap();
        let c = cache(60_000, 10).watching(vec![f.clone(), dir.path().join("db-wal")]);
        c.put("d", "u", Some(&creds(false)), c.stamp());
        assert!(c.get("d", "u").is_some());
        std::fs::write(&f, b"22").unwrap();
        assert!(c.get("d", "u").is_none());
    }
}

/// Found or not, a name's first lookup reads the database and the next ones
/// within the TTL do not; changes drop misses as they drop accounts.
#[cfg(test)]
mod read_through {
    use std::cell::Cell;
    use std::convert::Infallible;

    use super::*;

    /// Looks `username` up, counting database reads in `reads`.
    async fn lookup(
        c: &CredCache,
        username: &str,
        found: bool,
        reads: &Cell<u32>,
    ) -> Option<StoredCredentials> {
        let load = || async {
            reads.set(reads.get() + 1);
            Ok::<_, Infallible>(
                found.then(|| StoredCredentials::derive_with("u", "p", &[], &[1], &[1], 1)),
            )
        };
        match c.read_through("d", username, load).await {
            Ok(v) => v,
            Err(e) => match e {},
        }
    }

    #[tokio::test]
    async fn misses_take_the_same_path_as_hits() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::write(&db, b"1").unwrap();
        let c = CredCache::new(CacheConfig {
            ttl: Duration::from_secs(600),
            max_entries: 10,
        })
        .watching(vec![db.clone()]);
        for (name, found) in [("known", true), ("unknown", false)] {
            let reads = Cell::new(0);
            for _ in 0..3 {
                assert_eq!(lookup(&c, name, found, &reads).await.is_some(), found);
            }
            assert_eq!(reads.get(), 1, "{name}");
        }
        // A change (an account created elsewhere) drops both.
        std::fs::write(&db, b"22").unwrap();
        let reads = Cell::new(0);
        assert!(lookup(&c, "unknown", true, &reads).await.is_some());
        assert!(lookup(&c, "known", true, &reads).await.is_some());
        assert_eq!(reads.get(), 2);
        // So does a write through the store.
        c.invalidate("d", Some("unknown"));
        assert!(lookup(&c, "unknown", false, &reads).await.is_none());
        assert_eq!(reads.get(), 3);
    }
}
