//! Stream management (XEP-0198, version 1.6, `urn:xmpp:sm:3`): stanza
//! acknowledgements and stream resumption, as a sans-IO protocol core for
//! both sides.
//!
//! This is the sans-IO protocol core. The shells use it for
//! acknowledgements on a live stream: [`server::accept`](crate::server::accept)
//! offers stream management (`ServerConfig::stream_management`),
//! [`client::connect`](crate::client::connect) enables it when offered if
//! asked to (`ClientConfig::stream_management`, off by default until a full
//! queue is back-pressure rather than an error), and [`XmppStream`](crate::XmppStream)
//! answers `<r/>`, counts acknowledgements and keeps stream management's
//! elements from the application. **Resumption is not wired yet:** the
//! server never grants it (no detached sessions exist), and the client
//! never asks. Nothing here touches a socket, a clock or a session
//! registry. A caller feeds [`ClientSm`] or [`ServerSm`] every top-level
//! element it reads ([`ClientSm::handle`]) and every stanza it is about to
//! write ([`ClientSm::outgoing`]); they answer with what to send, what was
//! acknowledged and what to resend.
//!
//! # Counting
//!
//! Each side keeps two counters, both unsigned 32-bit integers that wrap
//! from 2^32 − 1 to 0 (XEP-0198 §4), compared with wrapping arithmetic
//! only:
//!
//! * its outbound count: stanzas it sent; each one is kept, cloned, in a
//!   queue with its number until the peer's `h` acknowledges it;
//! * its inbound count `h`: stanzas it handled from the peer, sent in
//!   `<a h/>` on every `<r/>` and when [`ClientSm::ack`] is asked for one
//!   (XEP-0198 §4 recommends one before a clean close).
//!
//! Only stanzas count: top-level `<message/>`, `<presence/>` and `<iq/>` in
//! `jabber:client`. `<r/>`, `<a/>`, `<enabled/>` and any other nonza never
//! do (counting them made Dino's first `<a h/>` one too high).
//!
//! Each direction's counting starts at the stream management element that
//! direction carries: the client→server count at `<enable/>`, the
//! server→client count at `<enabled/>`. Both ends of a direction then count
//! exactly the stanzas after that element in the same ordered stream. (The
//! XEP's note has the client start its inbound count when it *sends*
//! `<enable/>`, which would count a stanza the server sent before it read
//! `<enable/>`, one the server never counted.)
//!
//! # Acknowledgements
//!
//! An `h` acknowledges every stanza up to it: exactly those leave the
//! queue ([`Event::Acked`]). Two kinds of `h` are impossible and are an
//! [`SmError`], after which the stream is to be closed with
//! [`SmError::stream_error`]:
//!
//! * more than was sent (`h − acked > sent − acked`, wrapping):
//!   [`SmError::HandledCountTooHigh`], carrying `h` and our send count for
//!   the `<handled-count-too-high/>` stream error (XEP-0198 §6);
//! * lower than an earlier `h` (the distance back being under 2^31):
//!   [`SmError::AckWentBackwards`]. The XEP's counter only increases, and
//!   what an earlier `h` acknowledged has left the queue and cannot be
//!   taken back, so this is a peer whose counter was reset or broken; going
//!   on would pair later `h` values with the wrong stanzas. It is told
//!   apart from "too high" (modulo 2^32 it is the same thing) so that the
//!   stream error does not claim a `<handled-count-too-high/>` with an `h`
//!   below the send count: it is a plain `<undefined-condition/>` with a
//!   text.
//!
//! An equal `h` is a repeat and acknowledges nothing new.
//!
//! # Resumption
//!
//! What a resumption needs (the SM-ID, the inbound count, the outbound
//! count and queue, the peer's last `h`) lives in the [`ClientSm`] or
//! [`ServerSm`] and survives [`connection_lost`](ClientSm::connection_lost)
//! when the session is resumable. The client sends `<resume previd h/>`
//! with its inbound count; the server answers `<resumed previd h/>` with
//! **its inbound count** (the stanzas it handled from the client, not the
//! ones it sent: Openfire issue 927). Each side then treats the peer's `h`
//! as an `<a h/>` and resends, in order, exactly the stanzas still queued:
//! those numbered above `h`, none at or below it (libstrophe issue 222).
//!
//! Counters are carried over, never reset (XEP-0198 §5; stanza.js issue
//! 495 reset the inbound one to 0). The resent stanzas **keep their
//! numbers**: they are not counted a second time, so the outbound count is
//! unchanged by resending. The receiver's count resumes from the `h` it
//! reported and counts each resent stanza once as it arrives, so after `k`
//! resent stanzas it is `h + k`, which is our unchanged outbound count:
//! both sides agree. (Setting the outbound count back to `h` and counting
//! the resent ones again gives the same number; counting them again on top
//! of the unchanged count would not.) So the resent stanzas are written
//! without going through [`ClientSm::outgoing`].
//!
//! Stanzas the application sends while the session is detached or
//! resuming are counted and queued but not written ([`Outgoing::Parked`]);
//! the resumption resends them with the rest.
//!
//! A failed resumption (`<failed h/>`, XEP-0198 §5) drops what its `h`
//! acknowledges, if it has one (ignoring it was aioxmpp issue 253), and
//! reports the rest as lost ([`Event::ResumeFailed`]).
//!
//! # Limits
//!
//! The queue is bounded by [`QueueLimits`] (default 500 stanzas and 1 MiB:
//! Prosody's default queue length, and a few full-size stanzas). A stanza
//! that does not fit is refused with [`QueueFull`] **before** it is counted
//! or queued, so the counters stay right: the caller must not write it.
//! What to do is the caller's policy: a client can send `<r/>` and wait for
//! the `<a/>` that makes room (back-pressure); a server, like Prosody and
//! ejabberd, can end the session with `resource-constraint` (a detached
//! session that fills up is not worth keeping). One stanza always fits an
//! empty queue, whatever its size.
//!
//! # Example
//!
//! A client and a server enabling stream management, losing the connection
//! with a stanza in flight, and resuming:
//!
//! ```
//! use xmpp_xml::Element;
//! use xmpp_stream::sm::{
//!     ClientSm, Disconnected, Event, Outgoing, QueueLimits, ServerOptions, ServerSm, SmElement,
//! };
//!
//! let message = |body: &str| {
//!     Element::builder("message", "jabber:client")
//!         .append(Element::builder("body", "jabber:client").text(body).build())
//!         .build()
//! };
//!
//! // The client asks for stream management with resumption.
//! let mut client = ClientSm::new(QueueLimits::default());
//! let enable = client.enable(true, None)?;
//! let Some(SmElement::Enable(request)) = SmElement::read(&enable)? else { unreachable!() };
//! let (mut server, enabled) = ServerSm::enable(&request, &ServerOptions::default());
//! assert_eq!(client.handle(&enabled)?, Event::Enabled { resumable: true });
//!
//! // The client sends a stanza; the server handles it and acknowledges it.
//! let hello = message("hello");
//! assert_eq!(client.outgoing(&hello)?, Outgoing::Tracked(1));
//! assert_eq!(server.handle(&hello)?, Event::Stanza);
//! let Event::Reply(a) = server.handle(&client.request().unwrap())? else { unreachable!() };
//! assert_eq!(client.handle(&a)?, Event::Acked(vec![hello]));
//!
//! // The next one is lost with the connection.
//! let lost = message("are you there?");
//! client.outgoing(&lost)?;
//! assert_eq!(client.connection_lost(), Disconnected::Detached);
//! assert_eq!(server.connection_lost(), Disconnected::Detached);
//!
//! // On a new connection, the client resumes; the server finds the session
//! // by `previd` (and checks it is the same user), then answers.
//! let resume = client.resume_request()?;
//! let Some(SmElement::Resume(request)) = SmElement::read(&resume)? else { unreachable!() };
//! assert_eq!(Some(&request.previd), server.id());
//! let resumption = server.resume(&request)?;
//! let Event::Resumed { resend, .. } = client.handle(&resumption.resumed)? else { unreachable!() };
//! assert_eq!(resend, [lost.clone()]);
//! // The client writes `resend` as is; the server counts it as stanza 2.
//! server.handle(&resend[0])?;
//! assert_eq!(server.handled_count(), client.sent_count());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod client;
mod counters;
mod elements;
mod server;
#[cfg(test)]
mod tests;

