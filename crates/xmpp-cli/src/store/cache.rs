//! The read-through caches of [`super::SqlStore`]: account credentials
//! ([`CredCache`]) and FAST tokens ([`TokenCache`]), one implementation
//! ([`ReadCache`]) with one notion of freshness for both.
//!
//! It remembers misses too: if only found accounts were cached, the second
//! lookup of an existing account would be fast and that of a missing one
//! slow, and timing two logins would tell which names exist (issue #12).
//! With negative entries both take the same path: the first lookup of a
//! name goes to the database, the next ones within the TTL do not. A name
//! cached as missing is seen once created as an entry is after a change:
//! at once through this store or (SQLite) another process, within the TTL
//! for PostgreSQL written elsewhere. Token lookups likewise remember an
//! empty answer.
//!
//! Why a cache at all: a lookup through sqlx's SQLite pool is a message to
//! the connection's worker thread and a wake-up back, i.e. two futex
//! round-trips and a cross-thread task wake per login, costing more server
//! CPU than the DIGEST-MD5 or PLAIN computation itself; a FAST login that
//! reuses its token writes nothing, and reading its tokens was its largest
//! avoidable cost. ejabberd caches authentication data by default
//! (`auth_use_cache`, one hour); we keep the lifetime short so that
//! out-of-process changes still take effect quickly.
//!
//! For SQLite, an entry is also dropped as soon as the database or its WAL
//! changes on disk (size, modification time or inode, checked with a
//! `stat` per lookup, which costs far less than the thread hop): `xmpp user
//! disable` or `passwd` (which revokes the FAST tokens) in another process
//! takes effect at the next login, as before the cache. PostgreSQL stores
//! (shared by several nodes) drop an entry when its change is notified
//! (`super::watch`), and rely on the TTL should that fail. Writes through
//! the store drop the entries they concern themselves, whatever the
//! backend; a read that started before such a drop does not store what it
//! read (the generation counter).
//!
//! Entries are keyed by domain, then account, then a sub-key: the user
//! agent for tokens, `()` for credentials (one entry per account, held
//! inline). A change to an account drops all of its entries.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use xmpp_sasl::{FastToken, StoredCredentials};

/// How the caches behave (each of the two caches of a store gets it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheConfig {
    /// How long a looked-up account (or its FAST tokens for one user
    /// agent) is reused; zero disables the caches.
    pub ttl: Duration,
    /// Most entries kept by each cache (over all domains).
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

/// Looked-up credentials by account: `None` when it did not exist.
pub(super) type CredCache = ReadCache<(), Option<StoredCredentials>>;

/// The FAST tokens read for an account and a user agent (`tokens.rs`),
/// an empty list included.
pub(super) type TokenCache = ReadCache<String, Vec<FastToken>>;

struct Entry<V> {
    fetched: Instant,
    files: Fingerprint,
    value: V,
}

/// The entries of one account, by sub-key. Mostly one (always, for
/// credentials), so that one is kept without a map of its own.
enum Subs<S, V> {
    One(S, Entry<V>),
    Many(HashMap<S, Entry<V>>),
}

impl<S: Hash + Eq, V> Subs<S, V> {
    fn get<Q>(&self, sub: &Q) -> Option<&Entry<V>>
    where
        S: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self {
            Subs::One(s, e) => (s.borrow() == sub).then_some(e),
            Subs::Many(m) => m.get(sub),
        }
    }

    /// Sets `sub`'s entry; `true` if it had none.
    fn insert(&mut self, sub: S, entry: Entry<V>) -> bool {
        let (subs, added) = match std::mem::replace(self, Subs::Many(HashMap::new())) {
            Subs::One(s, _) if s == sub => (Subs::One(s, entry), false),
            Subs::One(s, e) => (Subs::Many(HashMap::from([(s, e), (sub, entry)])), true),
            Subs::Many(mut m) => {
                let added = m.insert(sub, entry).is_none();
                (Subs::Many(m), added)
            }
        };
        *self = subs;
        added
    }

    fn len(&self) -> usize {
        match self {
            Subs::One(..) => 1,
            Subs::Many(m) => m.len(),
        }
    }

    /// Keeps the entries `keep` accepts; how many are left (the caller
    /// drops the account at 0).
    fn retain(&mut self, keep: impl Fn(&Entry<V>) -> bool) -> usize {
        match self {
            Subs::One(_, e) => usize::from(keep(e)),
            Subs::Many(m) => {
                m.retain(|_, e| keep(e));
                m.len()
            }
        }
    }
}

