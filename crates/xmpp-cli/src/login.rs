//! `xmpp login`: log in to any server and print the bound JID.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use xmpp_stream::websocket::WsUrl;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use xmpp_sasl::{FastToken, Mechanism, MechanismSelector};
use xmpp_stream::client::{self, ChannelBindingPolicy, ClientConfig, Sasl2Mode, TlsMode};
use xmpp_stream::{ClientError, Direction, Observed, Observer, StreamInfo, XmppStream};
use xmpp_xml::Frame;

use crate::cli::{ChannelBindingChoice, ClientTls, ConnectArgs, LoginArgs, Sasl2Choice};
use crate::exit::{CmdResult, Code, Failure};
use crate::password;
use crate::token_file::{self, Loaded, Stored};
use crate::transcript::{Transcript, NS_SASL2};

/// Checks `--mechanism` against `--allow-plain-without-tls` and builds the
/// selector for them. `tls_first`: TLS is certain before SASL starts
/// (`--tls required`, direct TLS), so PLAIN is protected and needs no flag.
///
/// The flag only allows PLAIN on a stream without TLS; it never changes the
/// TLS policy (issue #12: when it implied `--tls opportunistic`, a network
/// attacker who stripped `<starttls/>` got the password).
pub fn selector(
    mechanism: Option<Mechanism>,
    allow_plain: bool,
    tls_first: bool,
) -> Result<(MechanismSelector, bool), Failure> {
    match mechanism {
        None => Ok((
            MechanismSelector::default().allow_plain_insecure(allow_plain),
            true,
        )),
        Some(m) => {
            if m.sends_password() && !allow_plain && !tls_first {
                return Err(Failure::usage(
                    "PLAIN sends the password in the clear: without TLS it needs --allow-plain-without-tls",
                ));
            }
            let s = MechanismSelector::with_preference([m])
                .allow_only([m])
                .allow_plain_insecure(allow_plain);
            Ok((s, false))
        }
    }
}

/// Applies `--tls` and `--ca-file`.
pub fn apply_tls(
    mut config: ClientConfig,
    tls: ClientTls,
    ca_file: Option<&std::path::Path>,
) -> Result<ClientConfig, Failure> {
    use ClientTls as T;
    config = config.with_tls(match tls {
        T::Required => TlsMode::Required,
        T::Opportunistic => TlsMode::Opportunistic,
        T::Off => TlsMode::Off,
    });
    if let Some(path) = ca_file {
        let c = xmpp_stream::tls::ca_file_config(path)
            .map_err(|e| Failure::usage(format!("--ca-file {}: {e}", path.display())))?;
        config.tls_config = Some(c);
    }
    Ok(config)
}

