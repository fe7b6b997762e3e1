//! Stream management (XEP-0198) on an established stream: what
//! [`XmppStream`](super::XmppStream) does with each element it reads and
//! each stanza it writes, for either side. Acknowledgements only: no
//! session outlives its connection yet.

use xmpp_xml::Element;

use crate::condition::StanzaCondition;
use crate::sm::{
    ClientSm, Event, Failed, Outgoing, QueueFull, ServerOptions, ServerSm, SmCounts, SmElement,
    SmError, NS_SM,
};

/// Ask for an acknowledgement on our own each time this many more stanzas
/// wait for one, so that the queue empties without the application asking
/// and never fills up with a peer that acknowledges when asked.
const AUTO_REQUEST: usize = 16;

/// One side's stream management on the stream.
#[derive(Debug)]
pub(crate) enum StreamSm {
    /// The client: the session negotiation enabled, if any.
    Client(Option<ClientSm>),
    /// The server: the session (enabled inline by Bind2, or later by
    /// `<enable/>` on this stream), and what to enable it with (`None`: we
    /// do not offer it).
    Server {
        sm: Option<ServerSm>,
        offer: Option<ServerOptions>,
    },
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
            StreamSm::Client(sm) => sm.as_mut().map(Machine::Client),
            StreamSm::Server { sm, .. } => sm.as_mut().map(Machine::Server),
        }
    }

    /// Stream management is on: enabled, and not failed.
    pub(crate) fn is_on(&self) -> bool {
        let state = match self {
            StreamSm::Client(sm) => sm.as_ref().map(ClientSm::state),
            StreamSm::Server { sm, .. } => sm.as_ref().map(ServerSm::state),
        };
        state == Some(crate::sm::State::Active)
    }

    /// Takes an element read from the peer. An error is the peer's: close
    /// the stream with [`SmError::stream_error`].
    pub(crate) fn incoming(&mut self, el: &Element) -> Result<Incoming, SmError> {
        let ours = el.ns() == NS_SM;
        if let StreamSm::Server { sm, offer } = self {
            if el.is("enable", NS_SM) {
                return Ok(Incoming::Consumed {
                    reply: Some(Self::enable(sm, offer.as_ref(), el)?),
                });
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
    /// we offer it (without resumption: the options say none), `<failed/>`
    /// otherwise (XEP-0198 §3).
    fn enable(
        sm: &mut Option<ServerSm>,
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
        *sm = Some(session);
        Ok(enabled)
    }

    /// Reports a stanza about to be written: whether to write it (always,
    /// while no session can be detached), and an `<r/>` to write after it
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
            StreamSm::Server { sm, .. } => sm.as_ref().map(Err),
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
