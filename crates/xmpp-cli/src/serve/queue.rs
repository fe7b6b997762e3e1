//! The stanzas routed to a session and not yet written out: its mailbox.
//!
//! A session that does not read what it is sent keeps its queue full, so
//! the queue is bounded in stanzas and in bytes (serialized size), and all
//! queues together share a byte budget. A session over its bounds is told
//! to close with `<policy-violation/>` rather than grow: its reader learns
//! of it even while blocked writing to the slow client.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::sync::mpsc;
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
    let (tx, rx) = mpsc::channel(max_stanzas.max(1));
    let account = Arc::new(Account {
        budget: budget.clone(),
        bytes: AtomicUsize::new(0),
        overflow: AtomicU8::new(Overflow::NONE),
        waker: AtomicWaker::new(),
    });
    (
        Inbox {
            tx,
            account: account.clone(),
        },
        Outbox { rx, account },
    )
}

/// One session's share: what it holds, and whether it overflowed.
struct Account {
    budget: Arc<QueueBudget>,
    bytes: AtomicUsize,
    overflow: AtomicU8,
    /// The session's task, woken on overflow.
    waker: AtomicWaker,
}

impl Account {
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
}

/// A queued stanza with the bytes charged for it.
struct Queued {
    el: Element,
    size: usize,
}

/// The sending end, kept in the session's registry entry.
pub struct Inbox {
    tx: mpsc::Sender<Box<Queued>>,
    account: Arc<Account>,
}

impl Mailbox for Inbox {
    /// Queues `stanza` if the bounds allow; otherwise `false` (the sender
    /// bounces it), and the session is told to close if the overflow is
    /// its own doing (it has a backlog).
    fn offer(&self, stanza: &Element) -> bool {
        let account = &self.account;
        if account.overflowed().is_some() || self.tx.is_closed() {
            return false;
        }
        let size = stanza.to_xml().len();
        let before = account.bytes.fetch_add(size, Ordering::AcqRel);
        if before > 0 && before + size > account.budget.limits.max_bytes {
            account.bytes.fetch_sub(size, Ordering::AcqRel);
            return account.overflow(Overflow::Bytes);
        }
        if !account.budget.try_reserve(size) {
            account.bytes.fetch_sub(size, Ordering::AcqRel);
            // Memory is short: a session that keeps up loses this stanza;
            // one that is behind is closed, which gives its bytes back.
            return before > 0 && account.overflow(Overflow::Total);
        }
        // Detached: a queued stanza must not keep alive the sender's whole
        // read buffer, which its size does not count.
        let queued = Box::new(Queued {
            el: stanza.detached(),
            size,
        });
        match self.tx.try_send(queued) {
            Ok(()) => true,
            Err(e) => {
                account.release(size);
                match e {
                    mpsc::error::TrySendError::Full(_) => account.overflow(Overflow::Stanzas),
                    mpsc::error::TrySendError::Closed(_) => false,
                }
            }
        }
    }
}

/// The session's end of its queue. Dropping it gives back what is still
/// queued.
pub struct Outbox {
    rx: mpsc::Receiver<Box<Queued>>,
    account: Arc<Account>,
}

impl Outbox {
    /// The next stanza to write; `None` once every [`Inbox`] is gone (the
    /// server is shutting down, or a newer session took the resource).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Box<Element>>> {
        self.rx.poll_recv(cx).map(|queued| {
            queued.map(|q| {
                self.account.release(q.size);
                Box::new(q.el)
            })
        })
    }

    /// Ready once the queue overflowed: the session must close.
    pub fn poll_overflow(&self, cx: &mut Context<'_>) -> Poll<Overflow> {
        if let Some(why) = self.account.overflowed() {
            return Poll::Ready(why);
        }
        self.account.waker.register(cx.waker());
        match self.account.overflowed() {
            Some(why) => Poll::Ready(why),
            None => Poll::Pending,
        }
    }

    /// Bytes queued for this session now.
    pub fn bytes(&self) -> usize {
        self.account.bytes.load(Ordering::Relaxed)
    }

    /// The next stanza if one is queued: what a session that ends without
    /// its client leaves behind, to bounce.
    pub fn try_recv(&mut self) -> Result<Box<Element>, mpsc::error::TryRecvError> {
        let q = self.rx.try_recv()?;
        self.account.release(q.size);
        Ok(Box::new(q.el))
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.rx.close();
        while let Ok(q) = self.rx.try_recv() {
            self.account.release(q.size);
        }
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
