//! One RFC 6120 negotiation between a client core and a server core, in
//! memory, without sockets or tokio: what `benches/negotiation.rs` measures
//! and `examples/negotiate.rs` runs under a profiler.
//!
//! The shape of `crates/xmpp-stream/tests/pair/mod.rs`, cut down to the
//! successful path and kept free of what a test needs (no hooks, no copies
//! of the frames): each side owns one [`StreamCodec`] as a shell does, its
//! frames are encoded to bytes and put in the peer's buffer, and the peer's
//! codec decodes them, one frame at a time, with the actions (decoder
//! resets, limits, credential lookups, binding) performed in between, as
//! the shells perform them. [`Wire::Direct`] hands the frames over as they
//! are instead, for the breakdown.
//!
//! The exchange: header, features, `<auth mechanism='DIGEST-MD5'/>`, the
//! challenge, the response, the `rspauth` challenge, the empty response,
//! `<success/>`, the restart (both headers again), features, the bind IQ and
//! its result. The server offers the session feature as optional (its
//! default), so the client sends no session IQ. Nonces come from a
//! CSPRNG as in production (`rand`'s `ThreadRng`); the clock is fixed (no timeout can fire).
//!
//! The three entry points are never inlined, so that `valgrind
//! --tool=callgrind --toggle-collect` can count them alone.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio_util::codec::{Decoder as _, Encoder as _};
use xmpp_sasl::{Mechanism, MechanismSelector, MemoryStore};
use xmpp_stream::client::{ClientAction, ClientConfig, ClientCore, Sasl2Mode, TlsMode};
use xmpp_stream::jid::ResourcePart;
use xmpp_stream::server::{ServerAction, ServerConfig, ServerCore};
use xmpp_stream::{Security, StreamInfo};
use xmpp_xml::{Frame, Limits, StreamCodec};

pub const DOMAIN: &str = "example.com";
pub const USER: &str = "juliet";
pub const PASSWORD: &str = "r0m30myr0m30";
pub const RESOURCE: &str = "balcony";

/// What stays the same across negotiations: the server's configuration
/// (shared by all its connections, as `server::accept` shares it), the
/// account store, and the client's configuration (cloned per connection).
pub struct Setup {
    pub store: Arc<MemoryStore>,
    pub server: Arc<ServerConfig>,
    pub client: ClientConfig,
    /// The fake clock: every core starts at this instant.
    pub start: Instant,
}

impl Setup {
    /// juliet on `example.com`; the server with its defaults on a cleartext
    /// stream (it offers SCRAM-SHA-256, SCRAM-SHA-1 and DIGEST-MD5 there),
    /// the client choosing DIGEST-MD5, without STARTTLS and SASL2.
    pub fn new() -> Self {
        let store = MemoryStore::default();
        store.add(USER, PASSWORD, &[DOMAIN]).unwrap();
        let store = Arc::new(store);
        let server = ServerConfig::new(DOMAIN, store.clone());
        let selector = MechanismSelector::with_preference([Mechanism::DigestMd5]);
        let mut client = ClientConfig::new(&format!("{USER}@{DOMAIN}"), PASSWORD)
            .unwrap()
            .with_selector(selector)
            .with_tls(TlsMode::Off)
            .with_resource(RESOURCE);
        client.sasl2 = Sasl2Mode::Off;
        Setup {
            store,
            server: Arc::new(server),
            client,
            start: Instant::now(),
        }
    }

    /// The server's mechanism settings for DIGEST-MD5, as its core builds
    /// them for this domain (for the mechanism-only measurement).
    pub fn mechanism_config(&self) -> xmpp_sasl::ServerMechanismConfig {
        xmpp_sasl::ServerMechanismConfig::new(DOMAIN)
    }
}

impl Default for Setup {
    fn default() -> Self {
        Self::new()
    }
}

/// How frames travel between the cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// Encoded by the sender's codec, decoded by the receiver's: as on a
    /// socket.
    Codec,
    /// Handed to the peer core as built: no XML at all.
    Direct,
}

/// One step of a negotiation as the wire saw it, for replaying the codec
/// work alone.
#[derive(Clone, Debug)]
pub enum Step {
    /// The client sent this frame.
    ToServer(Frame),
    /// The server sent this frame.
    ToClient(Frame),
    /// The client reset its codec.
    ResetClient,
    /// The server reset its codec.
    ResetServer,
    /// The server changed its decoding limits.
    ServerLimits(Limits),
}

/// One side of the connection: its codec, and the bytes (or, direct, the
/// frames) sent to it and not decoded yet.
struct End {
    codec: StreamCodec,
    inbox: BytesMut,
    frames: std::collections::VecDeque<Frame>,
}

