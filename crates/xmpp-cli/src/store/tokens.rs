//! FAST tokens (XEP-0484) in the account store: [`xmpp_sasl::TokenStore`]
//! for [`DomainStore`], over the `xmpp_fast_tokens` table (schema V4).
//!
//! The slots are [`xmpp_sasl::MemoryTokenStore`]'s, made explicit by a
//! `used_at` column: per user and user agent, the `new` token (issued, never
//! used) and the `current` one (the last used). Issuing drops the unused
//! `new` one and any used one but the `current`; using a token makes it
//! `current` and drops the tokens expiring before it and the previous
//! `current`. A user holds tokens for at most [`MAX_USER_AGENTS`] user agents.
//!
//! Tokens are revoked with the account: a password change (`set_credentials`,
//! `put_many`), `set_disabled(.., true)` and `remove` delete them in their own
//! transaction. Expired rows are deleted when that user's tokens are looked
//! up or issued; checking expiry at login stays the caller's job
//! ([`xmpp_sasl::HtServer::verify`]).
//!
//! With [`SqlStore::with_cache`], lookups are read through the store's
//! token cache (`cache.rs`), by account and user agent, under the same
//! freshness rules as credentials: a steady-state FAST login (the `current`
//! token reused, so nothing written) reads no database. Every write here
//! drops the account's cached tokens (all user agents: issuing may evict
//! another one's) when it ends, and so do the account writes that revoke
//! them; other processes' writes are seen through the SQLite files'
//! fingerprint or, on PostgreSQL, the trigger of schema version 5.
//!
//! A token is the HMAC key of its proof, so it is stored as issued (see the
//! schema): it is bound as a parameter, never formatted into SQL, a message
//! or a log line.
//!
//! Every change that touches more than one row is one transaction, which
//! first takes the account's lock: `BEGIN IMMEDIATE` on SQLite (the write
//! lock, so no other writer can slip in between a read and a write), and the
//! account's row `FOR NO KEY UPDATE` on PostgreSQL, so that changes to one
//! account's tokens are serialized, and a password change, `disable` or
//! `remove` (which update the row first) cannot miss a token being issued.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row as _;
use xmpp_sasl::{FastToken, Mechanism, TokenStore};
use zeroize::Zeroizing;

use super::{key, now, DomainStore, Pool, SqlStore, StoreError};

/// The most user agents one account holds FAST tokens for: issuing for one
/// more drops every token of the user agent least recently used (or issued
/// to). A user-agent id is whatever the client sends, so without a bound a
/// client inventing ids at each login (buggy, or anyone with the password)
/// would add rows without end; 32 is more devices and apps than one person
/// uses, and with two tokens per user agent an account holds at most 64
/// rows.
pub const MAX_USER_AGENTS: usize = 32;

/// The longest user-agent id stored, in bytes (the schema checks it too):
/// XEP-0388 suggests a UUID (36 characters). A longer one is refused by
/// [`TokenStore::issue`] rather than cut (two ids sharing a prefix would
/// share tokens); looking one up finds nothing.
pub const MAX_USER_AGENT_LEN: usize = 256;

/// The longest token accepted for storage; a generated one
/// ([`FastToken::generate`]) is 43 characters.
const MAX_TOKEN_LEN: usize = 256;

/// Whether `user_agent` can be stored: 1 to [`MAX_USER_AGENT_LEN`] bytes,
/// no NUL (which PostgreSQL's text cannot hold).
fn check_user_agent(user_agent: &str) -> Result<(), StoreError> {
    if user_agent.is_empty() {
        Err(StoreError::Token("empty user-agent id"))
    } else if user_agent.len() > MAX_USER_AGENT_LEN {
        Err(StoreError::Token("user-agent id longer than 256 bytes"))
    } else if user_agent.contains('\0') {
        Err(StoreError::Token("user-agent id contains NUL"))
    } else {
        Ok(())
    }
}

/// Unix seconds of `t`, rounded down (so a stored token never outlives the
/// one issued); before 1970 is 0, past `i64::MAX` is refused.
fn unix_seconds(t: SystemTime) -> Result<i64, StoreError> {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).map_err(|_| StoreError::Token("expiry out of range")),
        Err(_) => Ok(0),
    }
}

/// Locks the account's row and says whether it is disabled (no row: no
/// account).
const LOCK_ACCOUNT_PG: &str =
    "SELECT disabled FROM xmpp_users WHERE domain = $1 AND username = $2 FOR NO KEY UPDATE";
/// [`LOCK_ACCOUNT_PG`] on SQLite, where `BEGIN IMMEDIATE` took the lock.
const LOCK_ACCOUNT_SQLITE: &str =
    "SELECT disabled FROM xmpp_users WHERE domain = $1 AND username = $2";

