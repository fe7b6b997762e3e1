//! The sessions of a server by JID: who is bound as which full JID
//! (RFC 6120 §7), what happens when a second session asks for a resource in
//! use, and where stanzas addressed to a JID go. Negotiation binds here, and
//! a server that routes between its sessions looks recipients up here, so
//! both see the same sessions. The server also ends sessions here: all of a
//! bare JID's when its account is disabled or removed.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use futures_util::task::AtomicWaker;
use jid::{BareJid, FullJid, ResourcePart};
use xmpp_xml::Element;

use crate::condition::{StanzaCondition, StreamCondition};

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

/// Where stanzas routed to a bound session go. The registry only keeps it:
/// the application that routes between sessions attaches one per session
/// ([`BoundSession::attach_mailbox`]) and finds it again by JID
/// ([`ResourceRegistry::mailbox`], [`ResourceRegistry::available_mailboxes`]).
pub trait Mailbox: Send + Sync {
    /// Takes `stanza` for the session without waiting. `false` when it
    /// cannot (full or closed); the stanza is then lost.
    fn offer(&self, stanza: &Element) -> bool;
}

/// Set when a session must end (replaced, or its account closed), with the
/// stream error it ends with; wakes the task reading that session.
#[derive(Debug, Default)]
pub(crate) struct KickSignal {
    /// The first reason wins.
    reason: OnceLock<StreamCondition>,
    waker: AtomicWaker,
}

impl KickSignal {
    fn kick(&self, condition: StreamCondition) {
        let _ = self.reason.set(condition);
        self.waker.wake();
    }

    /// The stream error the session must end with, if it must; registers
    /// the waker otherwise.
    pub(crate) fn poll_kicked(&self, cx: &std::task::Context<'_>) -> Option<StreamCondition> {
        if let Some(c) = self.reason.get() {
            return Some(*c);
        }
        self.waker.register(cx.waker());
        self.reason.get().copied()
    }
}

/// One bound session.
struct Entry {
    /// Also the session's identity: a replacing session has another one.
    signal: Arc<KickSignal>,
    mailbox: Option<Arc<dyn Mailbox>>,
    /// Sent initial presence (RFC 6121 §4.2) and no unavailable presence
    /// since: receives stanzas addressed to the bare JID.
    available: bool,
}

#[derive(Default)]
struct Sessions {
    by_jid: HashMap<BareJid, HashMap<ResourcePart, Entry>>,
    /// Set by [`ResourceRegistry::close_mailboxes`].
    mailboxes_closed: bool,
}

impl Sessions {
    /// `jid`'s entry, if `signal` (the session asking) still holds it.
    fn own_entry(&mut self, jid: &FullJid, signal: &Arc<KickSignal>) -> Option<&mut Entry> {
        self.by_jid
            .get_mut(&jid.to_bare())
            .and_then(|resources| resources.get_mut(jid.resource().as_str()))
            .filter(|e| Arc::ptr_eq(&e.signal, signal))
    }
}

/// The bound sessions of one server, shared by all its connections.
pub struct ResourceRegistry {
    policy: ConflictPolicy,
    sessions: Mutex<Sessions>,
}

impl fmt::Debug for ResourceRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceRegistry")
            .field("policy", &self.policy)
            .field("sessions", &self.len())
            .finish()
    }
}

impl ResourceRegistry {
    /// An empty registry.
    pub fn new(policy: ConflictPolicy) -> Self {
        ResourceRegistry {
            policy,
            sessions: Mutex::new(Sessions::default()),
        }
    }

    /// The conflict policy.
    pub fn policy(&self) -> ConflictPolicy {
        self.policy
    }

