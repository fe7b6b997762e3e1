//! Stream management (XEP-0198) on an established stream: what
//! [`XmppStream`](super::XmppStream) does with each element it reads and
//! each stanza it writes, for either side, and the server's registration
//! of a resumable session (XEP-0198 §5) while its stream is live.

use std::sync::Arc;
use std::task::Context;

use jid::BareJid;
use xmpp_xml::Element;

use crate::condition::StanzaCondition;
use crate::server::resumption::{LiveSlot, ResumableSessions};
use crate::sm::{
    ClientSm, Event, Failed, Outgoing, QueueFull, ServerOptions, ServerSm, SmCounts, SmElement,
    SmError, NS_SM,
};

/// Ask for an acknowledgement on our own each time this many more stanzas
/// wait for one, so that the queue empties without the application asking
/// and never fills up with a peer that acknowledges when asked.
const AUTO_REQUEST: usize = 16;

/// One side's stream management on the stream. The machines are boxed:
/// every idle session holds this inline, most of them with stream
/// management off.
#[derive(Debug)]
pub(crate) enum StreamSm {
    /// The client: the session negotiation enabled, if any.
    Client(Option<Box<ClientSm>>),
    /// The server's.
    Server(ServerSide),
}

/// The server's stream management on one stream.
#[derive(Debug, Default)]
pub(crate) struct ServerSide {
    /// The session (enabled inline by Bind2, resumed, or enabled later by
    /// `<enable/>` on this stream).
    pub(crate) sm: Option<Box<ServerSm>>,
    /// What to enable it with (`None`: we do not offer it).
    pub(crate) offer: Option<ServerOptions>,
    /// Where a resumable session is registered while live.
    pub(crate) resumable: Option<Arc<ResumableSessions>>,
    /// Its registration, while it is resumable.
    pub(crate) live: Option<Box<LiveSlot>>,
    /// The user, for the registration.
    pub(crate) bare: Option<BareJid>,
}

impl ServerSide {
    /// Registers the session as resumable, if it is and it is not yet.
    pub(crate) fn register(&mut self) {
        if self.live.is_some() {
            return;
        }
        let (Some(sm), Some(sessions), Some(bare)) = (&self.sm, &self.resumable, &self.bare) else {
            return;
        };
        if let Some(id) = sm.id() {
            self.live = sessions
                .register(id.clone(), bare.clone(), None)
                .map(Box::new);
        }
    }
}

/// What to do with an element read from the peer.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// Hand it to the application.
    Deliver,
    /// Stream management's own: not for the application. Send `reply`, if
    /// any, now.
    Consumed { reply: Option<Element> },
}

