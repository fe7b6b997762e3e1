//! The two counters of one side and its queue of unacknowledged stanzas:
//! the state a resumption carries over, shared by both sides.
//!
//! All counter arithmetic wraps at 2^32 (XEP-0198 §4: `h` goes from
//! 2^32 − 1 back to 0): the number of stanzas in flight is
//! `sent.wrapping_sub(acked)`, never `sent - acked`.

use std::collections::VecDeque;

use xmpp_xml::Element;

use super::{QueueFull, QueueLimits, SmError};

/// A stanza sent and not yet acknowledged.
#[derive(Clone, Debug)]
struct Entry {
    /// Its sequence number: the outbound count right after it was counted.
    seq: u32,
    /// Its size as counted against [`QueueLimits::max_bytes`].
    bytes: usize,
    stanza: Element,
}

/// Both counters of one side and its outbound queue.
///
/// Invariant: the queue holds exactly the stanzas numbered
/// `acked + 1 ..= sent` (wrapping), oldest first, so its length is
/// `sent.wrapping_sub(acked)`. Every counted stanza is queued and a stanza
/// the queue refuses is not counted, which keeps this true.
#[derive(Clone, Debug)]
pub(super) struct Counters {
    /// Stanzas sent (and parked) since stream management began.
    sent: u32,
    /// The peer's last `h`: how many of ours it handled.
    acked: u32,
    /// Stanzas handled from the peer since its counting began.
    handled: u32,
    queue: VecDeque<Entry>,
    queued_bytes: usize,
    limits: QueueLimits,
    /// Where counters start: 0, except in tests that start them near 2^32
    /// to exercise the wrap.
    origin: u32,
}

impl Counters {
    pub(super) fn new(limits: QueueLimits) -> Self {
        Counters {
            sent: 0,
            acked: 0,
            handled: 0,
            queue: VecDeque::new(),
            queued_bytes: 0,
            limits: limits.clamped(),
            origin: 0,
        }
    }

    /// Outbound counting starts afresh: the counter and the peer's `h` go
    /// back to the origin, and nothing is queued.
    pub(super) fn start_outbound(&mut self) {
        self.sent = self.origin;
        self.acked = self.origin;
        self.queue.clear();
        self.queued_bytes = 0;
    }

    /// Inbound counting starts afresh.
    pub(super) fn start_inbound(&mut self) {
        self.handled = self.origin;
    }

    #[cfg(test)]
    pub(super) fn set_origin(&mut self, origin: u32) {
        self.origin = origin;
    }

    pub(super) fn sent(&self) -> u32 {
        self.sent
    }

    pub(super) fn acked(&self) -> u32 {
        self.acked
    }

    pub(super) fn handled(&self) -> u32 {
        self.handled
    }

