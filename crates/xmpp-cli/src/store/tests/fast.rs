//! FAST tokens (`tokens.rs`). Each scenario takes a store and uses domains of
//! its own, so that the PostgreSQL test runs them all on one database.

use std::time::SystemTime;

use sqlx::Row as _;
use xmpp_sasl::{FastToken, Mechanism, TokenStore};
use zeroize::Zeroizing;

use super::super::*;
use super::{pg, DOMAIN};

/// A token that expires `secs` from now (in the past if negative).
fn tok(secret: &str, secs: i64) -> FastToken {
    let now = SystemTime::now();
    let d = Duration::from_secs(secs.unsigned_abs());
    FastToken {
        secret: Zeroizing::new(secret.to_owned()),
        mechanism: Mechanism::HtSha256None,
        expires: if secs < 0 { now - d } else { now + d },
        last_count: None,
        in_use: false,
    }
}

async fn account(store: &SqlStore, domain: &str, user: &str) {
    let creds = StoredCredentials::derive_with(user, "pw", &[domain], &[1; 16], &[2; 16], 1);
    store.add(domain, user, &creds).await.unwrap();
}

/// The domain's store, as `xmpp serve` hands it to the stream server.
fn tokens_of(store: &Arc<SqlStore>, domain: &str) -> Arc<dyn TokenStore> {
    Arc::new(DomainStore::new(store.clone(), domain))
}

/// The secrets `tokens` returns, in its order.
async fn secrets(t: &dyn TokenStore, user: &str, ua: &str) -> Vec<String> {
    t.tokens(user, ua)
        .await
        .unwrap()
        .iter()
        .map(|t| t.secret.as_str().to_owned())
        .collect()
}

/// Rows in the table for `domain`, whatever their expiry.
async fn rows(store: &SqlStore, domain: &str, user: &str) -> i64 {
    on_pool!(store, pool => {
        sqlx::query("SELECT COUNT(*) FROM xmpp_fast_tokens WHERE domain = $1 AND username = $2")
            .bind(domain)
            .bind(user)
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    })
}

/// MemoryTokenStore's `memory_store_slots`, and what the explicit
/// `new`/`current` slots decide where expiry alone did not.
async fn slots(store: &Arc<SqlStore>) {
    let d = "slots.example";
    account(store, d, "u").await;
    let s = tokens_of(store, d);
    let s = s.as_ref();
    let (t1, t2) = (tok("one", 100), tok("two", 200));
    s.issue("u", "ua", t1.clone()).await.unwrap();
    s.used("u", "ua", &t1, Some(1)).await.unwrap();
    s.issue("u", "ua", t2.clone()).await.unwrap();
    // New and current, newest first, read back whole.
    let got = s.tokens("u", "ua").await.unwrap();
    assert_eq!(got.len(), 2, "new and current");
    assert_eq!(*got[0].secret, "two");
    assert_eq!(got[0].last_count, None);
    assert_eq!(*got[1].secret, "one");
    assert_eq!(got[1].last_count, Some(1));
    assert_eq!(got[1].mechanism, Mechanism::HtSha256None);
    let want = t1.expires.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let back = got[1].expires.duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(back, want, "expiry kept to the second");
    // Using the new one drops the older current one.
    s.used("u", "ua", &t2, None).await.unwrap();
    assert_eq!(secrets(s, "u", "ua").await, ["two"]);
    // Issued twice without use: the unused new one is replaced.
    s.issue("u", "ua", tok("three", 300)).await.unwrap();
    s.issue("u", "ua", tok("four", 400)).await.unwrap();
    assert_eq!(secrets(s, "u", "ua").await, ["four", "two"]);
    // Using current again keeps the new one; the count never falls.
    s.used("u", "ua", &t2, Some(5)).await.unwrap();
    s.used("u", "ua", &t2, Some(3)).await.unwrap();
    s.used("u", "ua", &t2, None).await.unwrap();
    let got = s.tokens("u", "ua").await.unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].last_count, Some(5));
    // A token no longer stored changes nothing.
    s.used("u", "ua", &t1, Some(9)).await.unwrap();
    assert_eq!(secrets(s, "u", "ua").await, ["four", "two"]);
    // Using the new one drops the old current even if it expires later
    // (expiry alone would keep it).
    let long = tok("long", 1000);
    let short = tok("short", 500);
    s.issue("u", "ua2", long.clone()).await.unwrap();
    s.used("u", "ua2", &long, None).await.unwrap();
    s.issue("u", "ua2", short.clone()).await.unwrap();
    s.used("u", "ua2", &short, None).await.unwrap();
    assert_eq!(secrets(s, "u", "ua2").await, ["short"]);
    // Never used, issued twice: one token (MemoryTokenStore keeps both).
    s.issue("u", "ua3", tok("a", 100)).await.unwrap();
    s.issue("u", "ua3", tok("b", 100)).await.unwrap();
    assert_eq!(secrets(s, "u", "ua3").await, ["b"]);
    // Spellings that prepare alike are one account.
    assert_eq!(secrets(s, "U", "ua3").await, ["b"]);
    // Invalidate: this user agent only.
    s.invalidate("u", "ua3").await.unwrap();
    assert!(secrets(s, "u", "ua3").await.is_empty());
    assert_eq!(secrets(s, "u", "ua").await, ["four", "two"]);
    assert_eq!(rows(store, d, "u").await, 3);
    s.revoke_user("u").await.unwrap();
    assert!(secrets(s, "u", "ua").await.is_empty());
    assert_eq!(rows(store, d, "u").await, 0);
}

