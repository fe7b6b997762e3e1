//! The sans-IO client negotiation: decoded frames and the time in, actions
//! out.

use std::collections::VecDeque;
use std::time::Instant;

use jid::FullJid;
use xmpp_sasl::{ClientCredentials, ClientMechanism, Mechanism, MechanismName};
use xmpp_xml::{ns, Element, Frame, StreamHeader, XmlError};
use zeroize::Zeroizing;

mod binding;
mod sasl2;
mod sm;

pub use self::sm::SuspendedSession;

use super::config::{ChannelBindingPolicy, ClientConfig, Sasl2Mode, TlsMode};
use crate::condition::StanzaCondition;
use crate::error::ClientError;
use crate::negotiation::{version_at_least_1_0, ChannelBindings, StreamInfo};
use crate::sasl2::Sasl2Offer;
use crate::wire;

/// What the shell must do next.
#[non_exhaustive]
#[derive(Debug)]
pub enum ClientAction {
    /// Write this frame.
    Send(Frame),
    /// Reset the decoder for the server's new stream (after `<success/>`),
    /// keeping its buffer.
    ResetDecoder,
    /// The server sent `<proceed/>`: run the TLS handshake on the transport
    /// (taking over any bytes the decoder read ahead), reset the decoder and
    /// call [`ClientCore::handle_tls`].
    StartTls,
    /// Negotiation is complete. Boxed: the largest variant by far, it made
    /// every action (and each move of one through the queue) 368 bytes.
    Established(Box<StreamInfo>),
    /// Negotiation failed; everything to send has been sent.
    Fail(ClientError),
}

const BIND_ID: &str = "bind_1";
const SESSION_ID: &str = "sess_1";

#[derive(Default)]
enum State {
    /// Waiting for the server's header (first, or after the restart).
    ExpectHeader,
    /// Waiting for `<stream:features/>`.
    ExpectFeatures,
    /// We sent `<starttls/>`.
    ExpectProceed,
    /// The shell runs the TLS handshake.
    AwaitTls,
    /// A SASL exchange is running.
    Sasl(Box<dyn ClientMechanism>),
    /// We sent `<abort/>` and wait for `<failure><aborted/></failure>`.
    Aborting(ClientError),
    /// The bind IQ is out.
    ExpectBind { session_required: bool },
    /// The session IQ is out; the resource is bound to this JID.
    ExpectSession(FullJid),
    /// `<resume/>` is out instead of the bind IQ (XEP-0198 §5).
    ExpectResumed { session_required: bool },
    /// SASL2 succeeded (binding this JID inline, if Bind2 did); waiting
    /// for the features that follow, without a restart.
    ExpectSasl2Features(Option<FullJid>),
    /// Finished, one way or the other.
    #[default]
    Done,
}

