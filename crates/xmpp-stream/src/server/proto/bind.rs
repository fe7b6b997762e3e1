//! Resource binding on the server: RFC 6120's bind IQ after the restart,
//! the features that offer it, and the shell's answer for either flavour
//! (a Bind2 binding inside SASL2 goes on in [`super::sasl2`]).

use jid::{FullJid, ResourcePart};
use xmpp_xml::{ns, Element};

use super::{ServerAction, ServerCore, State};
use crate::condition::{StanzaCondition, StreamCondition};
use crate::error::ServerError;
use crate::wire;

impl ServerCore {
    /// The result of [`ServerAction::Bind`]: the full JID, or the stanza
    /// error to answer with.
    pub fn handle_bind(&mut self, result: Result<FullJid, StanzaCondition>) {
        let request = match std::mem::take(&mut self.state) {
            State::AwaitBind(request) => request,
            State::AwaitBind2(post) => return self.bind2_done(post, result),
            other => {
                self.state = other;
                return;
            }
        };
        match result {
            Ok(jid) => {
                let id = request.attr("id").unwrap_or("");
                self.send_element(wire::bind_result(id, jid.as_str()));
                self.established(jid, false);
            }
            Err(condition) => {
                self.send_element(wire::iq_error(&request, condition));
                self.state = State::ExpectBind;
                self.bind_failed();
            }
        }
    }

    /// The features of an authenticated stream without a resource: RFC
    /// 6120 binding, stream management if offered, and the session feature
    /// per policy (a copy of the fixed element).
    pub(super) fn bind_features(&self) -> Element {
        let sm = self.config.stream_management.is_some();
        crate::fixed::bind_features(sm, self.config.session)
    }

    /// The stream management session Bind2 enabled inline, for the
    /// [`XmppStream`](crate::XmppStream): `None` otherwise (a client may
    /// still send `<enable/>` on the established stream, which the
    /// session answers). Call it after
    /// [`ServerAction::Established`].
    pub fn take_stream_management(&mut self) -> Option<crate::sm::ServerSm> {
        self.sm.take()
    }

    /// `<failed><unexpected-request/></failed>` for an `<enable/>` before
    /// the resource is bound (XEP-0198 §3); the negotiation goes on.
    pub(super) fn refuse_sm_enable(&mut self) {
        let failed = crate::sm::Failed::new(StanzaCondition::UnexpectedRequest);
        self.send_element(failed.to_element());
    }

    pub(super) fn on_pre_bind(&mut self, el: Element) {
        if el.is("resume", crate::sm::NS_SM) {
            return self.on_resume(&el);
        }
        if el.is("enable", crate::sm::NS_SM) {
            self.refuse_sm_enable();
            self.state = State::ExpectBind;
            return;
        }
        let bind = (el.is("iq", ns::CLIENT) && el.attr("type") == Some("set"))
            .then(|| el.child("bind", ns::BIND))
            .flatten();
        let Some(bind) = bind else {
            self.state = State::ExpectBind;
            return self.fail(
                StreamCondition::NotAuthorized,
                Some("bind a resource first"),
            );
        };
        if el.attr("id").is_none() || el.children().count() != 1 {
            self.send_element(wire::iq_error(&el, StanzaCondition::BadRequest));
            self.state = State::ExpectBind;
            return self.bind_failed();
        }
        let requested = bind
            .child("resource", ns::BIND)
            .map(|r| r.text())
            .filter(|r| !r.is_empty());
        let resource = match requested.as_deref().map(ResourcePart::new) {
            None => None,
            Some(Ok(r)) => Some(r.into_owned()),
            Some(Err(_)) => {
                self.send_element(wire::iq_error(&el, StanzaCondition::BadRequest));
                self.state = State::ExpectBind;
                return self.bind_failed();
            }
        };
        let Some(bare) = self.authenticated.as_ref().map(|a| a.bare.clone()) else {
            return self.finish(ServerError::Internal("bind before authentication"));
        };
        self.actions
            .push_back(ServerAction::Bind { bare, resource });
        self.state = State::AwaitBind(el);
    }

    pub(super) fn bind_failed(&mut self) {
        self.bind_failures += 1;
        if self.bind_failures > self.config.bind_retries {
            self.fail(
                StreamCondition::PolicyViolation,
                Some("too many bind attempts"),
            );
        }
    }
}
