//! A client core and a server core negotiating in memory with a fake clock
//! (quinn-proto's `Pair` idea). Frames cross as bytes through each side's
//! own `StreamCodec`, so decoder resets, limits and pipelined input behave
//! as they do over a socket; there is no tokio, no TLS and no store.
//!
//! The driver plays both shells: it answers credential lookups and binds
//! from closures, hands synthetic channel bindings to both sides when they
//! ask for TLS, answers the session IQ after binding as `XmppStream` does,
//! and `<enable/>` (stream management) as it does too, keeping the client's
//! and the server's stream management sessions for the tests to inspect,
//! and turns a side's failure into end of input for the other. Hooks can
//! rewrite or drop frames in either direction, inject raw bytes, hold a
//! lookup unanswered, and deliver bytes in small chunks.
//!
//! It uses only the crate's public API, so a benchmark or a fuzzer can
//! include this file as it is (`#[path = "…/tests/pair/mod.rs"] mod pair;`).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio_util::codec::{Decoder as _, Encoder as _};
use xmpp_sasl::{MemoryStore, StoreError, StoredCredentials, TokenStore as _};
use xmpp_stream::client::{ClientAction, ClientConfig, ClientCore, TlsMode};
use xmpp_stream::jid::{BareJid, FullJid, ResourcePart};
use xmpp_stream::server::{PasswordCheck, ServerAction, ServerConfig, ServerCore, TokenUpdate};
use xmpp_stream::sm::{ClientSm, Failed, ServerOptions, ServerSm, SmElement};
use xmpp_stream::{
    ChannelBindings, ClientError, Security, ServerError, StanzaCondition, StreamInfo,
};
use xmpp_xml::{ns, Element, Frame, Limits, StreamCodec, XmlError};

pub const DOMAIN: &str = "example.com";
pub const USER: &str = "juliet";
pub const PASSWORD: &str = "r0m30myr0m30";

/// A store with juliet's account for `example.com`.
pub fn store() -> Arc<MemoryStore> {
    let store = MemoryStore::default();
    store.add(USER, PASSWORD, &[DOMAIN]).unwrap();
    Arc::new(store)
}

/// The crate's defaults, with PLAIN allowed on cleartext streams so that
/// every mechanism can run without TLS.
pub fn server_config(store: Arc<MemoryStore>) -> ServerConfig {
    let mut config = ServerConfig::new(DOMAIN, store);
    config.allow_plain_insecure = true;
    config
}

/// juliet's client preferring exactly `mechanisms`, without STARTTLS, with
/// RFC 6120 SASL (the SASL2 tests turn SASL2 on).
pub fn client_config(mechanisms: &[&str]) -> ClientConfig {
    let selector = xmpp_sasl::MechanismSelector::with_preference(mechanisms.iter().map(|m| {
        m.parse::<xmpp_sasl::Mechanism>()
            .expect("a known mechanism")
    }))
    .allow_plain_insecure(true);
    let mut config = ClientConfig::new("juliet@example.com", PASSWORD)
        .expect("a valid JID")
        .with_selector(selector)
        .with_tls(TlsMode::Off);
    config.sasl2 = xmpp_stream::client::Sasl2Mode::Off;
    config
}

/// The default client for juliet, RFC 6120 SASL only.
pub fn rfc6120_client() -> ClientConfig {
    let mut config = ClientConfig::new("juliet@example.com", PASSWORD).expect("a valid JID");
    config.sasl2 = xmpp_stream::client::Sasl2Mode::Off;
    config
}

/// Rewrites (or, with `None`, drops) a frame on its way to the peer.
pub type Filter = Box<dyn FnMut(Frame) -> Option<Frame>>;

/// Answers a credential lookup: (domain, username) to the store's answer.
pub type Lookup = Box<dyn FnMut(&str, &str) -> Result<Option<StoredCredentials>, StoreError>>;

/// Binds a resource for a bare JID (`None`: generate one).
pub type Bind = Box<dyn FnMut(&BareJid, Option<ResourcePart>) -> Result<FullJid, StanzaCondition>>;

/// One direction's bytes and the receiving side's decoder.
struct End {
    /// Encodes what this side sends and decodes what it receives, like the
    /// shells' one codec per connection.
    codec: StreamCodec,
    /// Bytes sent to this side and not yet handed to its decoder.
    inbox: BytesMut,
    /// Bytes handed to the decoder and not consumed yet.
    buf: BytesMut,
    /// The decoder failed: it yields nothing more.
    poisoned: bool,
    /// This side dropped the connection.
    closed: bool,
    /// This side saw the end of input.
    eof_seen: bool,
    /// This side asked for the TLS handshake.
    tls: bool,
}