struct Inner<S, V> {
    /// domain -> username -> entries: nested so that a lookup by `&str`
    /// needs no key allocation, and an account's entries go together.
    domains: HashMap<String, HashMap<String, Subs<S, V>>>,
    /// Entries over all accounts.
    len: usize,
    /// Bumped by every invalidation: a read that started before it must not
    /// insert what it read.
    generation: u64,
}

/// A read-through cache of what was read for `(domain, username, sub)`,
/// found or not.
pub(super) struct ReadCache<S, V> {
    config: CacheConfig,
    /// Files whose change invalidates every entry (an SQLite database and
    /// its WAL); empty for PostgreSQL.
    watch: Vec<PathBuf>,
    inner: Mutex<Inner<S, V>>,
    /// Reads of the database (misses), for the tests.
    #[cfg(test)]
    pub(super) loads: std::sync::atomic::AtomicUsize,
}

/// When a database read started, for [`ReadCache::put`].
struct Stamp {
    at: Instant,
    files: Fingerprint,
    generation: u64,
}

impl<S: Hash + Eq, V: Clone> ReadCache<S, V> {
    pub(super) fn new(config: CacheConfig) -> Self {
        ReadCache {
            config,
            watch: Vec::new(),
            inner: Mutex::new(Inner {
                domains: HashMap::new(),
                len: 0,
                generation: 0,
            }),
            #[cfg(test)]
            loads: std::sync::atomic::AtomicUsize::new(0),
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

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<S, V>> {
        // The map holds no invariant a panicking holder could break halfway.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What is stored for `username@domain` under `sub`, from the cache,
    /// or from `load` (the database) when it holds no fresh entry,
    /// remembering what `load` found, whatever it is.
    pub(super) async fn read_through<Q, F, E>(
        &self,
        domain: &str,
        username: &str,
        sub: &Q,
        load: impl FnOnce() -> F,
    ) -> Result<V, E>
    where
        S: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = S> + ?Sized,
        F: std::future::Future<Output = Result<V, E>>,
    {
        if let Some(hit) = self.get(domain, username, sub) {
            return Ok(hit);
        }
        #[cfg(test)]
        self.loads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Stamp before reading so that an entry is never considered fresher
        // than the read that produced it.
        let stamp = self.stamp();
        let found = load().await?;
        self.put(domain, username, sub, &found, stamp);
        Ok(found)
    }

    /// A fresh entry for `username@domain` under `sub`, if cached.
    fn get<Q>(&self, domain: &str, username: &str, sub: &Q) -> Option<V>
    where
        S: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let files = self.fingerprint();
        let inner = self.lock();
        let e = inner.domains.get(domain)?.get(username)?.get(sub)?;
        (e.fetched.elapsed() < self.config.ttl && e.files == files).then(|| e.value.clone())
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

    /// Remembers what a read started at `stamp` found, unless a write
    /// through this store happened meanwhile.
    fn put<Q>(&self, domain: &str, username: &str, sub: &Q, value: &V, stamp: Stamp)
    where
        S: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = S> + ?Sized,
    {
        let mut inner = self.lock();
        if inner.generation != stamp.generation {
            return;
        }
        if inner.len >= self.config.max_entries {
            let ttl = self.config.ttl;
            let mut len = 0;
            for users in inner.domains.values_mut() {
                users.retain(|_, subs| {
                    let left = subs.retain(|e| e.fetched.elapsed() < ttl);
                    len += left;
                    left > 0
                });
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
            value: value.clone(),
        };
        let users = match inner.domains.get_mut(domain) {
            Some(u) => u,
            None => inner.domains.entry(domain.to_owned()).or_default(),
        };
        let added = match users.get_mut(username) {
            Some(subs) => subs.insert(sub.to_owned(), entry),
            None => {
                users.insert(username.to_owned(), Subs::One(sub.to_owned(), entry));
                true
            }
        };
        if added {
            inner.len += 1;
        }
    }

    /// Forgets everything (a change notification may have been lost).
    pub(super) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.domains.clear();
        inner.len = 0;
    }

    /// Forgets the entries of `username@domain`, or of every account of
    /// `domain`.
    pub(super) fn invalidate(&self, domain: &str, username: Option<&str>) {
        let mut inner = self.lock();
        inner.generation += 1;
        let removed = match (inner.domains.get_mut(domain), username) {
            (Some(users), Some(u)) => users.remove(u).map_or(0, |subs| subs.len()),
            (Some(users), None) => {
                let n = users.values().map(Subs::len).sum();
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

    fn creds(disabled: bool) -> Option<StoredCredentials> {
        let mut c = StoredCredentials::derive("u", "p", &["example.com"]);
        c.disabled = disabled;
        Some(c)
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
        assert!(c.get("d", "u", &()).is_none());
        c.put("d", "u", &(), &creds(true), c.stamp());
        assert!(c.get("d", "u", &()).flatten().is_some_and(|c| c.disabled));
        assert!(c.get("other", "u", &()).is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(c.get("d", "u", &()).is_none());
    }

    #[test]
    fn invalidation_wins_over_a_read_in_flight() {
        let c = cache(60_000, 10);
        let stamp = c.stamp();
        c.invalidate("d", Some("u"));
        c.put("d", "u", &(), &creds(false), stamp);
        assert!(c.get("d", "u", &()).is_none());
        c.put("d", "u", &(), &creds(false), c.stamp());
        c.put("d", "v", &(), &creds(false), c.stamp());
        c.invalidate("d", Some("u"));
        assert!(c.get("d", "u", &()).is_none());
        assert!(c.get("d", "v", &()).is_some());
        c.invalidate("d", None);
        assert!(c.get("d", "v", &()).is_none());
        assert_eq!(c.lock().len, 0);
    }

    #[test]
    fn bounded() {
        let c = cache(60_000, 3);
        for u in ["a", "b", "c", "d", "e"] {
            c.put("d", u, &(), &creds(false), c.stamp());
            assert!(c.lock().len <= 3);
        }
        assert!(c.get("d", "e", &()).is_some());
    }

    #[test]
    fn a_changed_file_invalidates() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("db");
        std::fs::write(&f, b"1").unwrap();
        let c = cache(60_000, 10).watching(vec![f.clone(), dir.path().join("db-wal")]);
        c.put("d", "u", &(), &creds(false), c.stamp());
        assert!(c.get("d", "u", &()).is_some());
        std::fs::write(&f, b"22").unwrap();
        assert!(c.get("d", "u", &()).is_none());
    }

    /// Token lists by user agent: each its own entry, counted against the
    /// bound, all dropped with their account.
    #[test]
    fn sub_keys() {
        let c: ReadCache<String, Vec<u8>> = ReadCache::new(CacheConfig {
            ttl: Duration::from_secs(60),
            max_entries: 4,
        });
        c.put("d", "u", "phone", &vec![1], c.stamp());
        c.put("d", "u", "laptop", &vec![], c.stamp());
        c.put("d", "u", "phone", &vec![2], c.stamp());
        c.put("d", "v", "phone", &vec![3], c.stamp());
        assert_eq!(c.lock().len, 3);
        assert_eq!(c.get("d", "u", "phone"), Some(vec![2]));
        assert_eq!(c.get("d", "u", "laptop"), Some(vec![]));
        assert_eq!(c.get("d", "u", "tablet"), None);
        c.invalidate("d", Some("u"));
        assert_eq!(c.lock().len, 1);
        assert_eq!(c.get("d", "u", "phone"), None);
        assert_eq!(c.get("d", "u", "laptop"), None);
        assert_eq!(c.get("d", "v", "phone"), Some(vec![3]));
        for ua in ["a", "b", "c", "d", "e", "f"] {
            c.put("d", "u", ua, &vec![], c.stamp());
            assert!(c.lock().len <= 4);
        }
        assert_eq!(c.get("d", "u", "f"), Some(vec![]));
        let stamp = c.stamp();
        c.invalidate("d", Some("nobody"));
        c.put("d", "u", "g", &vec![], stamp);
        assert_eq!(c.get("d", "u", "g"), None, "any invalidation wins");
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
        match c.read_through("d", username, &(), load).await {
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
