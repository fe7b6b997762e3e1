//! Stream management (XEP-0198) during the client's negotiation: enabling
//! it after RFC 6120 binding (the session reads the answer), or inline in
//! Bind2, and handing the session over to
//! [`XmppStream`](crate::XmppStream). Acknowledgements only: we never ask
//! for resumption yet.

use jid::FullJid;
use xmpp_xml::{Element, Frame};

use super::ClientCore;
use crate::error::ClientError;
use crate::sasl2::NS_BIND2;
use crate::sm::{ClientSm, Event, QueueLimits, NS_SM};

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
        let mut sm = ClientSm::new(QueueLimits::default());
        let enable = sm.enable(false, None).ok()?;
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
            let mut sm = ClientSm::new(QueueLimits::default());
            if let Ok(enable) = sm.enable(false, None) {
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