/// Deletes the account's expired tokens ($3: now).
const PURGE_EXPIRED: &str =
    "DELETE FROM xmpp_fast_tokens WHERE domain = $1 AND username = $2 AND expires_at <= $3";

/// The next value of the account's `last_active` sequence.
const NEXT_ACTIVE: &str = "(SELECT COALESCE(MAX(last_active), 0) + 1 FROM xmpp_fast_tokens
    WHERE domain = $1 AND username = $2)";

impl SqlStore {
    /// The unexpired FAST tokens of `username@domain` for `user_agent`,
    /// newest first. The user's expired ones (of any user agent) are deleted
    /// on the way. An invalid name or user-agent id has none.
    pub async fn fast_tokens(
        &self,
        domain: &str,
        username: &str,
        user_agent: &str,
    ) -> Result<Vec<FastToken>, StoreError> {
        let Ok(username) = key(username) else {
            return Ok(Vec::new());
        };
        let username = username.as_ref();
        if check_user_agent(user_agent).is_err() {
            return Ok(Vec::new());
        }
        match &self.token_cache {
            Some(cache) => {
                cache
                    .read_through(domain, username, user_agent, || {
                        self.fast_tokens_db(domain, username, user_agent)
                    })
                    .await
            }
            None => self.fast_tokens_db(domain, username, user_agent).await,
        }
    }