/// Connects to `server` within `timeout`.
pub async fn dial(server: &str, timeout: Duration) -> Result<TcpStream, Failure> {
    let tcp = tokio::time::timeout(timeout, TcpStream::connect(server))
        .await
        .map_err(|_| {
            Failure::new(
                Code::Network,
                format!("cannot connect to {server}: timed out"),
            )
        })?
        .map_err(|e| Failure::new(Code::Network, format!("cannot connect to {server}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// Closes a session properly: our `</stream:stream>`, then the server's
/// (not waiting long: some servers answer late).
pub async fn close<S: AsyncRead + AsyncWrite + Unpin>(mut stream: XmppStream<S>, wait: Duration) {
    let _ = tokio::time::timeout(wait, async {
        if stream.close().await.is_ok() {
            while let Some(Ok(_)) = stream.next().await {}
        }
    })
    .await;
}

/// Builds the client's trust settings from `--ca-file`, `--insecure` and
/// `--tls-server-name`.
fn trust(mut config: ClientConfig, args: &ConnectArgs) -> Result<ClientConfig, Failure> {
    if args.insecure {
        eprintln!(
            "xmpp: WARNING: --insecure: the server's certificate is NOT verified. Anyone on the \
             path can impersonate the server and read what is sent. Use it for tests only."
        );
        config.tls_config = Some(xmpp_stream::danger::unverified_client_config());
    }
    if let Some(name) = &args.tls_server_name {
        xmpp_stream::tls::rustls::pki_types::ServerName::try_from(name.as_str())
            .map_err(|e| Failure::usage(format!("--tls-server-name {name:?}: {e}")))?;
        config.tls_server_name = Some(name.clone());
    }
    Ok(config)
}

/// Turns a failed negotiation into the message and exit code, with advice
/// for TLS failures.
fn failure(e: xmpp_stream::ClientError, server: &str, allow_plain: bool) -> Failure {
    // A WebSocket redirect (RFC 7395 §3.6.1) is not followed here, where
    // the connection is already open: say where to go instead.
    let moved = match &e {
        ClientError::Stream {
            condition: xmpp_stream::StreamCondition::SeeOtherHost,
            text: Some(uri),
        } if WsUrl::parse(uri).is_some() => Some(uri.clone()),
        _ => None,
    };
    let f = Failure::from(e);
    let mut message = format!("login to {server} failed: {}", f.message);
    if let Some(uri) = moved {
        message.push_str(&format!(
            "\n  hint: the server sends its clients to {uri}: log in with --websocket {uri}"
        ));
    }
    if f.message.starts_with("TLS:") {
        if let Some(a) = crate::tls::advice(&f.message) {
            message.push_str("\n  hint: ");
            message.push_str(a);
        }
        if allow_plain && f.message.contains("does not offer STARTTLS") {
            message.push_str(
                "\n  note: --allow-plain-without-tls does not turn TLS off; it only allows \
                 PLAIN once --tls opportunistic or --tls off lets the stream go without TLS",
            );
        }
    }
    Failure::new(f.code, message)
}

/// Negotiates over `io` (STARTTLS or direct TLS).
async fn negotiate<S>(
    io: S,
    config: ClientConfig,
    observer: Option<Arc<dyn Observer>>,
    direct: bool,
    websocket: Option<&WsUrl>,
) -> Result<XmppStream<S>, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some(url) = websocket {
        xmpp_stream::websocket::connect_over(io, url, config, observer).await
    } else if direct {
        client::connect_direct_tls(io, config, observer).await
    } else {
        client::connect(io, config, observer).await
    }
}

/// `--sasl2`, checked against the flags that need it. A requested resource
/// goes with SASL2 too: the library then binds it with RFC 6120 after the
/// SASL2 success instead of letting Bind2 choose one.
fn sasl2_mode(args: &ConnectArgs) -> Result<Sasl2Mode, Failure> {
    let fast = args.fast_token_file.is_some();
    if fast && args.insecure {
        // XEP-0484 §3: tokens go only to a server whose certificate was
        // verified; with --insecure anyone on the path could take them.
        return Err(Failure::usage(
            "--fast-token-file needs a verified certificate: drop --insecure (or use --ca-file)",
        ));
    }
    match args.sasl2 {
        Sasl2Choice::Off if fast => Err(Failure::usage(
            "--fast-token-file needs SASL2 (FAST tokens are a SASL2 feature): drop --sasl2 off",
        )),
        Sasl2Choice::Off => Ok(Sasl2Mode::Off),
        Sasl2Choice::Auto => Ok(Sasl2Mode::Auto),
        Sasl2Choice::Required => Ok(Sasl2Mode::Required),
    }
}

fn channel_binding(choice: ChannelBindingChoice) -> ChannelBindingPolicy {
    match choice {
        ChannelBindingChoice::Required => ChannelBindingPolicy::Required,
        ChannelBindingChoice::Preferred => ChannelBindingPolicy::Preferred,
        ChannelBindingChoice::Off => ChannelBindingPolicy::Off,
    }
}

/// `--fast-token-file` and what it held.
struct TokenFile {
    path: PathBuf,
    /// The bare JID we log in as.
    jid: String,
    /// Our user-agent id (the token is bound to it).
    user_agent_id: String,
    /// The stored token we log in with, if usable.
    token: Option<FastToken>,
}

impl TokenFile {
    /// Reads `path` and decides whether its token can be used for `jid`
    /// with `--user-agent-id` (else the stored one, else `fresh`).
    fn open(
        path: &Path,
        jid: &str,
        flag_id: Option<&str>,
        fresh: &str,
    ) -> Result<TokenFile, Failure> {
        let shown = path.display();
        let (stored, unusable) = match token_file::load(path)? {
            Loaded::Missing => (None, None),
            Loaded::Unusable(why) => (None, Some(why)),
            Loaded::Found(s) => (Some(s), None),
        };
        let user_agent_id = flag_id
            .or(stored.as_ref().map(|s| s.user_agent_id.as_str()))
            .unwrap_or(fresh)
            .to_owned();
        let unusable = match &stored {
            Some(s) => s.check(jid, &user_agent_id, SystemTime::now()).err(),
            None => unusable,
        };
        if let Some(why) = &unusable {
            eprintln!(
                "xmpp: not using the FAST token in {shown}: {why}; logging in with the password"
            );
        }
        let token = stored.filter(|_| unusable.is_none()).map(|s| s.token);
        Ok(TokenFile {
            path: path.to_owned(),
            jid: jid.to_owned(),
            user_agent_id,
            token,
        })
    }
}

/// Sees, whatever the outcome, whether our FAST token was tried and
/// whether the server refused it; passes every event on to the transcript.
/// (A refusal followed by a failed password login is only seen here.)
#[derive(Default)]
struct TokenWatch {
    inner: Option<Arc<dyn Observer>>,
    tried: AtomicBool,
    pending: AtomicBool,
    refused: AtomicBool,
    /// The refusal was `<temporary-auth-failure/>`: the token may be good.
    temporary: AtomicBool,
}

impl TokenWatch {
    fn tried(&self) -> bool {
        self.tried.load(Ordering::Relaxed)
    }

    /// The server refused the token for good.
    fn refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed) && !self.temporary.load(Ordering::Relaxed)
    }
}

impl Observer for TokenWatch {
    fn observe(&self, event: &Observed<'_>) {
        if let Some(inner) = &self.inner {
            inner.observe(event);
        }
        let Frame::Element(el) = event.frame else {
            return;
        };
        if el.ns() != NS_SASL2 {
            return;
        }
        match (event.direction, el.name()) {
            (Direction::Sent, "authenticate") => {
                let ht = el
                    .attr("mechanism")
                    .and_then(Mechanism::from_name)
                    .is_some_and(Mechanism::is_fast);
                self.pending.store(ht, Ordering::Relaxed);
                if ht {
                    self.tried.store(true, Ordering::Relaxed);
                }
            }
            (Direction::Received, "failure") if self.pending.swap(false, Ordering::Relaxed) => {
                let temporary = el
                    .child("temporary-auth-failure", xmpp_xml::ns::SASL)
                    .is_some();
                self.temporary.store(temporary, Ordering::Relaxed);
                self.refused.store(true, Ordering::Relaxed);
            }
            (Direction::Received, "success") => self.pending.store(false, Ordering::Relaxed),
            _ => {}
        }
    }
}

/// What one login needs besides the configuration.
struct Login {
    server: String,
    allow_plain: bool,
    direct: bool,
    /// Over WebSocket to this endpoint instead.
    websocket: Option<WsUrl>,
    transcript: Option<Arc<Transcript>>,
    watch: Arc<TokenWatch>,
    tokens: Option<TokenFile>,
    /// A password was read (else only the token can log in).
    has_password: bool,
}

/// How the login went, for the line on stderr.
fn summary(info: &StreamInfo) -> String {
    let how = match (info.sasl2, info.bound_inline) {
        (true, true) => "SASL2, Bind2",
        (true, false) => "SASL2, RFC 6120 binding",
        (false, _) => "RFC 6120 SASL and binding",
    };
    let fast = if info.mechanism.is_fast() {
        ", FAST token"
    } else {
        ""
    };
    format!(
        "logged in as {} with {} ({how}{fast})",
        info.jid, info.mechanism
    )
}

impl Login {
    /// Negotiates over `io`, prints, closes, and keeps the token file up
    /// to date.
    async fn run<S>(&self, io: S, config: ClientConfig) -> CmdResult
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let stream = self.connect(io, config).await?;
        let info = stream.info().clone();
        close(stream, Duration::from_secs(1)).await;
        if self.transcript.is_some() {
            out!("Bound JID: {}", info.jid);
        } else {
            out!("{}", info.jid);
        }
        eprintln!("xmpp: {}", summary(&info));
        self.store_token(&info)
    }

    /// Negotiates over `io`: the established stream, or the failure to
    /// report (a refused token's file removed).
    async fn connect<S>(&self, io: S, config: ClientConfig) -> Result<XmppStream<S>, Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let observer: Arc<dyn Observer> = self.watch.clone();
        let ws = self.websocket.as_ref();
        match negotiate(io, config, Some(observer), self.direct, ws).await {
            Ok(stream) => {
                let info = stream.info();
                tracing::info!(jid = %info.jid, mechanism = %info.mechanism, "logged in");
                Ok(stream)
            }
            Err(e) => {
                if let (Some(t), ClientError::Tls(reason)) = (&self.transcript, &e) {
                    t.tls_failed(reason);
                }
                Err(self.failed(e))
            }
        }
    }

    /// After a login: store a token that came (first one or rotation),
    /// forget a refused one.
    fn store_token(&self, info: &StreamInfo) -> CmdResult {
        let Some(file) = &self.tokens else {
            return Ok(());
        };
        let shown = file.path.display();
        // The library reports any failure of the token; a temporary one
        // (the server's store failed) does not mean the token is bad.
        let refused = self.watch.refused();
        match &info.fast_token {
            Some(token) => {
                let stored = Stored {
                    jid: file.jid.clone(),
                    user_agent_id: file.user_agent_id.clone(),
                    token: token.clone(),
                };
                token_file::save(&file.path, &stored).map_err(|e| {
                    Failure::new(
                        Code::Other,
                        format!("logged in, but cannot write the FAST token to {shown}: {e}"),
                    )
                })?;
                let expires = humantime::format_rfc3339_seconds(token.expires);
                if refused {
                    eprintln!(
                        "xmpp: the server refused the FAST token in {shown}; logged in with the \
                         password and stored the new token it issued (expires {expires})"
                    );
                } else {
                    eprintln!(
                        "xmpp: stored a new FAST token ({}) in {shown} (expires {expires})",
                        token.mechanism
                    );
                }
            }
            None if refused => {
                let removed = match token_file::remove(&file.path) {
                    Ok(()) => "it was removed".to_owned(),
                    Err(e) => format!("it could not be removed: {e}"),
                };
                eprintln!(
                    "xmpp: the server refused the FAST token in {shown} and issued no new one; \
                     logged in with the password; {removed}"
                );
            }
            None if !info.mechanism.is_fast() => eprintln!(
                "xmpp: the server issued no FAST token (it offers FAST only with SASL2, usually \
                 over TLS); {shown} was not written"
            ),
            None => {}
        }
        Ok(())
    }

    /// The failure to report, after removing a refused token's file.
    fn failed(&self, e: ClientError) -> Failure {
        let token_failed = matches!(
            &e,
            ClientError::Sasl { mechanism, condition, .. }
                if mechanism.is_fast() && *condition != xmpp_sasl::Condition::TemporaryAuthFailure
        );
        let no_mechanism = matches!(e, ClientError::NoMechanism { .. });
        let mut f = failure(e, &self.server, self.allow_plain);
        let Some(file) = &self.tokens else {
            return f;
        };
        let shown = file.path.display();
        if token_failed || self.watch.refused() {
            let removed = match token_file::remove(&file.path) {
                Ok(()) => "the file was removed".to_owned(),
                Err(e) => format!("the file could not be removed: {e}"),
            };
            f.message.push_str(&format!(
                "\n  the server refused the FAST token in {shown}; {removed}"
            ));
            if !self.has_password {
                f.code = Code::Auth;
                f.message.push_str(
                    "; log in with the password (at the prompt, or --password-stdin) to get a new one",
                );
            }
        } else if no_mechanism && !self.has_password && !self.watch.tried() {
            // Only the token could log in, and it was not offered here.
            if let Some(token) = &file.token {
                f = Failure::new(
                    Code::Auth,
                    format!(
                        "login to {} failed: the server does not offer {} for the FAST token in \
                         {shown} here (no SASL2 with FAST on this connection?), and no password \
                         was given: pass it with --password-stdin",
                        self.server, token.mechanism
                    ),
                );
            }
        }
        f
    }
}