/// Expired rows are not returned, and are deleted when the user's
/// tokens are looked up or issued (refusing an expired token at login
/// stays `HtServer::verify`'s job).
async fn expired_rows_are_purged(store: &Arc<SqlStore>) {
    let d = "expiry.example";
    account(store, d, "u").await;
    let s = tokens_of(store, d);
    let s = s.as_ref();
    s.issue("u", "phone", tok("fresh", 100)).await.unwrap();
    s.issue("u", "old", tok("gone", -10)).await.unwrap();
    assert_eq!(rows(store, d, "u").await, 2);
    // Looking up another user agent's tokens purges the user's.
    assert_eq!(secrets(s, "u", "phone").await, ["fresh"]);
    assert_eq!(rows(store, d, "u").await, 1);
    // The expired one of the user agent looked up is not returned.
    s.issue("u", "laptop", tok("stale", -1)).await.unwrap();
    assert!(secrets(s, "u", "laptop").await.is_empty());
    assert_eq!(rows(store, d, "u").await, 1);
    // Issuing sweeps too.
    s.issue("u", "old", tok("gone", -10)).await.unwrap();
    assert_eq!(rows(store, d, "u").await, 2);
    s.issue("u", "tablet", tok("new", 100)).await.unwrap();
    assert_eq!(rows(store, d, "u").await, 2, "phone and tablet");
    assert_eq!(secrets(s, "u", "tablet").await, ["new"]);
}

/// A password change, `disable` and `remove` revoke the account's
/// tokens, and no other's.
async fn revoked_with_the_account(store: &Arc<SqlStore>) {
    let d = "revoke.example";
    account(store, d, "juliet").await;
    account(store, d, "romeo").await;
    let s = tokens_of(store, d);
    let s = s.as_ref();
    s.issue("romeo", "ua", tok("r", 100)).await.unwrap();
    let creds = StoredCredentials::derive_with("juliet", "new", &[d], &[3; 16], &[4; 16], 1);

    s.issue("juliet", "ua", tok("j1", 100)).await.unwrap();
    store.set_credentials(d, "juliet", &creds).await.unwrap();
    assert!(secrets(s, "juliet", "ua").await.is_empty());

    s.issue("juliet", "ua", tok("j2", 100)).await.unwrap();
    store
        .put_many(d, &[("juliet".to_owned(), creds.clone())])
        .await
        .unwrap();
    assert!(secrets(s, "juliet", "ua").await.is_empty());

    s.issue("juliet", "ua", tok("j3", 100)).await.unwrap();
    assert!(store.set_disabled(d, "juliet", true).await.unwrap());
    assert!(secrets(s, "juliet", "ua").await.is_empty());
    // None for a disabled account; re-enabling brings none back.
    let e = store
        .issue_fast_token(d, "juliet", "ua", &tok("j4", 100))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Token(_)), "{e}");
    assert!(store.set_disabled(d, "juliet", false).await.unwrap());
    assert!(secrets(s, "juliet", "ua").await.is_empty());

    s.issue("juliet", "ua", tok("j5", 100)).await.unwrap();
    // Re-enabling an enabled account keeps them.
    assert!(store.set_disabled(d, "juliet", false).await.unwrap());
    assert_eq!(secrets(s, "juliet", "ua").await, ["j5"]);
    assert!(store.remove(d, "juliet").await.unwrap());
    assert_eq!(rows(store, d, "juliet").await, 0);
    let e = store
        .issue_fast_token(d, "juliet", "ua", &tok("j6", 100))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");
    // A new account of that name starts with none.
    account(store, d, "juliet").await;
    assert!(secrets(s, "juliet", "ua").await.is_empty());

    assert_eq!(secrets(s, "romeo", "ua").await, ["r"]);
}

