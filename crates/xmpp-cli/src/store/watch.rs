//! Noticing accounts changed by other processes (`xmpp user`, another
//! node, SQL by hand), so that a server can end the sessions of an account
//! that was disabled or removed while connected.
//!
//! - SQLite: the database and its WAL are fingerprinted (a `stat`) every
//!   interval; any change may concern any account.
//! - PostgreSQL: a trigger (schema version 2) notifies every update or
//!   delete of an account on [`ACCOUNT_CHANNEL`], which we LISTEN on, so the
//!   change is known at once and by name; its cached copy (credentials and
//!   FAST tokens) is dropped here. Another (version 5) notifies changes to
//!   an account's FAST tokens on [`TOKEN_CHANNEL`]: its cached tokens are
//!   dropped, and nothing is reported (the account itself did not change).
//!   When the listening connection is lost, notifications may have been
//!   lost with it: once it is back, any account may have changed, and
//!   nothing cached is kept.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;

use super::cache::{fingerprint, Fingerprint};
use super::schema::{ACCOUNT_CHANNEL, TOKEN_CHANNEL};
use super::{Pool, SqlStore, StoreError};

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// This account was updated or deleted.
    One {
        /// Its domain.
        domain: String,
        /// Its (prepared) username.
        username: String,
    },
    /// Any account may have changed.
    Any,
}

/// The changes to a store's accounts, from the moment
/// [`SqlStore::account_changes`] was called.
pub struct AccountChanges {
    source: Source,
    interval: Duration,
}

enum Source {
    Files {
        watch: Vec<PathBuf>,
        last: Fingerprint,
    },
    Postgres {
        store: Arc<SqlStore>,
        listener: Box<PgListener>,
        /// Listening failed: check the connection, then report `Any`.
        resync: bool,
    },
    /// An in-memory database: only this process writes to it.
    Nothing,
}

impl SqlStore {
    /// Starts watching for account changes; `interval` is how often SQLite
    /// files are checked, and how long to wait before retrying a lost
    /// PostgreSQL connection.
    pub async fn account_changes(
        self: &Arc<Self>,
        interval: Duration,
    ) -> Result<AccountChanges, StoreError> {
        let source = match &self.pool {
            Pool::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await?;
                listener
                    .listen_all([ACCOUNT_CHANNEL, TOKEN_CHANNEL])
                    .await?;
                Source::Postgres {
                    store: self.clone(),
                    listener: Box::new(listener),
                    resync: false,
                }
            }
            Pool::Sqlite(_) if self.watch.is_empty() => Source::Nothing,
            Pool::Sqlite(_) => Source::Files {
                last: fingerprint(&self.watch),
                watch: self.watch.clone(),
            },
        };
        Ok(AccountChanges { source, interval })
    }
}

impl AccountChanges {
    /// The next change. Never fails: trouble with the database is logged
    /// and retried every interval, and reported as [`AccountChange::Any`]
    /// once over. Not cancel-safe: run it in a task of its own. On
    /// PostgreSQL, it is also what drops the cache entries that other
    /// nodes' writes made stale: keep calling it.
    pub async fn next(&mut self) -> AccountChange {
        let interval = self.interval;
        match &mut self.source {
            Source::Files { watch, last } => loop {
                tokio::time::sleep(interval).await;
                let now = fingerprint(watch);
                if now != *last {
                    *last = now;
                    return AccountChange::Any;
                }
            },
            Source::Postgres {
                store,
                listener,
                resync,
            } => loop {
                if *resync {
                    // Any statement reconnects the listener and LISTENs again.
                    match sqlx::query("SELECT 1").execute(&mut **listener).await {
                        Ok(_) => {
                            *resync = false;
                            return lost(store);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot listen for account changes; retrying");
                            tokio::time::sleep(interval).await;
                            continue;
                        }
                    }
                }
                match listener.try_recv().await {
                    Ok(Some(n)) => match n.payload().split_once('@') {
                        Some((username, domain)) if n.channel() == TOKEN_CHANNEL => {
                            store.invalidate_tokens(domain, Some(username));
                        }
                        Some((username, domain)) => {
                            store.invalidate(domain, Some(username));
                            return AccountChange::One {
                                domain: domain.to_owned(),
                                username: username.to_owned(),
                            };
                        }
                        None => tracing::debug!(payload = n.payload(), "odd account notification"),
                    },
                    // The connection was lost and is back (sqlx reconnects at once).
                    Ok(None) => return lost(store),
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for account changes failed; retrying");
                        *resync = true;
                        tokio::time::sleep(interval).await;
                    }
                }
            },
            Source::Nothing => std::future::pending().await,
        }
    }
}

/// Notifications may have been lost: nothing cached can be trusted.
fn lost(store: &SqlStore) -> AccountChange {
    tracing::info!("account notifications may have been lost; re-checking every session");
    store.clear_caches();
    AccountChange::Any
}