impl End {
    fn new(limits: Limits) -> Self {
        End {
            codec: StreamCodec::new(limits),
            // What tokio_util's `Framed` starts its buffers with.
            inbox: BytesMut::with_capacity(8 * 1024),
            frames: std::collections::VecDeque::new(),
        }
    }

    fn next_frame(&mut self, wire: Wire) -> Option<Frame> {
        match wire {
            Wire::Direct => self.frames.pop_front(),
            Wire::Codec => self
                .codec
                .decode(&mut self.inbox)
                .expect("the cores produce well-formed XML"),
        }
    }
}

/// Sends `frame` from `from` to `to`.
fn send(wire: Wire, from: &mut End, to: &mut End, frame: Frame) {
    match wire {
        Wire::Direct => to.frames.push_back(frame),
        Wire::Codec => from
            .codec
            .encode(frame, &mut to.inbox)
            .expect("the cores build encodable frames"),
    }
}

/// Both sides' results.
pub struct Negotiated {
    pub client: StreamInfo,
    pub server: StreamInfo,
}

/// Runs one negotiation to the end; panics unless both sides established
/// the stream. `record` receives every step, for [`replay_codec`].
#[inline(never)]
pub fn negotiate(setup: &Setup, wire: Wire, mut record: Option<&mut Vec<Step>>) -> Negotiated {
    let mut client = ClientCore::new(setup.client.clone(), setup.start);
    let mut server = ServerCore::new(setup.server.clone(), Security::Cleartext, setup.start);
    let mut c = End::new(setup.client.limits.clone());
    let mut s = End::new(setup.server.pre_auth_limits.clone());
    let mut client_done = None;
    let mut server_done = None;
    loop {
        let mut progress = false;
        while let Some(action) = client.poll_action() {
            progress = true;
            match action {
                ClientAction::Send(frame) => {
                    if let Some(r) = record.as_deref_mut() {
                        r.push(Step::ToServer(frame.clone()));
                    }
                    send(wire, &mut c, &mut s, frame)
                }
                ClientAction::ResetDecoder => {
                    if let Some(r) = record.as_deref_mut() {
                        r.push(Step::ResetClient);
                    }
                    c.codec.reset()
                }
                ClientAction::Established(info) => client_done = Some(info),
                ClientAction::Fail(e) => panic!("the client failed: {e}"),
                other => panic!("an action the driver does not expect: {other:?}"),
            }
        }
        while let Some(action) = server.poll_action() {
            progress = true;
            match action {
                ServerAction::Send(frame) => {
                    if let Some(r) = record.as_deref_mut() {
                        r.push(Step::ToClient(frame.clone()));
                    }
                    send(wire, &mut s, &mut c, frame)
                }
                ServerAction::ResetDecoder => {
                    if let Some(r) = record.as_deref_mut() {
                        r.push(Step::ResetServer);
                    }
                    s.codec.reset()
                }
                ServerAction::SetLimits(limits) => {
                    if let Some(r) = record.as_deref_mut() {
                        r.push(Step::ServerLimits(limits.clone()));
                    }
                    s.codec.set_limits(limits)
                }
                ServerAction::LookupCredentials { username, .. } => {
                    server.handle_credentials(Ok(setup.store.get(&username)))
                }
                ServerAction::Bind { bare, resource } => {
                    let resource = resource
                        .unwrap_or_else(|| ResourcePart::new("generated").unwrap().into_owned());
                    server.handle_bind(Ok(bare.with_resource(&resource)))
                }
                ServerAction::Established(info) => server_done = Some(info),
                ServerAction::Fail(e) => panic!("the server failed: {e}"),
                other => panic!("an action the driver does not expect: {other:?}"),
            }
        }
        if let (Some(_), Some(_)) = (&client_done, &server_done) {
            break;
        }
        // One frame each, then their actions: a reset must come between
        // the frame that asks for it and the next header.
        if server_done.is_none() {
            if let Some(frame) = s.next_frame(wire) {
                server.handle_frame(Ok(frame));
                progress = true;
            }
        }
        if client_done.is_none() {
            if let Some(frame) = c.next_frame(wire) {
                client.handle_frame(Ok(frame));
                progress = true;
            }
        }
        assert!(progress, "the negotiation stalled");
    }
    Negotiated {
        client: *client_done.unwrap(),
        server: *server_done.unwrap(),
    }
}

/// The steps of one negotiation over the codec.
pub fn transcript(setup: &Setup) -> Vec<Step> {
    let mut steps = Vec::new();
    negotiate(setup, Wire::Codec, Some(&mut steps));
    steps
}

