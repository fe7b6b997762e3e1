//! The probe with credentials: a login with every mechanism offered, in
//! both profiles (RFC 6120 SASL and SASL2), timed and with its round trips
//! counted; a FAST token login and a stream resumption where offered; a
//! ping. Credentials go only over TLS whose certificate verifies.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use xmpp_sasl::{Mechanism, MechanismSelector};
use xmpp_stream::client::{self, ChannelBindingPolicy, ClientConfig, Sasl2Mode, TlsMode};
use xmpp_stream::{Direction, Observed, Observer, XmppStream};
use xmpp_xml::{ns, Element};

use super::endpoint::Target;
use super::report::{Attempt, Endpoint, Login};
use super::ProbeArgs;

/// Counts the client's flights: each run of frames we send that follows
/// something received (or starts the stream) is one round trip.
/// Also keeps the last `<stream:features/>` received: after a login, the
/// session's features.
#[derive(Default)]
struct RoundTrips {
    flights: AtomicU32,
    last: Mutex<Option<Direction>>,
    features: Mutex<Option<Element>>,
}

impl Observer for RoundTrips {
    fn observe(&self, event: &Observed<'_>) {
        if let (Direction::Received, xmpp_xml::Frame::Element(el)) = (event.direction, event.frame)
        {
            if el.is("features", ns::STREAM) {
                *self.features.lock().unwrap_or_else(PoisonError::into_inner) = Some(el.clone());
            }
        }
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if event.direction == Direction::Sent && *last != Some(Direction::Sent) {
            self.flights.fetch_add(1, Ordering::Relaxed);
        }
        *last = Some(event.direction);
    }
}

/// How one login is set up.
struct Plan {
    profile: &'static str,
    mechanism: Option<Mechanism>,
    sasl2: Sasl2Mode,
    fast_token: Option<xmpp_sasl::FastToken>,
    request_token: bool,
    stream_management: bool,
    resume: Option<client::SuspendedSession>,
}

