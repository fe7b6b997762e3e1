//! SASL2 (XEP-0388) on the client, with Bind2 (XEP-0386) and FAST tokens
//! (XEP-0484): the `<authenticate/>` we send, the server's answers, and the
//! features after `<success/>` (no stream restart).

use std::time::{Duration, SystemTime};

use jid::FullJid;
use xmpp_sasl::{ClientMechanism, HtClient, Mechanism};
use xmpp_xml::{ns, Element, Frame};
use zeroize::Zeroizing;

use super::{ChannelBindingPolicy, ClientCore, State};
use crate::error::ClientError;
use crate::sasl2::{self as wire2, AuthenticateExtras, Bind2Request};

/// How long a token without an `expiry` is kept.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl ClientCore {
    /// `<authenticate/>` for `mechanism`, with our user agent, Bind2 when
    /// offered, and a token request when configured.
    pub(super) fn authenticate(
        &mut self,
        mechanism: Mechanism,
        initial: Option<&[u8]>,
        fast: bool,
    ) -> Element {
        // Bind2 lets the server choose the resource: a client that asked
        // for one binds it with RFC 6120 after <success/> instead.
        let bind2 = self
            .sasl2
            .as_ref()
            .and_then(|o| o.bind2.clone())
            .filter(|_| self.config.resource.is_none());
        let bind = bind2.map(|inline| Bind2Request {
            tag: Some(self.config.bind2_tag.clone()),
            enable: self.bind2_enable(&inline).into_iter().collect(),
        });
        // Asked for in password logins: a token login keeps its token, which
        // the server rotates when it ages (asking each time would make every
        // token login a store write on the server).
        let request_token = if self.config.request_fast_token && !fast {
            self.fast_mechanisms().into_iter().next()
        } else {
            None
        };
        self.token_requested = request_token;
        let resume_offered = self.sasl2.as_ref().is_some_and(|o| o.sm);
        let resume = self.resume_inline(resume_offered);
        let extras = AuthenticateExtras {
            user_agent: Some(&self.config.user_agent),
            bind: bind.as_ref(),
            request_token,
            fast,
            resume: resume.as_ref(),
        };
        wire2::authenticate(mechanism.as_str(), initial, &extras)
    }

    /// The FAST mechanisms the server offers that we can use here, in our
    /// order: bound ones (with this connection's data) first; without
    /// binding only when our policy allows.
    fn fast_mechanisms(&self) -> Vec<Mechanism> {
        let Some(offered) = self.sasl2.as_ref().and_then(|o| o.fast.as_ref()) else {
            return Vec::new();
        };
        Mechanism::FAST
            .into_iter()
            .filter(|m| offered.iter().any(|o| o == m))
            .filter(|m| match (m.fast_binding(), self.config.channel_binding) {
                (None, ChannelBindingPolicy::Required) => false,
                (None, _) => true,
                (Some(_), ChannelBindingPolicy::Off) => false,
                (Some(_), _) => self.fast_binding_data(*m).is_some(),
            })
            .collect()
    }

    fn fast_binding_data(&self, m: Mechanism) -> Option<Vec<u8>> {
        if !self.secure {
            return None;
        }
        self.channel_bindings
            .as_ref()?
            .for_fast(m)
            .map(<[u8]>::to_vec)
    }

    /// Logs in with our FAST token if the server offers its mechanism and
    /// we can use it here. `false` when it does not apply.
    pub(super) fn start_fast(&mut self) -> bool {
        let Some(token) = self.config.fast_token.clone() else {
            return false;
        };
        if self.token_tried || !self.fast_mechanisms().contains(&token.mechanism) {
            return false;
        }
        self.token_tried = true;
        let cb = self.fast_binding_data(token.mechanism);
        let mut ht = match HtClient::new(token.mechanism, &self.config.username, &token.secret, cb)
        {
            Ok(ht) => ht,
            Err(_) => return false,
        };
        let Ok(Some(initial)) = ht.initial_response().map(|r| r.map(Zeroizing::new)) else {
            return false;
        };
        self.mechanism = Some(token.mechanism);
        let auth = self.authenticate(token.mechanism, Some(&initial), true);
        self.send(Frame::Element(auth));
        self.state = State::Sasl(Box::new(ht));
        true
    }

    /// An element in the SASL2 namespace during the exchange.
    pub(super) fn on_sasl2(&mut self, el: Element, mech: Box<dyn ClientMechanism>) {
        let name = mech.name();
        match el.name() {
            "challenge" => self.on_challenge(&el, mech, |d| wire2::payload("response", d)),
            "success" => self.on_sasl2_success(&el, mech),
            "failure" => {
                let (condition, text) = wire2::read_failure(&el);
                if !name.is_fast() {
                    return self.on_failure(name, condition, text);
                }
                // The token is no good: forget it, and go on with the
                // password on the same stream (XEP-0484 §3.3). A temporary
                // failure says nothing about the token.
                self.token_refused = condition != xmpp_sasl::Condition::TemporaryAuthFailure;
                let err = ClientError::Sasl {
                    mechanism: name,
                    condition,
                    text,
                };
                if self.config.password.is_empty() {
                    self.send(Frame::Close);
                    return self.finish(err);
                }
                self.pending_failure = Some(err);
                self.start_next_mechanism()
            }
            "continue" => {
                let tasks: Vec<String> = el
                    .child("tasks", wire2::NS_SASL2)
                    .map(|t| t.children().map(Element::text).collect())
                    .unwrap_or_default();
                self.abort(ClientError::Sasl2(format!(
                    "the server requires tasks we do not implement: {tasks:?}"
                )));
            }
            other => {
                let what = format!("unexpected SASL2 <{other}/>");
                self.protocol(&what)
            }
        }
    }

    fn on_sasl2_success(&mut self, el: &Element, mech: Box<dyn ClientMechanism>) {
        let Ok(success) = wire2::read_success(el) else {
            self.send(Frame::Close);
            return self.finish(ClientError::Protocol(
                "additional data is not valid base64".to_owned(),
            ));
        };
        // The server's proof first: nothing in a success is trusted before.
        if !self.verify_success(mech, success.additional.as_ref().map(|d| d.as_slice())) {
            return;
        }
        if let (Some((secret, expiry)), Some(mechanism)) = (success.token, self.token_mechanism()) {
            self.token_issued = Some(xmpp_sasl::FastToken {
                secret: Zeroizing::new(secret),
                mechanism,
                expires: expiry.unwrap_or_else(|| SystemTime::now() + DEFAULT_TOKEN_LIFETIME),
                last_count: None,
                in_use: false,
            });
        }
        if let Some(answer) = &success.sm_answer {
            match self.resume_answer(answer) {
                // Resumed: no binding, and no features (Prosody 13 sends
                // them anyway; the stream ignores them).
                Some(Some(jid)) => return self.established(jid),
                Some(None) => {}
                None => return,
            }
        } else if let Some((mut sm, _)) = self.resuming.take() {
            // The server ignored our <resume/>: that session is gone.
            self.sm_lost = sm.close().unacked;
        } else if let Some(suspended) = self.config.resume.clone() {
            // Resumption was not offered inline: that session is gone.
            self.sm_lost = suspended.into_unacked();
        }
        let jid = if success.bound {
            let id = success.authorization_identifier.as_deref().unwrap_or("");
            match FullJid::new(id) {
                Ok(jid) => Some(jid),
                Err(_) => {
                    return self
                        .protocol("Bind2 bound a resource but the identifier is not a full JID")
                }
            }
        } else {
            None
        };
        self.bound_inline = jid.is_some();
        if jid.is_none() {
            // Nothing was bound, so nothing was enabled inline: the RFC 6120
            // binding may enable stream management afterwards.
            self.sm = None;
        } else if !self.bind2_enabled(el) {
            return;
        }
        self.state = State::ExpectSasl2Features(jid);
    }

    /// The mechanism a token in this success is for: the one we asked a
    /// token for, or (an unasked rotation) the one we logged in with.
    fn token_mechanism(&self) -> Option<Mechanism> {
        self.token_requested
            .or(self.mechanism.filter(|m| m.is_fast()))
    }

    /// After SASL2's `<success/>`: the features (no restart). Stream
    /// management requests that servers send right after success are
    /// answered if Bind2 enabled it, and not ours to answer otherwise.
    pub(super) fn on_sasl2_features(&mut self, el: &Element, jid: Option<FullJid>) {
        if el.ns() == ns::SM {
            if self.sm_before_features(el) {
                self.state = State::ExpectSasl2Features(jid);
            }
            return;
        }
        if !el.is("features", ns::STREAM) {
            return self.protocol(&format!("unexpected <{}/> after SASL2 success", el.name()));
        }
        match jid {
            Some(jid) => self.established(jid),
            None => self.bind_from_features(el),
        }
    }
}
