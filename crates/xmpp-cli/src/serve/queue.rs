//! The stanzas routed to a session and not yet written out: its mailbox.
//!
//! A session that does not read what it is sent keeps its queue full, so
//! the queue is bounded in stanzas and in bytes (serialized size), and all
//! queues together share a byte budget. A session over its bounds is told
//! to close with `<policy-violation/>` rather than grow: its reader learns
//! of it even while blocked writing to the slow client.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use xmpp_stream::server::Mailbox;
use xmpp_xml::Element;

/// Byte bounds on the queues of `xmpp serve`'s sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Bytes queued for one session. One stanza alone always fits.
    pub max_bytes: usize,
    /// Bytes queued for all sessions together.
    pub max_total_bytes: usize,
}

/// Why a session's queue overflowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// It holds as many stanzas as it may.
    Stanzas,
    /// It holds as many bytes as it may.
    Bytes,
    /// All queues together reached their budget while it had a backlog.
    Total,
}

impl Overflow {
    const NONE: u8 = 0;

    fn code(self) -> u8 {
        match self {
            Overflow::Stanzas => 1,
            Overflow::Bytes => 2,
            Overflow::Total => 3,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Overflow::Stanzas),
            2 => Some(Overflow::Bytes),
            3 => Some(Overflow::Total),
            _ => None,
        }
    }
}

/// The bytes queued across every session of one server.
pub struct QueueBudget {
    limits: QueueLimits,
    used: AtomicUsize,
}

impl QueueBudget {
    /// An empty budget under `limits`.
    pub fn new(limits: QueueLimits) -> Arc<Self> {
        Arc::new(QueueBudget {
            limits,
            used: AtomicUsize::new(0),
        })
    }

    /// Bytes queued now, across all sessions.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn try_reserve(&self, size: usize) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(size)
                    .filter(|&n| n <= self.limits.max_total_bytes)
            })
            .is_ok()
    }

    fn release(&self, size: usize) {
        self.used.fetch_sub(size, Ordering::AcqRel);
    }
}

/// A new queue of at most `max_stanzas` stanzas: the mailbox to attach to
/// the session's registry entry, and the session's end.
pub fn queue(budget: &Arc<QueueBudget>, max_stanzas: usize) -> (Inbox, Outbox) {
    let queue = Arc::new(Queue {
        budget: budget.clone(),
        max_stanzas: max_stanzas.max(1),
        bytes: AtomicUsize::new(0),
        overflow: AtomicU8::new(Overflow::NONE),
        waker: AtomicWaker::new(),
        state: Mutex::new(State {
            stanzas: VecDeque::new(),
            sender_gone: false,
            receiver_gone: false,
        }),
    });
    (
        Inbox {
            queue: queue.clone(),
        },
        Outbox { queue },
    )
}

/// One session's queue and its share of the budget: one allocation of
/// ~150 bytes while empty. A tokio mpsc channel and a separate account were
/// ~900 bytes of every idle session (its first block of 32 slots and its
/// cache-padded halves; valgrind massif).
struct Queue {
    budget: Arc<QueueBudget>,
    max_stanzas: usize,
    bytes: AtomicUsize,
    overflow: AtomicU8,
    /// The session's task, woken by a stanza, an overflow or the end of
    /// its [`Inbox`].
    waker: AtomicWaker,
    state: Mutex<State>,
}

struct State {
    /// Freed when the session has taken them all and waits.
    stanzas: VecDeque<Queued>,
    /// The [`Inbox`] was dropped: the router closed, or a newer session
    /// took the resource.
    sender_gone: bool,
    /// The [`Outbox`] was dropped: nobody takes stanzas any more.
    receiver_gone: bool,
}

impl Queue {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned queue is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn overflowed(&self) -> Option<Overflow> {
        Overflow::from_code(self.overflow.load(Ordering::Acquire))
    }