use std::fmt;

use xmpp_xml::Element;

use crate::condition::StreamCondition;

pub use client::ClientSm;
pub use elements::{
    ack, feature, handled_count_too_high, offered, read_handled_count_too_high, request, Enable,
    Enabled, Failed, ParseError, Resume, Resumed, SmElement, SmId, MAX_ID_LEN, NS_SM,
};
pub use server::{Resumption, ServerOptions, ServerSm};

/// Whether `el` is a stanza that stream management counts: a top-level
/// `<message/>`, `<presence/>` or `<iq/>` in `jabber:client` (RFC 6120 §8).
/// Everything else is a nonza and never counted.
///
/// ```
/// use xmpp_xml::Element;
/// use xmpp_stream::sm::{is_stanza, request};
///
/// assert!(is_stanza(&Element::builder("iq", "jabber:client").build()));
/// assert!(!is_stanza(&request()));
/// assert!(!is_stanza(&Element::builder("message", "jabber:server").build()));
/// ```
pub fn is_stanza(el: &Element) -> bool {
    crate::wire::is_stanza(el)
}

/// Bounds on the queue of unacknowledged stanzas.
///
/// ```
/// use xmpp_stream::sm::QueueLimits;
///
/// let limits = QueueLimits { max_stanzas: 100, ..QueueLimits::default() };
/// assert_eq!(limits.max_bytes, 1024 * 1024);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLimits {
    /// Stanzas at most; capped at 2^31 − 1 so that wrapping comparisons of
    /// counters stay unambiguous. Default 500.
    pub max_stanzas: usize,
    /// Bytes at most, as parsed or serialised; an empty queue takes one
    /// stanza of any size. Default 1 MiB.
    pub max_bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_stanzas: 500,
            max_bytes: 1024 * 1024,
        }
    }
}

