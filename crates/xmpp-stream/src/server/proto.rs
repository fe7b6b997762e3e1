//! The sans-IO server negotiation: decoded frames and the time in, actions
//! out. No sockets, no clock, no store access: the shell performs those.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use jid::{BareJid, FullJid, ResourcePart};
use xmpp_sasl::{
    Mechanism, ServerMechanism, ServerMechanismConfig, ServerStep, StoreError, StoredCredentials,
};
use xmpp_xml::{ns, Element, Frame, Limits, StreamHeader, XmlError};

mod bind;
mod offer;
mod resume;
mod sasl2;
mod starttls;

pub use self::resume::ResumeOutcome;
pub use self::sasl2::TokenUpdate;
use self::sasl2::{PostAuth, Sasl2Exchange};
use super::config::{ServerConfig, TlsPolicy};
use super::password_check::{CheckedPassword, PasswordCheck};
use crate::condition::StreamCondition;
use crate::error::ServerError;
use crate::negotiation::{version_at_least_1_0, ChannelBindings, Security, StreamInfo};
use crate::wire;

/// What the shell must do next.
#[non_exhaustive]
#[derive(Debug)]
pub enum ServerAction {
    /// Write this frame.
    Send(Frame),
    /// Reset the decoder for a new stream (after `<success/>`), keeping its
    /// buffer: the client's new header may already be in it.
    ResetDecoder,
    /// Apply these XML limits to what is decoded from now on.
    SetLimits(Limits),
    /// `<proceed/>` was queued: flush, run the TLS handshake on the
    /// transport (taking over any bytes the decoder read ahead), reset the
    /// decoder and call [`ServerCore::handle_tls`].
    StartTls,
    /// Look the user up in the domain's store and call
    /// [`ServerCore::handle_credentials`].
    LookupCredentials {
        /// The served domain.
        domain: String,
        /// The SASL authentication identity.
        username: String,
    },
    /// Check the password the client sent: run [`PasswordCheck::run`] off
    /// the I/O threads (it derives a key, milliseconds of CPU) and call
    /// [`ServerCore::handle_password_checked`], or call
    /// [`ServerCore::handle_password_check_refused`] when too many checks
    /// are running already. Comes after
    /// [`ServerAction::LookupCredentials`] for mechanisms that carry the
    /// password (PLAIN); the others are checked inside the core.
    CheckPassword(PasswordCheck),
    /// Bind this resource (or generate one when `None`) for `bare` and call
    /// [`ServerCore::handle_bind`].
    Bind {
        /// The authenticated bare JID.
        bare: BareJid,
        /// The resource the client asked for (after resourceprep).
        resource: Option<ResourcePart>,
    },
    /// Fetch the FAST tokens of `username` for this user agent from the
    /// domain's [`TokenStore`](xmpp_sasl::TokenStore) and call
    /// [`ServerCore::handle_tokens`].
    LookupTokens {
        /// The served domain.
        domain: String,
        /// The prepared localpart.
        username: String,
        /// The client's user-agent id.
        user_agent: String,
    },
    /// The client asks to resume a stream management session (XEP-0198
    /// §5), authenticated as `bare`: find it, check `request.h` against it
    /// ([`ServerSm::resume`](crate::sm::ServerSm::resume)) and call
    /// [`ServerCore::handle_resume`].
    Resume {
        /// The authenticated bare JID: only its own sessions are resumed.
        bare: BareJid,
        /// The `<resume/>`.
        request: crate::sm::Resume,
    },
    /// Apply this change to the domain's token store. An
    /// [`TokenUpdate::Issue`] is answered with
    /// [`ServerCore::handle_token_issued`]; the others need no answer.
    UpdateTokens(TokenUpdate),
    /// Negotiation is complete: stanzas may flow. Boxed: the largest
    /// variant by far, it made every action 368 bytes.
    Established(Box<StreamInfo>),
    /// Negotiation failed; everything to send has been sent. Close the
    /// connection.
    Fail(ServerError),
}

