//! Account storage: SQLite (embedded, the default) or PostgreSQL (shared by
//! several server nodes), behind one async interface. Only derived secrets are
//! stored (DIGEST-MD5 `H(user:realm:pass)` per realm, SCRAM salt, iteration
//! count, StoredKey and ServerKey), never a password. FAST tokens (XEP-0484,
//! `tokens.rs`) are the exception that must be kept as issued, being the
//! HMAC key of their proof: they expire, at most
//! [`MAX_USER_AGENTS`](tokens::MAX_USER_AGENTS) user agents of an account
//! hold them, and a password change, `disable` or `remove` revokes them in
//! the same transaction.
//!
//! Lookups may be served from a short-lived read-through cache ([`CacheConfig`],
//! `xmpp serve --store-cache-ttl`): without it every login pays a hand-off to
//! sqlx's SQLite worker thread and back (futex wake-ups on both sides), which
//! was the largest single cost of a DIGEST-MD5 or PLAIN login, and of a FAST
//! login (the token lookup: reusing the current token writes nothing). Missing
//! accounts are cached too, so that the cache does not tell which exist; so
//! are FAST tokens, by account and user agent, an empty list included. A
//! change by another process (`xmpp user add`, a password change, `disable`,
//! `remove`, a token issued or used by another node) is seen at the next login
//! for SQLite (entries are dropped when the database or its WAL changes on
//! disk) and, for PostgreSQL, when the change is notified to a server
//! watching it ([`AccountChanges`]), the TTL bounding it should notifications
//! be lost. Writes through this store drop the entries they concern when
//! they end (committed, failed or cancelled).
//!
//! [`AccountChanges`] also tells a server when to re-check the accounts of
//! its sessions ([`SqlStore::enabled_accounts`]), to end those of accounts
//! disabled or removed meanwhile. The files of an SQLite store are private to
//! their owner (`sqlite`); a remote PostgreSQL is reached over verified TLS
//! by default (`postgres`).
//!
//! Usernames are keyed by [`xmpp_sasl::prepare_username`] (nodeprep), the
//! rule that binding applies to a JID's localpart: every method prepares the
//! name it is given, so "Juliet" and "juliet" are one account.

mod cache;
mod postgres;
mod schema;
mod sqlite;
mod watch;

pub use cache::CacheConfig;
use cache::{CredCache, TokenCache};
pub use postgres::{carries_secret, redact_url};
pub use watch::{AccountChange, AccountChanges};

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::SqlitePool;
use sqlx::Row as _;
use xmpp_sasl::{
    prepare_username, CredentialStore, DigestSecret, InvalidUsername, ScramSecret,
    StoredCredentials,
};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The store location is not usable.
    #[error("cannot use store {0}: {1}")]
    Location(String, String),
    /// `user add` for an existing account.
    #[error("user {0} already exists (use `xmpp user passwd` to change its password)")]
    Exists(String),
    /// The account does not exist.
    #[error("no such user: {0}")]
    NotFound(String),
    /// The store holds a value we cannot read back.
    #[error("corrupt record for {0}: {1}")]
    Corrupt(String, &'static str),
    /// A FAST token, or its user-agent id, that is not stored: too long,
    /// for a disabled account, not an `HT-*` one (never shows the token).
    #[error("FAST token refused: {0}")]
    Token(&'static str),
    /// A username no JID could carry.
    #[error(transparent)]
    InvalidUsername(#[from] InvalidUsername),
    /// An SQLite store that group or others can access: it holds password
    /// equivalents, so it is not opened.
    #[error(
        "refusing to open {}: its mode {mode:04o} lets other users read or change it, and it \
         holds password equivalents (DIGEST-MD5 H(user:realm:password), SCRAM keys); fix: {fix}",
        path.display()
    )]
    Exposed {
        /// The first such file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// The command that fixes them all.
        fix: String,
    },
    /// An SQLite store file owned by another user, who can read it whatever
    /// its mode (one made in advance in a shared directory, say).
    #[error(
        "refusing to open {}: it belongs to uid {owner}, not to this user (uid {user}), and that \
         user can read the password equivalents it holds; fix: move it away, or run as its owner",
        path.display()
    )]
    NotOwned {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The user running this process.
        user: u32,
    },
}