    /// [`SqlStore::fast_tokens`] from the database, for a prepared name
    /// and a valid user-agent id.
    pub(super) async fn fast_tokens_db(
        &self,
        domain: &str,
        username: &str,
        user_agent: &str,
    ) -> Result<Vec<FastToken>, StoreError> {
        let who = || format!("{username}@{domain}");
        let t = now();
        // This user agent's tokens, and whether the user has expired ones
        // (their tokens are not read).
        let sql =
            "SELECT CASE WHEN expires_at > $4 THEN token END, mechanism, expires_at, last_count,
                used_at IS NOT NULL
            FROM xmpp_fast_tokens
            WHERE domain = $1 AND username = $2 AND (user_agent = $3 OR expires_at <= $4)
            ORDER BY id DESC";
        let mut tokens = Vec::new();
        let mut expired = false;
        on_pool!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(domain)
                .bind(username)
                .bind(user_agent)
                .bind(t)
                .fetch_all(pool)
                .await?;
            for row in rows {
                let Some(secret): Option<String> = row.try_get(0)? else {
                    expired = true;
                    continue;
                };
                let secret = Zeroizing::new(secret);
                let name: String = row.try_get(1)?;
                let expires: i64 = row.try_get(2)?;
                let last_count: Option<i64> = row.try_get(3)?;
                let in_use: bool = row.try_get(4)?;
                let Some(mechanism) = Mechanism::from_name(&name).filter(|m| m.is_fast()) else {
                    // Issued by a newer version sharing the store: not
                    // usable here, but no reason to refuse the others.
                    tracing::warn!(user = %who(), mechanism = %name, "FAST token for an unknown mechanism skipped");
                    continue;
                };
                let expires = u64::try_from(expires)
                    .ok()
                    .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
                    .ok_or_else(|| StoreError::Corrupt(who(), "FAST token expiry"))?;
                let last_count = last_count
                    .map(u64::try_from)
                    .transpose()
                    .map_err(|_| StoreError::Corrupt(who(), "negative FAST token count"))?;
                tokens.push(FastToken {
                    secret,
                    mechanism,
                    expires,
                    last_count,
                    in_use,
                });
            }
        });
        if expired {
            // This drops the account's cached tokens, and so keeps what
            // was just read out of the cache: the next lookup reads again.
            self.purge_expired_tokens(domain, username, t).await?;
        }
        Ok(tokens)
    }

    /// Deletes the expired tokens of `username@domain` (prepared), under
    /// the account's lock.
    async fn purge_expired_tokens(
        &self,
        domain: &str,
        username: &str,
        t: i64,
    ) -> Result<(), StoreError> {
        let is_pg = self.is_postgres();
        let begin = self.begin_write();
        let _invalidate = self.invalidate_after(domain, Some(username), true);
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            if is_pg {
                sqlx::query(LOCK_ACCOUNT_PG).bind(domain).bind(username).fetch_optional(&mut *tx).await?;
            }
            sqlx::query(PURGE_EXPIRED).bind(domain).bind(username).bind(t).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records `token`, just issued to `username@domain` for `user_agent`,
    /// as its `new` token: the unused `new` one it replaces is dropped, and
    /// so is any used one but the `current`. If that makes the user hold
    /// tokens for more than [`MAX_USER_AGENTS`] user agents, those of the
    /// least recently active one go. Refused for a missing or disabled
    /// account, an invalid user-agent id or a token that is not an `HT-*`
    /// one.
    pub async fn issue_fast_token(
        &self,
        domain: &str,
        username: &str,
        user_agent: &str,
        token: &FastToken,
    ) -> Result<(), StoreError> {
        let username = key(username)?;
        let username = username.as_ref();
        check_user_agent(user_agent)?;
        if !token.mechanism.is_fast() {
            return Err(StoreError::Token("not an HT mechanism"));
        }
        if token.secret.is_empty()
            || token.secret.len() > MAX_TOKEN_LEN
            || token.secret.contains('\0')
        {
            return Err(StoreError::Token("token empty, too long or with NUL"));
        }
        let expires = unix_seconds(token.expires)?;
        let last_count = token
            .last_count
            .map(i64::try_from)
            .transpose()
            .map_err(|_| StoreError::Token("count out of range"))?;
        let is_pg = self.is_postgres();
        let begin = self.begin_write();
        let lock = if is_pg {
            LOCK_ACCOUNT_PG
        } else {
            LOCK_ACCOUNT_SQLITE
        };
        let t = now();
        let limit = i64::try_from(MAX_USER_AGENTS).unwrap_or(i64::MAX);
        let _invalidate = self.invalidate_after(domain, Some(username), true);
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            let account = sqlx::query(lock).bind(domain).bind(username).fetch_optional(&mut *tx).await?;
            match account {
                None => return Err(StoreError::NotFound(format!("{username}@{domain}"))),
                Some(row) if row.try_get::<bool, _>(0)? => {
                    return Err(StoreError::Token("the account is disabled"))
                }
                Some(_) => {}
            }
            sqlx::query(PURGE_EXPIRED).bind(domain).bind(username).bind(t).execute(&mut *tx).await?;
            // Keep only `current`: the used token last active.
            sqlx::query(
                "DELETE FROM xmpp_fast_tokens
                 WHERE domain = $1 AND username = $2 AND user_agent = $3 AND (used_at IS NULL OR id <> (
                     SELECT id FROM xmpp_fast_tokens
                     WHERE domain = $1 AND username = $2 AND user_agent = $3 AND used_at IS NOT NULL
                     ORDER BY last_active DESC, id DESC LIMIT 1))",
            )
            .bind(domain).bind(username).bind(user_agent)
            .execute(&mut *tx).await?;
            sqlx::query(&format!(
                "INSERT INTO xmpp_fast_tokens (domain, username, user_agent, token, mechanism,
                     expires_at, last_count, issued_at, used_at, last_active)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, {NEXT_ACTIVE})"
            ))
            .bind(domain).bind(username).bind(user_agent)
            .bind(token.secret.as_str())
            .bind(token.mechanism.as_str())
            .bind(expires).bind(last_count).bind(t)
            .execute(&mut *tx).await?;
            // The user agents past the limit, least recently active first.
            sqlx::query(
                "DELETE FROM xmpp_fast_tokens WHERE domain = $1 AND username = $2 AND user_agent IN (
                     SELECT user_agent FROM xmpp_fast_tokens WHERE domain = $1 AND username = $2
                     GROUP BY user_agent ORDER BY MAX(last_active) DESC, MAX(id) DESC
                     LIMIT $3 OFFSET $4)",
            )
            .bind(domain).bind(username).bind(i64::MAX).bind(limit)
            .execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// `used` authenticated `username@domain` from `user_agent`: it becomes
    /// the `current` token, its `last_count` rises to `count` (never falls),
    /// and the user agent's tokens expiring before it, and the previous
    /// `current`, are dropped. Nothing happens if the token is no longer
    /// stored (revoked meanwhile), or for a name or user-agent id that
    /// cannot have tokens.
    pub async fn fast_token_used(
        &self,
        domain: &str,
        username: &str,
        user_agent: &str,
        used: &FastToken,
        count: Option<u64>,
    ) -> Result<(), StoreError> {
        let Ok(username) = key(username) else {
            return Ok(());
        };
        let username = username.as_ref();
        if check_user_agent(user_agent).is_err() {
            return Ok(());
        }
        let count = count
            .map(i64::try_from)
            .transpose()
            .map_err(|_| StoreError::Token("count out of range"))?;
        let expires = unix_seconds(used.expires)?;
        let is_pg = self.is_postgres();
        let begin = self.begin_write();
        let _invalidate = self.invalidate_after(domain, Some(username), true);
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(begin).await?;
            if is_pg {
                sqlx::query(LOCK_ACCOUNT_PG).bind(domain).bind(username).fetch_optional(&mut *tx).await?;
            }
            let n = sqlx::query(&format!(
                "UPDATE xmpp_fast_tokens SET used_at = $5,
                     last_count = CASE WHEN last_count IS NULL OR $6 > last_count
                         THEN COALESCE($6, last_count) ELSE last_count END,
                     last_active = {NEXT_ACTIVE}
                 WHERE domain = $1 AND username = $2 AND user_agent = $3 AND token = $4"
            ))
            .bind(domain).bind(username).bind(user_agent)
            .bind(used.secret.as_str())
            .bind(now()).bind(count)
            .execute(&mut *tx).await?
            .rows_affected();
            if n > 0 {
                sqlx::query(
                    "DELETE FROM xmpp_fast_tokens
                     WHERE domain = $1 AND username = $2 AND user_agent = $3 AND token <> $4
                         AND (expires_at < $5 OR used_at IS NOT NULL)",
                )
                .bind(domain).bind(username).bind(user_agent)
                .bind(used.secret.as_str())
                .bind(expires)
                .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Drops the tokens of `username@domain` for `user_agent`.
    pub async fn invalidate_fast_tokens(
        &self,
        domain: &str,
        username: &str,
        user_agent: &str,
    ) -> Result<(), StoreError> {
        let Ok(username) = key(username) else {
            return Ok(());
        };
        let username = username.as_ref();
        if check_user_agent(user_agent).is_err() {
            return Ok(());
        }
        let _invalidate = self.invalidate_after(domain, Some(username), true);
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM xmpp_fast_tokens WHERE domain = $1 AND username = $2 AND user_agent = $3")
                .bind(domain).bind(username).bind(user_agent)
                .execute(pool).await?;
        });
        Ok(())
    }

    /// Drops every token of `username@domain`.
    pub async fn revoke_fast_tokens(&self, domain: &str, username: &str) -> Result<(), StoreError> {
        let Ok(username) = key(username) else {
            return Ok(());
        };
        let username = username.as_ref();
        let _invalidate = self.invalidate_after(domain, Some(username), true);
        on_pool!(self, pool => {
            sqlx::query(REVOKE_USER)
                .bind(domain).bind(username)
                .execute(pool).await?;
        });
        Ok(())
    }
}

