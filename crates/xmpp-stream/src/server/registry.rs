//! Bound resources of a server (RFC 6120 §7): who is connected as which full
//! JID, and what happens when a second session asks for a resource in use.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::task::AtomicWaker;

use crate::condition::StanzaCondition;

/// What to do when a client binds a resource that another session holds
/// (RFC 6120 §7.7.2.2).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConflictPolicy {
    /// Refuse the new bind with `<conflict/>`.
    Refuse,
    /// Bind the new session; the old one is closed with a `<conflict/>`
    /// stream error.
    Replace,
}

/// Set when a session was replaced; wakes the task reading that session.
#[derive(Debug, Default)]
pub(crate) struct KickSignal {
    kicked: AtomicBool,
    waker: AtomicWaker,
}

impl KickSignal {
    fn kick(&self) {
        self.kicked.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Whether the session was replaced; registers the waker otherwise.
    pub(crate) fn poll_kicked(&self, cx: &std::task::Context<'_>) -> bool {
        if self.kicked.load(Ordering::Acquire) {
            return true;
        }
        self.waker.register(cx.waker());
        self.kicked.load(Ordering::Acquire)
    }
}

type Sessions = HashMap<String, HashMap<String, Arc<KickSignal>>>;

/// The bound resources of one server, shared by all its connections.
#[derive(Debug)]
pub struct ResourceRegistry {
    policy: ConflictPolicy,
    sessions: Mutex<Sessions>,
}

impl ResourceRegistry {
    /// An empty registry.
    pub fn new(policy: ConflictPolicy) -> Self {
        ResourceRegistry {
            policy,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The conflict policy.
    pub fn policy(&self) -> ConflictPolicy {
        self.policy
    }

    /// The resources currently bound for a bare JID.
    pub fn resources(&self, bare: &str) -> Vec<String> {
        self.lock()
            .get(bare)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The number of bound sessions.
    pub fn len(&self) -> usize {
        self.lock().values().map(HashMap::len).sum()
    }

    /// Whether no session is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // The map stays consistent even if a holder panicked mid-way: every
        // update is a single insert or remove.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn bind(
        self: &Arc<Self>,
        bare: &str,
        resource: &str,
    ) -> Result<BoundSession, StanzaCondition> {
        let signal = Arc::new(KickSignal::default());
        let mut sessions = self.lock();
        let resources = sessions.entry(bare.to_owned()).or_default();
        if let Some(old) = resources.get(resource) {
            match self.policy {
                ConflictPolicy::Refuse => return Err(StanzaCondition::Conflict),
                ConflictPolicy::Replace => old.kick(),
            }
        }
        resources.insert(resource.to_owned(), signal.clone());
        Ok(BoundSession {
            registry: self.clone(),
            bare: bare.to_owned(),
            resource: resource.to_owned(),
            signal,
        })
    }

    fn unbind(&self, bare: &str, resource: &str, signal: &Arc<KickSignal>) {
        let mut sessions = self.lock();
        if let Some(resources) = sessions.get_mut(bare) {
            // Only remove our own entry: a replacing session may hold it now.
            if resources
                .get(resource)
                .is_some_and(|s| Arc::ptr_eq(s, signal))
            {
                resources.remove(resource);
            }
            if resources.is_empty() {
                sessions.remove(bare);
            }
        }
    }
}

/// A resource held by one session; released when dropped.
#[derive(Debug)]
pub(crate) struct BoundSession {
    registry: Arc<ResourceRegistry>,
    bare: String,
    resource: String,
    pub(crate) signal: Arc<KickSignal>,
}

impl Drop for BoundSession {
    fn drop(&mut self) {
        self.registry
            .unbind(&self.bare, &self.resource, &self.signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuse_policy_reports_conflict_and_releases_on_drop() {
        let reg = Arc::new(ResourceRegistry::new(ConflictPolicy::Refuse));
        let a = reg.bind("juliet@example.com", "balcony");
        assert!(a.is_ok());
        assert_eq!(
            reg.bind("juliet@example.com", "balcony").err(),
            Some(StanzaCondition::Conflict)
        );
        drop(a);
        assert!(reg.bind("juliet@example.com", "balcony").is_ok());
    }

    #[test]
    fn replace_policy_kicks_the_old_session_only() {
        let reg = Arc::new(ResourceRegistry::new(ConflictPolicy::Replace));
        let old = reg.bind("juliet@example.com", "balcony").ok();
        let new = reg.bind("juliet@example.com", "balcony").ok();
        let (old, new) = (old.expect("first bind"), new.expect("second bind"));
        assert!(old.signal.kicked.load(Ordering::Acquire));
        assert!(!new.signal.kicked.load(Ordering::Acquire));
        drop(old);
        // The old session's drop must not unbind its replacement.
        assert_eq!(reg.resources("juliet@example.com"), vec!["balcony"]);
        drop(new);
        assert!(reg.is_empty());
    }
}