/// `username` prepared as accounts are keyed.
fn key(username: &str) -> Result<Cow<'_, str>, StoreError> {
    Ok(prepare_username(username)?)
}

enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store has: the
/// query code is the same for both backends (sqlx binds `$N` on SQLite too).
macro_rules! on_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

// After `on_pool!`, which they use.
mod secret;
mod tokens;

/// One account as listed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Account {
    /// The domain.
    pub domain: String,
    /// The localpart.
    pub username: String,
    /// Whether logins are refused.
    pub disabled: bool,
    /// DIGEST-MD5 realms it has secrets for.
    pub realms: Vec<String>,
}

/// An account store over SQLite or PostgreSQL.
pub struct SqlStore {
    pool: Pool,
    location: String,
    cache: Option<CredCache>,
    /// FAST token lookups (`tokens.rs`), under the same configuration.
    token_cache: Option<TokenCache>,
    /// SQLite: the files whose change means another process wrote.
    watch: Vec<PathBuf>,
}

impl std::fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

/// The default store: `users.sqlite3` in the platform data directory.
pub fn default_location() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "xmpp-negotiate")
        .map(|d| d.data_dir().join("users.sqlite3"))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Upserts one account's row, replaces its DIGEST-MD5 secrets and revokes
/// its FAST tokens, inside the caller's transaction.
macro_rules! write_user {
    ($conn:expr, $domain:expr, $username:expr, $creds:expr) => {{
        let creds: &StoredCredentials = $creds;
        let t = now();
        let s1 = creds.scram_sha1.as_ref();
        let s256 = creds.scram_sha256.as_ref();
        let it = |s: Option<&ScramSecret>| s.map(|s| i32::try_from(s.iterations).unwrap_or(i32::MAX));
        sqlx::query(
            "INSERT INTO xmpp_users (domain, username, disabled, expired,
                scram_sha1_salt, scram_sha1_iterations, scram_sha1_stored_key, scram_sha1_server_key,
                scram_sha256_salt, scram_sha256_iterations, scram_sha256_stored_key, scram_sha256_server_key,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
             ON CONFLICT (domain, username) DO UPDATE SET disabled = excluded.disabled, expired = excluded.expired,
                scram_sha1_salt = excluded.scram_sha1_salt, scram_sha1_iterations = excluded.scram_sha1_iterations,
                scram_sha1_stored_key = excluded.scram_sha1_stored_key, scram_sha1_server_key = excluded.scram_sha1_server_key,
                scram_sha256_salt = excluded.scram_sha256_salt, scram_sha256_iterations = excluded.scram_sha256_iterations,
                scram_sha256_stored_key = excluded.scram_sha256_stored_key, scram_sha256_server_key = excluded.scram_sha256_server_key,
                updated_at = excluded.updated_at",
        )
        .bind($domain)
        .bind($username)
        .bind(creds.disabled)
        .bind(creds.expired)
        .bind(s1.map(|s| s.salt.clone()))
        .bind(it(s1))
        .bind(s1.map(|s| s.stored_key.clone()))
        .bind(s1.map(|s| s.server_key.clone()))
        .bind(s256.map(|s| s.salt.clone()))
        .bind(it(s256))
        .bind(s256.map(|s| s.stored_key.clone()))
        .bind(s256.map(|s| s.server_key.clone()))
        .bind(t)
        .execute($conn)
        .await?;
        sqlx::query("DELETE FROM xmpp_digest_md5 WHERE domain = $1 AND username = $2")
            .bind($domain)
            .bind($username)
            .execute($conn)
            .await?;
        for d in &creds.digest_md5 {
            let alt: Vec<u8> = d.alt_ha1.iter().flatten().copied().collect();
            sqlx::query("INSERT INTO xmpp_digest_md5 (domain, username, realm, ha1, alt_ha1) VALUES ($1, $2, $3, $4, $5)")
                .bind($domain)
                .bind($username)
                .bind(d.realm.as_str())
                .bind(d.ha1.to_vec())
                .bind(alt)
                .execute($conn)
                .await?;
        }
        // New secrets: the FAST tokens issued under the old ones go.
        sqlx::query(tokens::REVOKE_USER)
            .bind($domain)
            .bind($username)
            .execute($conn)
            .await?;
    }};
}

