//! Stream management (XEP-0198) during the client's negotiation: enabling
//! it after RFC 6120 binding (the session reads the answer), or inline in
//! Bind2, and handing the session over to
//! [`XmppStream`](crate::XmppStream). Acknowledgements only: we never ask
//! for resumption yet.

use jid::FullJid;
use xmpp_xml::{Element, Frame};

use super::{ClientCore, State};
use crate::error::ClientError;
use crate::sasl2::NS_BIND2;
use crate::sm::{ClientSm, Event, NS_SM};

impl ClientCore {
    /// The stream management session negotiation enabled (Bind2) or asked
    /// for (`<enable/>` after RFC 6120 binding, its answer still to come),
    /// for the [`XmppStream`](crate::XmppStream): `None` when it is off
    /// (not offered, not configured, or refused). Call it after
    /// [`ClientAction::Established`](super::ClientAction::Established).
    pub fn take_stream_management(&mut self) -> Option<ClientSm> {
        self.sm.take()
    }

    /// The `<enable/>` to put in Bind2's `<bind/>`, when Bind2 offers
    /// stream management inline and we want it. It starts a fresh session
    /// (a retried `<authenticate/>` starts another).
    pub(super) fn bind2_enable(&mut self, inline_features: &[String]) -> Option<Element> {
        self.sm = None;
        if !self.config.stream_management || !inline_features.iter().any(|f| f == NS_SM) {
            return None;
        }
        let mut sm = ClientSm::new(self.config.sm_queue);
        let enable = sm.enable(true, None).ok()?;
        self.sm = Some(sm);
        Some(enable)
    }

    /// Reads the answer to Bind2's inline `<enable/>` from `<bound/>` (in
    /// a SASL2 `<success/>`). A server that bound the resource but said
    /// nothing about it did not enable it. `false` when the answer breaks
    /// the protocol (the stream is being closed).
    pub(super) fn bind2_enabled(&mut self, success: &Element) -> bool {
        let Some(mut sm) = self.sm.take() else {
            return true;
        };
        let answer = success
            .child("bound", NS_BIND2)
            .and_then(|b| b.children().find(|c| c.ns() == NS_SM));
        let Some(answer) = answer else {
            return true;
        };
        match sm.handle(answer) {
            Ok(Event::Enabled { .. }) => {
                self.sm = Some(sm);
                true
            }
            Ok(_) => true,
            Err(e) => {
                self.sm_broken(&e);
                false
            }
        }
    }

    /// The resource is bound (RFC 6120, and the session established if
    /// required): we are done, after sending `<enable/>` if the features
    /// offered stream management and we want it.
    ///
    /// The answer is not waited for: the [`XmppStream`](crate::XmppStream)
    /// reads it. On a server, only the established session answers
    /// `<enable/>`, and a caller that polls that session only after both
    /// sides finished negotiating (as `tokio::spawn(accept(..))` then
    /// `connect(..).await` does) would wait forever. The outbound count
    /// runs from `<enable/>` (XEP-0198 §4), so stanzas sent before the
    /// answer are acknowledged like the others.
    pub(super) fn bound(&mut self, jid: FullJid) {
        self.sm = None;
        if self.sm_offered && self.config.stream_management {
            let mut sm = ClientSm::new(self.config.sm_queue);
            if let Ok(enable) = sm.enable(true, None) {
                self.send(Frame::Element(enable));
                self.sm = Some(sm);
            }
        }
        self.established(jid);
    }

    /// An SM element while SM is not running on a stream after a SASL2
    /// success (servers send `<r/>` right after it): answered when Bind2
    /// enabled stream management, ignored otherwise. `false` when it
    /// breaks the protocol.
    pub(super) fn sm_before_features(&mut self, el: &Element) -> bool {
        let Some(sm) = self.sm.as_mut() else {
            return true;
        };
        match sm.handle(el) {
            Ok(Event::Reply(a)) => {
                self.send(Frame::Element(a));
                true
            }
            Ok(_) => true,
            Err(e) => {
                self.sm_broken(&e);
                false
            }
        }
    }

    /// The server broke stream management: its stream error, and the end.
    fn sm_broken(&mut self, e: &crate::sm::SmError) {
        self.sm = None;
        self.send(Frame::Element(e.stream_error()));
        self.send(Frame::Close);
        self.finish(ClientError::Protocol(format!("stream management: {e}")));
    }
}

