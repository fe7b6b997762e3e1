//! The server side: enabling, acknowledging, detached sessions, resuming.

use std::time::Duration;

use xmpp_xml::Element;

use super::counters::Counters;
use super::{
    ack, handle_common, is_stanza, request, Disconnected, Enable, Enabled, Ended, Event, Outgoing,
    QueueFull, QueueLimits, Resume, Resumed, SmError, SmId, State,
};

/// What a server grants.
///
/// ```
/// use std::time::Duration;
/// use xmpp_stream::sm::ServerOptions;
///
/// let options = ServerOptions { resumption: Some(Duration::from_secs(60)), ..ServerOptions::default() };
/// assert_eq!(ServerOptions::default().resumption, Some(Duration::from_secs(300)));
/// # let _ = options;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// The longest time a detached session is kept for resumption; `None`
    /// to refuse resumption. A client may ask for less, never more.
    /// Default 5 minutes (ejabberd's and Prosody's order of magnitude).
    pub resumption: Option<Duration>,
    /// Bounds on each session's queue.
    pub limits: QueueLimits,
    /// Where clients should reconnect to resume (`<enabled location/>`).
    pub location: Option<String>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            resumption: Some(Duration::from_secs(300)),
            limits: QueueLimits::default(),
            location: None,
        }
    }
}

/// A resumed session's first words on the new stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Resumption {
    /// The `<resumed/>` to write first.
    pub resumed: Element,
    /// Stanzas the client's `h` acknowledged, oldest first.
    pub acked: Vec<Element>,
    /// Stanzas to write right after `resumed`, in order, **without**
    /// [`ServerSm::outgoing`]: every one still unacknowledged, including
    /// those parked while detached. They keep their numbers.
    pub resend: Vec<Element>,
}

/// The server's stream management session for one client.
///
/// Made by [`ServerSm::enable`] when a bound client sends `<enable/>`; it
/// outlives connections. A resumable session is [`State::Detached`] after
/// [`connection_lost`](Self::connection_lost); the caller keeps it, by
/// SM-ID, for [`max`](Self::max), and [`resume`](Self::resume)s it when the
/// same user sends `<resume previd/>` on a new stream, or
/// [`close`](Self::close)s it when the time is up.
///
/// ```
/// use xmpp_xml::Element;
/// use xmpp_stream::sm::{Enable, Event, ServerOptions, ServerSm};
///
/// let (mut sm, enabled) = ServerSm::enable(&Enable { resume: true, max: None }, &ServerOptions::default());
/// assert_eq!(enabled.attr("resume"), Some("true"));
/// assert_eq!(enabled.attr("max"), Some("300"));
/// assert_eq!(enabled.attr("id"), sm.id().map(|id| id.as_str()));
///
/// // Nonzas are not counted; stanzas are.
/// assert_eq!(sm.handle(&Element::builder("enable", "urn:xmpp:sm:4").build())?, Event::Other);
/// assert_eq!(sm.handle(&Element::builder("iq", "jabber:client").build())?, Event::Stanza);
/// let r = Element::builder("r", "urn:xmpp:sm:3").build();
/// let Event::Reply(a) = sm.handle(&r)? else { unreachable!() };
/// assert_eq!(a.attr("h"), Some("1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ServerSm {
    state: State,
    counters: Counters,
    id: Option<SmId>,
    max: Option<Duration>,
}

impl ServerSm {
    /// Grants a client's `<enable/>`: the session and the `<enabled/>` to
    /// write. Both counters start here, the outbound one at `<enabled/>`
    /// and the inbound one with the client's stanzas after `<enable/>`.
    ///
    /// It is resumable when the client asked and `options` allow it; then
    /// it has a fresh SM-ID (128 random bits) and the shorter of the two
    /// resumption times. The caller checks first that the client is
    /// authenticated and bound and has not enabled stream management on
    /// this stream already, and answers `<failed/>` with
    /// `unexpected-request` otherwise (XEP-0198 §3).
    pub fn enable(request: &Enable, options: &ServerOptions) -> (ServerSm, Element) {
        let max = match (request.resume, options.resumption) {
            (true, Some(ours)) => Some(request.max.map_or(ours, |theirs| theirs.min(ours))),
            _ => None,
        };
        let resumable = max.is_some();
        let id = resumable.then(SmId::generate);
        let enabled = Enabled {
            id: id.clone(),
            resume: resumable,
            max,
            location: options.location.clone().filter(|_| resumable),
        };
        let mut counters = Counters::new(options.limits);
        counters.start_outbound();
        counters.start_inbound();
        let sm = ServerSm {
            state: State::Active,
            counters,
            id,
            max,
        };
        (sm, enabled.to_element())
    }

    /// Takes a top-level element read from the client.
    ///
    /// Stanzas are counted while [`State::Active`]; `<r/>` is answered with
    /// [`Event::Reply`]; `<a/>` releases acknowledged stanzas. A second
    /// `<enable/>`, or a `<resume/>` on a stream whose session is live, is
    /// [`SmError::Unexpected`] (XEP-0198 §3: a stream error). On an error
    /// the session is [`State::Failed`] and the stream is to be closed with
    /// [`SmError::stream_error`].
    pub fn handle(&mut self, el: &Element) -> Result<Event, SmError> {
        let result = match handle_common(&mut self.counters, self.state, el) {
            Ok(Ok(event)) => Ok(event),
            Ok(Err(other)) => Err(SmError::Unexpected {
                element: other.name(),
                state: self.state,
            }),
            Err(e) => Err(e),
        };
        if result.is_err() && self.state != State::Off {
            self.state = State::Failed;
        }
        result
    }