/// Logs in to `target` (whose probe is `endpoint`) as `jid`.
pub async fn probe(
    jid: &str,
    password: &str,
    target: &Target,
    endpoint: &Endpoint,
    args: &ProbeArgs,
) -> Login {
    let mut login = Login {
        endpoint: endpoint.name.clone(),
        attempts: Vec::new(),
        not_tried: Vec::new(),
        features_after_login: None,
        server_features: Vec::new(),
        fast: None,
        resumption: None,
        ping: None,
    };
    let features = endpoint
        .features_after_tls
        .as_ref()
        .or(endpoint.features_before_tls.as_ref());
    let Some(features) = features else {
        return login;
    };
    // TLS round trips: one for TLS 1.3, two for 1.2 (full handshakes).
    let tls_rtt = match endpoint.tls.as_ref().and_then(|t| t.version.as_deref()) {
        Some("TLS1.2") => 2,
        Some(_) => 1,
        None => 0,
    };
    // One user agent for every login: FAST tokens are bound to it.
    let user_agent = ClientConfig::new(jid, password)
        .map(|c| c.user_agent.id)
        .unwrap_or_default();
    let ctx = Ctx {
        jid,
        password,
        target,
        args,
        tls_rtt,
        user_agent,
        sasl2_mechanism: None,
        rfc6120_mechanism: None,
    };
    let mut profiles: Vec<(&'static str, Sasl2Mode, &Vec<String>)> = Vec::new();
    if !features.mechanisms.is_empty() {
        profiles.push(("rfc6120", Sasl2Mode::Off, &features.mechanisms));
    }
    if let Some(s) = &features.sasl2 {
        profiles.push(("sasl2", Sasl2Mode::Required, &s.mechanisms));
    }
    let mut kept: Option<XmppStream<TcpStream>> = None;
    let mut session_features: Option<Element> = None;
    for (profile, sasl2, names) in profiles {
        for name in names {
            let mechanism = match Mechanism::from_name(name) {
                // FAST mechanisms need a token: tried below.
                Some(m) if m.is_fast() => continue,
                Some(m) if m.is_plus() && features.channel_binding_types.is_none() => {
                    login.not_tried.push(format!(
                        "{name} ({profile}): the server lists no channel-binding types \
                         (XEP-0440), so there is no binding type to agree on"
                    ));
                    continue;
                }
                Some(m) => m,
                None => {
                    let why = match name.as_str() {
                        "OAUTHBEARER" | "X-OAUTH2" => "needs an OAuth token, not a password",
                        "EXTERNAL" => "needs a client certificate",
                        "ANONYMOUS" => "logs in as nobody",
                        _ => "not implemented by xmpp probe",
                    };
                    login.not_tried.push(format!("{name} ({profile}): {why}"));
                    continue;
                }
            };
            let plan = Plan {
                profile,
                mechanism: Some(mechanism),
                sasl2,
                fast_token: None,
                request_token: false,
                stream_management: false,
                resume: None,
            };
            let (attempt, stream, features) = ctx.login(plan).await;
            login.attempts.push(attempt);
            if let Some(stream) = stream {
                match kept {
                    None => {
                        kept = Some(stream);
                        session_features = features;
                    }
                    Some(_) => crate::login::close(stream, ctx.args.timeout).await,
                }
            }
        }
    }
    login.features_after_login = session_features.as_ref().map(super::features::parse);
    if let Some(mut stream) = kept.take() {
        login.server_features = disco_info(&mut stream, ctx.args.timeout).await;
        login.ping = Some(ping(stream, &ctx).await);
    }
    // FAST and resumption log in first with a mechanism that worked, SASL2's
    // if one did (the automatic choice may be one the client refuses, such
    // as -PLUS without XEP-0440).
    let worked = |profile: &str| {
        login
            .attempts
            .iter()
            .filter(|a| a.ok && a.profile == profile)
            .find_map(|a| a.mechanism.as_deref().and_then(Mechanism::from_name))
    };
    let ctx = Ctx {
        sasl2_mechanism: worked("sasl2"),
        rfc6120_mechanism: worked("rfc6120"),
        ..ctx
    };
    if let Some(fast) = features.sasl2.as_ref().and_then(|s| s.fast.as_ref()) {
        if !fast.is_empty() {
            login.fast = Some(ctx.fast().await);
        }
    }
    // Stream management is offered after login (and inline with SASL2):
    // always look.
    login.resumption = ctx.resumption().await;
    login
}

/// A login's outcome: the report line, the stream, its last features.
type Logged = (Attempt, Option<XmppStream<TcpStream>>, Option<Element>);

struct Ctx<'a> {
    jid: &'a str,
    password: &'a str,
    target: &'a Target,
    args: &'a ProbeArgs,
    tls_rtt: u32,
    user_agent: String,
    /// A mechanism that worked with SASL2.
    sasl2_mechanism: Option<Mechanism>,
    /// A mechanism that worked with RFC 6120 SASL.
    rfc6120_mechanism: Option<Mechanism>,
}