impl End {
    fn new() -> Self {
        End {
            codec: StreamCodec::new(Limits::default()),
            inbox: BytesMut::new(),
            buf: BytesMut::new(),
            poisoned: false,
            closed: false,
            eof_seen: false,
            tls: false,
        }
    }

    /// The next frame the decoder produces, handing it `chunk` bytes at a
    /// time; `None` when the bytes sent so far hold no complete frame.
    fn next_frame(&mut self, chunk: Option<usize>) -> Option<Result<Frame, XmlError>> {
        if self.poisoned {
            return None;
        }
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => return Some(Ok(frame)),
                Err(e) => {
                    self.poisoned = true;
                    return Some(Err(e));
                }
                Ok(None) if self.inbox.is_empty() => return None,
                Ok(None) => {
                    let n = chunk.unwrap_or(usize::MAX).clamp(1, self.inbox.len());
                    let more = self.inbox.split_to(n);
                    self.buf.extend_from_slice(&more);
                }
            }
        }
    }

    /// Whether bytes sent to this side are still waiting.
    fn pending(&self) -> bool {
        !self.poisoned && (!self.inbox.is_empty() || !self.buf.is_empty())
    }
}

fn encode(codec: &mut StreamCodec, frame: Frame, to: &mut BytesMut) {
    codec
        .encode(frame, to)
        .expect("the cores build encodable frames");
}

/// Whether `el` is a legacy session request (RFC 3921 §3).
fn is_session_request(el: &Element) -> bool {
    el.is("iq", ns::CLIENT)
        && el.attr("type") == Some("set")
        && el.child("session", ns::SESSION).is_some()
}

/// A client core and a server core connected in memory.
pub struct Pair {
    pub client: ClientCore,
    pub server: ServerCore,
    /// When both cores were created.
    pub start: Instant,
    /// The fake clock; only [`Pair::advance`] moves it.
    pub now: Instant,
    /// Frames each core asked to send, before any filter.
    pub client_sent: Vec<Frame>,
    pub server_sent: Vec<Frame>,
    /// Frames each side's decoder produced.
    pub client_received: Vec<Frame>,
    pub server_received: Vec<Frame>,
    /// Each core's `Established` or `Fail`.
    pub client_outcome: Option<Result<StreamInfo, ClientError>>,
    pub server_outcome: Option<Result<StreamInfo, ServerError>>,
    /// Answers `LookupCredentials { domain, username }`.
    pub lookup: Lookup,
    /// Leave credential lookups unanswered until [`Pair::answer_lookup`].
    pub hold_lookups: bool,
    held_lookup: Option<(String, String)>,
    /// Password checks (PLAIN) the shell refuses, as when too many are in
    /// flight, before it runs them again.
    pub refuse_password_checks: usize,
    /// The password checks (PLAIN) that were run or refused.
    pub password_checks: usize,
    /// Leave a password check unrun until [`Pair::finish_password_check`].
    pub hold_password_checks: bool,
    held_check: Option<PasswordCheck>,
    /// Answers `Bind { bare, resource }`; by default binds the requested
    /// resource, or `generated` when none was requested.
    pub bind: Bind,
    /// The established server session's answer to a session IQ.
    pub session_reply: Box<dyn FnMut(&Element) -> Element>,
    /// What the established server session enables stream management with
    /// (`ServerConfig::stream_management` without resumption, as
    /// `server::accept` does); `None`: it is not offered.
    pub sm_offer: Option<ServerOptions>,
    /// The client's stream management session, once established with it.
    pub client_sm: Option<ClientSm>,
    /// The server's, enabled inline (Bind2) or by `<enable/>` afterwards.
    pub server_sm: Option<ServerSm>,
    /// Rewrites frames from the client to the server.
    pub to_server: Option<Filter>,
    /// Rewrites frames from the server to the client.
    pub to_client: Option<Filter>,
    /// What the TLS handshake gives each side (client, server) once both
    /// asked for it, or how it fails.
    pub tls: Result<(ChannelBindings, ChannelBindings), std::io::ErrorKind>,
    /// Hand each decoder this many bytes at a time (all at once if `None`).
    pub chunk: Option<usize>,
    /// The FAST token store behind `LookupTokens` and `UpdateTokens` (none:
    /// no tokens, and issuing fails).
    pub tokens: Option<Arc<xmpp_sasl::MemoryTokenStore>>,
    /// The wall-clock time the server checks token expiry against.
    pub wall_clock: std::time::SystemTime,
    /// The token updates the server asked for, by kind (`issue`, `used`,
    /// `invalidate`).
    pub token_updates: Vec<&'static str>,
    c: End,
    s: End,
}

