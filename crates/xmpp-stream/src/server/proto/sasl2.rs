//! SASL2 (XEP-0388) on the server, with Bind2 (XEP-0386) and FAST tokens
//! (XEP-0484): the same password mechanisms as RFC 6120 SASL, the `HT-*`
//! token mechanisms, and what happens between the mechanism's success and
//! `<success/>` (binding, token issue). No stream restart: the stream is
//! live once `<success/>` and the features are out.

use std::time::SystemTime;

use jid::{BareJid, FullJid, ResourcePart};
use xmpp_sasl::{Condition, FastToken, HtServer, Mechanism, StoreError};
use xmpp_xml::Element;

use super::{ServerAction, ServerCore, State};
use crate::condition::{StanzaCondition, StreamCondition};
use crate::sasl2::{self as wire2, AuthenticateError, Bind2Request, FastRequest, UserAgent};
use crate::wire;

pub(super) use crate::sasl2::{failure, payload, NS_SASL2 as NS};

/// What the client asked for inline in its `<authenticate/>`.
#[derive(Debug, Default)]
pub(crate) struct Sasl2Exchange {
    user_agent: Option<UserAgent>,
    bind: Option<Bind2Request>,
    /// `<resume xmlns='urn:xmpp:sm:3'/>`.
    resume: Option<Element>,
    fast: FastRequest,
    /// A token mechanism we offer that the client asked a token for.
    token_mechanism: Option<Mechanism>,
}

impl Sasl2Exchange {
    /// The client's user-agent id (empty without one).
    fn user_agent_id(&self) -> String {
        self.user_agent
            .as_ref()
            .map(|ua| ua.id.clone())
            .unwrap_or_default()
    }
}

/// A SASL2 login between the mechanism's success and `<success/>`.
#[derive(Debug)]
pub(crate) struct PostAuth {
    pub(super) bare: BareJid,
    additional: Option<Vec<u8>>,
    exchange: Sasl2Exchange,
    /// The `<resume/>` to look for, until the shell was asked.
    pub(super) resume: Option<Element>,
    /// `<resumed/>` or `<failed/>`, for `<success/>`.
    pub(super) sm_answer: Option<Element>,
    /// The full JID of the resumed session.
    pub(super) resumed_jid: Option<FullJid>,
    pub(super) bind_done: bool,
    jid: Option<FullJid>,
    token_done: bool,
    token: Option<FastToken>,
}

/// A change to a domain's FAST tokens, for the shell to apply to its
/// [`TokenStore`](xmpp_sasl::TokenStore).
#[non_exhaustive]
#[derive(Debug)]
pub enum TokenUpdate {
    /// Store a newly issued token (then call
    /// [`ServerCore::handle_token_issued`]).
    Issue {
        /// The served domain.
        domain: String,
        /// The prepared localpart.
        username: String,
        /// The user-agent id the token is bound to.
        user_agent: String,
        /// The token.
        token: FastToken,
    },
    /// A token authenticated: make it the current one.
    Used {
        /// The served domain.
        domain: String,
        /// The prepared localpart.
        username: String,
        /// The user-agent id.
        user_agent: String,
        /// The token that matched.
        token: FastToken,
        /// The client's `count`, if it sent one.
        count: Option<u64>,
    },
    /// The client asked to invalidate its token (`invalidate='true'`).
    Invalidate {
        /// The served domain.
        domain: String,
        /// The prepared localpart.
        username: String,
        /// The user-agent id.
        user_agent: String,
    },
}

impl ServerCore {
    /// Whether SASL2 is offered on this stream.
    pub(super) fn sasl2_available(&self) -> bool {
        self.config.sasl2 && (self.secure || self.config.allow_sasl2_insecure)
    }

    /// The FAST mechanisms usable now: with a token store, on a protected
    /// stream (or where SASL2 is allowed without one), and for the bound
    /// ones with this connection's binding data.
    fn fast_offered(&self) -> Vec<Mechanism> {
        let has_store = self
            .domain
            .as_deref()
            .and_then(|d| self.config.domain(d))
            .is_some_and(|d| d.tokens.is_some());
        if !has_store || !self.sasl2_available() {
            return Vec::new();
        }
        Mechanism::FAST
            .into_iter()
            .filter(|m| match m.fast_binding() {
                None => true,
                Some(_) => self.secure && self.fast_binding(*m).is_some(),
            })
            .collect()
    }

    fn fast_binding(&self, m: Mechanism) -> Option<&[u8]> {
        self.channel_bindings.as_ref()?.for_fast(m)
    }