impl Ctx<'_> {
    fn config(&self, plan: &mut Plan) -> Result<ClientConfig, String> {
        let mut config = ClientConfig::new(self.jid, self.password).map_err(|e| e.to_string())?;
        config = config.with_tls(TlsMode::Required);
        if let Some(path) = &self.args.ca_file {
            config.tls_config = Some(
                xmpp_stream::tls::ca_file_config(path).map_err(|e| format!("--ca-file: {e}"))?,
            );
        }
        config.timeout = self.args.timeout;
        config.sasl2 = plan.sasl2;
        config.user_agent.id = self.user_agent.clone();
        config.user_agent.software = Some("xmpp probe".to_owned());
        if let Some(m) = plan.mechanism {
            config.selector = MechanismSelector::with_preference([m]).allow_only([m]);
            config.fallback = false;
            config.channel_binding = if m.is_plus() {
                ChannelBindingPolicy::Required
            } else {
                ChannelBindingPolicy::Off
            };
        }
        config.fast_token = plan.fast_token.take();
        config.request_fast_token = plan.request_token;
        config.stream_management = plan.stream_management;
        config.resume = plan.resume.take();
        Ok(config)
    }

    async fn connect(&self) -> Result<TcpStream, String> {
        let mut last = format!("{} has no address", self.target.host);
        for addr in &self.target.addresses {
            match tokio::time::timeout(self.args.timeout, TcpStream::connect(addr)).await {
                Ok(Ok(tcp)) => {
                    let _ = tcp.set_nodelay(true);
                    return Ok(tcp);
                }
                Ok(Err(e)) => last = format!("{addr}: {e}"),
                Err(_) => last = format!("{addr}: no answer"),
            }
        }
        Err(last)
    }

    /// One login; the stream if it worked, and the last features seen.
    async fn login(&self, mut plan: Plan) -> Logged {
        let mut attempt = Attempt {
            profile: plan.profile,
            mechanism: plan.mechanism.map(|m| m.as_str().to_owned()),
            ok: false,
            round_trips: None,
            ms: None,
            error: None,
        };
        let config = match self.config(&mut plan) {
            Ok(c) => c,
            Err(e) => {
                attempt.error = Some(e);
                return (attempt, None, None);
            }
        };
        let counter = Arc::new(RoundTrips::default());
        let observer: Arc<dyn Observer> = counter.clone();
        let started = Instant::now();
        let tcp = match self.connect().await {
            Ok(t) => t,
            Err(e) => {
                attempt.error = Some(e);
                return (attempt, None, None);
            }
        };
        let connected = if self.target.direct_tls {
            client::connect_direct_tls(tcp, config, Some(observer)).await
        } else {
            client::connect(tcp, config, Some(observer)).await
        };
        let features = counter
            .features
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match connected {
            Ok(stream) => {
                attempt.ms = Some(super::ms(started.elapsed()));
                attempt.ok = true;
                attempt.round_trips = Some(counter.flights.load(Ordering::Relaxed) + self.tls_rtt);
                if attempt.mechanism.is_none() || plan.profile == "fast" {
                    attempt.mechanism = Some(stream.info().mechanism.as_str().to_owned());
                }
                (attempt, Some(stream), features)
            }
            Err(e) => {
                // The first line: the CLI's hints are for `xmpp login` users.
                let message = crate::exit::Failure::from(e).message;
                attempt.error = Some(message.lines().next().unwrap_or_default().to_owned());
                (attempt, None, None)
            }
        }
    }

    /// A SASL2 password login asking for a FAST token, then a login with
    /// the token.
    async fn fast(&self) -> Attempt {
        let first = Plan {
            profile: "fast",
            mechanism: self.sasl2_mechanism,
            sasl2: Sasl2Mode::Required,
            fast_token: None,
            request_token: true,
            stream_management: false,
            resume: None,
        };
        let (mut attempt, stream, _) = self.login(first).await;
        let Some(stream) = stream else {
            attempt.error = Some(format!(
                "the password login that asks for a token failed: {}",
                attempt.error.unwrap_or_default()
            ));
            return attempt;
        };
        let token = stream.info().fast_token.clone();
        crate::login::close(stream, self.args.timeout).await;
        let Some(token) = token else {
            attempt.ok = false;
            attempt.mechanism = None;
            attempt.error = Some("the server offers FAST but gave no token".into());
            return attempt;
        };
        let second = Plan {
            profile: "fast",
            mechanism: None,
            sasl2: Sasl2Mode::Required,
            fast_token: Some(token),
            request_token: false,
            stream_management: false,
            resume: None,
        };
        let (mut attempt, stream, _) = self.login(second).await;
        if let Some(stream) = stream {
            let info = stream.info();
            if info.fast_token_refused || !info.mechanism.is_fast() {
                attempt.ok = false;
                attempt.error = Some("the server refused the token it had just issued".into());
            }
            crate::login::close(stream, self.args.timeout).await;
        }
        attempt
    }

    /// Logs in with stream management, drops the connection and resumes;
    /// `None` if the server offers no stream management.
    async fn resumption(&self) -> Option<Attempt> {
        let (mechanism, sasl2) = match (self.sasl2_mechanism, self.rfc6120_mechanism) {
            (Some(m), _) => (Some(m), Sasl2Mode::Required),
            (None, Some(m)) => (Some(m), Sasl2Mode::Off),
            (None, None) => (None, Sasl2Mode::Auto),
        };
        let first = Plan {
            profile: "resume",
            mechanism,
            sasl2,
            fast_token: None,
            request_token: false,
            stream_management: true,
            resume: None,
        };
        let (mut attempt, stream, _) = self.login(first).await;
        let Some(mut stream) = stream else {
            return Some(attempt);
        };
        // With RFC 6120 binding, `<enabled/>` comes after the login: a
        // round trip reads it.
        if let Err(e) = ping_once(&mut stream, self.args.timeout).await {
            attempt.ok = false;
            attempt.error = Some(format!("no answer to a ping after login: {e}"));
            return Some(attempt);
        }
        let Some(suspended) = stream.suspend() else {
            // No stream management, or none with resumption.
            crate::login::close(stream, self.args.timeout).await;
            return None;
        };
        // Drop the connection without a close, as a lost network would.
        drop(stream);
        let second = Plan {
            profile: "resume",
            mechanism,
            sasl2,
            fast_token: None,
            request_token: false,
            stream_management: true,
            resume: Some(suspended),
        };
        let (mut attempt, stream, _) = self.login(second).await;
        attempt.mechanism = None;
        if let Some(stream) = stream {
            if !stream.info().resumed {
                attempt.ok = false;
                attempt.error = Some("the server refused to resume the session".into());
            }
            crate::login::close(stream, self.args.timeout).await;
        }
        Some(attempt)
    }
}