impl QueueLimits {
    fn clamped(self) -> Self {
        QueueLimits {
            max_stanzas: self.max_stanzas.min((1 << 31) - 1),
            ..self
        }
    }
}

/// The queue of unacknowledged stanzas cannot take another: the stanza was
/// neither counted nor queued, and must not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the unacknowledged-stanza queue is full ({stanzas} stanzas, {bytes} bytes)")]
pub struct QueueFull {
    /// Stanzas queued.
    pub stanzas: usize,
    /// Their bytes.
    pub bytes: usize,
}

/// Where a stream management session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Not in use on this stream (not enabled yet, or ended).
    Off,
    /// Client: `<enable/>` sent, no answer yet. Outbound stanzas already
    /// count.
    Enabling,
    /// Acknowledgements flow on the current connection.
    Active,
    /// The connection is gone and the session waits to be resumed.
    Detached,
    /// Client: `<resume/>` sent on a new connection, no answer yet.
    Resuming,
    /// The peer broke the protocol ([`SmError`]): the stream is to be
    /// closed; what was unacknowledged stays until
    /// [`connection_lost`](ClientSm::connection_lost) or `close` takes it.
    Failed,
}

impl State {
    /// A lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Off => "off",
            State::Enabling => "enabling",
            State::Active => "active",
            State::Detached => "detached",
            State::Resuming => "resuming",
            State::Failed => "failed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an element read from the peer means.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A stanza, counted as handled if stream management is active: the
    /// caller processes it.
    Stanza,
    /// Not a stanza and nothing for stream management: the caller processes
    /// it. Also `<r/>` and `<a/>` outside [`State::Active`], left over from
    /// before stream management was on: not ours to answer.
    Other,
    /// Send this now: the `<a h/>` that answers an `<r/>`.
    Reply(Element),
    /// An `<a h/>` acknowledged these stanzas, oldest first (none for a
    /// repeated `h`); they left the queue.
    Acked(Vec<Element>),
    /// Client: `<enabled/>` came; stream management is active.
    Enabled {
        /// The session can be resumed (we asked, the server agreed and gave
        /// an SM-ID).
        resumable: bool,
    },
    /// Client: `<failed/>` answered `<enable/>`. Stream management is off;
    /// the stanzas sent since `<enable/>` went out on a working stream,
    /// without acknowledgements, and are not reported.
    EnableFailed {
        /// The server's reason.
        condition: Option<crate::StanzaCondition>,
    },
    /// Client: `<resumed/>` came. Write `resend`, in order, before anything
    /// else, and **without** [`ClientSm::outgoing`]: they are counted
    /// already.
    Resumed {
        /// Stanzas the server's `h` acknowledged, oldest first.
        acked: Vec<Element>,
        /// Stanzas to send again: every one still unacknowledged (including
        /// those parked while detached), oldest first.
        resend: Vec<Element>,
    },
    /// Client: `<failed/>` answered `<resume/>`. The session is gone and
    /// stream management is off; the client can bind a resource and enable
    /// it again on this stream.
    ResumeFailed {
        /// The server's reason (`item-not-found` for an unknown or expired
        /// session).
        condition: Option<crate::StanzaCondition>,
        /// Stanzas its `h` acknowledged, oldest first.
        acked: Vec<Element>,
        /// Stanzas never acknowledged: the server may or may not have
        /// handled them.
        lost: Vec<Element>,
    },
}

/// What became of a session when its connection went away.
#[derive(Clone, Debug, PartialEq)]
pub enum Disconnected {
    /// The session waits to be resumed, its queue intact.
    Detached,
    /// The session cannot be resumed and is over: these stanzas were sent
    /// and never acknowledged, oldest first.
    Lost(Vec<Element>),
}

/// A session given up for good.
#[derive(Clone, Debug, PartialEq)]
pub struct Ended {
    /// Its SM-ID, if it was resumable: a server can remember it with
    /// `handled` to answer a late `<resume/>` with `<failed h/>`.
    pub id: Option<SmId>,
    /// Stanzas handled from the peer.
    pub handled: u32,
    /// Stanzas sent and never acknowledged, oldest first.
    pub unacked: Vec<Element>,
}