    /// `<authentication/>` listing `offered`, with Bind2 and FAST inline.
    pub(super) fn sasl2_feature(&self, offered: &[Mechanism]) -> Option<Element> {
        if !self.sasl2_available() || offered.is_empty() {
            return None;
        }
        let sm = self
            .config
            .stream_management
            .as_ref()
            .map(|_| crate::sm::NS_SM);
        let mut inline = vec![wire2::bind2_feature(sm)];
        let fast = self.fast_offered();
        if !fast.is_empty() {
            inline.push(wire2::fast_feature(fast.iter().map(|m| m.as_str())));
        }
        if self.resumption_offered() {
            inline.push(crate::sm::feature());
        }
        Some(wire2::authentication(
            offered.iter().map(|m| m.as_str()),
            inline,
        ))
    }

    /// An element in the SASL2 namespace before authentication.
    pub(super) fn on_sasl2(
        &mut self,
        el: Element,
        running: Option<Box<dyn xmpp_sasl::ServerMechanism>>,
    ) {
        match (el.name(), running) {
            ("authenticate", running) => {
                if running.is_some() {
                    // Like a new <auth/>: it discards the running exchange
                    // and counts as an attempt.
                    self.sasl_failures += 1;
                    if self.sasl_failures > self.config.sasl_retries {
                        return self.fail(
                            StreamCondition::PolicyViolation,
                            Some("too many authentication attempts"),
                        );
                    }
                }
                self.on_authenticate(&el)
            }
            ("response", Some(mut mech)) => match wire::decode_sasl_payload(&el) {
                Ok(data) => {
                    let step = mech.step(&data);
                    self.apply_step(mech, step);
                }
                Err(_) => self.sasl_failed(Condition::IncorrectEncoding, None),
            },
            ("abort", _) => {
                self.sasl2.get_or_insert_default();
                self.sasl_failed(Condition::Aborted, None)
            }
            (name, _) => {
                self.sasl2.get_or_insert_default();
                let text = match name {
                    "next" | "task-data" => "no SASL2 tasks are offered",
                    "response" => "no exchange is running",
                    _ => "unexpected SASL2 element",
                };
                self.sasl_failed(Condition::MalformedRequest, Some(text))
            }
        }
    }

    fn on_authenticate(&mut self, el: &Element) {
        // Failures from here on are SASL2 ones.
        self.sasl2 = Some(Box::default());
        let request = match wire2::read_authenticate(el) {
            Ok(r) => r,
            Err(AuthenticateError::Encoding) => {
                return self.sasl_failed(Condition::IncorrectEncoding, None)
            }
            Err(AuthenticateError::Malformed(what)) => {
                return self.sasl_failed(Condition::MalformedRequest, Some(what))
            }
        };
        let fast_offered = self.fast_offered();
        // A token is bound to a user agent: without one, a request for a
        // token is ignored (the login goes on, as with Prosody; xmpp.js asks
        // whenever FAST is offered, with or without an id).
        let token_mechanism = request
            .fast
            .request_token
            .as_ref()
            .and_then(|n| n.known())
            .filter(|m| fast_offered.contains(m))
            .filter(|_| request.user_agent.is_some());
        let known = Mechanism::from_name(&request.mechanism);
        self.mechanism = known;
        if known.is_some_and(Mechanism::is_fast) && request.user_agent.is_none() {
            return self.sasl_failed(
                Condition::MalformedRequest,
                Some("a FAST token login needs the user-agent id the token was issued to"),
            );
        }
        self.sasl2 = Some(Box::new(Sasl2Exchange {
            user_agent: request.user_agent,
            bind: request.bind,
            resume: request.resume,
            fast: request.fast,
            token_mechanism,
        }));
        let initial = request.initial.as_ref().map(|d| d.as_slice());
        match known {
            Some(m) if m.is_fast() && fast_offered.contains(&m) => self.start_fast(m, initial),
            Some(m) if !m.is_fast() && self.offers(m) => self.start_mechanism(m, initial),
            Some(m) if self.config.mechanisms.contains(&m) => {
                self.sasl_failed(Condition::EncryptionRequired, None)
            }
            _ => self.sasl_failed(Condition::InvalidMechanism, None),
        }
    }

    fn start_fast(&mut self, mechanism: Mechanism, initial: Option<&[u8]>) {
        let cb = self.fast_binding(mechanism).map(<[u8]>::to_vec);
        let ht = match HtServer::start(mechanism, cb.as_deref(), initial) {
            Ok(ht) => ht,
            Err(f) => return self.sasl_failed(f.condition(), None),
        };
        let Ok(username) = xmpp_sasl::prepare_username(ht.authcid()).map(|u| u.into_owned()) else {
            return self.sasl_failed(Condition::NotAuthorized, None);
        };
        let user_agent = self
            .sasl2
            .as_deref()
            .map(Sasl2Exchange::user_agent_id)
            .unwrap_or_default();
        let domain = self.domain.clone().unwrap_or_default();
        self.actions.push_back(ServerAction::LookupTokens {
            domain,
            username,
            user_agent,
        });
        self.state = State::AwaitTokens(Box::new(ht));
    }

