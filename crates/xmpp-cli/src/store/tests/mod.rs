//! The store against a real SQLite file: what its cache remembers, and its
//! server secret.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use super::*;

const DOMAIN: &str = "example.com";

async fn open(path: &Path) -> SqlStore {
    SqlStore::open(path.to_str().unwrap()).await.unwrap()
}

fn creds() -> StoredCredentials {
    StoredCredentials::derive_with("juliet", "pw", &[DOMAIN], &[1; 16], &[2; 16], 1)
}

/// Issue #12: a second lookup of an existing account must not be faster
/// than one of a missing account, so both are answered from the cache.
/// Proved without a stopwatch: once the database is closed, a lookup that
/// still reads it fails.
#[tokio::test]
async fn a_missing_account_is_cached_like_a_found_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir.path().join("users.sqlite3")).await;
    store.add(DOMAIN, "juliet", &creds()).await.unwrap();
    // Not watching the files: closing the pool removes the WAL.
    store.cache = Some(CredCache::new(CacheConfig {
        ttl: Duration::from_secs(600),
        max_entries: 100,
    }));
    assert!(store.lookup(DOMAIN, "juliet").await.unwrap().is_some());
    assert!(store.lookup(DOMAIN, "nobody").await.unwrap().is_none());
    on_pool!(store, pool => pool.close().await);
    assert!(store.lookup(DOMAIN, "juliet").await.unwrap().is_some());
    assert!(store.lookup(DOMAIN, "nobody").await.unwrap().is_none());
    // A name never looked up does read the database (which is closed).
    assert!(store.lookup(DOMAIN, "romeo").await.is_err());
}

/// A name cached as missing is seen as soon as `xmpp user add` creates it,
/// through this store or (SQLite) another process.
#[tokio::test]
async fn a_created_account_is_seen_despite_a_cached_miss() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.sqlite3");
    let server = open(&path).await.with_cache(CacheConfig {
        ttl: Duration::from_secs(600),
        max_entries: 100,
    });
    let other_process = open(&path).await;
    assert!(server.lookup(DOMAIN, "juliet").await.unwrap().is_none());
    other_process.add(DOMAIN, "juliet", &creds()).await.unwrap();
    assert!(server.lookup(DOMAIN, "juliet").await.unwrap().is_some());
    assert!(server.lookup(DOMAIN, "romeo").await.unwrap().is_none());
    server.add(DOMAIN, "romeo", &creds()).await.unwrap();
    assert!(server.lookup(DOMAIN, "romeo").await.unwrap().is_some());
}

#[tokio::test]
async fn the_decoy_secret_is_created_once_per_store_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.sqlite3");
    // Two handles starting at once on a fresh store agree.
    let (a, b) = tokio::join!(
        async { open(&path).await.decoy_secret().await.unwrap() },
        async { open(&path).await.decoy_secret().await.unwrap() },
    );
    assert_eq!(*a.to_bytes(), *b.to_bytes());
    // A restart reads the same one.
    let again = open(&path).await.decoy_secret().await.unwrap();
    assert_eq!(*again.to_bytes(), *a.to_bytes());
    // Another store has its own.
    let other = open(&dir.path().join("other.sqlite3"))
        .await
        .decoy_secret()
        .await
        .unwrap();
    assert_ne!(*other.to_bytes(), *a.to_bytes());
}

/// Two processes opening a store made by an older version both migrate it
/// (one waits for the other): a deferred transaction failed at once with
/// "database is locked" when the other one upgraded the file first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upgrades_of_an_existing_store_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.sqlite3");
    drop(open(&path).await);
    for _ in 0..20 {
        // Back to version 3.
        let store = open(&path).await;
        on_pool!(store, pool => {
            sqlx::query("DROP TABLE xmpp_fast_tokens").execute(pool).await.unwrap();
            sqlx::query("DELETE FROM xmpp_schema_migrations WHERE version >= 4")
                .execute(pool)
                .await
                .unwrap();
        });
        drop(store);
        let (a, b) = tokio::join!(
            tokio::spawn({
                let path = path.clone();
                async move { SqlStore::open(path.to_str().unwrap()).await.map(drop) }
            }),
            tokio::spawn({
                let path = path.clone();
                async move { SqlStore::open(path.to_str().unwrap()).await.map(drop) }
            }),
        );
        a.unwrap().unwrap();
        b.unwrap().unwrap();
    }
}

#[tokio::test]
async fn a_corrupt_decoy_secret_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("users.sqlite3")).await;
    on_pool!(store, pool => {
        sqlx::query("INSERT INTO xmpp_server_keys (name, material, created_at) VALUES ('sasl-decoys', $1, 0)")
            .bind(vec![1u8; 5])
            .execute(pool)
            .await
            .unwrap();
    });
    let err = store.decoy_secret().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(..)), "{err}");
}

#[tokio::test]
async fn spellings_that_prepare_alike_are_one_account() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(dir.path().join("u.db").to_str().unwrap())
        .await
        .unwrap();
    let creds = StoredCredentials::derive("juliet", "pw", &["example.com"]);
    store.add("example.com", "Juliet", &creds).await.unwrap();
    assert!(matches!(
        store.add("example.com", "juliet", &creds).await,
        Err(StoreError::Exists(_))
    ));
    for spelling in ["juliet", "JULIET"] {
        assert!(store
            .lookup("example.com", spelling)
            .await
            .unwrap()
            .is_some());
    }
    let domain = DomainStore::new(Arc::new(store), "example.com");
    assert!(domain.lookup("JuLiEt").await.unwrap().is_some());
    let store = &domain.store;
    assert!(store
        .set_disabled("example.com", "JULIET", true)
        .await
        .unwrap());
    assert!(
        store
            .lookup("example.com", "juliet")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    let listed = store.list(Some("example.com")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].username, "juliet");
    assert!(store.remove("example.com", "Juliet").await.unwrap());
    assert!(store
        .lookup("example.com", "juliet")
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        store.add("example.com", "jul@iet", &creds).await,
        Err(StoreError::InvalidUsername(_))
    ));
}

/// A throwaway PostgreSQL cluster (`tests/common/pg.rs`).
#[path = "../../../tests/common/pg.rs"]
mod pg;

mod fast;
