//! Stream resumption during the server's negotiation (XEP-0198 §5): a
//! `<resume/>` instead of binding after the RFC 6120 restart, or inline in
//! SASL2's `<authenticate/>`, and the shell's answer.

use jid::FullJid;
use xmpp_xml::{Element, Frame};

use super::sasl2::PostAuth;
use super::{ServerAction, ServerCore, State};
use crate::condition::StanzaCondition;
use crate::error::ServerError;
use crate::sm::{Failed, SmElement, SmError};

/// The shell's answer to [`ServerAction::Resume`].
#[non_exhaustive]
#[derive(Debug)]
pub enum ResumeOutcome {
    /// The session is resumed: `resumed` is the `<resumed/>` that
    /// [`ServerSm::resume`](crate::sm::ServerSm::resume) made, `jid` the
    /// session's full JID. The shell writes the stanzas to resend after
    /// the negotiation's last frame.
    Resumed {
        /// The session's full JID.
        jid: FullJid,
        /// The `<resumed/>`.
        resumed: Element,
    },
    /// There is no such session of this user (unknown, expired, or never
    /// resumable): `<failed><item-not-found/></failed>`, and the client
    /// binds a resource instead.
    NotFound,
    /// The client's `h` does not fit the session (it acknowledges more than
    /// was sent): the session is over, and the stream ends with
    /// [`SmError::stream_error`].
    Broken(SmError),
}

impl ServerCore {
    /// Whether resumption is offered (sessions are enabled resumable).
    pub(super) fn resumption_offered(&self) -> bool {
        self.config
            .sm_options()
            .is_some_and(|o| o.resumption.is_some())
    }

    /// A `<resume/>` after the RFC 6120 restart, in place of binding.
    pub(super) fn on_resume(&mut self, el: &Element) {
        let request = match SmElement::read(el) {
            Ok(Some(SmElement::Resume(r))) if self.resumption_offered() => r,
            Ok(_) if !self.resumption_offered() => {
                return self.resume_refused(StanzaCondition::ItemNotFound)
            }
            _ => return self.resume_refused(StanzaCondition::BadRequest),
        };
        let Some(bare) = self.authenticated.as_ref().map(|a| a.bare.clone()) else {
            return self.finish(ServerError::Internal("resume before authentication"));
        };
        self.actions
            .push_back(ServerAction::Resume { bare, request });
        self.state = State::AwaitResume;
    }

    fn resume_refused(&mut self, condition: StanzaCondition) {
        self.send_element(Failed::new(condition).to_element());
        self.state = State::ExpectBind;
    }

    /// The `<resume/>` inside SASL2's `<authenticate/>`, once
    /// authenticated: `true` when the shell was asked to look for it.
    pub(super) fn resume_inline(&mut self, post: &mut Box<PostAuth>) -> bool {
        let Some(el) = post.resume.take() else {
            return false;
        };
        let request = match SmElement::read(&el) {
            Ok(Some(SmElement::Resume(r))) if self.resumption_offered() => r,
            Ok(_) if !self.resumption_offered() => {
                post.sm_answer = Some(Failed::new(StanzaCondition::ItemNotFound).to_element());
                return false;
            }
            _ => {
                post.sm_answer = Some(Failed::new(StanzaCondition::BadRequest).to_element());
                return false;
            }
        };
        self.actions.push_back(ServerAction::Resume {
            bare: post.bare.clone(),
            request,
        });
        true
    }

    /// The result of [`ServerAction::Resume`].
    pub fn handle_resume(&mut self, outcome: ResumeOutcome) {
        match std::mem::take(&mut self.state) {
            State::AwaitResume => match outcome {
                ResumeOutcome::Resumed { jid, resumed } => {
                    self.send_element(resumed);
                    self.resumed = true;
                    self.established(jid, false);
                }
                ResumeOutcome::NotFound => self.resume_refused(StanzaCondition::ItemNotFound),
                ResumeOutcome::Broken(e) => self.resume_broken(&e),
            },
            State::AwaitResume2(mut post) => match outcome {
                ResumeOutcome::Resumed { jid, resumed } => {
                    post.sm_answer = Some(resumed);
                    post.resumed_jid = Some(jid);
                    // A resumed session has its resource: no Bind2.
                    post.bind_done = true;
                    self.resumed = true;
                    self.continue_post_auth(post);
                }
                ResumeOutcome::NotFound => {
                    post.sm_answer = Some(Failed::new(StanzaCondition::ItemNotFound).to_element());
                    self.continue_post_auth(post);
                }
                ResumeOutcome::Broken(e) => self.resume_broken(&e),
            },
            other => self.state = other,
        }
    }

    /// The counters disagree: the stream error, and the end (XEP-0198 §5).
    fn resume_broken(&mut self, e: &SmError) {
        self.send_element(e.stream_error());
        self.send(Frame::Close);
        self.finish(ServerError::Sent {
            condition: e.condition(),
            text: Some(e.to_string()),
        });
    }
}