    /// The result of [`ServerAction::LookupTokens`], at wall-clock time
    /// `now` (tokens expire by the calendar).
    pub fn handle_tokens(&mut self, found: Result<Vec<FastToken>, StoreError>, now: SystemTime) {
        let ht = match std::mem::take(&mut self.state) {
            State::AwaitTokens(ht) => ht,
            other => {
                self.state = other;
                return;
            }
        };
        let tokens = match found {
            Ok(t) => t,
            Err(_) => return self.sasl_failed(Condition::TemporaryAuthFailure, None),
        };
        let verified = match ht.verify(&tokens, now) {
            Ok(v) => v,
            Err(f) => return self.sasl_failed(f.condition(), None),
        };
        let used = tokens[verified.index].clone();
        let count = self.sasl2.as_ref().and_then(|x| x.fast.count);
        // 0-RTT replay protection: a count must grow (XEP-0484 §4).
        if let (Some(c), Some(last)) = (count, used.last_count) {
            if c <= last {
                return self.sasl_failed(Condition::NotAuthorized, Some("replayed count"));
            }
        }
        let domain = self.domain.clone().unwrap_or_default();
        let Ok(username) = xmpp_sasl::prepare_username(ht.authcid()).map(|u| u.into_owned()) else {
            return self.sasl_failed(Condition::NotAuthorized, None);
        };
        let Ok(bare) = BareJid::new(&format!("{username}@{domain}")) else {
            return self.sasl_failed(Condition::NotAuthorized, None);
        };
        let mut exchange = self.sasl2.take().map(|b| *b).unwrap_or_default();
        // Past half its life, a token is rotated unasked (XEP-0484 allows
        // it): a client in use never sees its token expire.
        let half_life = self.config.fast_token_ttl / 2;
        let ageing = used
            .expires
            .duration_since(now)
            .map_or(true, |left| left < half_life);
        if ageing && exchange.token_mechanism.is_none() {
            exchange.token_mechanism = Some(ht.mechanism());
        }
        let user_agent = exchange.user_agent_id();
        // Using the `current` token again changes nothing to record: the
        // store is written only when a `new` token is first used or a
        // `count` came.
        if !used.in_use || count.is_some() {
            self.actions
                .push_back(ServerAction::UpdateTokens(TokenUpdate::Used {
                    domain: domain.clone(),
                    username: username.clone(),
                    user_agent: user_agent.clone(),
                    token: used,
                    count,
                }));
        }
        if exchange.fast.invalidate {
            self.actions
                .push_back(ServerAction::UpdateTokens(TokenUpdate::Invalidate {
                    domain,
                    username,
                    user_agent,
                }));
        }
        self.sasl2_succeeded(bare, ht.mechanism(), Some(&verified.additional), exchange);
    }

    /// The mechanism succeeded for `bare`: bind, issue a token, then
    /// `<success/>`.
    pub(super) fn sasl2_succeeded(
        &mut self,
        bare: BareJid,
        mechanism: Mechanism,
        additional: Option<&[u8]>,
        exchange: Sasl2Exchange,
    ) {
        self.mechanism = Some(mechanism);
        self.authenticated = Some(super::Authenticated {
            bare: bare.clone(),
            mechanism,
            sasl2: true,
        });
        self.actions
            .push_back(ServerAction::SetLimits(self.config.limits.clone()));
        let mut exchange = exchange;
        let post = PostAuth {
            bare,
            additional: additional.map(<[u8]>::to_vec),
            resume: exchange.resume.take(),
            sm_answer: None,
            resumed_jid: None,
            bind_done: exchange.bind.is_none(),
            token_done: exchange.token_mechanism.is_none(),
            exchange,
            jid: None,
            token: None,
        };
        self.post_auth(Box::new(post));
    }

    /// The next step after authentication: each ends in a state that waits
    /// for the shell, or in `<success/>`.
    fn post_auth(&mut self, mut post: Box<PostAuth>) {
        // Resumption first: a resumed session needs no binding.
        if self.resume_inline(&mut post) {
            self.state = State::AwaitResume2(post);
            return;
        }
        if !post.bind_done {
            post.bind_done = true;
            let resource = self.bind2_resource(&post);
            self.actions.push_back(ServerAction::Bind {
                bare: post.bare.clone(),
                resource,
            });
            self.state = State::AwaitBind2(post);
            return;
        }
        if !post.token_done {
            post.token_done = true;
            if let Some(mechanism) = post.exchange.token_mechanism {
                let token =
                    FastToken::generate(mechanism, self.config.fast_token_ttl, SystemTime::now());
                post.token = Some(token.clone());
                self.actions
                    .push_back(ServerAction::UpdateTokens(TokenUpdate::Issue {
                        domain: self.domain.clone().unwrap_or_default(),
                        username: post.bare.node().map(|n| n.to_string()).unwrap_or_default(),
                        user_agent: post.exchange.user_agent_id(),
                        token,
                    }));
                self.state = State::AwaitTokenIssued(post);
                return;
            }
        }
        self.sasl2_success(*post);
    }

