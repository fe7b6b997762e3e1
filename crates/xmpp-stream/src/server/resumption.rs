//! Stream resumption on the server (XEP-0198 §5): the resumable sessions
//! of one server, live or detached, by SM-ID.
//!
//! A session that enabled stream management with resumption is registered
//! here while its stream is live. When its connection is lost, the
//! application takes it off the stream ([`XmppStream::detach`]) and
//! [`park`](ResumableSessions::park)s it: it keeps its resource, its
//! counters and its unacknowledged stanzas until the client resumes it on
//! a new connection (then [`accept`](super::accept) hands it over, and the
//! new [`XmppStream`] resends what the client did not acknowledge), or
//! until its time is up (then `park` returns what was never acknowledged,
//! for the application to bounce).
//!
//! A client often resumes before the server noticed that the old connection
//! is dead. A resumption of a session that is still live asks the old
//! stream to let go: it ends with `<conflict/>` (its connection is, as far
//! as the client is concerned, gone), the application parks it as usual,
//! and the new connection takes it over.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use jid::{BareJid, FullJid};
use tokio::sync::{oneshot, Notify};
use xmpp_xml::Element;

use crate::condition::StreamCondition;
use crate::registry::{BoundSession, KickSignal};
use crate::sm::{ServerSm, SmId};

#[cfg(doc)]
use crate::XmppStream;

/// The resumable stream management sessions of one server.
///
/// Shared by the connections through
/// [`ServerConfig::resumable`](super::ServerConfig::resumable).
#[derive(Default)]
pub struct ResumableSessions {
    slots: Mutex<HashMap<SmId, Slot>>,
    /// Signalled whenever a live session is parked: a resumption waiting
    /// for the old stream to let go looks again.
    parked: Notify,
}

impl fmt::Debug for ResumableSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (live, detached) = self.counts();
        f.debug_struct("ResumableSessions")
            .field("live", &live)
            .field("detached", &detached)
            .finish()
    }
}

struct Slot {
    bare: BareJid,
    state: SlotState,
}

enum SlotState {
    /// On a live stream, which lets go when asked.
    Live(Arc<Takeover>),
    /// Detached, waiting in [`ResumableSessions::park`].
    Parked(Box<Parked>, oneshot::Sender<Option<Box<Parked>>>),
}

/// A detached session while it waits, and what the application keeps with
/// it.
struct Parked {
    detached: Detached,
    state: Box<dyn Any + Send>,
}

/// A live stream's request to let go of its session.
#[derive(Debug, Default)]
pub(crate) struct Takeover {
    requested: AtomicBool,
    waker: AtomicWaker,
}

impl Takeover {
    /// Whether a resumption asked the stream to let go; registers `cx`'s
    /// waker until then.
    pub(crate) fn poll_requested(&self, cx: &Context<'_>) -> bool {
        if self.requested.load(Ordering::Acquire) {
            return true;
        }
        self.waker.register(cx.waker());
        self.requested.load(Ordering::Acquire)
    }

    fn request(&self) {
        self.requested.store(true, Ordering::Release);
        self.waker.wake();
    }
}

/// A live session's registration: removed when dropped, unless parked.
#[derive(Debug)]
pub(crate) struct LiveSlot {
    sessions: Arc<ResumableSessions>,
    id: SmId,
    pub(crate) takeover: Arc<Takeover>,
}

impl Drop for LiveSlot {
    fn drop(&mut self) {
        let mut slots = self.sessions.lock();
        let ours = matches!(
            slots.get(&self.id).map(|s| &s.state),
            Some(SlotState::Live(t)) if Arc::ptr_eq(t, &self.takeover)
        );
        if ours {
            slots.remove(&self.id);
        }
    }
}

/// A session taken off its lost connection by [`XmppStream::detach`]: its
/// stream management state, its resource, and stanzas read but not yet
/// handed to the application. [`ResumableSessions::park`] it.
pub struct Detached {
    pub(crate) sm: ServerSm,
    pub(crate) jid: FullJid,
    pub(crate) bound: Option<BoundSession>,
    pub(crate) unread: Vec<Element>,
    pub(crate) live: LiveSlot,
}

impl fmt::Debug for Detached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Detached")
            .field("jid", &self.jid)
            .field("id", &self.live.id)
            .field("unacked", &self.sm.unacked_len())
            .finish()
    }
}

impl Detached {
    /// The session's full JID.
    pub fn jid(&self) -> &FullJid {
        &self.jid
    }

    /// How long it may wait for the client (the `max` it agreed).
    pub fn max(&self) -> Duration {
        self.sm.max().unwrap_or_default()
    }
}