impl Pair {
    /// The two cores over a cleartext transport, created now; nothing has
    /// run yet (see [`Pair::run`]).
    pub fn new(client: ClientConfig, server: ServerConfig, store: Arc<MemoryStore>) -> Self {
        let start = Instant::now();
        let client = ClientCore::new(client, start);
        let sm_offer = server.stream_management.clone();
        let server = ServerCore::new(Arc::new(server), Security::Cleartext, start);
        let mut pair = Self::from_cores(client, server, store, start);
        pair.set_sm_offer(sm_offer);
        pair
    }

    /// The two cores as if over direct TLS, where each side's TLS layer
    /// produced these channel bindings (they differ when someone sits in
    /// the middle).
    pub fn over_tls(
        client: ClientConfig,
        server: ServerConfig,
        store: Arc<MemoryStore>,
        client_cb: ChannelBindings,
        server_cb: ChannelBindings,
    ) -> Self {
        let start = Instant::now();
        let mut client = ClientCore::new(client, start);
        client.set_secure(client_cb);
        let sm_offer = server.stream_management.clone();
        let mut server = ServerCore::new(Arc::new(server), Security::Tls, start);
        server.set_channel_bindings(server_cb);
        let mut pair = Self::from_cores(client, server, store, start);
        pair.set_sm_offer(sm_offer);
        pair
    }

    /// A pair from cores made elsewhere, started at `start`.
    pub fn from_cores(
        client: ClientCore,
        server: ServerCore,
        store: Arc<MemoryStore>,
        start: Instant,
    ) -> Self {
        Pair {
            client,
            server,
            start,
            now: start,
            client_sent: Vec::new(),
            server_sent: Vec::new(),
            client_received: Vec::new(),
            server_received: Vec::new(),
            client_outcome: None,
            server_outcome: None,
            lookup: Box::new(move |_domain, username| Ok(store.get(username))),
            hold_lookups: false,
            held_lookup: None,
            refuse_password_checks: 0,
            password_checks: 0,
            hold_password_checks: false,
            held_check: None,
            bind: Box::new(|bare, resource| {
                let resource = resource
                    .unwrap_or_else(|| ResourcePart::new("generated").unwrap().into_owned());
                Ok(bare.with_resource(&resource))
            }),
            session_reply: Box::new(xmpp_stream::iq_result),
            sm_offer: Some(ServerOptions {
                resumption: None,
                ..ServerOptions::default()
            }),
            client_sm: None,
            server_sm: None,
            tokens: None,
            wall_clock: std::time::SystemTime::now(),
            token_updates: Vec::new(),
            to_server: None,
            to_client: None,
            tls: Ok((ChannelBindings::default(), ChannelBindings::default())),
            chunk: None,
            c: End::new(),
            s: End::new(),
        }
    }

    /// The established server answers `<enable/>` with these options (their
    /// resumption turned off, as the server does for now).
    pub fn set_sm_offer(&mut self, offer: Option<ServerOptions>) {
        self.sm_offer = offer.map(|o| ServerOptions {
            resumption: None,
            location: None,
            ..o
        });
    }

    /// Runs both sides until neither can make progress: every action
    /// performed, every complete frame delivered.
    pub fn run(&mut self) {
        loop {
            let progress = self.client_actions()
                | self.server_actions()
                | self.handshake()
                | self.deliver_to_server()
                | self.deliver_to_client();
            if !progress {
                return;
            }
        }
    }