/// Issuing for a 33rd user agent drops the tokens of the one least
/// recently active.
async fn user_agents_are_bounded(store: &Arc<SqlStore>) {
    let d = "bound.example";
    account(store, d, "u").await;
    let s = tokens_of(store, d);
    let s = s.as_ref();
    for i in 0..tokens::MAX_USER_AGENTS {
        s.issue("u", &format!("ua-{i}"), tok(&format!("t{i}"), 100))
            .await
            .unwrap();
    }
    // ua-0, the first issued, is the most recently used.
    s.used("u", "ua-0", &tok("t0", 100), None).await.unwrap();
    s.issue("u", "ua-new", tok("n", 100)).await.unwrap();
    assert_eq!(rows(store, d, "u").await, 32);
    assert_eq!(secrets(s, "u", "ua-0").await, ["t0"]);
    assert!(
        secrets(s, "u", "ua-1").await.is_empty(),
        "least recently active"
    );
    assert_eq!(secrets(s, "u", "ua-2").await, ["t2"]);
    assert_eq!(secrets(s, "u", "ua-new").await, ["n"]);
    // A user agent with two tokens goes whole.
    s.issue("u", "ua-2", tok("t2b", 100)).await.unwrap();
    s.issue("u", "ua-3", tok("t3b", 100)).await.unwrap();
    s.issue("u", "ua-newer", tok("m", 100)).await.unwrap();
    assert!(secrets(s, "u", "ua-4").await.is_empty());
    assert_eq!(secrets(s, "u", "ua-2").await, ["t2b"]);
    assert_eq!(rows(store, d, "u").await, 32);
    // Other users are not limited by this one's.
    account(store, d, "v").await;
    s.issue("v", "ua-1", tok("v1", 100)).await.unwrap();
    assert_eq!(secrets(s, "v", "ua-1").await, ["v1"]);
}