    pub(super) fn unacked_len(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn unacked_bytes(&self) -> usize {
        self.queued_bytes
    }

    pub(super) fn unacked(&self) -> impl ExactSizeIterator<Item = (u32, &Element)> {
        self.queue.iter().map(|e| (e.seq, &e.stanza))
    }

    /// Counts a handled inbound stanza.
    pub(super) fn count_inbound(&mut self) {
        self.handled = self.handled.wrapping_add(1);
    }

    /// Counts an outbound stanza and queues a copy; refused, and not
    /// counted, when the queue is full.
    pub(super) fn push(&mut self, stanza: &Element) -> Result<u32, QueueFull> {
        let bytes = size_of(stanza);
        let full_count = self.queue.len() >= self.limits.max_stanzas;
        // One stanza always fits an empty queue, whatever its size: the byte
        // limit bounds what accumulates, it must not make a single large
        // stanza unsendable.
        let full_bytes = !self.queue.is_empty()
            && self.queued_bytes.saturating_add(bytes) > self.limits.max_bytes;
        if full_count || full_bytes {
            return Err(QueueFull {
                stanzas: self.queue.len(),
                bytes: self.queued_bytes,
            });
        }
        self.sent = self.sent.wrapping_add(1);
        self.queued_bytes += bytes;
        self.queue.push_back(Entry {
            seq: self.sent,
            bytes,
            // A parsed element shares its buffer: cloning it copies no XML.
            stanza: stanza.clone(),
        });
        Ok(self.sent)
    }

    /// How many queued stanzas the peer's `h` acknowledges, or why `h` is
    /// impossible. Changes nothing.
    pub(super) fn check(&self, h: u32) -> Result<usize, SmError> {
        let advance = h.wrapping_sub(self.acked);
        let outstanding = self.sent.wrapping_sub(self.acked);
        if advance <= outstanding {
            return Ok(advance as usize);
        }
        // Modulo 2^32 an `h` behind the last one is also "more than was
        // sent". The queue never holds 2^31 stanzas (QueueLimits::clamped),
        // so a distance of 2^31 or more can only be the peer going back.
        if advance >= 1 << 31 {
            Err(SmError::AckWentBackwards {
                h,
                acked: self.acked,
            })
        } else {
            Err(SmError::HandledCountTooHigh {
                h,
                send_count: self.sent,
            })
        }
    }

    /// Applies the peer's `h` (from `<a/>`, `<resume/>`, `<resumed/>` or
    /// `<failed/>`): drops exactly the stanzas it acknowledges and returns
    /// them, oldest first. On an error nothing changes.
    pub(super) fn ack(&mut self, h: u32) -> Result<Vec<Element>, SmError> {
        let n = self.check(h)?;
        self.acked = h;
        let queued_bytes = &mut self.queued_bytes;
        Ok(self
            .queue
            .drain(..n)
            .map(|e| {
                *queued_bytes -= e.bytes;
                e.stanza
            })
            .collect())
    }

    /// Copies of every unacknowledged stanza, oldest first: what a
    /// resumption resends. They stay queued, keeping their numbers.
    pub(super) fn resend(&self) -> Vec<Element> {
        self.queue.iter().map(|e| e.stanza.clone()).collect()
    }

    /// Empties the queue, returning what it held, oldest first.
    pub(super) fn take_unacked(&mut self) -> Vec<Element> {
        self.queued_bytes = 0;
        self.queue.drain(..).map(|e| e.stanza).collect()
    }
}

/// The size a stanza counts for: the bytes it was parsed from, or its
/// serialisation when it was built in memory (an estimate of what goes on
/// the wire, which is all a memory bound needs).
fn size_of(stanza: &Element) -> usize {
    match stanza.source().len() {
        0 => stanza.to_xml().len(),
        n => n,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn msg(n: u32) -> Element {
        Element::builder("message", xmpp_xml::ns::CLIENT)
            .attr("id", &n.to_string())
            .build()
    }

    fn ids(v: &[Element]) -> Vec<String> {
        v.iter().map(|e| e.attr("id").unwrap().to_owned()).collect()
    }

    #[test]
    fn acks_drop_exactly_what_they_acknowledge() {
        let mut c = Counters::new(QueueLimits::default());
        for n in 1..=5 {
            assert_eq!(c.push(&msg(n)), Ok(n));
        }
        assert_eq!(ids(&c.ack(2).unwrap()), ["1", "2"]);
        assert_eq!(ids(&c.ack(2).unwrap()), Vec::<String>::new());
        assert_eq!(c.unacked().map(|(s, _)| s).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(ids(&c.resend()), ["3", "4", "5"]);
        assert_eq!(c.unacked_len(), 3);
        assert_eq!(ids(&c.ack(5).unwrap()), ["3", "4", "5"]);
        assert_eq!((c.unacked_len(), c.unacked_bytes()), (0, 0));
    }

    #[test]
    fn the_byte_limit_admits_one_stanza_of_any_size() {
        let mut c = Counters::new(QueueLimits {
            max_stanzas: 10,
            max_bytes: 10,
        });
        let big = msg(1);
        let size = big.to_xml().len();
        assert!(size > 10);
        assert_eq!(c.push(&big), Ok(1));
        assert_eq!(
            c.push(&msg(2)),
            Err(QueueFull {
                stanzas: 1,
                bytes: size
            })
        );
        // Refused means not counted.
        assert_eq!(c.sent(), 1);
        c.ack(1).unwrap();
        assert_eq!(c.push(&msg(2)), Ok(2));
    }

    #[test]
    fn a_refused_h_changes_nothing() {
        let mut c = Counters::new(QueueLimits::default());
        c.push(&msg(1)).unwrap();
        c.push(&msg(2)).unwrap();
        c.ack(1).unwrap();
        assert_eq!(
            c.ack(3),
            Err(SmError::HandledCountTooHigh {
                h: 3,
                send_count: 2
            })
        );
        assert_eq!(c.ack(0), Err(SmError::AckWentBackwards { h: 0, acked: 1 }));
        assert_eq!((c.acked(), c.unacked_len()), (1, 1));
    }
}
