//! Ends the sessions of accounts that were disabled or removed while
//! connected, with a `<not-authorized/>` stream error (issue #12): a login
//! is checked once, so without this a disabled account kept its sessions.
//!
//! When the store reports a change ([`AccountChanges`]), the accounts of the
//! bound sessions it may concern are read again and the sessions of those
//! no longer enabled are closed through the session registry. A login whose
//! credentials were looked up just before the change may bind just after
//! that check; it binds within the negotiation timeout of connecting, so
//! each change is checked a second time once that timeout has passed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jid::BareJid;
use tokio::sync::mpsc;
use tokio::time::Instant;
use xmpp_stream::server::ResourceRegistry;
use xmpp_stream::StreamCondition;

use crate::store::{AccountChange, AccountChanges, SqlStore};

/// Deferred re-checks kept by name before they are merged into one of
/// every session.
const MAX_DEFERRED: usize = 1024;

/// Whose sessions to check.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// Every bound account.
    All,
    /// One account.
    One(BareJid),
}

/// Checks sessions against `store` whenever `changes` reports a change,
/// until dropped (abort the task running it).
pub struct Revoker {
    /// Where the accounts are.
    pub store: Arc<SqlStore>,
    /// The sessions.
    pub registry: Arc<ResourceRegistry>,
    /// How long a login may take from its credential lookup to its bind
    /// (the negotiation timeout): when each change is checked again.
    pub grace: Duration,
    /// When a failed check is retried.
    pub retry: Duration,
}

impl Revoker {
    /// Runs until the task is aborted.
    pub async fn run(self, mut changes: AccountChanges) {
        let (tx, mut rx) = mpsc::channel(64);
        // `next` is not cancel-safe: it gets a task of its own, aborted
        // with this one.
        let feed =
            tokio::spawn(async move { while tx.send(changes.next().await).await.is_ok() {} });
        let _feed = AbortOnDrop(feed);
        let mut deferred: Vec<(Instant, Target)> = Vec::new();
        loop {
            let received = match deferred.iter().map(|(at, _)| *at).min() {
                Some(at) => match tokio::time::timeout_at(at, rx.recv()).await {
                    Ok(received) => received,
                    Err(_) => {
                        let due = take_due(&mut deferred);
                        self.check(&due, &mut deferred).await;
                        continue;
                    }
                },
                None => rx.recv().await,
            };
            let Some(change) = received else { return };
            let target = match change {
                AccountChange::Any => Target::All,
                AccountChange::One { domain, username } => {
                    match BareJid::new(&format!("{username}@{domain}")) {
                        Ok(bare) => Target::One(bare),
                        Err(_) => continue,
                    }
                }
            };
            self.check(std::slice::from_ref(&target), &mut deferred)
                .await;
            defer(&mut deferred, Instant::now() + self.grace, target);
        }
    }

    /// Closes the sessions of the targeted accounts that are no longer
    /// enabled; a check the store could not answer is retried.
    async fn check(&self, targets: &[Target], deferred: &mut Vec<(Instant, Target)>) {
        let bares: Vec<BareJid> = if targets.contains(&Target::All) {
            self.registry.bare_jids()
        } else {
            targets
                .iter()
                .filter_map(|t| match t {
                    Target::One(b) if !self.registry.resources(b).is_empty() => Some(b.clone()),
                    _ => None,
                })
                .collect()
        };
        let mut by_domain: HashMap<String, Vec<BareJid>> = HashMap::new();
        for bare in bares {
            by_domain
                .entry(bare.domain().as_str().to_owned())
                .or_default()
                .push(bare);
        }
        for (domain, bares) in by_domain {
            let usernames: Vec<String> = bares
                .iter()
                .filter_map(|b| b.node().map(|n| n.as_str().to_owned()))
                .collect();
            let enabled = match self.store.enabled_accounts(&domain, &usernames).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, %domain, "cannot re-check accounts; retrying");
                    let at = Instant::now() + self.retry;
                    for bare in bares {
                        defer(deferred, at, Target::One(bare));
                    }
                    continue;
                }
            };
            for bare in bares {
                if bare.node().is_some_and(|n| enabled.contains(n.as_str())) {
                    continue;
                }
                let n = self
                    .registry
                    .close_sessions(&bare, StreamCondition::NotAuthorized);
                if n > 0 {
                    tracing::info!(jid = %bare, sessions = n, "account disabled or removed: sessions closed");
                }
            }
        }
    }
}