/// One connection's client-side negotiation, without I/O: feed it decoded
/// frames, the end of input and the time; perform the actions it returns.
///
/// ```
/// use std::time::Instant;
/// use xmpp_stream::client::{ClientAction, ClientConfig, ClientCore};
/// use xmpp_stream::ClientError;
/// use xmpp_xml::Frame;
///
/// let config = ClientConfig::new("juliet@example.com", "r0m30myr0m30")?;
/// let mut core = ClientCore::new(config, Instant::now());
/// // The first action opens the stream; then it waits for the server.
/// assert!(matches!(core.poll_action(), Some(ClientAction::Send(Frame::Header(_)))));
/// assert!(core.poll_action().is_none());
/// // The server stays silent until the deadline.
/// let deadline = core.poll_timeout().expect("still running");
/// core.handle_timeout(deadline);
/// assert!(matches!(core.poll_action(), Some(ClientAction::Send(Frame::Close))));
/// assert!(matches!(core.poll_action(), Some(ClientAction::Fail(ClientError::Timeout))));
/// # Ok::<(), xmpp_stream::client::InvalidJid>(())
/// ```
pub struct ClientCore {
    config: ClientConfig,
    state: State,
    actions: VecDeque<ClientAction>,
    deadline: Instant,
    authenticated: bool,
    header: Option<StreamHeader>,
    offered: Vec<MechanismName>,
    tried: Vec<Mechanism>,
    mechanism: Option<Mechanism>,
    /// A `<failure/>` we answered by trying another mechanism; reported if
    /// the server closes the stream instead (RFC 3920 servers do).
    pending_failure: Option<ClientError>,
    secure: bool,
    channel_bindings: Option<ChannelBindings>,
    /// The channel-binding types the server advertised (XEP-0440), if it
    /// did.
    server_cb_types: Option<Vec<String>>,
    /// The SASL2 offer, when we authenticate with SASL2.
    sasl2: Option<Sasl2Offer>,
    /// We tried our FAST token.
    token_tried: bool,
    /// The server refused our FAST token.
    token_refused: bool,
    /// The token mechanism we asked a token for.
    token_requested: Option<Mechanism>,
    /// The token the server issued.
    token_issued: Option<xmpp_sasl::FastToken>,
    /// Bind2 bound the resource.
    bound_inline: bool,
    /// Stream management: enabling or enabled (XEP-0198).
    sm: Option<crate::sm::ClientSm>,
    /// The features with `<bind/>` offer stream management.
    sm_offered: bool,
    /// The stream resumed a session instead of binding.
    resumed: bool,
    /// A session we are resuming: its state and full JID.
    resuming: Option<(crate::sm::ClientSm, FullJid)>,
    /// What a session that could not be resumed never had acknowledged.
    sm_lost: Vec<Element>,
}