    /// Marks the overflow (the first reason sticks) and wakes the session.
    fn overflow(&self, why: Overflow) -> bool {
        let _ = self.overflow.compare_exchange(
            Overflow::NONE,
            why.code(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.waker.wake();
        false
    }

    fn release(&self, size: usize) {
        self.bytes.fetch_sub(size, Ordering::AcqRel);
        self.budget.release(size);
    }

    /// The oldest stanza, its bytes given back.
    fn pop(&self, state: &mut State) -> Option<Box<Element>> {
        let q = state.stanzas.pop_front()?;
        self.release(q.size);
        Some(Box::new(q.el))
    }
}

/// A queued stanza with the bytes charged for it.
struct Queued {
    el: Element,
    size: usize,
}

/// The sending end, kept in the session's registry entry.
pub struct Inbox {
    queue: Arc<Queue>,
}

impl Mailbox for Inbox {
    /// Queues `stanza` if the bounds allow; otherwise `false` (the sender
    /// bounces it), and the session is told to close if the overflow is
    /// its own doing (it has a backlog).
    fn offer(&self, stanza: &Element) -> bool {
        let queue = &*self.queue;
        if queue.overflowed().is_some() || queue.state().receiver_gone {
            return false;
        }
        let size = stanza.to_xml().len();
        let before = queue.bytes.fetch_add(size, Ordering::AcqRel);
        if before > 0 && before + size > queue.budget.limits.max_bytes {
            queue.bytes.fetch_sub(size, Ordering::AcqRel);
            return queue.overflow(Overflow::Bytes);
        }
        if !queue.budget.try_reserve(size) {
            queue.bytes.fetch_sub(size, Ordering::AcqRel);
            // Memory is short: a session that keeps up loses this stanza;
            // one that is behind is closed, which gives its bytes back.
            return before > 0 && queue.overflow(Overflow::Total);
        }
        // Detached: a queued stanza must not keep alive the sender's whole
        // read buffer, which its size does not count.
        let queued = Queued {
            el: stanza.detached(),
            size,
        };
        let mut state = queue.state();
        if state.receiver_gone {
            drop(state);
            queue.release(size);
            return false;
        }
        if state.stanzas.len() >= queue.max_stanzas {
            drop(state);
            queue.release(size);
            return queue.overflow(Overflow::Stanzas);
        }
        state.stanzas.push_back(queued);
        drop(state);
        queue.waker.wake();
        true
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        self.queue.state().sender_gone = true;
        self.queue.waker.wake();
    }
}

/// Why [`Outbox::try_recv`] has no stanza.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// None is queued now.
    Empty,
    /// None is queued, and none will be: the [`Inbox`] is gone.
    Disconnected,
}

/// The session's end of its queue. Dropping it gives back what is still
/// queued.
pub struct Outbox {
    queue: Arc<Queue>,
}

impl Outbox {
    /// The next stanza to write; `None` once every [`Inbox`] is gone (the
    /// server is shutting down, or a newer session took the resource).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Box<Element>>> {
        if let Some(el) = self.take() {
            return el;
        }
        self.queue.waker.register(cx.waker());
        self.take().unwrap_or(Poll::Pending)
    }

    /// A stanza, or the end, if there is one; `None` when it must wait
    /// (the queue's memory is freed then: an idle session holds none).
    fn take(&mut self) -> Option<Poll<Option<Box<Element>>>> {
        let mut state = self.queue.state();
        if let Some(el) = self.queue.pop(&mut state) {
            return Some(Poll::Ready(Some(el)));
        }
        if state.sender_gone {
            return Some(Poll::Ready(None));
        }
        if state.stanzas.capacity() > 0 {
            state.stanzas = VecDeque::new();
        }
        None
    }

    /// Ready once the queue overflowed: the session must close.
    pub fn poll_overflow(&self, cx: &mut Context<'_>) -> Poll<Overflow> {
        if let Some(why) = self.queue.overflowed() {
            return Poll::Ready(why);
        }
        self.queue.waker.register(cx.waker());
        match self.queue.overflowed() {
            Some(why) => Poll::Ready(why),
            None => Poll::Pending,
        }
    }

    /// Bytes queued for this session now.
    pub fn bytes(&self) -> usize {
        self.queue.bytes.load(Ordering::Relaxed)
    }