/// What cannot be stored is refused with an error that shows no token.
async fn bad_input_is_refused(store: &Arc<SqlStore>) {
    let d = "input.example";
    account(store, d, "u").await;
    let s = tokens_of(store, d);
    let s = s.as_ref();
    let long = "x".repeat(tokens::MAX_USER_AGENT_LEN + 1);
    let max = "x".repeat(tokens::MAX_USER_AGENT_LEN);
    // Multi-byte: 256 characters, 512 bytes.
    let wide = "é".repeat(tokens::MAX_USER_AGENT_LEN);
    for ua in [long.as_str(), "", "a\0b", wide.as_str()] {
        let e = store
            .issue_fast_token(d, "u", ua, &tok("hidden-token", 100))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Token(_)), "{e}");
        let e = s
            .issue("u", ua, tok("hidden-token", 100))
            .await
            .unwrap_err();
        assert!(!e.to_string().contains("hidden-token"), "{e}");
        // Looking such a user agent up finds nothing; the rest no-ops.
        assert!(secrets(s, "u", ua).await.is_empty());
        s.used("u", ua, &tok("hidden-token", 100), None)
            .await
            .unwrap();
        s.invalidate("u", ua).await.unwrap();
    }
    assert_eq!(rows(store, d, "u").await, 0);
    s.issue("u", &max, tok("ok", 100)).await.unwrap();
    assert_eq!(secrets(s, "u", &max).await, ["ok"]);
    // Not an HT mechanism, an empty token, a count past i64.
    let mut scram = tok("t", 100);
    scram.mechanism = Mechanism::ScramSha256;
    assert!(matches!(
        store.issue_fast_token(d, "u", "ua", &scram).await,
        Err(StoreError::Token(_))
    ));
    assert!(matches!(
        store.issue_fast_token(d, "u", "ua", &tok("", 100)).await,
        Err(StoreError::Token(_))
    ));
    assert!(matches!(
        store
            .fast_token_used(d, "u", &max, &tok("ok", 100), Some(u64::MAX))
            .await,
        Err(StoreError::Token(_))
    ));
    assert!(matches!(
        store
            .issue_fast_token(d, "no@body", "ua", &tok("t", 100))
            .await,
        Err(StoreError::InvalidUsername(_))
    ));
    assert!(matches!(
        store
            .issue_fast_token(d, "nobody", "ua", &tok("t", 100))
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(secrets(s, "no@body", "ua").await.is_empty());
    assert_eq!(rows(store, d, "u").await, 1);
}

/// One account name in two domains: two accounts, two sets of tokens.
async fn domains_are_separate(store: &Arc<SqlStore>) {
    let (a, b) = ("a.example", "b.example");
    account(store, a, "juliet").await;
    account(store, b, "juliet").await;
    let (sa, sb) = (tokens_of(store, a), tokens_of(store, b));
    let (sa, sb) = (sa.as_ref(), sb.as_ref());
    sa.issue("juliet", "ua", tok("at-a", 100)).await.unwrap();
    sb.issue("juliet", "ua", tok("at-b", 100)).await.unwrap();
    assert_eq!(secrets(sa, "juliet", "ua").await, ["at-a"]);
    assert_eq!(secrets(sb, "juliet", "ua").await, ["at-b"]);
    // Using a's token through b does nothing.
    sb.used("juliet", "ua", &tok("at-a", 100), None)
        .await
        .unwrap();
    sa.issue("juliet", "ua", tok("at-a2", 100)).await.unwrap();
    assert_eq!(
        secrets(sa, "juliet", "ua").await,
        ["at-a2"],
        "at-a was never used"
    );
    sa.revoke_user("juliet").await.unwrap();
    assert!(secrets(sa, "juliet", "ua").await.is_empty());
    assert_eq!(secrets(sb, "juliet", "ua").await, ["at-b"]);
    store.set_disabled(a, "juliet", true).await.unwrap();
    assert!(store.remove(a, "juliet").await.unwrap());
    assert_eq!(secrets(sb, "juliet", "ua").await, ["at-b"]);
}

/// Issues racing for one user agent still leave at most two tokens
/// (each transaction holds the account's lock).
async fn concurrent_issues_keep_two(store: &Arc<SqlStore>) {
    let d = "race.example";
    account(store, d, "u").await;
    let s = tokens_of(store, d);
    let current = tok("current", 100);
    s.issue("u", "ua", current.clone()).await.unwrap();
    s.used("u", "ua", &current, None).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.issue("u", "ua", tok(&format!("n{i}"), 100))
                .await
                .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = secrets(s.as_ref(), "u", "ua").await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1], "current");
    assert_eq!(rows(store, d, "u").await, 2);
}

/// Runs every scenario above on `store`.
async fn all_scenarios(store: &Arc<SqlStore>) {
    slots(store).await;
    expired_rows_are_purged(store).await;
    revoked_with_the_account(store).await;
    user_agents_are_bounded(store).await;
    bad_input_is_refused(store).await;
    domains_are_separate(store).await;
    concurrent_issues_keep_two(store).await;
}

const CACHE: CacheConfig = CacheConfig {
    ttl: Duration::from_secs(600),
    max_entries: 1000,
};

/// `store` with caches that watch no file and whose entries outlive
/// the test: only the store's own invalidation can drop an entry.
fn cached_blind(mut store: SqlStore) -> SqlStore {
    store.cache = Some(CredCache::new(CACHE));
    store.token_cache = Some(TokenCache::new(CACHE));
    store
}