/// A client session whose connection was lost, to resume on a new one
/// (XEP-0198 §5) through [`ClientConfig::resume`](crate::client::ClientConfig::resume):
/// taken by [`XmppStream::suspend`](crate::XmppStream::suspend).
///
/// Stanzas sent while it waits ([`send`](Self::send)) are queued and go
/// out with the resumption, after what the server never acknowledged.
#[derive(Clone, Debug)]
pub struct SuspendedSession {
    pub(crate) sm: ClientSm,
    pub(crate) jid: FullJid,
}

impl SuspendedSession {
    pub(crate) fn new(mut sm: ClientSm, jid: FullJid) -> Option<Self> {
        if !sm.is_resumable() {
            return None;
        }
        sm.connection_lost();
        Some(SuspendedSession { sm, jid })
    }

    /// The session's full JID.
    pub fn jid(&self) -> &FullJid {
        &self.jid
    }

    /// Stanzas the server has not acknowledged, including those sent while
    /// suspended.
    pub fn unacked(&self) -> usize {
        self.sm.unacked_len()
    }

    /// How long the server keeps it (its `max`), if it said.
    pub fn max(&self) -> Option<std::time::Duration> {
        self.sm.max()
    }

    /// Queues a stanza to go out with the resumption; [`QueueFull`](crate::sm::QueueFull)
    /// when the queue has no room (the stanza is not queued).
    pub fn send(&mut self, stanza: &Element) -> Result<(), crate::sm::QueueFull> {
        self.sm.outgoing(stanza).map(|_| ())
    }

    /// Gives up on it: what the server never acknowledged, oldest first.
    pub fn into_unacked(mut self) -> Vec<Element> {
        self.sm.close().unacked
    }
}

impl ClientCore {
    /// After authentication, on features that offer binding: `<resume/>`
    /// when we have a session to resume and stream management is offered.
    /// `false`: bind instead (a session we could not even try to resume is
    /// lost).
    pub(super) fn resume_instead_of_bind(&mut self, session_required: bool) -> bool {
        let Some(suspended) = self.config.resume.clone() else {
            return false;
        };
        if !self.sm_offered {
            self.sm_lost = suspended.into_unacked();
            return false;
        }
        let SuspendedSession { mut sm, jid } = suspended;
        let Ok(resume) = sm.resume_request() else {
            self.sm_lost = SuspendedSession { sm, jid }.into_unacked();
            return false;
        };
        self.send(Frame::Element(resume));
        self.resuming = Some((sm, jid));
        self.state = State::ExpectResumed { session_required };
        true
    }

    /// The `<resume/>` for SASL2's `<authenticate/>`, when we have a session
    /// to resume and the server offers resumption inline.
    pub(super) fn resume_inline(&mut self, offered: bool) -> Option<Element> {
        self.resuming = None;
        let SuspendedSession { mut sm, jid } = self.config.resume.clone()?;
        if !offered {
            return None;
        }
        let resume = sm.resume_request().ok()?;
        self.resuming = Some((sm, jid));
        Some(resume)
    }

    /// The answer to `<resume/>` after the RFC 6120 restart.
    pub(super) fn on_resume_answer(&mut self, el: &Element, session_required: bool) {
        match self.resume_answer(el) {
            Some(Some(jid)) => self.established(jid),
            // Not resumed: bind a new session.
            Some(None) => self.send_bind(session_required),
            None => {}
        }
    }

    /// Takes `<resumed/>` (the session's JID) or `<failed/>` (`None`: bind
    /// a new one). `None` when the answer breaks the protocol (the stream
    /// is being closed).
    pub(super) fn resume_answer(&mut self, el: &Element) -> Option<Option<FullJid>> {
        let Some((mut sm, jid)) = self.resuming.take() else {
            self.protocol(&format!("unexpected <{}/> from the server", el.name()));
            return None;
        };
        match sm.handle(el) {
            Ok(Event::Resumed { resend, .. }) => {
                // Counted already: written as they are.
                for stanza in resend {
                    self.send(Frame::Element(stanza));
                }
                self.sm = Some(sm);
                self.resumed = true;
                Some(Some(jid))
            }
            Ok(Event::ResumeFailed { lost, .. }) => {
                self.sm_lost = lost;
                Some(None)
            }
            Ok(_) => {
                self.protocol(&format!("<{}/> does not answer <resume/>", el.name()));
                None
            }
            Err(e) => {
                self.sm_lost = sm.close().unacked;
                self.sm_broken(&e);
                None
            }
        }
    }
}