/// Deletes every token of one account: also run by the account writes
/// (password change, disable, remove) inside their transaction, after they
/// changed the account's row.
pub(super) const REVOKE_USER: &str =
    "DELETE FROM xmpp_fast_tokens WHERE domain = $1 AND username = $2";

impl DomainStore {
    /// `e`, logged (a token never is: the errors carry none) and wrapped
    /// for `xmpp-sasl`.
    fn token_failure(&self, what: &str, e: StoreError) -> xmpp_sasl::StoreError {
        match &e {
            // A client's invalid input, not the store's failure.
            StoreError::Token(_) | StoreError::InvalidUsername(_) => {
                tracing::debug!(error = %e, domain = %self.domain, "{what} refused");
            }
            _ => {
                tracing::warn!(error = %e, store = self.store.location(), "{what} failed");
            }
        }
        xmpp_sasl::StoreError::new(e)
    }
}

/// FAST tokens of the domain's accounts. The same `DomainStore` serves both
/// traits, so `xmpp serve` can hand the stream server one per domain:
/// `let d = Arc::new(DomainStore::new(store, domain));` then `d.clone()` as
/// `Arc<dyn CredentialStore>` and `d` as `Arc<dyn TokenStore>`.
#[async_trait::async_trait]
impl TokenStore for DomainStore {
    async fn tokens(
        &self,
        username: &str,
        user_agent: &str,
    ) -> Result<Vec<FastToken>, xmpp_sasl::StoreError> {
        self.store
            .fast_tokens(&self.domain, username, user_agent)
            .await
            .map_err(|e| self.token_failure("FAST token lookup", e))
    }

    async fn issue(
        &self,
        username: &str,
        user_agent: &str,
        token: FastToken,
    ) -> Result<(), xmpp_sasl::StoreError> {
        self.store
            .issue_fast_token(&self.domain, username, user_agent, &token)
            .await
            .map_err(|e| self.token_failure("FAST token issue", e))
    }

    async fn used(
        &self,
        username: &str,
        user_agent: &str,
        used: &FastToken,
        count: Option<u64>,
    ) -> Result<(), xmpp_sasl::StoreError> {
        self.store
            .fast_token_used(&self.domain, username, user_agent, used, count)
            .await
            .map_err(|e| self.token_failure("FAST token use", e))
    }

    async fn invalidate(
        &self,
        username: &str,
        user_agent: &str,
    ) -> Result<(), xmpp_sasl::StoreError> {
        self.store
            .invalidate_fast_tokens(&self.domain, username, user_agent)
            .await
            .map_err(|e| self.token_failure("FAST token invalidation", e))
    }

    async fn revoke_user(&self, username: &str) -> Result<(), xmpp_sasl::StoreError> {
        self.store
            .revoke_fast_tokens(&self.domain, username)
            .await
            .map_err(|e| self.token_failure("FAST token revocation", e))
    }
}