/// The peer broke stream management; the stream is to be closed with
/// [`SmError::stream_error`].
///
/// The machine that returned it is then [`State::Failed`], unless it was
/// [`State::Off`] (there was nothing to keep).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SmError {
    /// The peer's `h` acknowledges more stanzas than we sent.
    #[error("h='{h}' acknowledges more than the {send_count} stanzas sent")]
    HandledCountTooHigh {
        /// The peer's `h`.
        h: u32,
        /// Our outbound count.
        send_count: u32,
    },
    /// The peer's `h` is lower than one it sent before.
    #[error("h='{h}' is lower than the earlier h='{acked}'")]
    AckWentBackwards {
        /// The peer's `h`.
        h: u32,
        /// Its earlier `h`.
        acked: u32,
    },
    /// A stream management element cannot be read.
    #[error("malformed stream management element: {0}")]
    Malformed(#[from] ParseError),
    /// A stream management element that has no meaning in this state (a
    /// second `<enable/>`, `<resumed/>` without `<resume/>`…).
    #[error("unexpected <{element}/> while stream management is {state}")]
    Unexpected {
        /// Its name.
        element: &'static str,
        /// Our state.
        state: State,
    },
    /// `<resumed/>` (or a resumption) names another session than ours.
    #[error("the resumption names another session")]
    WrongPrevid,
}

impl SmError {
    /// The stream error condition to close the stream with.
    pub fn condition(&self) -> StreamCondition {
        match self {
            SmError::Malformed(_) => StreamCondition::BadFormat,
            _ => StreamCondition::UndefinedCondition,
        }
    }

    /// The `<stream:error/>` to close the stream with: for
    /// [`SmError::HandledCountTooHigh`] the one XEP-0198 §6 defines
    /// ([`handled_count_too_high`]), otherwise [`SmError::condition`] and
    /// this error's text.
    ///
    /// ```
    /// use xmpp_stream::sm::SmError;
    ///
    /// let e = SmError::HandledCountTooHigh { h: 10, send_count: 8 };
    /// assert_eq!(e.stream_error(), xmpp_stream::sm::handled_count_too_high(10, 8));
    /// ```
    pub fn stream_error(&self) -> Element {
        match self {
            SmError::HandledCountTooHigh { h, send_count } => {
                handled_count_too_high(*h, *send_count)
            }
            other => crate::wire::stream_error(other.condition(), Some(&other.to_string())),
        }
    }
}

/// A method called in a state it has no meaning in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} while stream management is {state}")]
pub struct StateError {
    /// What was asked.
    pub action: &'static str,
    /// The state it was asked in.
    pub state: State,
}

/// A stream's stream management counters, from
/// [`XmppStream::sm_counts`](crate::XmppStream::sm_counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SmCounts {
    /// Stanzas we sent since stream management was enabled (wrapping).
    pub sent: u32,
    /// The peer's last `h`: how many of them it acknowledged.
    pub acked: u32,
    /// Stanzas we handled from the peer: the `h` we send.
    pub handled: u32,
    /// Stanzas sent and not acknowledged yet.
    pub unacked: usize,
}

/// What [`ClientSm::outgoing`] (or [`ServerSm::outgoing`]) made of an
/// element about to be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Not covered (a nonza, or stream management is not on): write it.
    Untracked,
    /// Counted with this number and queued until acknowledged: write it.
    Tracked(u32),
    /// Counted with this number and queued, but there is no live stream to
    /// write it to: do not write it now. The resumption resends it (or it
    /// is reported lost).
    Parked(u32),
}

impl Outgoing {
    /// Whether to write the element now.
    pub fn write_now(self) -> bool {
        !matches!(self, Outgoing::Parked(_))
    }
}

/// The part of `handle` both sides share: stanzas, `<r/>` and `<a/>`.
/// `Err(sm)` hands a stream management element other than those back.
fn handle_common(
    counters: &mut counters::Counters,
    state: State,
    el: &Element,
) -> Result<Result<Event, SmElement>, SmError> {
    if is_stanza(el) {
        if state == State::Active {
            counters.count_inbound();
        }
        return Ok(Ok(Event::Stanza));
    }
    let Some(sm) = SmElement::read(el)? else {
        return Ok(Ok(Event::Other));
    };
    Ok(match (state, sm) {
        (State::Active, SmElement::Request) => Ok(Event::Reply(ack(counters.handled()))),
        (State::Active, SmElement::Ack(h)) => Ok(Event::Acked(counters.ack(h)?)),
        (_, SmElement::Request | SmElement::Ack(_)) => Ok(Event::Other),
        (_, other) => Err(other),
    })
}