    /// Moves the fake clock forward by `by`, tells each running core whose
    /// deadline passed, and runs.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        if self.client_outcome.is_none()
            && self.client.poll_timeout().is_some_and(|t| t <= self.now)
        {
            self.client.handle_timeout(self.now);
        }
        if self.server_outcome.is_none()
            && self.server.poll_timeout().is_some_and(|t| t <= self.now)
        {
            self.server.handle_timeout(self.now);
        }
        self.run();
    }

    /// The lookup held by [`Pair::hold_lookups`], if any: (domain, username).
    pub fn held_lookup(&self) -> Option<&(String, String)> {
        self.held_lookup.as_ref()
    }

    /// Answers the held lookup now, and runs.
    pub fn answer_lookup(&mut self) {
        if let Some((domain, username)) = self.held_lookup.take() {
            let found = (self.lookup)(&domain, &username);
            self.server.handle_credentials(found);
            self.run();
        }
    }

    /// Whether a password check is held by [`Pair::hold_password_checks`].
    pub fn holds_password_check(&self) -> bool {
        self.held_check.is_some()
    }

    /// Runs the held password check now, and runs.
    pub fn finish_password_check(&mut self) {
        if let Some(check) = self.held_check.take() {
            self.server.handle_password_checked(check.run());
            self.run();
        }
    }

    /// Puts raw bytes on the wire to the server, after what was sent so far.
    pub fn inject_to_server(&mut self, bytes: &[u8]) {
        self.s.inbox.extend_from_slice(bytes);
    }

    /// Puts raw bytes on the wire to the client.
    pub fn inject_to_client(&mut self, bytes: &[u8]) {
        self.c.inbox.extend_from_slice(bytes);
    }

    fn client_actions(&mut self) -> bool {
        let mut progress = false;
        while let Some(action) = self.client.poll_action() {
            progress = true;
            match action {
                ClientAction::Send(frame) => {
                    self.client_sent.push(frame.clone());
                    let frame = match &mut self.to_server {
                        Some(filter) => filter(frame),
                        None => Some(frame),
                    };
                    if let Some(frame) = frame {
                        encode(&mut self.c.codec, frame, &mut self.s.inbox);
                    }
                }
                ClientAction::ResetDecoder => self.c.codec.reset(),
                ClientAction::StartTls => self.c.tls = true,
                ClientAction::Established(info) => {
                    self.client_sm = self.client.take_stream_management();
                    self.client_outcome = Some(Ok(*info));
                }
                ClientAction::Fail(err) => {
                    self.client_outcome = Some(Err(err));
                    self.c.closed = true;
                }
                other => panic!("an action the pair does not know: {other:?}"),
            }
        }
        progress
    }

    fn server_actions(&mut self) -> bool {
        let mut progress = false;
        while let Some(action) = self.server.poll_action() {
            progress = true;
            match action {
                ServerAction::Send(frame) => self.server_send(frame),
                ServerAction::ResetDecoder => self.s.codec.reset(),
                ServerAction::SetLimits(limits) => self.s.codec.set_limits(limits),
                ServerAction::StartTls => self.s.tls = true,
                ServerAction::LookupCredentials { domain, username } => {
                    if self.hold_lookups {
                        self.held_lookup = Some((domain, username));
                    } else {
                        let found = (self.lookup)(&domain, &username);
                        self.server.handle_credentials(found);
                    }
                }
                ServerAction::CheckPassword(check) => {
                    self.password_checks += 1;
                    if self.refuse_password_checks > 0 {
                        self.refuse_password_checks -= 1;
                        self.server.handle_password_check_refused();
                    } else if self.hold_password_checks {
                        self.held_check = Some(check);
                    } else {
                        self.server.handle_password_checked(check.run());
                    }
                }
                ServerAction::Bind { bare, resource } => {
                    let result = (self.bind)(&bare, resource);
                    self.server.handle_bind(result);
                }
                ServerAction::LookupTokens {
                    username,
                    user_agent,
                    ..
                } => {
                    let found = match &self.tokens {
                        Some(t) => now_or_never(t.tokens(&username, &user_agent)),
                        None => Ok(Vec::new()),
                    };
                    self.server.handle_tokens(found, self.wall_clock);
                }
                ServerAction::UpdateTokens(update) => self.update_tokens(update),
                ServerAction::Established(info) => {
                    self.server_sm = self.server.take_stream_management();
                    self.server_outcome = Some(Ok(*info));
                }
                ServerAction::Fail(err) => {
                    self.server_outcome = Some(Err(err));
                    self.s.closed = true;
                }
                other => panic!("an action the pair does not know: {other:?}"),
            }
        }
        progress
    }

    fn update_tokens(&mut self, update: TokenUpdate) {
        self.token_updates.push(match &update {
            TokenUpdate::Issue { .. } => "issue",
            TokenUpdate::Used { .. } => "used",
            TokenUpdate::Invalidate { .. } => "invalidate",
            _ => "other",
        });
        let Some(store) = self.tokens.clone() else {
            if matches!(update, TokenUpdate::Issue { .. }) {
                self.server
                    .handle_token_issued(Err(StoreError::msg("no token store")));
            }
            return;
        };
        match update {
            TokenUpdate::Issue {
                username,
                user_agent,
                token,
                ..
            } => {
                let result = now_or_never(store.issue(&username, &user_agent, token));
                self.server.handle_token_issued(result);
            }
            TokenUpdate::Used {
                username,
                user_agent,
                token,
                count,
                ..
            } => now_or_never(store.used(&username, &user_agent, &token, count)).unwrap(),
            TokenUpdate::Invalidate {
                username,
                user_agent,
                ..
            } => now_or_never(store.invalidate(&username, &user_agent)).unwrap(),
            other => panic!("a token update the pair does not know: {other:?}"),
        }
    }

    fn server_send(&mut self, frame: Frame) {
        self.server_sent.push(frame.clone());
        let frame = match &mut self.to_client {
            Some(filter) => filter(frame),
            None => Some(frame),
        };
        if let Some(frame) = frame {
            encode(&mut self.s.codec, frame, &mut self.c.inbox);
        }
    }

    /// Once both sides asked for TLS: both decoders start over (a new XML
    /// document on the TLS layer) and both cores get the handshake's result.
    fn handshake(&mut self) -> bool {
        if !(self.c.tls && self.s.tls) {
            return false;
        }
        self.c.tls = false;
        self.s.tls = false;
        self.c.codec.reset();
        self.s.codec.reset();
        match &self.tls {
            Ok((client_cb, server_cb)) => {
                self.client.handle_tls(Ok(client_cb.clone()));
                self.server.handle_tls(Ok(server_cb.clone()));
            }
            Err(kind) => {
                self.client.handle_tls(Err((*kind).into()));
                self.server.handle_tls(Err((*kind).into()));
            }
        }
        true
    }

    fn deliver_to_server(&mut self) -> bool {
        // A failed server dropped the connection; one waiting for the TLS
        // handshake reads nothing.
        if matches!(self.server_outcome, Some(Err(_))) || self.s.tls {
            return false;
        }
        match self.s.next_frame(self.chunk) {
            Some(Ok(frame)) => {
                self.server_received.push(frame.clone());
                let established = self.server_outcome.is_some();
                match frame {
                    // The established session (`XmppStream`) answers this.
                    Frame::Element(el) if established && is_session_request(&el) => {
                        let reply = (self.session_reply)(&el);
                        self.server_send(Frame::Element(reply));
                    }
                    // So does it this.
                    Frame::Element(el) if established && el.is("enable", ns::SM) => {
                        let answer = self.answer_enable(&el);
                        self.server_send(Frame::Element(answer));
                    }
                    _ if established => {}
                    frame => self.server.handle_frame(Ok(frame)),
                }
                true
            }
            Some(Err(e)) => {
                if self.server_outcome.is_none() {
                    self.server.handle_frame(Err(e));
                }
                true
            }
            None if self.c.closed && !self.s.eof_seen && !self.s.pending() => {
                self.s.eof_seen = true;
                if self.server_outcome.is_none() {
                    self.server.handle_eof();
                }
                true
            }
            None => false,
        }
    }

    /// The established server's answer to `<enable/>`, as `XmppStream`
    /// gives it.
    fn answer_enable(&mut self, el: &Element) -> Element {
        let refuse = |c| Failed::new(c).to_element();
        let Some(options) = &self.sm_offer else {
            return refuse(StanzaCondition::FeatureNotImplemented);
        };
        if self.server_sm.is_some() {
            return refuse(StanzaCondition::UnexpectedRequest);
        }
        let Ok(Some(SmElement::Enable(request))) = SmElement::read(el) else {
            return refuse(StanzaCondition::BadRequest);
        };
        let (sm, enabled) = ServerSm::enable(&request, options);
        self.server_sm = Some(sm);
        enabled
    }

    fn deliver_to_client(&mut self) -> bool {
        // After its outcome the client shell hands the connection over (or
        // drops it): the core reads nothing more. The session's stream
        // management reads on, as `XmppStream` does.
        if matches!(self.client_outcome, Some(Ok(_))) && self.client_sm.is_some() {
            return self.deliver_to_client_sm();
        }
        if self.client_outcome.is_some() || self.c.tls {
            return false;
        }
        match self.c.next_frame(self.chunk) {
            Some(Ok(frame)) => {
                self.client_received.push(frame.clone());
                self.client.handle_frame(Ok(frame));
                true
            }
            Some(Err(e)) => {
                self.client.handle_frame(Err(e));
                true
            }
            None if self.s.closed && !self.c.eof_seen && !self.c.pending() => {
                self.c.eof_seen = true;
                self.client.handle_eof();
                true
            }
            None => false,
        }
    }

    /// An established client's stream management takes what comes (the
    /// answer to `<enable/>`, `<r/>`…) and answers `<r/>`.
    fn deliver_to_client_sm(&mut self) -> bool {
        let Some(Ok(frame)) = self.c.next_frame(self.chunk) else {
            return false;
        };
        self.client_received.push(frame.clone());
        let (Frame::Element(el), Some(sm)) = (frame, self.client_sm.as_mut()) else {
            return true;
        };
        if let Ok(xmpp_stream::sm::Event::Reply(a)) = sm.handle(&el) {
            self.client_sent.push(Frame::Element(a.clone()));
            encode(&mut self.c.codec, Frame::Element(a), &mut self.s.inbox);
        }
        true
    }

    /// The client's result; panics if it has none.
    pub fn client_result(&self) -> Result<&StreamInfo, &ClientError> {
        self.client_outcome
            .as_ref()
            .expect("the client core reported no outcome")
            .as_ref()
    }

    /// The server's result; panics if it has none.
    pub fn server_result(&self) -> Result<&StreamInfo, &ServerError> {
        self.server_outcome
            .as_ref()
            .expect("the server core reported no outcome")
            .as_ref()
    }

    /// Both sides established; panics otherwise. Returns (client, server).
    pub fn established(&self) -> (&StreamInfo, &StreamInfo) {
        match (self.client_result(), self.server_result()) {
            (Ok(c), Ok(s)) => (c, s),
            other => panic!("not established: {other:?}"),
        }
    }

    /// The client's error; panics if it succeeded or has no outcome.
    pub fn client_error(&self) -> &ClientError {
        match self.client_result() {
            Err(e) => e,
            Ok(info) => panic!("the client established {info:?}"),
        }
    }

    /// The server's error; panics if it succeeded or has no outcome.
    pub fn server_error(&self) -> &ServerError {
        match self.server_result() {
            Err(e) => e,
            Ok(info) => panic!("the server established {info:?}"),
        }
    }
}