/// Logs in as `jid` with the options `xmpp login` takes, for another
/// command (`xmpp send`): the established stream, with a FAST token the
/// server issued stored in `--fast-token-file`. `stream_management`: ask for
/// XEP-0198 acknowledgements when the server offers them.
pub async fn session(
    jid: &str,
    args: &ConnectArgs,
    stream_management: bool,
) -> Result<XmppStream<TcpStream>, Failure> {
    let (login, mut config, tcp) = prepare(jid, args, false).await?;
    config.stream_management = stream_management;
    let stream = login.connect(tcp, config).await?;
    tracing::info!("{}", summary(stream.info()));
    login.store_token(stream.info())?;
    Ok(stream)
}

/// A login that can be made again: for a shell that reconnects after its
/// connection was lost (resuming its XEP-0198 session), with the password
/// read once and the newest FAST token.
pub struct Relogin {
    login: Login,
    config: ClientConfig,
    /// How to find the server again (DNS may now say otherwise).
    args: ConnectArgs,
}

impl Relogin {
    /// Logs in as `jid` (like [`session`], with stream management), and
    /// keeps what it takes to log in again.
    pub async fn first(
        jid: &str,
        args: &ConnectArgs,
    ) -> Result<(Relogin, XmppStream<TcpStream>), Failure> {
        let (login, mut config, tcp) = prepare(jid, args, false).await?;
        config.stream_management = true;
        let stream = login.connect(tcp, config.clone()).await?;
        tracing::info!("{}", summary(stream.info()));
        login.store_token(stream.info())?;
        let mut relogin = Relogin {
            login,
            config,
            args: args.clone(),
        };
        relogin.keep_token(stream.info());
        Ok((relogin, stream))
    }