/// Queues a re-check; past [`MAX_DEFERRED`] they merge into one of every
/// session at the latest time (checking later still finds the sessions).
fn defer(deferred: &mut Vec<(Instant, Target)>, at: Instant, target: Target) {
    if deferred.iter().any(|(t, x)| *x == target && *t >= at) {
        return;
    }
    deferred.push((at, target));
    if deferred.len() > MAX_DEFERRED {
        let latest = deferred.iter().map(|(t, _)| *t).max().unwrap_or(at);
        deferred.clear();
        deferred.push((latest, Target::All));
    }
}

/// Removes and returns the re-checks that are due.
fn take_due(deferred: &mut Vec<(Instant, Target)>) -> Vec<Target> {
    let now = Instant::now();
    let mut due = Vec::new();
    deferred.retain(|(at, target)| {
        let is_due = *at <= now;
        if is_due {
            due.push(target.clone());
        }
        !is_due
    });
    due
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use xmpp_sasl::StoredCredentials;
    use xmpp_stream::server::ConflictPolicy;

    use super::*;

    fn jid(s: &str) -> jid::FullJid {
        jid::FullJid::new(s).unwrap()
    }

    /// Waits (polling) until `f` holds; fails after 5 s.
    async fn eventually(what: &str, f: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !f() {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn disabled_accounts_lose_their_sessions_even_those_bound_just_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open(dir.path().join("u.db").to_str().unwrap())
            .await
            .unwrap();
        let store = Arc::new(store);
        for user in ["juliet", "romeo"] {
            let creds = StoredCredentials::derive(user, "pw", &["example.com"]);
            store.add("example.com", user, &creds).await.unwrap();
        }
        let registry = Arc::new(ResourceRegistry::new(ConflictPolicy::Replace));
        let _a = registry.bind(&jid("juliet@example.com/a")).unwrap();
        let _r = registry.bind(&jid("romeo@example.com/r")).unwrap();
        let changes = store
            .account_changes(Duration::from_millis(20))
            .await
            .unwrap();
        let revoker = Revoker {
            store: store.clone(),
            registry: registry.clone(),
            grace: Duration::from_millis(500),
            retry: Duration::from_millis(20),
        };
        let task = tokio::spawn(revoker.run(changes));
        let juliet = BareJid::new("juliet@example.com").unwrap();
        let romeo = BareJid::new("romeo@example.com").unwrap();

        store
            .set_disabled("example.com", "juliet", true)
            .await
            .unwrap();
        eventually("juliet's session closed", || {
            registry.resources(&juliet).is_empty()
        })
        .await;
        // A login that looked juliet up before the change binds only now,
        // after that check: the second check, a grace period later, ends it.
        let _late = registry.bind(&jid("juliet@example.com/late")).unwrap();
        eventually("the late session closed", || {
            registry.resources(&juliet).is_empty()
        })
        .await;
        assert_eq!(registry.resources(&romeo).len(), 1);

        store.remove("example.com", "romeo").await.unwrap();
        eventually("romeo's session closed", || registry.is_empty()).await;
        task.abort();
    }

    #[test]
    fn deferred_checks_stay_bounded() {
        let mut deferred = Vec::new();
        let now = Instant::now();
        let bare = |i: usize| Target::One(BareJid::new(&format!("u{i}@example.com")).unwrap());
        defer(&mut deferred, now, bare(0));
        defer(&mut deferred, now, bare(0));
        assert_eq!(deferred.len(), 1);
        for i in 0..=MAX_DEFERRED {
            defer(
                &mut deferred,
                now + Duration::from_millis(i as u64),
                bare(i),
            );
        }
        assert_eq!(
            deferred,
            [(
                now + Duration::from_millis(MAX_DEFERRED as u64),
                Target::All
            )]
        );
        let mut deferred = vec![
            (Instant::now(), bare(1)),
            (Instant::now() + Duration::from_secs(60), Target::All),
        ];
        assert_eq!(take_due(&mut deferred), [bare(1)]);
        assert_eq!(deferred.len(), 1);
    }
}