impl ClientCore {
    /// A negotiation that starts `now`: the first action sends our header.
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let deadline = now + config.timeout;
        let secure = config.security.is_tls();
        let mut core = ClientCore {
            config,
            state: State::ExpectHeader,
            // A few actions at a time: room for them from the start.
            actions: VecDeque::with_capacity(4),
            deadline,
            authenticated: false,
            header: None,
            offered: Vec::new(),
            tried: Vec::new(),
            mechanism: None,
            pending_failure: None,
            secure,
            channel_bindings: None,
            server_cb_types: None,
            sasl2: None,
            token_tried: false,
            token_refused: false,
            token_requested: None,
            token_issued: None,
            bound_inline: false,
            sm: None,
            sm_offered: false,
            resumed: false,
            resuming: None,
            sm_lost: Vec::new(),
        };
        core.send_header();
        core
    }

    /// The next action for the shell.
    pub fn poll_action(&mut self) -> Option<ClientAction> {
        self.actions.pop_front()
    }

    /// When [`ClientCore::handle_timeout`] must be called, if still running.
    pub fn poll_timeout(&self) -> Option<Instant> {
        (!matches!(self.state, State::Done)).then_some(self.deadline)
    }

    /// How long to wait for the server's close after we closed.
    pub fn close_timeout(&self) -> std::time::Duration {
        self.config.close_timeout
    }

    /// The SASL mechanism in use, for observers.
    pub fn mechanism(&self) -> Option<Mechanism> {
        self.mechanism
    }

    /// The result of [`ClientAction::StartTls`].
    pub fn handle_tls(&mut self, result: std::io::Result<ChannelBindings>) {
        if !matches!(self.state, State::AwaitTls) {
            return;
        }
        match result {
            Ok(cb) => {
                self.secure = true;
                self.channel_bindings = Some(cb);
                // A new stream over TLS (RFC 6120 §5.4.3.3).
                self.send_header();
            }
            Err(e) => self.finish(ClientError::Tls(e.to_string())),
        }
    }

    /// Marks the transport as protected from the start (direct TLS).
    pub fn set_secure(&mut self, cb: ChannelBindings) {
        self.secure = true;
        self.channel_bindings = Some(cb);
    }

    /// The clock passed the deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.deadline && !matches!(self.state, State::Done) {
            self.send(Frame::Close);
            self.finish(ClientError::Timeout);
        }
    }

    /// The server closed the connection without closing the stream.
    pub fn handle_eof(&mut self) {
        if !matches!(self.state, State::Done) {
            let err = self.ending_reason(ClientError::Closed);
            self.finish(err);
        }
    }

    /// Why we stop when the server ends the stream with `otherwise`: the
    /// reason we were aborting for (Prosody 13 answers a SASL2 `<abort/>`
    /// with a stream error), or a failure we were working around.
    fn ending_reason(&mut self, otherwise: ClientError) -> ClientError {
        match std::mem::take(&mut self.state) {
            State::Aborting(reason) => reason,
            _ => self.pending_failure.take().unwrap_or(otherwise),
        }
    }

    /// The decoder produced a frame or an error.
    pub fn handle_frame(&mut self, frame: Result<Frame, XmlError>) {
        if matches!(self.state, State::Done) {
            return;
        }
        match frame {
            Ok(Frame::Header(h)) => self.on_header(h),
            Ok(Frame::Element(el)) => self.on_element(el),
            Ok(Frame::Close) => {
                self.send(Frame::Close);
                let err = self.ending_reason(ClientError::Closed);
                self.finish(err);
            }
            Ok(_) => self.protocol("unexpected frame"),
            Err(e) => {
                if e.condition().is_some() {
                    // Tell the server why we give up, as RFC 6120 §4.9 asks.
                    if let Some(c) = e.condition() {
                        let condition = c.into();
                        self.send(Frame::Element(wire::stream_error(condition, None)));
                    }
                    self.send(Frame::Close);
                }
                self.finish(ClientError::Xml(e));
            }
        }
    }

    fn send(&mut self, frame: Frame) {
        self.actions.push_back(ClientAction::Send(frame));
    }

    fn finish(&mut self, err: ClientError) {
        self.state = State::Done;
        self.actions.push_back(ClientAction::Fail(err));
    }

    fn protocol(&mut self, what: &str) {
        self.send(Frame::Close);
        self.finish(ClientError::Protocol(what.to_owned()));
    }

    fn send_header(&mut self) {
        // `StreamHeader::client` with our language.
        let mut header = StreamHeader {
            stream_ns: ns::STREAM.into(),
            name: "stream".into(),
            default_ns: Some(ns::CLIENT.into()),
            to: Some(self.config.domain.clone().into()),
            from: None,
            id: None,
            version: Some("1.0".into()),
            lang: Some(xmpp_xml::header_value(&self.config.lang)),
        };
        // Our bare JID as `from` (RFC 6120 §4.7.1) once TLS hides it, or when
        // SASL2 is required: servers may offer SASL2 (and FAST, which binds
        // tokens to it) only to a stream that says who it is (ejabberd).
        if self.secure || self.config.sasl2 == Sasl2Mode::Required {
            header.from = Some(format!("{}@{}", self.config.username, self.config.domain).into());
        }
        self.send(Frame::Header(header));
        self.state = State::ExpectHeader;
    }

    fn on_header(&mut self, h: StreamHeader) {
        if !matches!(self.state, State::ExpectHeader) {
            return self.protocol("unexpected stream header");
        }
        if h.stream_ns != ns::STREAM || h.name != "stream" {
            self.send(Frame::Close);
            return self.finish(ClientError::Protocol(format!(
                "stream root is {{{}}}{}, not a stream",
                h.stream_ns, h.name
            )));
        }
        if h.default_ns.as_deref() != Some(ns::CLIENT) {
            return self.protocol("the server's stream is not jabber:client");
        }
        if !version_at_least_1_0(h.version.as_deref()) {
            // A pre-1.0 server sends no features; we do not support it, and
            // close cleanly (RFC 6120 §4.7.5).
            self.send(Frame::Close);
            return self.finish(ClientError::UnsupportedVersion(h.version.map(String::from)));
        }
        if h.id.is_none() {
            return self.protocol("the server's stream header has no id");
        }
        self.header = Some(h);
        self.state = State::ExpectFeatures;
    }

    fn on_element(&mut self, el: Element) {
        if wire::is_stream_error(&el) {
            let (condition, text) = wire::read_stream_error(&el);
            self.send(Frame::Close);
            let err = match self.state {
                State::Aborting(_) => self.ending_reason(ClientError::Closed),
                _ => ClientError::Stream { condition, text },
            };
            return self.finish(err);
        }
        match std::mem::take(&mut self.state) {
            State::ExpectFeatures if el.is("features", ns::STREAM) => self.on_features(&el),
            State::ExpectProceed if el.is("proceed", ns::TLS) => {
                self.actions.push_back(ClientAction::StartTls);
                self.state = State::AwaitTls;
            }
            State::ExpectProceed if el.is("failure", ns::TLS) => {
                // The server closes the stream after this (RFC 6120 §5.4.2.2).
                self.finish(ClientError::Tls("the server refused STARTTLS".to_owned()));
            }
            State::Sasl(mech) if el.ns() == ns::SASL && self.sasl2.is_none() => {
                self.on_sasl(el, mech)
            }
            State::Sasl(mech) if el.ns() == crate::sasl2::NS_SASL2 && self.sasl2.is_some() => {
                self.on_sasl2(el, mech)
            }
            State::ExpectSasl2Features(jid) => self.on_sasl2_features(&el, jid),
            State::Aborting(reason)
                if el.is("failure", ns::SASL) || el.is("failure", crate::sasl2::NS_SASL2) =>
            {
                // The server acknowledged our <abort/>; report why we aborted.
                self.send(Frame::Close);
                self.finish(reason);
            }
            State::ExpectBind { session_required } if el.is("iq", ns::CLIENT) => {
                self.on_bind_result(&el, session_required)
            }
            State::ExpectSession(jid) if el.is("iq", ns::CLIENT) => {
                self.on_session_result(&el, jid)
            }
            State::ExpectResumed { session_required } if el.ns() == ns::SM => {
                self.on_resume_answer(&el, session_required)
            }
            _ => self.protocol(&format!("unexpected <{}/> from the server", el.name())),
        }
    }

    fn on_features(&mut self, features: &Element) {
        if !self.secure {
            let offered = features.child("starttls", ns::TLS);
            match (self.config.tls, offered) {
                (TlsMode::Required | TlsMode::Opportunistic, Some(_)) => {
                    let starttls = Element::builder("starttls", ns::TLS).build();
                    self.send(Frame::Element(starttls));
                    self.state = State::ExpectProceed;
                    return;
                }
                (TlsMode::Required, None) => {
                    self.send(Frame::Close);
                    return self.finish(ClientError::Tls(
                        "the server does not offer STARTTLS and our policy requires TLS".to_owned(),
                    ));
                }
                (TlsMode::Off, Some(tls)) if tls.child("required", ns::TLS).is_some() => {
                    self.send(Frame::Close);
                    return self.finish(ClientError::Tls(
                        "the server requires TLS and our policy forbids it".to_owned(),
                    ));
                }
                _ => {}
            }
        }
        if !self.authenticated {
            self.server_cb_types = wire::read_channel_binding_types(features);
            let sasl2 = features
                .child("authentication", crate::sasl2::NS_SASL2)
                .map(crate::sasl2::read_authentication)
                .filter(|offer| !offer.mechanisms.is_empty());
            match (self.config.sasl2, sasl2) {
                (Sasl2Mode::Auto | Sasl2Mode::Required, Some(offer)) => {
                    self.offered = offer.mechanisms.clone();
                    self.sasl2 = Some(offer);
                    if self.start_fast() {
                        return;
                    }
                    return self.start_next_mechanism();
                }
                (Sasl2Mode::Required, None) => {
                    self.send(Frame::Close);
                    return self.finish(ClientError::Sasl2(
                        "the server does not offer SASL2 and our policy requires it".to_owned(),
                    ));
                }
                _ => {}
            }
            let Some(mechs) = features.child("mechanisms", ns::SASL) else {
                return self.protocol("the server offers no SASL mechanisms");
            };
            self.offered = wire::read_mechanisms(mechs);
            return self.start_next_mechanism();
        }
        if features.child("mechanisms", ns::SASL).is_some() {
            return self.protocol("SASL offered again after authentication");
        }
        self.bind_from_features(features);
    }

    /// Picks the preferred acceptable mechanism not tried yet, under our
    /// channel-binding policy, and sends `<auth/>` (or SASL2's
    /// `<authenticate/>`).
    fn start_next_mechanism(&mut self) {
        if self.config.password.is_empty() {
            let why = match (&self.config.fast_token, self.token_tried) {
                (None, _) => "no FAST token either".to_owned(),
                (Some(_), true) => "the server refused the FAST token".to_owned(),
                (Some(t), false) if self.sasl2.is_none() => format!(
                    "the FAST token ({}) needs SASL2, which is not in use",
                    t.mechanism
                ),
                (Some(t), false) => format!(
                    "the FAST token's mechanism {} is not offered or not usable on this connection",
                    t.mechanism
                ),
            };
            let err = self
                .pending_failure
                .take()
                .unwrap_or(ClientError::NoPassword(why));
            self.send(Frame::Close);
            return self.finish(err);
        }
        let mut exclude = self.tried.clone();
        exclude.extend(Mechanism::FAST);
        let binding = self.usable_binding();
        let plus = Mechanism::ALL.into_iter().filter(|m| m.is_plus());
        let password = Mechanism::ALL.into_iter().filter(|m| !m.is_plus());
        // Going on without binding although we could bind and the server
        // offers -PLUS (without a type we share, or it refused our try):
        // only SCRAM with a verified XEP-0474 hash shows the offer genuine.
        let needs_ssdp =
            match self.config.channel_binding {
                ChannelBindingPolicy::Off => {
                    exclude.extend(plus);
                    false
                }
                ChannelBindingPolicy::Required => {
                    if binding.is_none() {
                        let why = self.why_no_binding();
                        self.send(Frame::Close);
                        return self.finish(ClientError::ChannelBinding(why));
                    }
                    exclude.extend(password);
                    false
                }
                ChannelBindingPolicy::Preferred => {
                    let could_bind = self.can_bind();
                    let server_offers_plus = self.offered.iter().any(MechanismName::is_plus);
                    if binding.is_none() {
                        exclude.extend(plus);
                    }
                    let downgraded = could_bind && server_offers_plus && binding.is_none();
                    if downgraded {
                        exclude.extend(password.filter(|m| {
                            !matches!(m, Mechanism::ScramSha1 | Mechanism::ScramSha256)
                        }));
                    }
                    downgraded
                }
            };
        let choice = self
            .config
            .selector
            .select(&self.offered, self.secure, &exclude);
        let Some(name) = choice else {
            let err = match self.pending_failure.take() {
                Some(e) => e,
                None if needs_ssdp => ClientError::ChannelBinding(format!(
                    "the server offers -PLUS but {}; without binding only SCRAM with \
                     XEP-0474 could prove the offer genuine, and none is acceptable",
                    self.why_no_binding()
                )),
                None => ClientError::NoMechanism {
                    offered: self.offered.clone(),
                },
            };
            self.send(Frame::Close);
            return self.finish(err);
        };
        self.tried.push(name);
        self.mechanism = Some(name);
        let mut creds = ClientCredentials::new(
            self.config.username.clone(),
            self.config.password.to_string(),
            self.config.domain.clone(),
        );
        creds.authzid = self.config.authzid.clone();
        creds.channel_binding = self.channel_binding_for(name);
        creds.pbkdf2_cache = self.config.pbkdf2_cache.clone();
        // XEP-0474: what we saw, for SCRAM to check against the server's hash
        // (the other mechanisms have none).
        if crate::negotiation::uses_ssdp(name) {
            let names = self.offered.iter().map(|m| m.as_str().to_owned());
            creds.ssdp = Some(xmpp_sasl::Ssdp::new(names, self.server_cb_types.clone()));
        }
        creds.require_ssdp = needs_ssdp;
        let Some(mut mech) = xmpp_sasl::client_mechanism(name, creds) else {
            self.send(Frame::Close);
            return self.finish(ClientError::NoMechanism {
                offered: self.offered.clone(),
            });
        };
        // Wiped once sent: PLAIN's carries the password.
        match mech.initial_response().map(|r| r.map(Zeroizing::new)) {
            Ok(initial) => {
                let initial = initial.as_ref().map(|d| d.as_slice());
                let auth = match self.sasl2 {
                    Some(_) => self.authenticate(name, initial, false),
                    None => crate::fixed::auth(name, initial),
                };
                self.send(Frame::Element(auth));
                self.state = State::Sasl(mech);
            }
            Err(source) => {
                self.send(Frame::Close);
                self.finish(ClientError::Mechanism {
                    mechanism: name,
                    source,
                });
            }
        }
    }

    fn on_sasl(&mut self, el: Element, mech: Box<dyn ClientMechanism>) {
        match el.name() {
            "challenge" => self.on_challenge(&el, mech, crate::fixed::response),
            "success" => {
                let Ok(additional) = wire::decode_sasl_text(&el) else {
                    self.send(Frame::Close);
                    return self.finish(ClientError::Protocol(
                        "success data is not valid base64".to_owned(),
                    ));
                };
                if !self.verify_success(mech, additional.as_ref().map(|d| d.as_slice())) {
                    return;
                }
                self.actions.push_back(ClientAction::ResetDecoder);
                self.send_header();
            }
            "failure" => {
                let (condition, text) = wire::read_failure(&el);
                self.on_failure(mech.name(), condition, text);
            }
            other => {
                let what = format!("unexpected <{other}/> during SASL");
                self.protocol(&what)
            }
        }
    }

    /// A `<challenge/>` of either profile, answered with `response`.
    fn on_challenge(
        &mut self,
        el: &Element,
        mut mech: Box<dyn ClientMechanism>,
        response: fn(&[u8]) -> Element,
    ) {
        let Ok(challenge) = wire::decode_sasl_payload(el) else {
            return self.abort(ClientError::Protocol(
                "challenge is not valid base64".to_owned(),
            ));
        };
        match mech.respond(&challenge).map(Zeroizing::new) {
            Ok(data) => {
                self.pending_failure = None;
                self.send(Frame::Element(response(&data)));
                self.state = State::Sasl(mech);
            }
            Err(source) => self.abort(ClientError::Mechanism {
                mechanism: mech.name(),
                source,
            }),
        }
    }

    /// The mechanism checks the server's proof in a success of either
    /// profile. `false` when it fails: mutual authentication failed, and
    /// the stream is closed, not used (protocol notes §2.5).
    fn verify_success(
        &mut self,
        mut mech: Box<dyn ClientMechanism>,
        additional: Option<&[u8]>,
    ) -> bool {
        if let Err(source) = mech.success(additional) {
            self.send(Frame::Close);
            self.finish(ClientError::Mechanism {
                mechanism: mech.name(),
                source,
            });
            return false;
        }
        self.authenticated = true;
        self.pending_failure = None;
        true
    }

    /// A `<failure/>` of either profile: the next mechanism where another
    /// may succeed, else the end. A failed `-PLUS` attempt is never retried
    /// without binding: whoever sits in the middle can forge the failure,
    /// and no hash over the offer (XEP-0474) would show it.
    fn on_failure(
        &mut self,
        mechanism: Mechanism,
        condition: xmpp_sasl::Condition,
        text: Option<String>,
    ) {
        let err = ClientError::Sasl {
            mechanism,
            condition,
            text,
        };
        if self.config.fallback && worth_another_mechanism(condition) && !mechanism.is_plus() {
            self.pending_failure = Some(err);
            self.start_next_mechanism();
        } else {
            self.send(Frame::Close);
            self.finish(err);
        }
    }

    fn abort(&mut self, reason: ClientError) {
        let abort = match self.sasl2 {
            Some(_) => crate::sasl2::el("abort").build(),
            None => wire::abort(),
        };
        self.send(Frame::Element(abort));
        self.state = State::Aborting(reason);
    }

    /// Resource binding per RFC 6120 on features that offer it.
    fn bind_from_features(&mut self, features: &Element) {
        if features.child("bind", ns::BIND).is_none() {
            return self.protocol("the server offers no resource binding");
        }
        // Only a session feature without <optional/> must be negotiated.
        let session_required = features
            .child("session", ns::SESSION)
            .is_some_and(|s| s.child("optional", ns::SESSION).is_none());
        self.sm_offered = crate::sm::offered(features);
        if self.resume_instead_of_bind(session_required) {
            return;
        }
        self.send_bind(session_required);
    }

    /// The RFC 6120 bind IQ.
    fn send_bind(&mut self, session_required: bool) {
        let bind = wire::bind_request(BIND_ID, self.config.resource.as_deref());
        self.send(Frame::Element(bind));
        self.state = State::ExpectBind { session_required };
    }

    fn on_bind_result(&mut self, iq: &Element, session_required: bool) {
        if iq.attr("id") != Some(BIND_ID) {
            return self.protocol("unexpected IQ before binding finished");
        }
        match iq.attr("type") {
            Some("result") => {
                let jid = iq
                    .child("bind", ns::BIND)
                    .and_then(|b| b.child("jid", ns::BIND))
                    .map(|j| j.text());
                let Some(jid) = jid.and_then(|j| FullJid::new(j.trim()).ok()) else {
                    return self.protocol("bind result without a valid full JID");
                };
                if session_required {
                    let session = wire::session_request(SESSION_ID, &self.config.domain);
                    self.send(Frame::Element(session));
                    self.state = State::ExpectSession(jid);
                } else {
                    self.bound(jid);
                }
            }
            Some("error") => {
                let condition =
                    wire::read_stanza_error(iq).unwrap_or(StanzaCondition::UndefinedCondition);
                self.send(Frame::Close);
                self.finish(ClientError::Bind(condition));
            }
            _ => self.protocol("bind answer is neither result nor error"),
        }
    }

    fn on_session_result(&mut self, iq: &Element, jid: FullJid) {
        if iq.attr("id") != Some(SESSION_ID) {
            return self.protocol("unexpected IQ before the session was established");
        }
        match iq.attr("type") {
            Some("result") => self.bound(jid),
            Some("error") => {
                let condition =
                    wire::read_stanza_error(iq).unwrap_or(StanzaCondition::UndefinedCondition);
                self.send(Frame::Close);
                self.finish(ClientError::Session(condition));
            }
            _ => self.protocol("session answer is neither result nor error"),
        }
    }

    fn established(&mut self, jid: FullJid) {
        let Some(mechanism) = self.mechanism else {
            return self.finish(ClientError::Internal("bound without authentication"));
        };
        self.state = State::Done;
        // The negotiation is over: the header is handed over, not copied.
        let header = self.header.take().unwrap_or_default();
        let negotiated = StreamInfo {
            jid,
            stream_id: header.id.clone().map(String::from).unwrap_or_default(),
            peer_header: header,
            mechanism,
            domain: self.config.domain.clone(),
            sasl2: self.sasl2.is_some(),
            bound_inline: self.bound_inline,
            fast_token: self.token_issued.take(),
            fast_token_refused: self.token_refused,
            stream_management: self
                .sm
                .as_ref()
                .is_some_and(|sm| sm.state() == crate::sm::State::Active),
            resumed: self.resumed,
            sm_lost: std::mem::take(&mut self.sm_lost),
        };
        self.actions
            .push_back(ClientAction::Established(Box::new(negotiated)));
    }
}

/// Whether another mechanism may succeed where one failed with
/// `condition`: only when the failure was about the mechanism itself. A
/// wrong password fails them all (and burns the server's retries), and
/// after a `-PLUS` failure, retrying without channel binding would hand an
/// attacker in the middle the downgrade that binding exists to stop.
fn worth_another_mechanism(condition: xmpp_sasl::Condition) -> bool {
    use xmpp_sasl::Condition as C;
    matches!(
        condition,
        C::InvalidMechanism
            | C::MechanismTooWeak
            | C::EncryptionRequired
            | C::MalformedRequest
            | C::IncorrectEncoding
    )
}