    /// Dials and logs in again, resuming `resume` if given (else a new
    /// session).
    pub async fn again(
        &mut self,
        resume: Option<xmpp_stream::client::SuspendedSession>,
    ) -> Result<XmppStream<TcpStream>, Failure> {
        let route = crate::route::open(&self.config.domain, &self.args, false).await?;
        self.login.server = route.server;
        self.login.direct = route.direct;
        self.login.websocket = route.websocket;
        let tcp = route.tcp;
        let mut config = self.config.clone();
        config.resume = resume;
        let stream = self.login.connect(tcp, config).await?;
        tracing::info!("{}", summary(stream.info()));
        self.login.store_token(stream.info())?;
        self.keep_token(stream.info());
        Ok(stream)
    }

    /// The next login uses the token the server just issued, and none it
    /// refused.
    fn keep_token(&mut self, info: &StreamInfo) {
        if let Some(token) = &info.fast_token {
            self.config.fast_token = Some(token.clone());
        } else if info.fast_token_refused {
            self.config.fast_token = None;
        }
    }
}

/// Checks the options, reads the password (unless a FAST token will do),
/// builds the configuration and connects (`--server`, else DNS SRV; the
/// DNS steps on stdout with `transcript`): what every login needs before
/// negotiation.
async fn prepare(
    jid: &str,
    args: &ConnectArgs,
    transcript: bool,
) -> Result<(Login, ClientConfig, TcpStream), Failure> {
    let tls = args.tls;
    if args.direct_tls && matches!(tls, ClientTls::Off) {
        return Err(Failure::usage(
            "--direct-tls and --tls off contradict each other",
        ));
    }
    if args
        .websocket
        .as_deref()
        .is_some_and(|u| u.starts_with("ws:"))
        && !matches!(tls, ClientTls::Off)
    {
        return Err(Failure::usage(
            "a ws:// URL sends everything in the clear: use wss://, or --tls off (tests only)",
        ));
    }
    let tls_first = args.direct_tls || matches!(tls, ClientTls::Required);
    let (selector, fallback) = selector(args.mechanism, args.allow_plain_without_tls, tls_first)?;
    // Check the JID and the flags before asking for a password.
    let probe = ClientConfig::new(jid, "-").map_err(Failure::usage)?;
    let sasl2 = sasl2_mode(args)?;
    let bare = format!("{}@{}", probe.username, probe.domain);
    let tokens = match &args.fast_token_file {
        Some(path) => Some(TokenFile::open(
            path,
            &bare,
            args.user_agent_id.as_deref(),
            &probe.user_agent.id,
        )?),
        None => None,
    };
    let has_token = tokens.as_ref().is_some_and(|t| t.token.is_some());
    // With a usable token the password is read only when given on stdin:
    // the library falls back to it on the same stream if the token is
    // refused. Without one, nothing but the token can log in.
    let password = if has_token && !args.password_stdin {
        None
    } else {
        Some(password::read(
            args.password_stdin,
            &format!("Password for {jid}: "),
            false,
        )?)
    };
    let has_password = password.is_some();
    let mut config = ClientConfig::new(jid, password.as_ref().map_or("", |p| p.as_str()))
        .map_err(Failure::usage)?;
    drop(password);
    if let Some(r) = &args.resource {
        config = config.with_resource(r);
    }
    // No password: no password mechanism either (an empty password would
    // only be refused, and count as a failed attempt).
    config = config.with_selector(if has_password {
        selector
    } else {
        MechanismSelector::with_preference([])
    });
    config = apply_tls(config, tls, args.ca_file.as_deref())?;
    config = trust(config, args)?;
    config.fallback = fallback;
    config.timeout = args.timeout;
    config.sasl2 = sasl2;
    config.channel_binding = channel_binding(args.channel_binding);
    match (&tokens, &args.user_agent_id) {
        (Some(t), _) => config.user_agent.id.clone_from(&t.user_agent_id),
        (None, Some(id)) => config.user_agent.id.clone_from(id),
        (None, None) => {}
    }
    config.fast_token = tokens.as_ref().and_then(|t| t.token.clone());
    config.request_fast_token = tokens.is_some();
    let route = crate::route::open(&config.domain, args, transcript).await?;
    let login = Login {
        server: route.server,
        allow_plain: args.allow_plain_without_tls,
        direct: route.direct,
        websocket: route.websocket,
        transcript: None,
        watch: Arc::new(TokenWatch::default()),
        tokens,
        has_password,
    };
    Ok((login, config, route.tcp))
}

/// Runs `xmpp login`.
pub async fn run(args: LoginArgs) -> CmdResult {
    let (mut login, config, tcp) = prepare(&args.jid, &args.connect, args.transcript).await?;
    if !args.transcript {
        return login.run(tcp, config).await;
    }
    let args = &args.connect;
    let probe = Arc::new(crate::tls::ProbeState::default());
    let trust = match (&args.ca_file, args.insecure) {
        (_, true) => "The server's certificate is NOT verified (--insecure).".to_owned(),
        (Some(p), _) => format!(
            "The server's certificate was verified against {} for {}.",
            p.display(),
            config.tls_server_name.as_deref().unwrap_or(&config.domain)
        ),
        (None, _) => format!(
            "The server's certificate was verified against the system's roots for {}.",
            config.tls_server_name.as_deref().unwrap_or(&config.domain)
        ),
    };
    let transcript = Arc::new(
        Transcript::stdout()
            .with_probe(probe.clone(), &trust)
            .with_round_trips(),
    );
    login.watch = Arc::new(TokenWatch {
        inner: Some(transcript.clone()),
        ..TokenWatch::default()
    });
    login.transcript = Some(transcript);
    login.run(crate::tls::Probe::new(tcp, probe), config).await
}
