//! The client side: enabling, acknowledging, resuming.

use std::time::Duration;

use xmpp_xml::Element;

use super::counters::Counters;
use super::{
    ack, handle_common, is_stanza, request, Disconnected, Enable, Ended, Event, Outgoing,
    QueueFull, QueueLimits, Resume, SmElement, SmError, SmId, State, StateError,
};

/// The client's stream management session.
///
/// It outlives connections: after [`connection_lost`](Self::connection_lost)
/// a resumable session is [`State::Detached`] and
/// [`resume_request`](Self::resume_request) starts its resumption on the
/// next one.
///
/// The caller reports every top-level element it reads to
/// [`handle`](Self::handle) and every stanza it writes to
/// [`outgoing`](Self::outgoing), in stream order, each exactly once.
///
/// ```
/// use xmpp_xml::Element;
/// use xmpp_stream::sm::{ClientSm, Event, QueueLimits, State};
///
/// let mut sm = ClientSm::new(QueueLimits::default());
/// let enable = sm.enable(true, None)?;
/// assert_eq!(enable.to_xml(), "<enable xmlns='urn:xmpp:sm:3' resume='true'/>");
///
/// let enabled = Element::builder("enabled", "urn:xmpp:sm:3")
///     .attr("id", "a1").attr("resume", "true").attr("max", "300").build();
/// assert_eq!(sm.handle(&enabled)?, Event::Enabled { resumable: true });
/// assert_eq!(sm.state(), State::Active);
/// assert_eq!(sm.max(), Some(std::time::Duration::from_secs(300)));
///
/// // A stanza from the server, then its request for an ack.
/// assert_eq!(sm.handle(&Element::builder("presence", "jabber:client").build())?, Event::Stanza);
/// let r = Element::builder("r", "urn:xmpp:sm:3").build();
/// let Event::Reply(a) = sm.handle(&r)? else { unreachable!() };
/// assert_eq!(a.to_xml(), "<a xmlns='urn:xmpp:sm:3' h='1'/>");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClientSm {
    state: State,
    counters: Counters,
    /// We asked for resumption in `<enable/>`.
    resume_requested: bool,
    /// The session can be resumed: we asked, the server agreed with an id.
    resumable: bool,
    id: Option<SmId>,
    max: Option<Duration>,
    location: Option<String>,
}

impl ClientSm {
    /// A session that is [`State::Off`], with these queue limits.
    pub fn new(limits: QueueLimits) -> Self {
        ClientSm {
            state: State::Off,
            counters: Counters::new(limits),
            resume_requested: false,
            resumable: false,
            id: None,
            max: None,
            location: None,
        }
    }

    /// The `<enable/>` to write, asking for resumption and this longest
    /// resumption time. From here the outbound count runs: call it when the
    /// element is written, after resource binding (XEP-0198 §3), and report
    /// stanzas written after it to [`outgoing`](Self::outgoing).
    pub fn enable(&mut self, resume: bool, max: Option<Duration>) -> Result<Element, StateError> {
        if self.state != State::Off {
            return Err(StateError {
                action: "enable",
                state: self.state,
            });
        }
        self.reset();
        self.counters.start_outbound();
        self.resume_requested = resume;
        self.state = State::Enabling;
        Ok(Enable { resume, max }.to_element())
    }

    /// The `<resume/>` to write on a new connection, after authentication
    /// and instead of binding a resource: it names the session and says how
    /// many stanzas we handled from the server. The session is then
    /// [`State::Resuming`]; stanzas sent meanwhile are parked.
    pub fn resume_request(&mut self) -> Result<Element, StateError> {
        let (State::Detached, Some(previd)) = (self.state, &self.id) else {
            return Err(StateError {
                action: "resume",
                state: self.state,
            });
        };
        let resume = Resume {
            previd: previd.clone(),
            h: self.counters.handled(),
        };
        self.state = State::Resuming;
        Ok(resume.to_element())
    }

    /// Takes a top-level element read from the server.
    ///
    /// Stanzas are counted while [`State::Active`]; `<r/>` is answered with
    /// [`Event::Reply`]; `<a/>` releases acknowledged stanzas;
    /// `<enabled/>`, `<resumed/>` and `<failed/>` answer our requests.
    /// Anything else is [`Event::Other`]. On an error the session is
    /// [`State::Failed`] and the stream is to be closed with
    /// [`SmError::stream_error`].
    pub fn handle(&mut self, el: &Element) -> Result<Event, SmError> {
        let result = self.handle_inner(el);
        if result.is_err() && self.state != State::Off {
            self.state = State::Failed;
        }
        result
    }