impl SqlStore {
    /// Opens (creating and migrating as needed) the store at `location`: a
    /// `postgres://` / `postgresql://` URL, a `sqlite:` URL, or a file path.
    /// A new SQLite file is private to this user, and one that others can
    /// access is refused ([`StoreError::Exposed`]); a remote PostgreSQL gets
    /// verified TLS unless the URL sets `sslmode`.
    pub async fn open(location: &str) -> Result<Self, StoreError> {
        let (pool, watch) = if postgres::is_postgres(location) {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(postgres::options(location)?)
                .await?;
            (Pool::Postgres(pool), Vec::new())
        } else {
            let opened = sqlite::open(location).await?;
            (Pool::Sqlite(opened.pool), opened.watch)
        };
        let store = SqlStore {
            pool,
            location: redact_url(location),
            cache: None,
            token_cache: None,
            watch,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Uses `config` for the read-through caches of credentials and of FAST
    /// tokens (`ttl` zero: none). Only a server wants them: `xmpp user` must
    /// see its own writes. On PostgreSQL, changes made elsewhere drop entries
    /// only while [`SqlStore::account_changes`] is being followed (as `xmpp
    /// serve` does), and after the TTL otherwise.
    pub fn with_cache(mut self, config: CacheConfig) -> Self {
        let enabled = !config.ttl.is_zero();
        self.cache = enabled.then(|| CredCache::new(config).watching(self.watch.clone()));
        self.token_cache = enabled.then(|| TokenCache::new(config).watching(self.watch.clone()));
        self
    }

    /// Drops what is cached of `username@domain` (or of every account of
    /// `domain`), its credentials and FAST tokens: the account changed.
    fn invalidate(&self, domain: &str, username: Option<&str>) {
        if let Some(c) = &self.cache {
            c.invalidate(domain, username);
        }
        self.invalidate_tokens(domain, username);
    }

    /// Drops the cached FAST tokens of `username@domain` (or of every
    /// account of `domain`), of every user agent.
    fn invalidate_tokens(&self, domain: &str, username: Option<&str>) {
        if let Some(c) = &self.token_cache {
            c.invalidate(domain, username);
        }
    }

    /// Forgets everything cached: changes may have been missed.
    fn clear_caches(&self) {
        if let Some(c) = &self.cache {
            c.clear();
        }
        if let Some(c) = &self.token_cache {
            c.clear();
        }
    }

    /// Drops the cached entries of `username@domain` (or of `domain`) when
    /// dropped: taken before a write and held to its end, it drops them
    /// once the write committed, failed or was cancelled (its future
    /// dropped mid-way), so that no outcome leaves them stale. `tokens`:
    /// only the FAST tokens changed, not the account.
    fn invalidate_after<'a>(
        &'a self,
        domain: &'a str,
        username: Option<&'a str>,
        tokens: bool,
    ) -> InvalidateOnDrop<'a> {
        InvalidateOnDrop {
            store: self,
            domain,
            username,
            tokens,
        }
    }