    /// Reports a stanza about to be written to the client: counted and a
    /// copy queued. While detached it is [`Outgoing::Parked`]: not written,
    /// but resent by a resumption (or handed back by
    /// [`close`](Self::close), for offline storage or an error reply).
    ///
    /// A full queue refuses the stanza ([`QueueFull`]): it is not counted
    /// and must not be written. Ending the session with
    /// `resource-constraint` is the usual answer (Prosody, ejabberd);
    /// asking for an `<a/>` first is another.
    pub fn outgoing(&mut self, el: &Element) -> Result<Outgoing, QueueFull> {
        if !is_stanza(el) {
            return Ok(Outgoing::Untracked);
        }
        match self.state {
            State::Active => self.counters.push(el).map(Outgoing::Tracked),
            State::Detached => self.counters.push(el).map(Outgoing::Parked),
            _ => Ok(Outgoing::Untracked),
        }
    }

    /// `<r/>`, to ask the client for an acknowledgement; `None` unless
    /// [`State::Active`].
    pub fn request(&self) -> Option<Element> {
        (self.state == State::Active).then(request)
    }

    /// `<a h/>` with our inbound count, unrequested; `None` unless
    /// [`State::Active`].
    pub fn ack(&self) -> Option<Element> {
        (self.state == State::Active).then(|| ack(self.counters.handled()))
    }

    /// The client's connection is gone without a clean close (or is being
    /// replaced: XEP-0198 §5 has the old stream terminated when a
    /// resumption comes while it still looks open; call this first, then
    /// [`resume`](Self::resume)). A resumable session becomes
    /// [`State::Detached`]; otherwise it is over and what the client had not
    /// acknowledged is returned.
    pub fn connection_lost(&mut self) -> Disconnected {
        match self.state {
            State::Active | State::Detached if self.id.is_some() => {
                self.state = State::Detached;
                Disconnected::Detached
            }
            _ => {
                let lost = self.counters.take_unacked();
                self.state = State::Off;
                Disconnected::Lost(lost)
            }
        }
    }

    /// Resumes the detached session on a new stream, for a `<resume/>` the
    /// caller matched to it by `previd` (after checking that the client is
    /// authenticated as the same user: XEP-0198 §9).
    ///
    /// The client's `h` acknowledges what it handled; the answer is
    /// `<resumed/>` with **our inbound count** (what we handled from the
    /// client), then every stanza still unacknowledged.
    ///
    /// An impossible `h` is an error after which the session is
    /// [`State::Failed`], to be [`close`](Self::close)d: its counters and
    /// the client's disagree. A session that is not detached, or another
    /// `previd`, is an error that changes nothing (the caller picked the
    /// wrong session, or did not detach it first).
    pub fn resume(&mut self, request: &Resume) -> Result<Resumption, SmError> {
        if self.state != State::Detached {
            return Err(SmError::Unexpected {
                element: "resume",
                state: self.state,
            });
        }
        let Some(id) = self.id.clone().filter(|id| *id == request.previd) else {
            return Err(SmError::WrongPrevid);
        };
        let acked = self.counters.ack(request.h).inspect_err(|_| {
            self.state = State::Failed;
        })?;
        self.state = State::Active;
        Ok(Resumption {
            resumed: Resumed {
                previd: id,
                h: self.counters.handled(),
            }
            .to_element(),
            acked,
            resend: self.counters.resend(),
        })
    }

    /// Ends the session for good (a clean close, or the resumption time
    /// passed): what the client never acknowledged is handed back, to be
    /// treated like stanzas for an unavailable resource (XEP-0198 §4). Keep
    /// `id` and `handled` to answer a late `<resume/>` with
    /// `<failed h/>` ([`Failed::with_h`](super::Failed::with_h)).
    pub fn close(&mut self) -> Ended {
        let ended = Ended {
            id: self.id.take(),
            handled: self.counters.handled(),
            unacked: self.counters.take_unacked(),
        };
        self.state = State::Off;
        ended
    }

    /// Where the session is.
    pub fn state(&self) -> State {
        self.state
    }

    /// The SM-ID, when the session is resumable.
    pub fn id(&self) -> Option<&SmId> {
        self.id.as_ref()
    }

    /// How long a detached session is to be kept, when resumable.
    pub fn max(&self) -> Option<Duration> {
        self.max
    }

    /// Our outbound count: stanzas sent (and parked).
    pub fn sent_count(&self) -> u32 {
        self.counters.sent()
    }

    /// The client's last `h`: how many of ours it handled.
    pub fn acked_count(&self) -> u32 {
        self.counters.acked()
    }

    /// Our inbound count: stanzas handled from the client.
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
        self.counters.start_outbound();
        self.counters.start_inbound();
    }
}