#[derive(Default)]
enum State {
    /// Waiting for the client's (first or restarted) header.
    #[default]
    ExpectHeader,
    /// Features with `<mechanisms/>` sent; no exchange running.
    ExpectAuth,
    /// A SASL exchange is running and waits for a `<response/>`.
    ExpectResponse(Box<dyn ServerMechanism>),
    /// The mechanism asked for the user's credentials.
    AwaitCredentials(Box<dyn ServerMechanism>),
    /// The shell is checking the password (the mechanism is in the job).
    AwaitPasswordCheck,
    /// `<success/>` sent; waiting for the restarted header.
    ExpectRestart,
    /// `<proceed/>` sent; the shell runs the TLS handshake.
    AwaitTls,
    /// Features with `<bind/>` sent.
    ExpectBind,
    /// The shell is binding the resource requested by this IQ.
    AwaitBind(Element),
    /// The shell looks for the session a `<resume/>` names.
    AwaitResume,
    /// SASL2 succeeded; the shell looks for the session to resume inline.
    AwaitResume2(Box<PostAuth>),
    /// The shell fetches the tokens a FAST authentication is checked with.
    AwaitTokens(Box<xmpp_sasl::HtServer>),
    /// SASL2 succeeded; the shell binds the Bind2 resource.
    AwaitBind2(Box<PostAuth>),
    /// SASL2 succeeded; the shell stores the FAST token to hand out.
    AwaitTokenIssued(Box<PostAuth>),
    /// Negotiation finished, one way or the other.
    Done,
}

struct Authenticated {
    bare: BareJid,
    mechanism: Mechanism,
    /// Through SASL2.
    sasl2: bool,
}

/// One client connection's negotiation, from the first header to the bound
/// resource, without I/O: feed it decoded frames, the end of input, the
/// time and the answers to its requests (credentials, binding); perform the
/// actions it returns.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Instant;
/// use xmpp_sasl::MemoryStore;
/// use xmpp_stream::server::{ServerAction, ServerConfig, ServerCore};
/// use xmpp_stream::Security;
/// use xmpp_xml::{ns, Frame, StreamHeader};
///
/// let config = ServerConfig::new("example.com", Arc::new(MemoryStore::default()));
/// let mut core = ServerCore::new(Arc::new(config), Security::Cleartext, Instant::now());
/// assert!(matches!(core.poll_action(), Some(ServerAction::SetLimits(_))));
///
/// core.handle_frame(Ok(Frame::Header(StreamHeader::client("example.com"))));
/// assert!(matches!(core.poll_action(), Some(ServerAction::Send(Frame::Header(_)))));
/// let Some(ServerAction::Send(Frame::Element(features))) = core.poll_action() else {
///     panic!("features expected");
/// };
/// assert!(features.child("mechanisms", ns::SASL).is_some());
/// ```
pub struct ServerCore {
    config: Arc<ServerConfig>,
    secure: bool,
    state: State,
    actions: VecDeque<ServerAction>,
    deadline: Instant,
    header_sent: bool,
    domain: Option<String>,
    stream_id: String,
    client_header: Option<StreamHeader>,
    mechanism: Option<Mechanism>,
    authenticated: Option<Authenticated>,
    sasl_failures: u32,
    bind_failures: u32,
    channel_bindings: Option<ChannelBindings>,
    /// The running exchange is SASL2's (with what it asked for inline).
    sasl2: Option<Box<Sasl2Exchange>>,
    /// Stream management, enabled inline by Bind2.
    sm: Option<crate::sm::ServerSm>,
    /// The stream resumed a session instead of binding.
    resumed: bool,
    /// STARTTLS cannot run on this transport ([`Self::disable_starttls`]).
    no_starttls: bool,
}