/// How many token lookups read the database.
fn token_reads(store: &SqlStore) -> usize {
    store
        .token_cache
        .as_ref()
        .unwrap()
        .loads
        .load(std::sync::atomic::Ordering::Relaxed)
}

async fn sqlite() -> (tempfile::TempDir, Arc<SqlStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(dir.path().join("users.sqlite3").to_str().unwrap())
        .await
        .unwrap();
    (dir, Arc::new(store))
}

#[tokio::test]
async fn fast_token_slots() {
    slots(&sqlite().await.1).await;
}

#[tokio::test]
async fn fast_token_expired_rows_are_purged() {
    expired_rows_are_purged(&sqlite().await.1).await;
}

#[tokio::test]
async fn fast_tokens_are_revoked_with_the_account() {
    revoked_with_the_account(&sqlite().await.1).await;
}

#[tokio::test]
async fn fast_token_user_agents_are_bounded() {
    user_agents_are_bounded(&sqlite().await.1).await;
}

#[tokio::test]
async fn fast_token_bad_input_is_refused() {
    bad_input_is_refused(&sqlite().await.1).await;
}

#[tokio::test]
async fn fast_token_domains_are_separate() {
    domains_are_separate(&sqlite().await.1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_token_concurrent_issues_keep_two() {
    concurrent_issues_keep_two(&sqlite().await.1).await;
}

/// The tokens never reach the database file in a form the existing
/// check (`tests/cli.rs`) would trip on, and the schema says nothing
/// of secrets: the SQL text is stored in the file.
#[tokio::test]
async fn fast_token_schema_is_in_the_file_without_the_word() {
    let (dir, store) = sqlite().await;
    on_pool!(store, pool => {
        let sql: String = sqlx::query("SELECT sql FROM sqlite_master WHERE name = 'xmpp_fast_tokens'")
            .fetch_one(pool).await.unwrap().try_get(0).unwrap();
        assert!(sql.contains("user_agent"), "{sql}");
        assert!(!sql.to_lowercase().contains("secret"), "{sql}");
    });
    drop(dir);
}

/// Every write through the store drops what it changes from the cache
/// itself: the scenarios pass through a cache that nothing else drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_token_scenarios_through_a_cache_blind_to_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(dir.path().join("users.sqlite3").to_str().unwrap())
        .await
        .unwrap();
    let store = Arc::new(cached_blind(store));
    all_scenarios(&store).await;
    assert!(token_reads(&store) > 0);
}

/// A steady-state FAST login (the current token reused, nothing
/// written) reads its tokens from the cache; so does a lookup that
/// found none.
#[tokio::test]
async fn a_second_token_lookup_is_served_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(dir.path().join("users.sqlite3").to_str().unwrap())
        .await
        .unwrap()
        .with_cache(CACHE);
    let store = Arc::new(store);
    account(&store, "example.com", "u").await;
    let s = tokens_of(&store, "example.com");
    let s = s.as_ref();
    let t = tok("t", 100);
    s.issue("u", "ua", t.clone()).await.unwrap();
    s.used("u", "ua", &t, None).await.unwrap();
    let before = token_reads(&store);
    for _ in 0..3 {
        let got = s.tokens("u", "ua").await.unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].in_use);
    }
    // Another spelling of the name is the same entry.
    assert_eq!(secrets(s, "U", "ua").await, ["t"]);
    assert_eq!(token_reads(&store) - before, 1);
    for _ in 0..3 {
        assert!(secrets(s, "u", "other-ua").await.is_empty());
        assert!(secrets(s, "nobody", "ua").await.is_empty());
    }
    assert_eq!(token_reads(&store) - before, 3);
    // Names and user agents that cannot have tokens are not looked up.
    assert!(secrets(s, "no@body", "ua").await.is_empty());
    assert!(secrets(s, "u", "").await.is_empty());
    assert_eq!(token_reads(&store) - before, 3);
}