/// The two machines' common surface.
enum Machine<'a> {
    Client(&'a mut ClientSm),
    Server(&'a mut ServerSm),
}

impl StreamSm {
    fn machine(&mut self) -> Option<Machine<'_>> {
        match self {
            StreamSm::Client(sm) => sm.as_deref_mut().map(Machine::Client),
            StreamSm::Server(side) => side.sm.as_deref_mut().map(Machine::Server),
        }
    }

    /// On the server, whether a resumption on another connection asked
    /// this stream to let go of its session.
    pub(crate) fn poll_takeover(&self, cx: &Context<'_>) -> bool {
        match self {
            StreamSm::Server(ServerSide {
                live: Some(live), ..
            }) => live.takeover.poll_requested(cx),
            _ => false,
        }
    }

    /// Takes a resumable client session off the stream, its connection
    /// lost.
    pub(crate) fn suspend(&mut self) -> Option<ClientSm> {
        match self {
            StreamSm::Client(sm) if sm.as_deref().is_some_and(ClientSm::is_resumable) => {
                sm.take().map(|sm| *sm)
            }
            _ => None,
        }
    }

    /// Ends the client's session for good: what it never had acknowledged.
    pub(crate) fn take_unacked(&mut self) -> Vec<Element> {
        match self {
            StreamSm::Client(sm) => sm
                .take()
                .map(|mut sm| sm.close().unacked)
                .unwrap_or_default(),
            StreamSm::Server(_) => Vec::new(),
        }
    }

    /// Takes a resumable server session off the stream, its connection
    /// lost: `None` when there is none (not enabled, not resumable, or
    /// failed).
    pub(crate) fn detach(&mut self) -> Option<(ServerSm, LiveSlot)> {
        let StreamSm::Server(side) = self else {
            return None;
        };
        let resumable = side
            .sm
            .as_ref()
            .is_some_and(|sm| sm.state() == crate::sm::State::Active && sm.id().is_some());
        if !resumable {
            return None;
        }
        let live = side.live.take()?;
        let mut sm = side.sm.take()?;
        sm.connection_lost();
        Some((*sm, *live))
    }

    /// A client's `<enable/>` waits for its answer.
    pub(crate) fn is_enabling(&self) -> bool {
        matches!(self, StreamSm::Client(Some(sm)) if sm.state() == crate::sm::State::Enabling)
    }

    /// Stream management is on: enabled, and not failed.
    pub(crate) fn is_on(&self) -> bool {
        let state = match self {
            StreamSm::Client(sm) => sm.as_deref().map(ClientSm::state),
            StreamSm::Server(side) => side.sm.as_deref().map(ServerSm::state),
        };
        state == Some(crate::sm::State::Active)
    }

    /// Takes an element read from the peer. An error is the peer's: close
    /// the stream with [`SmError::stream_error`].
    pub(crate) fn incoming(&mut self, el: &Element) -> Result<Incoming, SmError> {
        let ours = el.ns() == NS_SM;
        if let StreamSm::Server(side) = self {
            if el.is("enable", NS_SM) {
                let reply = Self::enable(&mut side.sm, side.offer.as_ref(), el)?;
                side.register();
                return Ok(Incoming::Consumed { reply: Some(reply) });
            }
        }
        let event = match self.machine() {
            Some(Machine::Client(sm)) => sm.handle(el)?,
            Some(Machine::Server(sm)) => sm.handle(el)?,
            // Off: stream management's elements are dropped (a server's
            // `<r/>` is not ours to answer), the rest delivered.
            None if ours => return Ok(Incoming::Consumed { reply: None }),
            None => return Ok(Incoming::Deliver),
        };
        Ok(match event {
            Event::Reply(a) => Incoming::Consumed { reply: Some(a) },
            Event::Stanza | Event::Other if !ours => Incoming::Deliver,
            _ => Incoming::Consumed { reply: None },
        })
    }

    /// The server's answer to `<enable/>`: `<enabled/>` the first time when
    /// we offer it (resumable when the options allow), `<failed/>`
    /// otherwise (XEP-0198 §3).
    fn enable(
        sm: &mut Option<Box<ServerSm>>,
        offer: Option<&ServerOptions>,
        el: &Element,
    ) -> Result<Element, SmError> {
        let Some(options) = offer else {
            return Ok(Failed::new(StanzaCondition::FeatureNotImplemented).to_element());
        };
        if sm.is_some() {
            return Ok(Failed::new(StanzaCondition::UnexpectedRequest).to_element());
        }
        let Some(SmElement::Enable(request)) = SmElement::read(el)? else {
            return Ok(Failed::new(StanzaCondition::BadRequest).to_element());
        };
        let (session, enabled) = ServerSm::enable(&request, options);
        *sm = Some(Box::new(session));
        Ok(enabled)
    }

    /// Reports a stanza about to be written: whether to write it (always:
    /// a stream's session is never detached while the stream lives), and an `<r/>` to write after it
    /// each time another [`AUTO_REQUEST`] stanzas wait.
    pub(crate) fn outgoing(&mut self, el: &Element) -> Result<(bool, Option<Element>), QueueFull> {
        let outgoing = match self.machine() {
            Some(Machine::Client(sm)) => sm.outgoing(el)?,
            Some(Machine::Server(sm)) => sm.outgoing(el)?,
            None => return Ok((true, None)),
        };
        let request = match outgoing {
            Outgoing::Tracked(_) if self.unacked().is_multiple_of(AUTO_REQUEST) => self.request(),
            _ => None,
        };
        Ok((outgoing.write_now(), request))
    }

    /// `<r/>`, when stream management is active.
    pub(crate) fn request(&mut self) -> Option<Element> {
        match self.machine()? {
            Machine::Client(sm) => sm.request(),
            Machine::Server(sm) => sm.request(),
        }
    }

    /// `<a h/>`, when stream management is active: for a clean close.
    pub(crate) fn ack(&mut self) -> Option<Element> {
        match self.machine()? {
            Machine::Client(sm) => sm.ack(),
            Machine::Server(sm) => sm.ack(),
        }
    }

    /// Stanzas sent and not acknowledged yet.
    pub(crate) fn unacked(&self) -> usize {
        self.counts().map_or(0, |c| c.unacked)
    }

    /// The counters, when stream management is on.
    pub(crate) fn counts(&self) -> Option<SmCounts> {
        let side = match self {
            StreamSm::Client(sm) => sm.as_ref().map(Ok),
            StreamSm::Server(side) => side.sm.as_ref().map(Err),
        };
        Some(match side? {
            Ok(sm) => SmCounts {
                sent: sm.sent_count(),
                acked: sm.acked_count(),
                handled: sm.handled_count(),
                unacked: sm.unacked_len(),
            },
            Err(sm) => SmCounts {
                sent: sm.sent_count(),
                acked: sm.acked_count(),
                handled: sm.handled_count(),
                unacked: sm.unacked_len(),
            },
        })
    }
}