/// How a parked session's wait ended.
#[derive(Debug)]
pub enum ParkEnd {
    /// The client resumed it on a new connection, which has everything now.
    Resumed,
    /// It is over: nobody will deliver these.
    Ended(EndedSession),
}

/// A session given up for good, with what it leaves behind.
pub struct EndedSession {
    /// Why.
    pub reason: EndReason,
    /// The session's full JID.
    pub jid: FullJid,
    /// Stanzas sent to the client and never acknowledged, oldest first:
    /// treat them as stanzas for an unavailable resource (XEP-0198 §4,
    /// RFC 6120 §10.5.4).
    pub unacked: Vec<Element>,
    /// Stanzas read from the client that the application never took.
    pub unread: Vec<Element>,
    /// What the application parked with the session.
    pub state: Box<dyn Any + Send>,
}

impl fmt::Debug for EndedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndedSession")
            .field("reason", &self.reason)
            .field("jid", &self.jid)
            .field("unacked", &self.unacked.len())
            .finish()
    }
}

/// Why a parked session ended.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndReason {
    /// Nobody resumed it in time.
    Expired,
    /// The server ended it while it waited: a newer session took its
    /// resource, or its account was closed.
    Closed(StreamCondition),
    /// A resumption failed on the counters (the client acknowledged more
    /// than was sent).
    ResumeFailed,
}

/// A resumption's claim on a parked session: its state, for the new stream;
/// handed back when the resumption fails.
pub(crate) struct Claimed {
    parked: Option<Box<Parked>>,
    back: Option<oneshot::Sender<Option<Box<Parked>>>>,
}

impl Claimed {
    pub(crate) fn sm(&mut self) -> &mut ServerSm {
        &mut self.parked_mut().detached.sm
    }

    pub(crate) fn jid(&self) -> &FullJid {
        &self.parked_ref().detached.jid
    }

    fn parked_ref(&self) -> &Parked {
        self.parked.as_deref().unwrap_or_else(|| unreachable!())
    }

    fn parked_mut(&mut self) -> &mut Parked {
        self.parked.as_deref_mut().unwrap_or_else(|| unreachable!())
    }

    /// The resumption succeeded: the session and the application's state,
    /// re-registered as live on the new stream.
    pub(crate) fn into_resumed(mut self, sessions: &Arc<ResumableSessions>) -> Resumed {
        let parked = self.parked.take().unwrap_or_else(|| unreachable!());
        if let Some(back) = self.back.take() {
            let _ = back.send(None);
        }
        let Parked { detached, state } = *parked;
        let Detached {
            sm,
            jid,
            bound,
            unread,
            live,
        } = detached;
        let id = live.id.clone();
        drop(live);
        let live = sessions.register(id, jid.to_bare(), None);
        Resumed {
            sm,
            bound,
            unread,
            live,
            state,
        }
    }
}

impl Drop for Claimed {
    /// A claim not resumed goes back to its parker, which ends the session.
    fn drop(&mut self) {
        if let (Some(parked), Some(back)) = (self.parked.take(), self.back.take()) {
            let _ = back.send(Some(parked));
        }
    }
}

/// A resumed session's state, for its new [`XmppStream`].
pub(crate) struct Resumed {
    pub(crate) sm: ServerSm,
    pub(crate) bound: Option<BoundSession>,
    pub(crate) unread: Vec<Element>,
    pub(crate) live: Option<LiveSlot>,
    pub(crate) state: Box<dyn Any + Send>,
}