    /// Goes on after the shell answered an inline resumption.
    pub(super) fn continue_post_auth(&mut self, post: Box<PostAuth>) {
        self.post_auth(post);
    }

    /// `tag/` and a part stable per user agent (random without one).
    fn bind2_resource(&self, post: &PostAuth) -> Option<ResourcePart> {
        let stable = match &post.exchange.user_agent {
            Some(ua) => crate::ids::stable_resource_part(
                &self.config.resource_key,
                post.bare.as_str(),
                &ua.id,
            ),
            None => crate::ids::resource(),
        };
        let tag = post
            .exchange
            .bind
            .as_ref()
            .and_then(|b| b.tag.as_deref())
            .filter(|t| !t.is_empty());
        let prepared = |r: &str| ResourcePart::new(r).ok().map(std::borrow::Cow::into_owned);
        // A tag that fails resourceprep is dropped, not the login (and a
        // resource the shell generates stands in for the hex one, which
        // always passes).
        tag.and_then(|t| prepared(&format!("{t}/{stable}")))
            .or_else(|| prepared(&stable))
    }

    /// The result of a Bind2 [`ServerAction::Bind`]. A refused binding is
    /// not a failed login: `<success/>` comes without `<bound/>`, and the
    /// client binds with RFC 6120.
    pub(super) fn bind2_done(
        &mut self,
        mut post: Box<PostAuth>,
        result: Result<FullJid, StanzaCondition>,
    ) {
        post.jid = result.ok();
        self.post_auth(post);
    }

    /// The result of [`TokenUpdate::Issue`]: a token the store could not
    /// keep is not handed out.
    pub fn handle_token_issued(&mut self, result: Result<(), StoreError>) {
        match std::mem::take(&mut self.state) {
            State::AwaitTokenIssued(mut post) => {
                if result.is_err() {
                    post.token = None;
                }
                self.post_auth(post);
            }
            other => self.state = other,
        }
    }

    /// Answers what a Bind2 request enables inline: stream management
    /// (`<enabled/>`, or `<failed/>` when it is off or the request is
    /// malformed), for `<bound/>`.
    fn bind2_enable(&mut self, bind: &Bind2Request) -> Vec<Element> {
        use crate::sm::{Failed, SmElement, NS_SM};
        let Some(enable) = bind.enable.iter().find(|e| e.is("enable", NS_SM)) else {
            return Vec::new();
        };
        let answer = match (self.config.sm_options(), SmElement::read(enable)) {
            (Some(options), Ok(Some(SmElement::Enable(request)))) => {
                let (sm, enabled) = crate::sm::ServerSm::enable(&request, &options);
                self.sm = Some(sm);
                enabled
            }
            (None, _) => Failed::new(StanzaCondition::FeatureNotImplemented).to_element(),
            (Some(_), _) => Failed::new(StanzaCondition::BadRequest).to_element(),
        };
        vec![answer]
    }

    fn sasl2_success(&mut self, post: PostAuth) {
        let identifier = match (&post.resumed_jid, &post.jid) {
            (Some(jid), _) | (None, Some(jid)) => jid.to_string(),
            (None, None) => post.bare.to_string(),
        };
        let bound_features = match (&post.jid, &post.exchange.bind) {
            (Some(_), Some(bind)) => self.bind2_enable(bind),
            _ => Vec::new(),
        };
        let extras = wire2::SuccessExtras {
            additional: post.additional,
            bound: post.jid.is_some(),
            bound_features,
            sm_answer: post.sm_answer,
            token: post
                .token
                .as_ref()
                .map(|t| (t.secret.to_string(), t.expires)),
        };
        self.send_element(wire2::success(&identifier, &extras));
        if let Some(jid) = post.resumed_jid {
            // Resumed: no features (XEP-0198 §5 with XEP-0388).
            return self.established(jid, false);
        }
        match post.jid {
            Some(jid) => {
                self.send_element(wire::features(Vec::new()));
                self.established(jid, true);
            }
            None => {
                let features = self.bind_features();
                self.send_element(features);
                self.state = State::ExpectBind;
            }
        }
    }
}