/// Another process (`xmpp user passwd`, or a second server on the same
/// file) is seen at the next lookup: its write changes the files.
#[tokio::test]
async fn token_writes_by_another_process_are_seen_at_the_next_lookup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.sqlite3");
    let server = Arc::new(
        SqlStore::open(path.to_str().unwrap())
            .await
            .unwrap()
            .with_cache(CACHE),
    );
    let other = Arc::new(SqlStore::open(path.to_str().unwrap()).await.unwrap());
    account(&other, DOMAIN, "juliet").await;
    let s = tokens_of(&server, DOMAIN);
    let s = s.as_ref();
    let o = tokens_of(&other, DOMAIN);
    let o = o.as_ref();
    // A miss, then a token issued elsewhere.
    assert!(secrets(s, "juliet", "ua").await.is_empty());
    assert!(secrets(s, "juliet", "ua").await.is_empty());
    o.issue("juliet", "ua", tok("t1", 100)).await.unwrap();
    assert_eq!(secrets(s, "juliet", "ua").await, ["t1"]);
    // Used elsewhere: now the current token.
    o.used("juliet", "ua", &tok("t1", 100), Some(4))
        .await
        .unwrap();
    let got = s.tokens("juliet", "ua").await.unwrap();
    assert!(got[0].in_use);
    assert_eq!(got[0].last_count, Some(4));
    // A password change revokes it.
    let before = token_reads(&server);
    assert_eq!(secrets(s, "juliet", "ua").await, ["t1"]);
    assert_eq!(token_reads(&server), before, "cached");
    let creds = StoredCredentials::derive_with("juliet", "new", &[DOMAIN], &[3; 16], &[4; 16], 1);
    other
        .set_credentials(DOMAIN, "juliet", &creds)
        .await
        .unwrap();
    assert!(secrets(s, "juliet", "ua").await.is_empty());
    // So do `invalidate` and `disable`.
    o.issue("juliet", "ua", tok("t2", 100)).await.unwrap();
    assert_eq!(secrets(s, "juliet", "ua").await, ["t2"]);
    o.invalidate("juliet", "ua").await.unwrap();
    assert!(secrets(s, "juliet", "ua").await.is_empty());
    o.issue("juliet", "ua", tok("t3", 100)).await.unwrap();
    assert_eq!(secrets(s, "juliet", "ua").await, ["t3"]);
    assert!(other.set_disabled(DOMAIN, "juliet", true).await.unwrap());
    assert!(secrets(s, "juliet", "ua").await.is_empty());
}

/// This process's writes are seen at once, without help from the
/// files (PostgreSQL has none).
#[tokio::test]
async fn token_writes_through_the_store_are_seen_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(dir.path().join("users.sqlite3").to_str().unwrap())
        .await
        .unwrap();
    let store = Arc::new(cached_blind(store));
    account(&store, DOMAIN, "juliet").await;
    let s = tokens_of(&store, DOMAIN);
    let s = s.as_ref();
    assert!(secrets(s, "juliet", "ua").await.is_empty());
    assert!(secrets(s, "juliet", "other").await.is_empty());
    let (t1, t2) = (tok("t1", 100), tok("t2", 200));
    s.issue("juliet", "ua", t1.clone()).await.unwrap();
    assert_eq!(secrets(s, "juliet", "ua").await, ["t1"]);
    assert!(!s.tokens("juliet", "ua").await.unwrap()[0].in_use);
    s.used("juliet", "ua", &t1, None).await.unwrap();
    assert!(s.tokens("juliet", "ua").await.unwrap()[0].in_use);
    s.issue("juliet", "ua", t2.clone()).await.unwrap();
    assert_eq!(secrets(s, "juliet", "ua").await, ["t2", "t1"]);
    s.used("juliet", "ua", &t2, Some(7)).await.unwrap();
    let got = s.tokens("juliet", "ua").await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].last_count, Some(7));
    s.invalidate("juliet", "ua").await.unwrap();
    assert!(secrets(s, "juliet", "ua").await.is_empty());
    s.issue("juliet", "other", tok("o", 100)).await.unwrap();
    assert_eq!(secrets(s, "juliet", "other").await, ["o"]);
    s.revoke_user("juliet").await.unwrap();
    assert!(secrets(s, "juliet", "other").await.is_empty());
    // The account writes that revoke tokens.
    let creds = StoredCredentials::derive_with("juliet", "new", &[DOMAIN], &[3; 16], &[4; 16], 1);
    type Revoke<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;
    let revokes: [(&str, Revoke<'_>); 4] = [
        (
            "set_credentials",
            Box::pin(async {
                store
                    .set_credentials(DOMAIN, "juliet", &creds)
                    .await
                    .unwrap();
            }),
        ),
        (
            "put_many",
            Box::pin(async {
                store
                    .put_many(DOMAIN, &[("juliet".to_owned(), creds.clone())])
                    .await
                    .unwrap();
            }),
        ),
        (
            "set_disabled",
            Box::pin(async {
                assert!(store.set_disabled(DOMAIN, "juliet", true).await.unwrap());
                assert!(store.set_disabled(DOMAIN, "juliet", false).await.unwrap());
            }),
        ),
        (
            "remove",
            Box::pin(async {
                assert!(store.remove(DOMAIN, "juliet").await.unwrap());
                store.add(DOMAIN, "juliet", &creds).await.unwrap();
            }),
        ),
    ];
    for (what, revoke) in revokes {
        s.issue("juliet", "ua", tok("r", 100)).await.unwrap();
        assert_eq!(secrets(s, "juliet", "ua").await, ["r"], "{what}");
        revoke.await;
        assert!(secrets(s, "juliet", "ua").await.is_empty(), "{what}");
    }
}