    /// Where the store is (URL passwords removed).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Whether this is a PostgreSQL store.
    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// The statement that begins a transaction which reads, then writes.
    /// On SQLite, `BEGIN IMMEDIATE`: it takes the write lock first, waiting
    /// for it (the busy timeout). A deferred `BEGIN` reads first, and its
    /// upgrade to a writer fails at once ("database is locked", no wait)
    /// when another connection wrote since that read: two processes
    /// migrating one file, or `xmpp user passwd` while the server records a
    /// FAST token. PostgreSQL locks rows instead.
    fn begin_write(&self) -> &'static str {
        if self.is_postgres() {
            "BEGIN"
        } else {
            "BEGIN IMMEDIATE"
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let is_pg = self.is_postgres();
        let begin = self.begin_write();
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            if is_pg {
                // Serialize concurrent migrations by several server nodes.
                sqlx::query("SELECT pg_advisory_xact_lock(5222)").execute(&mut *tx).await?;
            }
            sqlx::query(schema::VERSION_TABLE).execute(&mut *tx).await?;
            let current: Option<i64> = sqlx::query("SELECT MAX(version) FROM xmpp_schema_migrations")
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
            for m in schema::MIGRATIONS.iter().filter(|m| Some(m.version) > current) {
                let statements = if is_pg { m.postgres } else { m.sqlite };
                for s in statements {
                    sqlx::query(s).execute(&mut *tx).await?;
                }
                sqlx::query("INSERT INTO xmpp_schema_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(m.version)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The stored credentials of `username@domain`, from the cache if it
    /// holds a fresh copy.
    pub async fn lookup(
        &self,
        domain: &str,
        username: &str,
    ) -> Result<Option<StoredCredentials>, StoreError> {
        // A name no JID could carry names no account.
        let Ok(username) = key(username) else {
            return Ok(None);
        };
        let username = username.as_ref();
        match &self.cache {
            Some(cache) => {
                cache
                    .read_through(domain, username, &(), || self.lookup_db(domain, username))
                    .await
            }
            None => self.lookup_db(domain, username).await,
        }
    }

    async fn lookup_db(
        &self,
        domain: &str,
        username: &str,
    ) -> Result<Option<StoredCredentials>, StoreError> {
        let who = || format!("{username}@{domain}");
        let sql = "SELECT u.disabled, u.expired,
                u.scram_sha1_salt, u.scram_sha1_iterations, u.scram_sha1_stored_key, u.scram_sha1_server_key,
                u.scram_sha256_salt, u.scram_sha256_iterations, u.scram_sha256_stored_key, u.scram_sha256_server_key,
                d.realm, d.ha1, d.alt_ha1
            FROM xmpp_users u LEFT JOIN xmpp_digest_md5 d ON d.domain = u.domain AND d.username = u.username
            WHERE u.domain = $1 AND u.username = $2";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(domain).bind(username).fetch_all(pool).await?;
            let Some(first) = rows.first() else { return Ok(None) };
            let scram = |i: usize| -> Result<Option<ScramSecret>, StoreError> {
                let salt: Option<Vec<u8>> = first.try_get(i)?;
                let iterations: Option<i32> = first.try_get(i + 1)?;
                let stored_key: Option<Vec<u8>> = first.try_get(i + 2)?;
                let server_key: Option<Vec<u8>> = first.try_get(i + 3)?;
                match (salt, iterations, stored_key, server_key) {
                    (Some(salt), Some(it), Some(stored_key), Some(server_key)) => Ok(Some(ScramSecret {
                        salt,
                        iterations: u32::try_from(it).map_err(|_| StoreError::Corrupt(who(), "negative iteration count"))?,
                        stored_key,
                        server_key,
                    })),
                    _ => Ok(None),
                }
            };
            let mut creds = StoredCredentials {
                disabled: first.try_get(0)?,
                expired: first.try_get(1)?,
                scram_sha1: scram(2)?,
                scram_sha256: scram(6)?,
                digest_md5: Vec::new(),
            };
            for row in &rows {
                let Some(realm): Option<String> = row.try_get(10)? else { continue };
                let ha1: Vec<u8> = row.try_get(11)?;
                let alt: Vec<u8> = row.try_get(12)?;
                let ha1: [u8; 16] = ha1.as_slice().try_into().map_err(|_| StoreError::Corrupt(who(), "DIGEST-MD5 secret is not 16 bytes"))?;
                if !alt.len().is_multiple_of(16) {
                    return Err(StoreError::Corrupt(who(), "DIGEST-MD5 alternate secrets"));
                }
                let alt_ha1 = alt
                    .chunks_exact(16)
                    .filter_map(|c| <[u8; 16]>::try_from(c).ok())
                    .collect();
                creds.digest_md5.push(DigestSecret { realm, ha1, alt_ha1 });
            }
            Ok(Some(creds))
        })
    }

    /// Creates `username@domain`; fails if it exists.
    pub async fn add(
        &self,
        domain: &str,
        username: &str,
        creds: &StoredCredentials,
    ) -> Result<(), StoreError> {
        self.write_one(domain, username, creds, false).await
    }

    /// Replaces the secrets of an existing account (and re-enables it).
    pub async fn set_credentials(
        &self,
        domain: &str,
        username: &str,
        creds: &StoredCredentials,
    ) -> Result<(), StoreError> {
        self.write_one(domain, username, creds, true).await
    }

    /// Writes one account in a transaction that first checks it exists
    /// (`must_exist`) or does not.
    async fn write_one(
        &self,
        domain: &str,
        username: &str,
        creds: &StoredCredentials,
        must_exist: bool,
    ) -> Result<(), StoreError> {
        let username = key(username)?;
        let username = username.as_ref();
        let begin = self.begin_write();
        let _invalidate = self.invalidate_after(domain, Some(username), false);
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let exists = sqlx::query("SELECT 1 FROM xmpp_users WHERE domain = $1 AND username = $2")
                .bind(domain).bind(username).fetch_optional(&mut *tx).await?;
            match (exists.is_some(), must_exist) {
                (true, false) => return Err(StoreError::Exists(format!("{username}@{domain}"))),
                (false, true) => return Err(StoreError::NotFound(format!("{username}@{domain}"))),
                _ => {}
            }
            write_user!(&mut *tx, domain, username, creds);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Creates or replaces many accounts in one transaction.
    pub async fn put_many(
        &self,
        domain: &str,
        users: &[(String, StoredCredentials)],
    ) -> Result<(), StoreError> {
        let keys = users
            .iter()
            .map(|(u, _)| key(u))
            .collect::<Result<Vec<_>, _>>()?;
        let _invalidate = self.invalidate_after(domain, None, false);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for (username, (_, creds)) in keys.iter().zip(users) {
                write_user!(&mut *tx, domain, username.as_ref(), creds);
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Removes an account; `false` if it did not exist.
    pub async fn remove(&self, domain: &str, username: &str) -> Result<bool, StoreError> {
        let username = key(username)?;
        let username = username.as_ref();
        let _invalidate = self.invalidate_after(domain, Some(username), false);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM xmpp_digest_md5 WHERE domain = $1 AND username = $2")
                .bind(domain).bind(username).execute(&mut *tx).await?;
            let n = sqlx::query("DELETE FROM xmpp_users WHERE domain = $1 AND username = $2")
                .bind(domain).bind(username).execute(&mut *tx).await?.rows_affected();
            // The foreign key cascades; this covers a database whose keys
            // are not enforced.
            sqlx::query(tokens::REVOKE_USER)
                .bind(domain).bind(username).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    /// Disables or re-enables an account; `false` if it does not exist.
    /// Disabling revokes its FAST tokens (re-enabling does not bring them
    /// back).
    pub async fn set_disabled(
        &self,
        domain: &str,
        username: &str,
        disabled: bool,
    ) -> Result<bool, StoreError> {
        let username = key(username)?;
        let username = username.as_ref();
        let _invalidate = self.invalidate_after(domain, Some(username), false);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let n = sqlx::query("UPDATE xmpp_users SET disabled = $3, updated_at = $4 WHERE domain = $1 AND username = $2")
                .bind(domain).bind(username).bind(disabled).bind(now())
                .execute(&mut *tx).await?.rows_affected();
            if disabled {
                sqlx::query(tokens::REVOKE_USER)
                    .bind(domain).bind(username).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(n > 0)
        })
    }

    /// Which of `usernames` (prepared) at `domain` exist and are enabled,
    /// read from the database, never the cache: a server re-checks the
    /// accounts of its sessions with it when accounts changed.
    pub async fn enabled_accounts(
        &self,
        domain: &str,
        usernames: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let mut found = HashSet::new();
        // Well under SQLite's smallest limit on bound parameters (999).
        for chunk in usernames.chunks(500) {
            let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT username FROM xmpp_users WHERE domain = $1 AND NOT disabled AND username IN ({})",
                placeholders.join(", ")
            );
            on_pool!(self, pool => {
                let mut query = sqlx::query(&sql).bind(domain);
                for u in chunk {
                    query = query.bind(u.as_str());
                }
                for row in query.fetch_all(pool).await? {
                    found.insert(row.try_get::<String, _>(0)?);
                }
            });
        }
        Ok(found)
    }

    /// Lists accounts, of one domain or all, ordered by domain and name.
    pub async fn list(&self, domain: Option<&str>) -> Result<Vec<Account>, StoreError> {
        let sql = "SELECT u.domain, u.username, u.disabled, d.realm
            FROM xmpp_users u LEFT JOIN xmpp_digest_md5 d ON d.domain = u.domain AND d.username = u.username
            WHERE ($1 IS NULL OR u.domain = $1)
            ORDER BY u.domain, u.username, d.realm";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(domain).fetch_all(pool).await?;
            let mut out: Vec<Account> = Vec::new();
            for row in rows {
                let domain: String = row.try_get(0)?;
                let username: String = row.try_get(1)?;
                let disabled: bool = row.try_get(2)?;
                let realm: Option<String> = row.try_get(3)?;
                match out.last_mut() {
                    Some(a) if a.domain == domain && a.username == username => a.realms.extend(realm),
                    _ => out.push(Account { domain, username, disabled, realms: realm.into_iter().collect() }),
                }
            }
            Ok(out)
        })
    }
}

/// See [`SqlStore::invalidate_after`].
#[must_use = "it invalidates when dropped: bind it to a variable held over the write"]
struct InvalidateOnDrop<'a> {
    store: &'a SqlStore,
    domain: &'a str,
    username: Option<&'a str>,
    /// Only the FAST tokens changed.
    tokens: bool,
}