/// The XML work of a negotiation alone: each frame of `steps` encoded by
/// its sender's codec and decoded by its receiver's, with the resets and
/// limits where they happened; fresh codecs and buffers, as a new
/// connection has. Returns the number of frames decoded.
#[inline(never)]
pub fn replay_codec(setup: &Setup, steps: Vec<Step>) -> usize {
    let mut c = End::new(setup.client.limits.clone());
    let mut s = End::new(setup.server.pre_auth_limits.clone());
    let mut decoded = 0;
    for step in steps {
        let to = match step {
            Step::ToServer(f) => {
                send(Wire::Codec, &mut c, &mut s, f);
                &mut s
            }
            Step::ToClient(f) => {
                send(Wire::Codec, &mut s, &mut c, f);
                &mut c
            }
            Step::ResetClient => {
                c.codec.reset();
                continue;
            }
            Step::ResetServer => {
                s.codec.reset();
                continue;
            }
            Step::ServerLimits(l) => {
                s.codec.set_limits(l);
                continue;
            }
        };
        let got = to.next_frame(Wire::Codec).expect("a whole frame was sent");
        std::hint::black_box(&got);
        decoded += 1;
    }
    decoded
}

/// The DIGEST-MD5 exchange alone: a client and a server mechanism (fresh
/// CSPRNG nonces), the store lookup, both challenges, the response, the
/// empty response to `rspauth`, and success; no XML, no cores.
#[inline(never)]
pub fn mechanisms(setup: &Setup, config: &xmpp_sasl::ServerMechanismConfig) {
    use xmpp_sasl::{ClientCredentials, ServerStep};
    let creds = ClientCredentials::new(USER, PASSWORD, DOMAIN);
    let mut client = xmpp_sasl::client_mechanism(Mechanism::DigestMd5, creds).unwrap();
    let mut server = xmpp_sasl::server_mechanism(Mechanism::DigestMd5, config).unwrap();
    assert!(client.initial_response().unwrap().is_none());
    let ServerStep::Challenge(challenge) = server.start(None) else {
        panic!("no challenge")
    };
    let response = client.respond(&challenge).unwrap();
    let ServerStep::NeedCredentials { username } = server.step(&response) else {
        panic!("no lookup")
    };
    let ServerStep::Challenge(rspauth) = server.credentials(Ok(setup.store.get(&username))) else {
        panic!("no rspauth")
    };
    let ack = client.respond(&rspauth).unwrap();
    let ServerStep::Success { .. } = server.step(&ack) else {
        panic!("no success")
    };
    client.success(None).unwrap();
}

/// The bytes each side receives in one negotiation, as our codec writes
/// them: (to the server, to the client), for [`quick_xml_floor`].
pub fn wire_bytes(setup: &Setup) -> (Vec<u8>, Vec<u8>) {
    let mut codec = StreamCodec::new(Limits::default());
    let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
    for step in transcript(setup) {
        match step {
            Step::ToServer(f) => codec.encode(f, &mut to_server).unwrap(),
            Step::ToClient(f) => codec.encode(f, &mut to_client).unwrap(),
            _ => {}
        }
    }
    (to_server.to_vec(), to_client.to_vec())
}

/// A floor for the XML of a negotiation, done by quick-xml: each side's
/// bytes read by a fresh `NsReader` (names and every attribute's name
/// resolved, text decoded) and every event written back by a fresh
/// `Writer`. Less than any codec must do (no tree, no checks of the
/// restricted XML, no element built or escaped), so that the codec's time
/// can be set against it. Returns the number of events.
#[inline(never)]
pub fn quick_xml_floor(wire: &(Vec<u8>, Vec<u8>)) -> usize {
    use quick_xml::events::Event;
    let mut events = 0;
    for bytes in [&wire.0, &wire.1] {
        let mut reader = quick_xml::NsReader::from_reader(bytes.as_slice());
        let mut writer = quick_xml::Writer::new(Vec::with_capacity(1024));
        loop {
            let (ns, event) = reader.read_resolved_event().unwrap();
            std::hint::black_box(&ns);
            match &event {
                Event::Eof => break,
                Event::Start(e) | Event::Empty(e) => {
                    for a in e.attributes() {
                        let a = a.unwrap();
                        std::hint::black_box(reader.resolve_attribute(a.key));
                        std::hint::black_box(
                            a.decode_and_unescape_value(reader.decoder()).unwrap(),
                        );
                    }
                }
                Event::Text(t) => {
                    std::hint::black_box(t.decode().unwrap());
                }
                _ => {}
            }
            writer.write_event(event).unwrap();
            events += 1;
        }
        std::hint::black_box(writer.into_inner());
    }
    events
}