/// A lookup that read the tokens before a write landed returns what it
/// read, but does not cache it: the next lookup sees the write. (The
/// generation counter; a write ending after the entry was stored drops
/// it.)
#[tokio::test]
async fn a_token_read_overtaken_by_a_write_is_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(dir.path().join("users.sqlite3").to_str().unwrap())
        .await
        .unwrap();
    let store = cached_blind(store);
    account(&store, DOMAIN, "juliet").await;
    store
        .issue_fast_token(DOMAIN, "juliet", "ua", &tok("t", 100))
        .await
        .unwrap();
    let cache = store.token_cache.as_ref().unwrap();
    let read = cache
        .read_through(DOMAIN, "juliet", "ua", || async {
            let read = store.fast_tokens_db(DOMAIN, "juliet", "ua").await;
            // The write, between the read and its caching.
            store
                .invalidate_fast_tokens(DOMAIN, "juliet", "ua")
                .await
                .unwrap();
            read
        })
        .await
        .unwrap();
    assert_eq!(read.len(), 1, "the read saw the token");
    // Not cached: the next lookup reads the database, and caches.
    let before = token_reads(&store);
    for _ in 0..3 {
        assert!(store
            .fast_tokens(DOMAIN, "juliet", "ua")
            .await
            .unwrap()
            .is_empty());
    }
    assert_eq!(token_reads(&store) - before, 1);
}

/// Deleting expired rows is a write like any other: the lookup that
/// did it caches nothing, and the next one reads the purged table.
#[tokio::test]
async fn a_token_lookup_that_purges_caches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(dir.path().join("users.sqlite3").to_str().unwrap())
        .await
        .unwrap();
    let store = Arc::new(cached_blind(store));
    account(&store, DOMAIN, "juliet").await;
    let s = tokens_of(&store, DOMAIN);
    let s = s.as_ref();
    s.issue("juliet", "phone", tok("fresh", 100)).await.unwrap();
    s.issue("juliet", "old", tok("gone", -10)).await.unwrap();
    let before = token_reads(&store);
    for _ in 0..3 {
        assert_eq!(secrets(s, "juliet", "phone").await, ["fresh"]);
    }
    assert_eq!(token_reads(&store) - before, 2, "purged, then cached");
    assert_eq!(rows(&store, DOMAIN, "juliet").await, 1);
}