    /// The next stanza if one is queued: what a session that ends without
    /// its client leaves behind, to bounce.
    pub fn try_recv(&mut self) -> Result<Box<Element>, TryRecvError> {
        let mut state = self.queue.state();
        match self.queue.pop(&mut state) {
            Some(el) => Ok(el),
            None if state.sender_gone => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        let mut state = self.queue.state();
        state.receiver_gone = true;
        while self.queue.pop(&mut state).is_some() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(max_bytes: usize, max_total_bytes: usize) -> Arc<QueueBudget> {
        QueueBudget::new(QueueLimits {
            max_bytes,
            max_total_bytes,
        })
    }

    /// A message whose serialized size is exactly `size` bytes.
    fn message(size: usize) -> Element {
        let empty = Element::builder("message", "jabber:client").build();
        let overhead = empty.to_xml().len() - "/>".len() + ">".len() + "</message>".len();
        let el = Element::builder("message", "jabber:client")
            .text(&"x".repeat(size - overhead))
            .build();
        assert_eq!(el.to_xml().len(), size);
        el
    }

    fn overflow(outbox: &Outbox) -> Option<Overflow> {
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        match outbox.poll_overflow(&mut cx) {
            Poll::Ready(why) => Some(why),
            Poll::Pending => None,
        }
    }

    /// Issue #12 review: a small stanza parsed from a big read buffer must
    /// not keep that buffer alive while it waits, since only its own size
    /// is charged.
    #[test]
    fn a_queued_stanza_does_not_pin_the_senders_read_buffer() {
        use bytes::BytesMut;
        use tokio_util::codec::Decoder as _;
        use xmpp_xml::{Frame, StreamCodec};
        let mut codec = StreamCodec::default();
        let mut buf = BytesMut::with_capacity(512 * 1024);
        buf.extend_from_slice(
            b"<stream:stream xmlns='jabber:client' \
              xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>\
              <message to='a@example.com'><body>hi</body></message>",
        );
        codec.decode(&mut buf).unwrap();
        let Some(Frame::Element(msg)) = codec.decode(&mut buf).unwrap() else {
            panic!("a message")
        };
        let budget = budget(1000, 10_000);
        let (inbox, mut outbox) = queue(&budget, 64);
        assert!(inbox.offer(&msg));
        let queued = outbox.try_recv().expect("a stanza");
        assert_eq!(queued.to_xml(), msg.to_xml());
        let read = msg.source().as_ptr_range();
        let kept = queued.source().as_ptr_range();
        assert!(
            kept.end <= read.start || kept.start >= read.end,
            "the queued stanza shares the read buffer"
        );
    }

    #[test]
    fn bytes_are_charged_while_queued_and_given_back_when_taken() {
        let budget = budget(1000, 10_000);
        let (inbox, mut outbox) = queue(&budget, 64);
        assert!(inbox.offer(&message(300)));
        assert!(inbox.offer(&message(300)));
        assert_eq!((outbox.bytes(), budget.used()), (600, 600));
        outbox.try_recv().expect("a stanza");
        assert_eq!((outbox.bytes(), budget.used()), (300, 300));
        drop(outbox);
        assert_eq!(budget.used(), 0, "dropping the queue gives its bytes back");
        assert!(!inbox.offer(&message(300)), "nobody reads any more");
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn a_queue_over_its_bytes_overflows_but_one_stanza_alone_always_fits() {
        let budget = budget(1000, 1_000_000);
        let (inbox, mut outbox) = queue(&budget, 64);
        assert!(inbox.offer(&message(1500)), "alone, even over the bound");
        assert_eq!(overflow(&outbox), None);
        outbox.try_recv().expect("the big one");
        assert!(inbox.offer(&message(600)));
        assert!(!inbox.offer(&message(600)));
        assert_eq!(overflow(&outbox), Some(Overflow::Bytes));
        assert!(!inbox.offer(&message(100)), "nothing more once overflowed");
        assert_eq!(budget.used(), 600);
    }

    #[test]
    fn a_queue_over_its_stanzas_overflows() {
        let budget = budget(1_000_000, 1_000_000);
        let (inbox, outbox) = queue(&budget, 2);
        assert!(inbox.offer(&message(100)));
        assert!(inbox.offer(&message(100)));
        assert!(!inbox.offer(&message(100)));
        assert_eq!(overflow(&outbox), Some(Overflow::Stanzas));
        assert_eq!(budget.used(), 200);
    }

    #[test]
    fn the_total_budget_closes_sessions_with_a_backlog_and_bounces_for_the_others() {
        let budget = budget(10_000, 1000);
        let (slow, slow_out) = queue(&budget, 64);
        let (fast, fast_out) = queue(&budget, 64);
        assert!(slow.offer(&message(900)));
        assert!(!fast.offer(&message(200)), "no room left in the budget");
        assert_eq!(overflow(&fast_out), None, "an empty queue is not to blame");
        assert!(!slow.offer(&message(200)));
        assert_eq!(overflow(&slow_out), Some(Overflow::Total));
        drop(slow_out);
        assert!(
            fast.offer(&message(200)),
            "the slow session's bytes came back"
        );
    }
}