impl Drop for InvalidateOnDrop<'_> {
    fn drop(&mut self) {
        if self.tokens {
            self.store.invalidate_tokens(self.domain, self.username);
        } else {
            self.store.invalidate(self.domain, self.username);
        }
    }
}

#[cfg(test)]
mod tests;
/// The store of one served domain: what `xmpp-stream` asks for credentials
/// ([`CredentialStore`]) and FAST tokens ([`xmpp_sasl::TokenStore`], in
/// `tokens.rs`). One `Arc<DomainStore>` per domain can be handed out as
/// both an `Arc<dyn CredentialStore>` and an `Arc<dyn TokenStore>`: they
/// share the pool, and a password change, `disable` or `remove` through any
/// handle on the store revokes the account's tokens.
#[derive(Debug, Clone)]
pub struct DomainStore {
    store: Arc<SqlStore>,
    domain: String,
}

impl DomainStore {
    /// The accounts of `domain` in `store`.
    pub fn new(store: Arc<SqlStore>, domain: &str) -> Self {
        DomainStore {
            store,
            domain: domain.to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl CredentialStore for DomainStore {
    async fn lookup(
        &self,
        username: &str,
    ) -> Result<Option<StoredCredentials>, xmpp_sasl::StoreError> {
        self.store.lookup(&self.domain, username).await.map_err(|e| {
            tracing::warn!(error = %e, store = self.store.location(), "credential lookup failed");
            xmpp_sasl::StoreError::new(e)
        })
    }
}