/// The elements among `frames`.
pub fn elements(frames: &[Frame]) -> impl Iterator<Item = &Element> {
    frames.iter().filter_map(|f| match f {
        Frame::Element(el) => Some(el),
        _ => None,
    })
}

/// The conditions of the SASL `<failure/>`s among `frames`, in order.
pub fn sasl_failures(frames: &[Frame]) -> Vec<String> {
    elements(frames)
        .filter(|el| el.is("failure", ns::SASL))
        .filter_map(|el| {
            el.children()
                .find(|c| c.ns() == ns::SASL && c.name() != "text")
                .map(|c| c.name().to_owned())
        })
        .collect()
}

/// The condition of the first `<stream:error/>` among `frames`.
pub fn stream_error(frames: &[Frame]) -> Option<String> {
    elements(frames)
        .find(|el| el.is("error", ns::STREAM))
        .and_then(|el| {
            el.children()
                .find(|c| c.ns() == ns::STREAM_ERRORS && c.name() != "text")
                .map(|c| c.name().to_owned())
        })
}

/// The `mechanism` attribute of each `<auth/>` among `frames`.
pub fn auths(frames: &[Frame]) -> Vec<String> {
    elements(frames)
        .filter(|el| el.is("auth", ns::SASL))
        .map(|el| el.attr("mechanism").unwrap_or_default().to_owned())
        .collect()
}

/// Each frame's kind, name and namespace, without its content: what stays
/// the same between runs whose nonces and ids differ.
pub fn shape(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| match f {
            Frame::Header(h) => format!("header {}", h.default_ns.as_deref().unwrap_or("")),
            Frame::Element(el) => format!("{{{}}}{}", el.ns(), el.name()),
            Frame::Close => "close".to_owned(),
            other => format!("{other:?}"),
        })
        .collect()
}

/// Runs a future that never waits (the memory token store's).
pub fn now_or_never<T>(f: impl std::future::Future<Output = T>) -> T {
    use std::task::{Context, Poll, Waker};
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the memory store never waits"),
    }
}