impl ServerCore {
    /// A negotiation that starts `now`. `security` says whether the
    /// transport is protected already, which decides whether STARTTLS and
    /// PLAIN are offered.
    pub fn new(config: Arc<ServerConfig>, security: Security, now: Instant) -> Self {
        let deadline = now + config.negotiation_timeout;
        let mut core = ServerCore {
            // A few actions at a time (header, features, limits): room for
            // them from the start rather than growing twice.
            actions: VecDeque::with_capacity(4),
            state: State::ExpectHeader,
            secure: security.is_tls(),
            deadline,
            header_sent: false,
            domain: None,
            stream_id: String::new(),
            client_header: None,
            mechanism: None,
            authenticated: None,
            sasl_failures: 0,
            bind_failures: 0,
            channel_bindings: None,
            sasl2: None,
            sm: None,
            resumed: false,
            no_starttls: false,
            config,
        };
        core.actions
            .push_back(ServerAction::SetLimits(core.config.pre_auth_limits.clone()));
        core
    }

    /// The next action for the shell.
    pub fn poll_action(&mut self) -> Option<ServerAction> {
        self.actions.pop_front()
    }

    /// When [`ServerCore::handle_timeout`] must be called, if still running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!matches!(self.state, State::Done)).then_some(self.deadline)
    }

    /// The mechanism of the running or finished SASL exchange, for observers.
    pub fn mechanism(&self) -> Option<Mechanism> {
        self.mechanism
    }

    /// Whether negotiation has finished (established or failed).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::Done)
    }

    /// The clock passed the deadline: `<connection-timeout/>`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.deadline && !self.is_done() {
            self.fail(
                StreamCondition::ConnectionTimeout,
                Some("negotiation took too long"),
            );
        }
    }

    /// The decoder produced a frame or an error.
    pub fn handle_frame(&mut self, frame: Result<Frame, XmlError>) {
        if self.is_done() {
            return;
        }
        match frame {
            Ok(Frame::Header(h)) => self.on_header(h),
            Ok(Frame::Element(el)) => self.on_element(el),
            Ok(Frame::Close) => {
                self.send(Frame::Close);
                self.finish(ServerError::PeerClosed);
            }
            Ok(_) => self.fail(StreamCondition::UnsupportedStanzaType, None),
            Err(e) => match e.condition() {
                Some(c) => self.fail(c.into(), Some(&e.to_string())),
                None => self.finish(ServerError::from(e)),
            },
        }
    }

    /// The peer closed the connection without closing the stream.
    pub fn handle_eof(&mut self) {
        if !self.is_done() {
            self.finish(ServerError::PeerClosed);
        }
    }

    /// The result of [`ServerAction::StartTls`]: the handshake finished with
    /// these channel bindings, or failed.
    pub fn handle_tls(&mut self, result: std::io::Result<ChannelBindings>) {
        if !matches!(self.state, State::AwaitTls) {
            return;
        }
        match result {
            Ok(cb) => {
                self.secure = true;
                self.channel_bindings = Some(cb);
                // A fresh stream on the TLS layer: a new header and id.
                self.header_sent = false;
                self.state = State::ExpectHeader;
            }
            Err(e) => self.finish(ServerError::Tls(e)),
        }
    }

    /// Sets the channel bindings of a transport that was protected from the
    /// start (direct TLS).
    pub fn set_channel_bindings(&mut self, cb: ChannelBindings) {
        self.channel_bindings = Some(cb);
    }

    /// Whether the stream is protected by TLS.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The result of [`ServerAction::LookupCredentials`].
    pub fn handle_credentials(&mut self, found: Result<Option<StoredCredentials>, StoreError>) {
        match std::mem::take(&mut self.state) {
            // A call that derives a key (PLAIN: PBKDF2 over the password the
            // client sent) is for the shell to run off the I/O threads.
            State::AwaitCredentials(mech) if mech.derives_key() => {
                self.actions
                    .push_back(ServerAction::CheckPassword(PasswordCheck::new(mech, found)));
                self.state = State::AwaitPasswordCheck;
            }
            State::AwaitCredentials(mut mech) => {
                let step = mech.credentials(found);
                self.apply_step(mech, step);
            }
            other => self.state = other,
        }
    }

    /// The result of [`ServerAction::CheckPassword`]. Ignored once the
    /// negotiation ended meanwhile (its deadline passed, say).
    pub fn handle_password_checked(&mut self, checked: CheckedPassword) {
        match std::mem::take(&mut self.state) {
            State::AwaitPasswordCheck => self.apply_step(checked.mechanism, checked.step),
            other => self.state = other,
        }
    }

    /// The shell could not run [`ServerAction::CheckPassword`] now (too
    /// many checks in flight): `<temporary-auth-failure/>`, and the client
    /// may try again.
    pub fn handle_password_check_refused(&mut self) {
        match std::mem::take(&mut self.state) {
            State::AwaitPasswordCheck => self.sasl_failed(
                xmpp_sasl::Condition::TemporaryAuthFailure,
                Some("too many logins in progress; try again"),
            ),
            other => self.state = other,
        }
    }

    /// Negotiation is over: `jid` is bound.
    fn established(&mut self, jid: FullJid, bound_inline: bool) {
        self.state = State::Done;
        // The negotiation is over: what it kept is handed over, not copied.
        let (Some(header), Some(auth), Some(domain)) = (
            self.client_header.take(),
            self.authenticated.as_ref(),
            self.domain.take(),
        ) else {
            return self.finish(ServerError::Internal("bound without authentication"));
        };
        let negotiated = StreamInfo {
            jid,
            stream_id: std::mem::take(&mut self.stream_id),
            peer_header: header,
            mechanism: auth.mechanism,
            domain,
            sasl2: auth.sasl2,
            bound_inline,
            fast_token: None,
            fast_token_refused: false,
            stream_management: self.sm.is_some(),
            resumed: self.resumed,
            sm_lost: Vec::new(),
        };
        self.actions
            .push_back(ServerAction::Established(Box::new(negotiated)));
    }

    fn send(&mut self, frame: Frame) {
        self.actions.push_back(ServerAction::Send(frame));
    }

    fn send_element(&mut self, el: Element) {
        self.send(Frame::Element(el));
    }

    fn finish(&mut self, err: ServerError) {
        self.state = State::Done;
        self.actions.push_back(ServerAction::Fail(err));
    }

    /// Sends a stream error (after a response header if none was sent yet,
    /// RFC 6120 §4.9.1.2), closes the stream and fails.
    fn fail(&mut self, condition: StreamCondition, text: Option<&str>) {
        if !self.header_sent {
            let header = self.response_header();
            self.send(Frame::Header(header));
        }
        self.send_element(wire::stream_error(condition, text));
        self.send(Frame::Close);
        self.finish(ServerError::Sent {
            condition,
            text: text.map(str::to_owned),
        });
    }

    fn response_header(&mut self) -> StreamHeader {
        self.header_sent = true;
        self.stream_id = crate::ids::stream_id();
        StreamHeader {
            stream_ns: ns::STREAM.into(),
            name: "stream".into(),
            default_ns: Some(ns::CLIENT.into()),
            to: None,
            from: Some(
                self.domain
                    .clone()
                    .or_else(|| self.config.domains.first().map(|d| d.name.clone()))
                    .unwrap_or_default()
                    .into(),
            ),
            id: Some(self.stream_id.clone().into()),
            version: Some("1.0".into()),
            lang: Some("en".into()),
        }
    }

    fn on_header(&mut self, h: StreamHeader) {
        let restart = match self.state {
            State::ExpectHeader => false,
            State::ExpectRestart => true,
            _ => {
                // A second header inside a stream is not well-formed XML.
                return self.fail(
                    StreamCondition::NotWellFormed,
                    Some("unexpected stream header"),
                );
            }
        };
        // Resolve the domain first so that even an error header names it.
        let config = self.config.clone();
        let served = match h.to.as_deref() {
            Some(to) => config.domain(to).map(|d| d.name.as_str()),
            None => config.domains.first().map(|d| d.name.as_str()),
        };
        if restart {
            if served.is_some() && served != self.domain.as_deref() {
                return self.fail(
                    StreamCondition::HostUnknown,
                    Some("domain changed on restart"),
                );
            }
        } else {
            self.domain = served.map(str::to_owned);
        }
        let header = self.response_header();
        self.send(Frame::Header(header));

        if h.stream_ns != ns::STREAM || h.name != "stream" {
            return self.fail(
                StreamCondition::InvalidNamespace,
                Some("wrong stream namespace"),
            );
        }
        if h.default_ns.as_deref() != Some(ns::CLIENT) {
            return self.fail(
                StreamCondition::InvalidNamespace,
                Some("expected jabber:client"),
            );
        }
        if !version_at_least_1_0(h.version.as_deref()) {
            return self.fail(
                StreamCondition::UnsupportedVersion,
                Some("version 1.0 is required"),
            );
        }
        if served.is_none() {
            return self.fail(StreamCondition::HostUnknown, None);
        }
        // A client names itself (RFC 6120 §4.7.1) with a JID of the domain
        // it connects to; another domain's is refused (XEP-0388 §2.1).
        if let Some(from) = h.from.as_deref() {
            let same_domain = jid::Jid::new(from)
                .is_ok_and(|j| served.is_some_and(|d| j.domain().as_str().eq_ignore_ascii_case(d)));
            if !same_domain {
                return self.fail(
                    StreamCondition::InvalidFrom,
                    Some("'from' is not a JID of this domain"),
                );
            }
        }
        self.client_header = Some(h);

        let features = if restart {
            self.state = State::ExpectBind;
            self.bind_features()
        } else {
            self.state = State::ExpectAuth;
            let mut children = Vec::new();
            let starttls = self.starttls();
            if !self.secure && starttls != TlsPolicy::Off {
                children.push(wire::starttls(starttls == TlsPolicy::Required));
            }
            let offered = self.offered();
            if !offered.is_empty() {
                children.push(crate::fixed::mechanisms(&offered));
            }
            if offered.iter().any(|m| m.is_plus()) {
                let bindings = self.plus_bindings();
                let types = bindings.iter().map(|cb| cb.kind.as_str());
                children.push(wire::channel_binding_types(types));
            }
            if let Some(authentication) = self.sasl2_feature(&offered) {
                children.push(authentication);
            }
            wire::features(children)
        };
        self.send_element(features);
    }

    fn on_element(&mut self, el: Element) {
        if wire::is_stream_error(&el) {
            let (condition, text) = wire::read_stream_error(&el);
            self.send(Frame::Close);
            return self.finish(ServerError::Received { condition, text });
        }
        match std::mem::take(&mut self.state) {
            State::ExpectAuth => self.on_pre_auth(el, None),
            State::ExpectResponse(mech) => self.on_pre_auth(el, Some(mech)),
            State::ExpectBind => self.on_pre_bind(el),
            State::AwaitCredentials(_)
            | State::AwaitTokens(_)
            | State::AwaitBind2(_)
            | State::AwaitResume
            | State::AwaitResume2(_)
            | State::AwaitTokenIssued(_)
            | State::AwaitPasswordCheck
            | State::AwaitBind(_)
            | State::ExpectRestart
            | State::AwaitTls => {
                // The client may not send anything here: it has to wait for
                // our answer (or, after <success/>, restart the stream).
                self.fail(StreamCondition::NotAuthorized, Some("unexpected element"))
            }
            State::ExpectHeader => self.fail(StreamCondition::NotWellFormed, None),
            State::Done => {}
        }
    }

    fn on_pre_auth(&mut self, el: Element, running: Option<Box<dyn ServerMechanism>>) {
        if el.is("starttls", ns::TLS) && running.is_none() {
            return self.on_starttls();
        }
        if el.ns() == sasl2::NS && self.sasl2_available() {
            return self.on_sasl2(el, running);
        }
        if running.is_some() && self.sasl2.is_some() {
            // An RFC 6120 element inside a SASL2 exchange.
            return self.fail(
                StreamCondition::PolicyViolation,
                Some("RFC 6120 SASL during a SASL2 exchange"),
            );
        }
        if el.is("enable", crate::sm::NS_SM) && running.is_none() {
            // XEP-0198 §3: not before authentication (nor binding).
            self.refuse_sm_enable();
            self.state = State::ExpectAuth;
            return;
        }
        if el.ns() != ns::SASL {
            let condition = if wire::is_stanza(&el) {
                StreamCondition::NotAuthorized
            } else {
                StreamCondition::UnsupportedStanzaType
            };
            return self.fail(condition, Some("authenticate first"));
        }
        match (el.name(), running) {
            // A new <auth/> discards a running exchange (RFC 6120 §6.4.2);
            // it counts as an attempt, so that restarting exchanges forever
            // is bounded like failing them.
            ("auth", Some(_)) => {
                self.sasl_failures += 1;
                if self.sasl_failures > self.config.sasl_retries {
                    return self.fail(
                        StreamCondition::PolicyViolation,
                        Some("too many authentication attempts"),
                    );
                }
                self.on_auth(&el)
            }
            ("auth", None) => self.on_auth(&el),
            ("response", Some(mut mech)) => match wire::decode_sasl_payload(&el) {
                Ok(data) => {
                    let step = mech.step(&data);
                    self.apply_step(mech, step);
                }
                Err(_) => self.sasl_failed(xmpp_sasl::Condition::IncorrectEncoding, None),
            },
            ("abort", _) => self.sasl_failed(xmpp_sasl::Condition::Aborted, None),
            ("response", None) => self.sasl_failed(
                xmpp_sasl::Condition::MalformedRequest,
                Some("no exchange is running"),
            ),
            _ => self.sasl_failed(xmpp_sasl::Condition::MalformedRequest, None),
        }
    }

    fn on_starttls(&mut self) {
        if self.secure || self.starttls() == TlsPolicy::Off {
            // RFC 6120 §5.4.2.2: <failure/>, then close the stream.
            self.send_element(Element::builder("failure", ns::TLS).build());
            self.send(Frame::Close);
            return self.finish(ServerError::StartTlsRefused);
        }
        self.send_element(Element::builder("proceed", ns::TLS).build());
        self.actions.push_back(ServerAction::StartTls);
        self.state = State::AwaitTls;
    }

    fn on_auth(&mut self, el: &Element) {
        self.sasl2 = None;
        let known =
            Mechanism::from_name(el.attr("mechanism").unwrap_or("")).filter(|m| !m.is_fast());
        self.mechanism = known;
        let name = match known {
            Some(m) if self.offers(m) => m,
            // A mechanism we have but keep for protected streams deserves the
            // precise answer (RFC 6120 §6.5.4).
            Some(m) if self.config.mechanisms.contains(&m) => {
                return self.sasl_failed(xmpp_sasl::Condition::EncryptionRequired, None)
            }
            _ => return self.sasl_failed(xmpp_sasl::Condition::InvalidMechanism, None),
        };
        let initial = match wire::decode_sasl_text(el) {
            Ok(d) => d,
            Err(_) => return self.sasl_failed(xmpp_sasl::Condition::IncorrectEncoding, None),
        };
        self.start_mechanism(name, initial.as_ref().map(|d| d.as_slice()));
    }

    /// Starts a password mechanism the client chose from our offer, in
    /// either profile.
    fn start_mechanism(&mut self, name: Mechanism, initial: Option<&[u8]>) {
        let config = self.config.clone();
        let Some(domain) = self.domain.as_deref().and_then(|d| config.domain(d)) else {
            return self.sasl_failed(xmpp_sasl::Condition::TemporaryAuthFailure, None);
        };
        let mut mech_config = ServerMechanismConfig {
            domain: domain.name.clone(),
            realm: domain.realm.clone(),
            service: "xmpp".to_owned(),
            rspauth_in_success: config.rspauth_in_success,
            authorizer: config.authorizer.clone(),
            channel_bindings: Vec::new(),
            plain_cache: config.plain_cache.clone(),
            decoys: config.decoys.clone(),
            ssdp: None,
        };
        // Non-empty only when -PLUS is offered: SCRAM then refuses a client
        // that claims we offered none (the `y` flag, RFC 5802 §6).
        let offered = self.offered();
        let advertised_types = offered.iter().any(|m| m.is_plus()).then(|| {
            mech_config.channel_bindings = self.plus_bindings();
            let bindings = &mech_config.channel_bindings;
            bindings
                .iter()
                .map(|cb| cb.kind.as_str().to_owned())
                .collect()
        });
        // XEP-0474: the lists this stream advertised (the same in both
        // profiles), for SCRAM's `h` (the other mechanisms have none).
        if crate::negotiation::uses_ssdp(name) {
            mech_config.ssdp = Some(xmpp_sasl::Ssdp::new(
                offered.iter().map(|m| m.as_str()),
                advertised_types,
            ));
        }
        let Some(mut mech) = xmpp_sasl::server_mechanism_from(name, mech_config) else {
            return self.sasl_failed(xmpp_sasl::Condition::InvalidMechanism, None);
        };
        let step = mech.start(initial);
        self.apply_step(mech, step);
    }

    fn apply_step(&mut self, mech: Box<dyn ServerMechanism>, step: ServerStep) {
        match step {
            ServerStep::Challenge(data) => {
                let challenge = match self.sasl2 {
                    Some(_) => sasl2::payload("challenge", &data),
                    None => wire::challenge(&data),
                };
                self.send_element(challenge);
                self.state = State::ExpectResponse(mech);
            }
            ServerStep::NeedCredentials { username } => {
                let domain = self.domain.clone().unwrap_or_default();
                self.actions
                    .push_back(ServerAction::LookupCredentials { domain, username });
                self.state = State::AwaitCredentials(mech);
            }
            ServerStep::Success {
                authcid,
                authzid,
                additional,
            } => self.on_success(
                mech.name(),
                &authcid,
                authzid.as_deref(),
                additional.as_deref(),
            ),
            ServerStep::Failure(err) => {
                let condition = err.condition();
                let text = err.text().map(str::to_owned);
                self.sasl_failed(condition, text.as_deref());
            }
        }
    }

    fn on_success(
        &mut self,
        mechanism: Mechanism,
        authcid: &str,
        authzid: Option<&str>,
        additional: Option<&[u8]>,
    ) {
        let domain = self.domain.clone().unwrap_or_default();
        // The authorized identity: the authzid when the mechanism accepted
        // one (a bare JID, or a localpart as ejabberd's clients send),
        // otherwise the authentication identity at this domain.
        let identity = match authzid {
            Some(z) if z.contains('@') => z.to_owned(),
            Some(z) => format!("{z}@{domain}"),
            None => format!("{authcid}@{domain}"),
        };
        let bare = match BareJid::new(&identity) {
            Ok(j) if j.node().is_some() => j,
            _ => return self.sasl_failed(xmpp_sasl::Condition::InvalidAuthzid, None),
        };
        if let Some(exchange) = self.sasl2.take() {
            return self.sasl2_succeeded(bare, mechanism, additional, *exchange);
        }
        self.send_element(crate::fixed::success(additional));
        self.actions.push_back(ServerAction::ResetDecoder);
        self.actions
            .push_back(ServerAction::SetLimits(self.config.limits.clone()));
        self.authenticated = Some(Authenticated {
            bare,
            mechanism,
            sasl2: false,
        });
        self.state = State::ExpectRestart;
    }

    fn sasl_failed(&mut self, condition: xmpp_sasl::Condition, text: Option<&str>) {
        let failure = match self.sasl2.take() {
            Some(_) => sasl2::failure(condition, text),
            None => wire::failure(condition, text),
        };
        self.send_element(failure);
        self.sasl_failures += 1;
        if self.config.close_after_sasl_failure {
            self.send(Frame::Close);
            return self.finish(ServerError::SaslFailed(condition));
        }
        if self.sasl_failures > self.config.sasl_retries {
            return self.fail(
                StreamCondition::PolicyViolation,
                Some("too many authentication attempts"),
            );
        }
        self.state = State::ExpectAuth;
    }
}