/// The same scenarios on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "interop: run by cargo xtask interop"]
async fn fast_tokens_against_postgresql() {
    let cluster = tokio::task::spawn_blocking(pg::Cluster::start)
        .await
        .unwrap();
    let store = Arc::new(SqlStore::open(&cluster.url).await.unwrap());
    assert!(store.is_postgres());
    all_scenarios(&store).await;
    // A second node opening the migrated store migrates nothing.
    let again = SqlStore::open(&cluster.url).await.unwrap();
    let s = tokens_of(&Arc::new(again), "slots.example");
    assert!(s.tokens("u", "ua").await.unwrap().is_empty());
    // Again through a cache that only the store's own writes drop, on
    // a database of its own.
    let admin = sqlx::PgPool::connect(&cluster.url).await.unwrap();
    sqlx::query("CREATE DATABASE cached")
        .execute(&admin)
        .await
        .unwrap();
    let (base, _) = cluster.url.rsplit_once('/').unwrap();
    let cached = SqlStore::open(&format!("{base}/cached")).await.unwrap();
    let cached = Arc::new(cached_blind(cached));
    all_scenarios(&cached).await;
    assert!(token_reads(&cached) > 0);
    drop(store);
    drop(cluster);
}

/// Waits (polling) until `f` returns true; fails after 5 s.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, f: impl Fn() -> F) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !f().await {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Tokens cached by one node are dropped when another node changes
/// them (the trigger of schema version 5) or their account (version
/// 2), once notified; token changes are not reported as account
/// changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "interop: run by cargo xtask interop"]
async fn fast_token_cache_across_postgresql_nodes() {
    let cluster = tokio::task::spawn_blocking(pg::Cluster::start)
        .await
        .unwrap();
    let d = "nodes.example";
    let node_a = Arc::new(
        SqlStore::open(&cluster.url)
            .await
            .unwrap()
            .with_cache(CACHE),
    );
    let node_b = Arc::new(SqlStore::open(&cluster.url).await.unwrap());
    let mut changes = node_a
        .account_changes(Duration::from_millis(20))
        .await
        .unwrap();
    let (tx, mut reported) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(async move { while tx.send(changes.next().await).is_ok() {} });
    account(&node_b, d, "juliet").await;
    let (a, b) = (tokens_of(&node_a, d), tokens_of(&node_b, d));
    let (a, b) = (a.as_ref(), b.as_ref());
    // A cached miss.
    eventually("the account is notified", || async { !reported.is_empty() }).await;
    assert!(secrets(a, "juliet", "ua").await.is_empty());
    assert!(secrets(a, "juliet", "ua").await.is_empty());
    assert_eq!(token_reads(&node_a), 1);

    b.issue("juliet", "ua", tok("t1", 100)).await.unwrap();
    eventually("issued on b", || async {
        secrets(a, "juliet", "ua").await == ["t1"]
    })
    .await;
    let n = token_reads(&node_a);
    assert_eq!(secrets(a, "juliet", "ua").await, ["t1"]);
    assert_eq!(token_reads(&node_a), n, "cached again");

    b.used("juliet", "ua", &tok("t1", 100), Some(3))
        .await
        .unwrap();
    eventually("used on b", || async {
        let got = a.tokens("juliet", "ua").await.unwrap();
        got.len() == 1 && got[0].in_use && got[0].last_count == Some(3)
    })
    .await;

    b.invalidate("juliet", "ua").await.unwrap();
    eventually("invalidated on b", || async {
        secrets(a, "juliet", "ua").await.is_empty()
    })
    .await;

    b.issue("juliet", "ua", tok("t2", 100)).await.unwrap();
    eventually("issued again on b", || async {
        secrets(a, "juliet", "ua").await == ["t2"]
    })
    .await;
    let creds = StoredCredentials::derive_with("juliet", "new", &[d], &[3; 16], &[4; 16], 1);
    node_b.set_credentials(d, "juliet", &creds).await.unwrap();
    eventually("revoked by a password change on b", || async {
        secrets(a, "juliet", "ua").await.is_empty()
    })
    .await;

    // Only the two account writes were reported.
    tokio::time::sleep(Duration::from_millis(200)).await;
    watcher.abort();
    let mut seen = Vec::new();
    while let Ok(c) = reported.try_recv() {
        seen.push(c);
    }
    let juliet = AccountChange::One {
        domain: d.to_owned(),
        username: "juliet".to_owned(),
    };
    assert_eq!(seen, [juliet.clone(), juliet]);
    drop(cluster);
}