impl ResumableSessions {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many sessions are live and how many are detached.
    pub fn counts(&self) -> (usize, usize) {
        let slots = self.lock();
        let live = slots
            .values()
            .filter(|s| matches!(s.state, SlotState::Live(_)))
            .count();
        (live, slots.len() - live)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SmId, Slot>> {
        // A panic while holding the lock leaves the map consistent: every
        // critical section is a single insert, remove or replace.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a live resumable session (`None` if the id is taken, which
    /// 128 random bits make impossible in practice).
    pub(crate) fn register(
        self: &Arc<Self>,
        id: SmId,
        bare: BareJid,
        takeover: Option<Arc<Takeover>>,
    ) -> Option<LiveSlot> {
        let takeover = takeover.unwrap_or_default();
        let mut slots = self.lock();
        if slots.contains_key(&id) {
            return None;
        }
        slots.insert(
            id.clone(),
            Slot {
                bare,
                state: SlotState::Live(takeover.clone()),
            },
        );
        Some(LiveSlot {
            sessions: self.clone(),
            id,
            takeover,
        })
    }

    /// Keeps a detached session until the client resumes it
    /// ([`ParkEnd::Resumed`]: the new stream has it, and `state`), until
    /// its time is up, or until the server ends it (a newer session takes
    /// its resource, its account is closed): [`ParkEnd::Ended`] with what
    /// was never delivered. Dropping the future drops the session.
    ///
    /// `state` is the application's, kept with the session and handed to
    /// the resuming stream ([`XmppStream::take_resumed_state`]): `xmpp
    /// serve` keeps the session's queue of routed stanzas there, which
    /// fills (within its bounds) while the client is away.
    pub async fn park(&self, detached: Detached, state: Box<dyn Any + Send>) -> ParkEnd {
        let max = detached.max();
        let id = detached.live.id.clone();
        let kicked = detached.bound.as_ref().map(|b| b.signal.clone());
        let (back, mut claimed) = oneshot::channel();
        let parked = Box::new(Parked { detached, state });
        {
            let mut slots = self.lock();
            let live = matches!(
                slots.get(&id).map(|s| &s.state),
                Some(SlotState::Live(t)) if Arc::ptr_eq(t, &parked.detached.live.takeover)
            );
            if !live {
                drop(slots);
                return ParkEnd::Ended(parked.ended(EndReason::Expired));
            }
            if let Some(slot) = slots.get_mut(&id) {
                slot.state = SlotState::Parked(parked, back);
            }
        }
        self.parked.notify_waiters();
        let mut unpark = Unpark {
            sessions: self,
            id: &id,
            armed: true,
        };
        let reason = tokio::select! {
            answer = &mut claimed => return unpark.claimed(answer),
            () = tokio::time::sleep(max) => EndReason::Expired,
            condition = closed(kicked) => EndReason::Closed(condition),
        };
        match unpark.take() {
            Some(parked) => ParkEnd::Ended(parked.ended(reason)),
            // A resumption claimed it meanwhile: its answer decides.
            None => unpark.claimed(claimed.await),
        }
    }

    /// Claims the session `id` of `bare` for a resumption: a detached one
    /// at once; a live one once its stream let go (within `wait`). `None`
    /// when there is none (unknown, another user's, or gone).
    pub(crate) async fn claim(&self, id: &SmId, bare: &BareJid, wait: Duration) -> Option<Claimed> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.parked.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut slots = self.lock();
                let slot = slots.get(id)?;
                // Another user's id is no session of ours (XEP-0198 §9).
                if slot.bare != *bare {
                    return None;
                }
                match &slot.state {
                    SlotState::Live(takeover) => takeover.request(),
                    SlotState::Parked(..) => {
                        let Some(Slot {
                            state: SlotState::Parked(parked, back),
                            ..
                        }) = slots.remove(id)
                        else {
                            return None;
                        };
                        return Some(Claimed {
                            parked: Some(parked),
                            back: Some(back),
                        });
                    }
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

impl Parked {
    fn ended(self: Box<Self>, reason: EndReason) -> EndedSession {
        let Parked {
            mut detached,
            state,
        } = *self;
        let closed = detached.sm.close();
        EndedSession {
            reason,
            jid: detached.jid,
            unacked: closed.unacked,
            unread: detached.unread,
            state,
        }
    }
}

/// Takes a parked session out of the set when its wait ends (or the
/// waiting future is dropped), unless a resumption claimed it first.
struct Unpark<'a> {
    sessions: &'a ResumableSessions,
    id: &'a SmId,
    armed: bool,
}

impl Unpark<'_> {
    fn take(&mut self) -> Option<Box<Parked>> {
        self.armed = false;
        let mut slots = self.sessions.lock();
        if !matches!(
            slots.get(self.id).map(|s| &s.state),
            Some(SlotState::Parked(..))
        ) {
            return None;
        }
        match slots.remove(self.id) {
            Some(Slot {
                state: SlotState::Parked(parked, _),
                ..
            }) => Some(parked),
            _ => None,
        }
    }

    fn claimed(
        &mut self,
        answer: Result<Option<Box<Parked>>, oneshot::error::RecvError>,
    ) -> ParkEnd {
        self.armed = false;
        match answer {
            Ok(None) => ParkEnd::Resumed,
            Ok(Some(parked)) => ParkEnd::Ended(parked.ended(EndReason::ResumeFailed)),
            // A claim always answers; a dropped sender is a resumption that
            // took the session.
            Err(_) => ParkEnd::Resumed,
        }
    }
}

impl Drop for Unpark<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = self.take();
        }
    }
}

/// Resolves with the condition the server ended the session with, never
/// without a signal.
async fn closed(signal: Option<Arc<KickSignal>>) -> StreamCondition {
    match signal {
        Some(signal) => {
            std::future::poll_fn(|cx| match signal.poll_kicked(cx) {
                Some(c) => Poll::Ready(c),
                None => Poll::Pending,
            })
            .await
        }
        None => std::future::pending().await,
    }
}