    fn handle_inner(&mut self, el: &Element) -> Result<Event, SmError> {
        let state = self.state;
        let sm = match handle_common(&mut self.counters, state, el)? {
            Ok(event) => return Ok(event),
            Err(sm) => sm,
        };
        match (state, sm) {
            (State::Enabling, SmElement::Enabled(enabled)) => {
                self.resumable = self.resume_requested && enabled.resume && enabled.id.is_some();
                self.id = enabled.id.filter(|_| self.resumable);
                self.max = enabled.max;
                self.location = enabled.location;
                // The server counts what it sends from `<enabled/>` on, so
                // do we: a stanza it wrote before reading our `<enable/>`
                // arrives before `<enabled/>` and is in neither count.
                self.counters.start_inbound();
                self.state = State::Active;
                Ok(Event::Enabled {
                    resumable: self.resumable,
                })
            }
            (State::Enabling, SmElement::Failed(failed)) => {
                self.reset();
                Ok(Event::EnableFailed {
                    condition: failed.condition,
                })
            }
            (State::Resuming, SmElement::Resumed(resumed)) => {
                if Some(&resumed.previd) != self.id.as_ref() {
                    return Err(SmError::WrongPrevid);
                }
                // The server's `h` is its inbound count: what it handled from
                // us. What it acknowledges leaves the queue; the rest is
                // resent, keeping its numbers (see the module docs).
                let acked = self.counters.ack(resumed.h)?;
                self.state = State::Active;
                Ok(Event::Resumed {
                    acked,
                    resend: self.counters.resend(),
                })
            }
            (State::Resuming, SmElement::Failed(failed)) => {
                // Its `h`, when the server still knows it, tells which of
                // ours did arrive: those are not lost.
                let acked = match failed.h {
                    Some(h) => self.counters.ack(h)?,
                    None => Vec::new(),
                };
                let lost = self.counters.take_unacked();
                self.reset();
                Ok(Event::ResumeFailed {
                    condition: failed.condition,
                    acked,
                    lost,
                })
            }
            (state, other) => Err(SmError::Unexpected {
                element: other.name(),
                state,
            }),
        }
    }

    /// Reports an element about to be written. A stanza is counted and a
    /// copy queued while stream management is on (from
    /// [`enable`](Self::enable) until it ends); while detached or resuming
    /// it is [`Outgoing::Parked`]: not to be written now, resent by the
    /// resumption.
    ///
    /// A full queue refuses the stanza ([`QueueFull`]): it is not counted
    /// and must not be written; send [`request`](Self::request) and retry
    /// once an `<a/>` made room.
    pub fn outgoing(&mut self, el: &Element) -> Result<Outgoing, QueueFull> {
        if !is_stanza(el) {
            return Ok(Outgoing::Untracked);
        }
        match self.state {
            State::Enabling | State::Active => self.counters.push(el).map(Outgoing::Tracked),
            State::Detached | State::Resuming => self.counters.push(el).map(Outgoing::Parked),
            State::Off | State::Failed => Ok(Outgoing::Untracked),
        }
    }

    /// `<r/>`, to ask the server for an acknowledgement; `None` unless
    /// [`State::Active`].
    pub fn request(&self) -> Option<Element> {
        (self.state == State::Active).then(request)
    }

    /// `<a h/>` with our inbound count, unrequested; `None` unless
    /// [`State::Active`]. Send one right before closing the stream cleanly,
    /// so that the server does not keep what we did receive (XEP-0198 §4).
    pub fn ack(&self) -> Option<Element> {
        (self.state == State::Active).then(|| ack(self.counters.handled()))
    }

    /// The connection is gone without a clean close. A resumable session
    /// becomes [`State::Detached`] (a resumption in progress goes back to
    /// it); otherwise the session is over and what it had not seen
    /// acknowledged is returned.
    pub fn connection_lost(&mut self) -> Disconnected {
        match self.state {
            State::Active | State::Resuming | State::Detached if self.resumable => {
                self.state = State::Detached;
                Disconnected::Detached
            }
            _ => {
                let lost = self.counters.take_unacked();
                self.reset();
                Disconnected::Lost(lost)
            }
        }
    }

    /// Ends the session for good (the stream was closed cleanly, or the
    /// server's resumption time passed): it is [`State::Off`] again and
    /// can be enabled anew.
    pub fn close(&mut self) -> Ended {
        let ended = Ended {
            id: self.id.take(),
            handled: self.counters.handled(),
            unacked: self.counters.take_unacked(),
        };
        self.reset();
        ended
    }

    fn reset(&mut self) {
        self.state = State::Off;
        self.counters.start_outbound();
        self.counters.start_inbound();
        self.resume_requested = false;
        self.resumable = false;
        self.id = None;
        self.max = None;
        self.location = None;
    }

    /// Where the session is.
    pub fn state(&self) -> State {
        self.state
    }

    /// The SM-ID, when the session is resumable.
    pub fn id(&self) -> Option<&SmId> {
        self.id.as_ref()
    }

    /// Whether the session can be resumed.
    pub fn is_resumable(&self) -> bool {
        self.resumable
    }

    /// The server's longest resumption time, from `<enabled max/>`: after
    /// that long detached, give up with [`close`](Self::close).
    pub fn max(&self) -> Option<Duration> {
        self.max
    }

    /// Where the server prefers us to reconnect, from `<enabled location/>`.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// Our outbound count: stanzas sent (and parked).
    pub fn sent_count(&self) -> u32 {
        self.counters.sent()
    }

    /// The server's last `h`: how many of ours it handled.
    pub fn acked_count(&self) -> u32 {
        self.counters.acked()
    }

    /// Our inbound count: stanzas handled from the server.
    pub fn handled_count(&self) -> u32 {
        self.counters.handled()
    }

    /// How many stanzas wait for an acknowledgement.
    pub fn unacked_len(&self) -> usize {
        self.counters.unacked_len()
    }

    /// Their size, as counted against [`QueueLimits::max_bytes`].
    pub fn unacked_bytes(&self) -> usize {
        self.counters.unacked_bytes()
    }

    /// The stanzas waiting for an acknowledgement, with their numbers,
    /// oldest first.
    pub fn unacked(&self) -> impl ExactSizeIterator<Item = (u32, &Element)> {
        self.counters.unacked()
    }

    /// Starts every counter at `origin` instead of 0, to test the wrap.
    #[cfg(test)]
    pub(super) fn set_origin(&mut self, origin: u32) {
        self.counters.set_origin(origin);
    }
}