/// An XEP-0199 ping to the server, then the stream closed.
async fn ping(mut stream: XmppStream<TcpStream>, ctx: &Ctx<'_>) -> Attempt {
    let mut attempt = Attempt {
        profile: "ping",
        mechanism: None,
        ok: false,
        round_trips: Some(1),
        ms: None,
        error: None,
    };
    match ping_once(&mut stream, ctx.args.timeout).await {
        Ok(took) => {
            attempt.ok = true;
            attempt.ms = Some(super::ms(took));
        }
        Err(e) => attempt.error = Some(e),
    }
    crate::login::close(stream, ctx.args.timeout).await;
    attempt
}

/// The server's disco#info features (XEP-0030), or none if it does not
/// answer.
async fn disco_info(
    stream: &mut XmppStream<TcpStream>,
    timeout: std::time::Duration,
) -> Vec<String> {
    let query = Element::builder("query", NS_DISCO_INFO).build();
    let Ok((answer, _)) = iq_get(stream, query, timeout).await else {
        return Vec::new();
    };
    answer
        .child("query", NS_DISCO_INFO)
        .map(|q| {
            q.children()
                .filter(|c| c.is("feature", NS_DISCO_INFO))
                .filter_map(|c| c.attr("var").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// XEP-0030 disco#info.
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// Pings the server and waits for the answer (whatever the server sent
/// before it, such as `<enabled/>`, is read on the way).
async fn ping_once(
    stream: &mut XmppStream<TcpStream>,
    timeout: std::time::Duration,
) -> Result<std::time::Duration, String> {
    let ping = Element::builder("ping", ns::PING).build();
    iq_get(stream, ping, timeout).await.map(|(_, took)| took)
}

/// Sends an iq get with `payload` to the server; its result and how long
/// it took.
async fn iq_get(
    stream: &mut XmppStream<TcpStream>,
    payload: Element,
    timeout: std::time::Duration,
) -> Result<(Element, std::time::Duration), String> {
    let domain = stream.info().domain.clone();
    let id = format!("xmpp-probe-{}", payload.name());
    let id = id.as_str();
    let iq = Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", id)
        .attr("to", &domain)
        .append(payload)
        .build();
    let started = Instant::now();
    let answered = tokio::time::timeout(timeout, async {
        stream.send(iq).await.map_err(|e| e.to_string())?;
        while let Some(next) = stream.next().await {
            let el = next.map_err(|e| e.to_string())?;
            if el.name() == "iq" && el.attr("id") == Some(id) {
                return match el.attr("type") {
                    Some("result") => Ok(el),
                    _ => Err(format!("the server answered: {}", el.to_xml())),
                };
            }
        }
        Err("the stream ended".to_owned())
    })
    .await;
    match answered {
        Ok(Ok(el)) => Ok((el, started.elapsed())),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!("no answer within {timeout:?}")),
    }
}