    /// The resources currently bound for a bare JID.
    pub fn resources(&self, bare: &BareJid) -> Vec<ResourcePart> {
        self.lock()
            .by_jid
            .get(bare)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The number of bound sessions.
    pub fn len(&self) -> usize {
        self.lock().by_jid.values().map(HashMap::len).sum()
    }

    /// Whether no session is bound.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bare JIDs that have bound sessions (what a server re-checks when
    /// accounts change).
    pub fn bare_jids(&self) -> Vec<BareJid> {
        self.lock().by_jid.keys().cloned().collect()
    }

    /// Ends every session bound for `bare`: each one's stream sends a
    /// `condition` stream error and closes (e.g.
    /// [`StreamCondition::NotAuthorized`] when the account was disabled or
    /// removed). Their resources and mailboxes are released at once, so
    /// nothing more is routed to them. Returns how many sessions there were.
    pub fn close_sessions(&self, bare: &BareJid, condition: StreamCondition) -> usize {
        let Some(resources) = self.lock().by_jid.remove(bare) else {
            return 0;
        };
        for entry in resources.values() {
            entry.signal.kick(condition);
        }
        resources.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sessions> {
        // The map stays consistent even if a holder panicked mid-way: every
        // update is a single insert, remove or field store.
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Binds `jid` for a session, applying the conflict policy: under
    /// [`ConflictPolicy::Refuse`] a resource in use is
    /// [`StanzaCondition::Conflict`]; under [`ConflictPolicy::Replace`] the
    /// holder is told to close with `<conflict/>` and loses its mailbox.
    /// The resource is released when the returned [`BoundSession`] drops.
    ///
    /// [`server::accept`](crate::server::accept) calls this for
    /// [`ServerAction::Bind`](crate::server::ServerAction::Bind); a shell of
    /// its own around [`ServerCore`](crate::server::ServerCore) does too.
    pub fn bind(self: &Arc<Self>, jid: &FullJid) -> Result<BoundSession, StanzaCondition> {
        let signal = Arc::new(KickSignal::default());
        let mut sessions = self.lock();
        let resources = sessions.by_jid.entry(jid.to_bare()).or_default();
        if let Some(old) = resources.get(jid.resource().as_str()) {
            match self.policy {
                ConflictPolicy::Refuse => return Err(StanzaCondition::Conflict),
                ConflictPolicy::Replace => old.signal.kick(StreamCondition::Conflict),
            }
        }
        resources.insert(
            jid.resource().to_owned(),
            Entry {
                signal: signal.clone(),
                mailbox: None,
                available: false,
            },
        );
        Ok(BoundSession {
            registry: self.clone(),
            jid: jid.clone(),
            signal,
        })
    }

    /// The mailbox of the session bound as `jid`, if it has one.
    pub fn mailbox(&self, jid: &FullJid) -> Option<Arc<dyn Mailbox>> {
        self.lock()
            .by_jid
            .get(&jid.to_bare())?
            .get(jid.resource().as_str())?
            .mailbox
            .clone()
    }

    /// The mailboxes of `bare`'s available resources (those that sent
    /// initial presence, RFC 6121 §8.5.2.1.1).
    pub fn available_mailboxes(&self, bare: &BareJid) -> Vec<Arc<dyn Mailbox>> {
        self.lock()
            .by_jid
            .get(bare)
            .map(|resources| {
                resources
                    .values()
                    .filter(|e| e.available)
                    .filter_map(|e| e.mailbox.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drops every mailbox and refuses new ones; binding goes on. A server
    /// shutting down does this so that each session, waiting on its
    /// mailbox, learns of the shutdown from it.
    pub fn close_mailboxes(&self) {
        let mut sessions = self.lock();
        sessions.mailboxes_closed = true;
        for entry in sessions.by_jid.values_mut().flat_map(HashMap::values_mut) {
            entry.mailbox = None;
        }
    }

    /// Whether [`ResourceRegistry::close_mailboxes`] was called.
    pub fn mailboxes_closed(&self) -> bool {
        self.lock().mailboxes_closed
    }

    fn unbind(&self, jid: &FullJid, signal: &Arc<KickSignal>) {
        let mut sessions = self.lock();
        let bare = jid.to_bare();
        if let Some(resources) = sessions.by_jid.get_mut(&bare) {
            // Only remove our own entry: a replacing session may hold it now.
            let resource = jid.resource().as_str();
            if resources
                .get(resource)
                .is_some_and(|e| Arc::ptr_eq(&e.signal, signal))
            {
                resources.remove(resource);
            }
            if resources.is_empty() {
                sessions.by_jid.remove(&bare);
            }
        }
    }
}

/// A resource held by one session; released when dropped. Once a newer
/// session replaced it, its updates no longer change anything.
#[derive(Debug)]
pub struct BoundSession {
    registry: Arc<ResourceRegistry>,
    jid: FullJid,
    pub(crate) signal: Arc<KickSignal>,
}

impl BoundSession {
    /// The bound full JID.
    pub fn jid(&self) -> &FullJid {
        &self.jid
    }

    /// `Ready` with the stream error this session must end with once the
    /// server ended it (a newer session took its resource, or its account was
    /// closed); registers `cx`'s waker until then. [`crate::XmppStream`]
    /// reports this when read; a shell that may be blocked writing to a
    /// client that does not read checks it too, so that such a client cannot
    /// outlive its session.
    pub fn poll_ended(&self, cx: &std::task::Context<'_>) -> std::task::Poll<StreamCondition> {
        match self.signal.poll_kicked(cx) {
            Some(condition) => std::task::Poll::Ready(condition),
            None => std::task::Poll::Pending,
        }
    }

    /// Gives the session a mailbox, replacing any earlier one. `false` when
    /// the registry's mailboxes are closed or the resource was taken over.
    pub fn attach_mailbox(&self, mailbox: Arc<dyn Mailbox>) -> bool {
        let mut sessions = self.registry.lock();
        if sessions.mailboxes_closed {
            return false;
        }
        match sessions.own_entry(&self.jid, &self.signal) {
            Some(entry) => {
                entry.mailbox = Some(mailbox);
                true
            }
            None => false,
        }
    }

    /// Marks the session available (initial presence) or not (unavailable
    /// presence): only available sessions get stanzas for the bare JID.
    pub fn set_available(&self, available: bool) {
        if let Some(entry) = self.registry.lock().own_entry(&self.jid, &self.signal) {
            entry.available = available;
        }
    }
}

impl Drop for BoundSession {
    fn drop(&mut self) {
        self.registry.unbind(&self.jid, &self.signal);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Counter(AtomicUsize);

    impl Mailbox for Counter {
        fn offer(&self, _: &Element) -> bool {
            self.0.fetch_add(1, Ordering::Relaxed);
            true
        }
    }

    fn full(s: &str) -> FullJid {
        FullJid::new(s).expect("a full JID")
    }

    fn bare(s: &str) -> BareJid {
        BareJid::new(s).expect("a bare JID")
    }

    #[test]
    fn refuse_policy_reports_conflict_and_releases_on_drop() {
        let reg = Arc::new(ResourceRegistry::new(ConflictPolicy::Refuse));
        let jid = full("juliet@example.com/balcony");
        let a = reg.bind(&jid);
        assert!(a.is_ok());
        assert_eq!(reg.bind(&jid).err(), Some(StanzaCondition::Conflict));
        drop(a);
        assert!(reg.bind(&jid).is_ok());
    }

    #[test]
    fn replace_policy_kicks_the_old_session_only() {
        let reg = Arc::new(ResourceRegistry::new(ConflictPolicy::Replace));
        let jid = full("juliet@example.com/balcony");
        let old = reg.bind(&jid).ok();
        let new = reg.bind(&jid).ok();
        let (old, new) = (old.expect("first bind"), new.expect("second bind"));
        assert_eq!(old.signal.reason.get(), Some(&StreamCondition::Conflict));
        assert_eq!(new.signal.reason.get(), None);
        drop(old);
        // The old session's drop must not unbind its replacement.
        let resources = reg.resources(&bare("juliet@example.com"));
        assert_eq!(
            resources.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            ["balcony"]
        );
        drop(new);
        assert!(reg.is_empty());
    }

    #[test]
    fn a_replaced_session_loses_its_mailbox_and_cannot_update_its_successor() {
        let reg = Arc::new(ResourceRegistry::new(ConflictPolicy::Replace));
        let jid = full("juliet@example.com/balcony");
        let old = reg.bind(&jid).expect("first bind");
        assert!(old.attach_mailbox(Arc::new(Counter(0.into()))));
        old.set_available(true);
        let new = reg.bind(&jid).expect("second bind");
        assert!(reg.mailbox(&jid).is_none());
        assert!(!old.attach_mailbox(Arc::new(Counter(0.into()))));
        assert!(new.attach_mailbox(Arc::new(Counter(0.into()))));
        assert!(reg.mailbox(&jid).is_some());
        old.set_available(true);
        assert!(reg.available_mailboxes(&jid.to_bare()).is_empty());
    }

    #[test]
    fn bare_jid_lookups_see_only_available_resources() {
        let reg = Arc::new(ResourceRegistry::new(ConflictPolicy::Replace));
        let a = reg.bind(&full("juliet@example.com/a")).expect("bind a");
        let b = reg.bind(&full("juliet@example.com/b")).expect("bind b");
        for s in [&a, &b] {
            assert!(s.attach_mailbox(Arc::new(Counter(0.into()))));
        }
        let juliet = bare("juliet@example.com");
        assert!(reg.available_mailboxes(&juliet).is_empty());
        a.set_available(true);
        assert_eq!(reg.available_mailboxes(&juliet).len(), 1);
        b.set_available(true);
        a.set_available(false);
        assert_eq!(reg.available_mailboxes(&juliet).len(), 1);
    }

    #[test]
    fn lookups_compare_prepared_jids() {
        let reg = Arc::new(ResourceRegistry::new(ConflictPolicy::Replace));
        let s = reg.bind(&full("juliet@example.com/balcony")).expect("bind");
        assert!(s.attach_mailbox(Arc::new(Counter(0.into()))));
        assert!(reg.mailbox(&full("Juliet@EXAMPLE.com/balcony")).is_some());
        assert!(reg.mailbox(&full("juliet@example.com/Balcony")).is_none());
    }

    #[test]
    fn closing_mailboxes_drops_them_and_refuses_new_ones() {
        let reg = Arc::new(ResourceRegistry::new(ConflictPolicy::Replace));
        let jid = full("juliet@example.com/balcony");
        let s = reg.bind(&jid).expect("bind");
        assert!(s.attach_mailbox(Arc::new(Counter(0.into()))));
        reg.close_mailboxes();
        assert!(reg.mailboxes_closed());
        assert!(reg.mailbox(&jid).is_none());
        assert!(!s.attach_mailbox(Arc::new(Counter(0.into()))));
        assert_eq!(reg.len(), 1);
    }

    #[test]
    fn closing_a_bare_jid_ends_all_its_sessions_and_only_those() {
        let reg = Arc::new(ResourceRegistry::new(ConflictPolicy::Replace));
        let a = reg.bind(&full("juliet@example.com/a")).expect("bind a");
        let b = reg.bind(&full("juliet@example.com/b")).expect("bind b");
        let r = reg.bind(&full("romeo@example.com/a")).expect("bind romeo");
        for s in [&a, &b, &r] {
            assert!(s.attach_mailbox(Arc::new(Counter(0.into()))));
            s.set_available(true);
        }
        let mut bares = reg.bare_jids();
        bares.sort_by(|x, y| x.as_str().cmp(y.as_str()));
        assert_eq!(
            bares,
            [bare("juliet@example.com"), bare("romeo@example.com")]
        );
        let juliet = bare("Juliet@example.com");
        assert_eq!(
            reg.close_sessions(&juliet, StreamCondition::NotAuthorized),
            2
        );
        for s in [&a, &b] {
            assert_eq!(s.signal.reason.get(), Some(&StreamCondition::NotAuthorized));
        }
        assert_eq!(r.signal.reason.get(), None);
        // Nothing is routed to the closed sessions any more.
        assert!(reg.resources(&juliet).is_empty());
        assert!(reg.available_mailboxes(&juliet).is_empty());
        assert!(reg.mailbox(&full("juliet@example.com/a")).is_none());
        assert!(!a.attach_mailbox(Arc::new(Counter(0.into()))));
        assert_eq!(reg.len(), 1);
        // A new session may bind the same resource; the old one's drop
        // leaves it alone.
        let c = reg.bind(&full("juliet@example.com/a")).expect("bind again");
        assert_eq!(c.signal.reason.get(), None);
        drop(a);
        assert_eq!(reg.resources(&juliet).len(), 1);
        assert_eq!(
            reg.close_sessions(&juliet, StreamCondition::NotAuthorized),
            1
        );
        assert_eq!(
            reg.close_sessions(&juliet, StreamCondition::NotAuthorized),
            0
        );
    }
}
