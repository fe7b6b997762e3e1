//! The server side: [`accept`] negotiates with one connected client.

mod config;
mod derivations;
mod password_check;
mod proto;
pub(crate) mod resumption;

use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt as _;
use tokio::io::{AsyncRead, AsyncWrite};
use xmpp_xml::StreamCodec;

pub use self::config::{ServedDomain, ServerConfig, SessionFeature, TlsPolicy};
pub use self::derivations::DerivationLimit;
pub use self::password_check::{CheckedPassword, PasswordCheck};
pub use self::proto::{ResumeOutcome, ServerAction, ServerCore, TokenUpdate};
pub use self::resumption::{Detached, EndReason, EndedSession, ParkEnd, ResumableSessions};
use crate::conn::{Conn, Event};
use crate::error::ServerError;
use crate::negotiation::Security;
use crate::observer::Observer;
pub use crate::registry::{BoundSession, ConflictPolicy, Mailbox, ResourceRegistry};
use crate::session::XmppStream;
use crate::transport::Transport;

/// Negotiates with the client on `io`: header, features, SASL, restart and
/// resource binding. `security` says whether `io` is TLS-protected already
/// (a TLS-terminating proxy in front, say).
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use std::sync::Arc;
/// use xmpp_sasl::MemoryStore;
/// use xmpp_stream::server::{accept, ServerConfig};
/// use xmpp_stream::Security;
///
/// let store = Arc::new(MemoryStore::default());
/// let config = Arc::new(ServerConfig::new("example.com", store));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:5222").await?;
/// loop {
///     let (tcp, _) = listener.accept().await?;
///     let config = config.clone();
///     tokio::spawn(async move {
///         if let Ok(stream) = accept(tcp, config, Security::Cleartext, None).await {
///             println!("{} is online", stream.jid());
///         }
///     });
/// }
/// # }
/// ```
pub async fn accept<S>(
    io: S,
    config: Arc<ServerConfig>,
    security: Security,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<S>, ServerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let codec = StreamCodec::new(config.pre_auth_limits.clone());
    let conn = Conn::new(Transport::Plain(io), codec, observer, false);
    let core = ServerCore::new(config.clone(), security, crate::now());
    drive(conn, core, config).await
}

/// Direct TLS (XEP-0368): the TLS handshake comes first, then negotiation
/// on a protected stream (no STARTTLS).
#[cfg(feature = "tls")]
pub async fn accept_direct_tls<S>(
    io: S,
    config: Arc<ServerConfig>,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<S>, ServerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(tls) = config.tls.clone() else {
        return Err(ServerError::NoCertificate);
    };
    let now = crate::now();
    let handshake = crate::tls::upgrade_server(Transport::Plain(io), bytes::BytesMut::new(), &tls);
    let timeout = tokio::time::sleep(config.negotiation_timeout);
    let (transport, cb) = tokio::select! {
        r = handshake => r.map_err(ServerError::Tls)?,
        () = timeout => return Err(ServerError::Tls(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "handshake timed out",
        ))),
    };
    let codec = StreamCodec::new(config.pre_auth_limits.clone());
    let conn = Conn::new(transport, codec, observer, false);
    let mut core = ServerCore::new(config.clone(), Security::Tls, now);
    core.set_channel_bindings(cb);
    drive(conn, core, config).await
}

/// Negotiates over a connection whose HTTP upgrade to WebSocket the caller
/// answered (`101`, subprotocol `xmpp`): RFC 7395 framing, then the same
/// negotiation as [`accept`]. STARTTLS is never offered: `security` says
/// whether `io` is TLS already (`wss:`). No `-PLUS` mechanisms either (the
/// caller's TLS gives no channel bindings here). Messages larger than the
/// stanza limits are refused with `<policy-violation/>`.
#[cfg(feature = "websocket")]
pub async fn accept_websocket<S>(
    io: S,
    config: Arc<ServerConfig>,
    security: Security,
    observer: Option<Arc<dyn Observer>>,
) -> Result<XmppStream<S>, ServerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::protocol::Role;
    // The WebSocket layer's cap: the larger of the two stanza limits.
    let largest = std::cmp::max_by_key(&config.pre_auth_limits, &config.limits, |l| {
        l.max_stanza_bytes
    });
    let ws_config = crate::websocket::ws_config(largest);
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        Transport::Plain(io),
        Role::Server,
        Some(ws_config),
    )
    .await;
    let framed = crate::websocket::WsFramed::new(ws, config.pre_auth_limits.clone());
    let conn = Conn::websocket(framed, observer, false);
    let mut core = ServerCore::new(config.clone(), security, crate::now());
    core.disable_starttls();
    drive(conn, core, config).await
}

/// How long past the negotiation deadline the shell may still spend writing
/// (the stream error that the deadline itself produces, say).
const WRITE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs the negotiation under one overall deadline. The core bounds the time
/// spent waiting for the client, but not writes: a client that sends and
/// never reads would otherwise hold the connection (and its slot) forever
/// with the server blocked on a full send buffer.
///
/// Not an `async fn`, nor is [`drive_steps`]: an `async fn` keeps its
/// arguments twice in its future (as given, and as the locals they are
/// moved into), and the connection and the core are most of this future,
/// which is moved whole on its way into a task (`rustc` keeps a future's
/// largest state for its whole life).
fn drive<S>(
    conn: Conn<S>,
    core: ServerCore,
    config: Arc<ServerConfig>,
) -> impl Future<Output = Result<XmppStream<S>, ServerError>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let deadline = core.poll_timeout().unwrap_or_else(crate::now) + WRITE_GRACE;
    tokio::time::timeout_at(deadline.into(), drive_steps(conn, core, config)).map(|r| match r {
        Ok(result) => result,
        Err(_) => Err(ServerError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "negotiation did not finish in time (the client does not read what it is sent)",
        ))),
    })
}

// Written out for the reason given at `drive`.
#[allow(clippy::manual_async_fn)]
fn drive_steps<S>(
    mut conn: Conn<S>,
    mut core: ServerCore,
    config: Arc<ServerConfig>,
) -> impl Future<Output = Result<XmppStream<S>, ServerError>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    async move {
        let mut bound = None;
        let mut resumed: Option<(resumption::Claimed, Vec<xmpp_xml::Element>)> = None;
        loop {
            // Not `while let`: its scrutinee would stay in the future across
            // every await below, beside `action`.
            loop {
                let Some(action) = core.poll_action() else {
                    break;
                };
                match action {
                    ServerAction::Send(frame) => {
                        let mech = core.mechanism();
                        conn.feed(frame, mech).await?;
                    }
                    ServerAction::ResetDecoder => conn.framed.reset(),
                    ServerAction::SetLimits(limits) => conn.framed.set_limits(limits),
                    // Boxed, as every await below but the common ones: this
                    // future is as large as its largest state, and it is moved
                    // (copied) whole several times on its way into a task.
                    ServerAction::StartTls => {
                        conn = Box::pin(start_tls(conn, &mut core, &config)).await?;
                    }
                    ServerAction::LookupCredentials { domain, username } => {
                        let lookup = async {
                            match config.domain(&domain) {
                                Some(d) => d.store.lookup(&username).await,
                                None => Ok(None),
                            }
                        };
                        // A slow store counts against the negotiation deadline
                        // like a slow client does.
                        tokio::select! {
                            found = lookup => core.handle_credentials(found),
                            () = crate::sleep_until(core.poll_timeout()) => {
                                core.handle_timeout(crate::now());
                            }
                        }
                    }
                    ServerAction::LookupTokens {
                        domain,
                        username,
                        user_agent,
                    } => {
                        let lookup = async {
                            match config.domain(&domain).and_then(|d| d.tokens.as_ref()) {
                                Some(tokens) => tokens.tokens(&username, &user_agent).await,
                                None => Ok(Vec::new()),
                            }
                        };
                        tokio::select! {
                            found = Box::pin(lookup) => core.handle_tokens(found, std::time::SystemTime::now()),
                            () = crate::sleep_until(core.poll_timeout()) => {
                                core.handle_timeout(crate::now());
                            }
                        }
                    }
                    ServerAction::UpdateTokens(update) => {
                        let issued = Box::pin(update_tokens(&config, update)).await;
                        if let Some(result) = issued {
                            core.handle_token_issued(result);
                        }
                    }
                    ServerAction::CheckPassword(check) => {
                        Box::pin(check_password(&mut core, check, &config.derivations)).await?;
                    }
                    ServerAction::Bind { bare, resource } => {
                        let resource = match resource {
                            Some(r) => r,
                            None => generated_resource()?,
                        };
                        let jid = bare.with_resource(&resource);
                        let result = config.registry.bind(&jid);
                        core.handle_bind(result.map(|b| {
                            bound = Some(b);
                            jid
                        }));
                    }
                    ServerAction::Resume { bare, request } => {
                        let claim = async {
                            match &config.resumable {
                                Some(sessions) => {
                                    sessions
                                        .claim(&request.previd, &bare, config.takeover_wait)
                                        .await
                                }
                                None => None,
                            }
                        };
                        let claimed = tokio::select! {
                            c = Box::pin(claim) => c,
                            () = crate::sleep_until(core.poll_timeout()) => {
                                core.handle_timeout(crate::now());
                                continue;
                            }
                        };
                        let Some(mut claimed) = claimed else {
                            core.handle_resume(ResumeOutcome::NotFound);
                            continue;
                        };
                        // A failed resumption drops the claim, which hands the
                        // session back to end it.
                        match claimed.sm().resume(&request) {
                            Ok(r) => {
                                let jid = claimed.jid().clone();
                                resumed = Some((claimed, r.resend));
                                core.handle_resume(ResumeOutcome::Resumed {
                                    jid,
                                    resumed: r.resumed,
                                });
                            }
                            Err(e) => core.handle_resume(ResumeOutcome::Broken(e)),
                        }
                    }
                    ServerAction::Established(n) => {
                        conn.flush().await?;
                        if let (Some((claimed, resend)), Some(sessions)) =
                            (resumed.take(), config.resumable.as_ref())
                        {
                            let session = claimed.into_resumed(sessions);
                            return Ok(XmppStream::resumed(
                                conn,
                                *n,
                                session,
                                resend,
                                config.sm_options(),
                                config.resumable.clone(),
                            ));
                        }
                        let mut side = crate::session::ServerSide {
                            sm: core.take_stream_management().map(Box::new),
                            offer: config.sm_options(),
                            resumable: config.resumable.clone(),
                            live: None,
                            bare: Some(n.jid.to_bare()),
                        };
                        side.register();
                        let sm = crate::session::StreamSm::Server(side);
                        return Ok(XmppStream::new(conn, *n, bound, sm));
                    }
                    ServerAction::Fail(err) => {
                        let _ = conn.flush().await;
                        Box::pin(conn.abandon()).await;
                        return Err(err);
                    }
                }
            }
            conn.flush().await?;
            let mech = core.mechanism();
            match conn.next_until(core.poll_timeout(), mech).await {
                Event::Frame(frame) => core.handle_frame(frame),
                Event::Eof => core.handle_eof(),
                Event::Timeout(now) => core.handle_timeout(now),
            }
        }
    }
}

/// Applies a change to a domain's FAST tokens; the result of an issue, for
/// the core.
async fn update_tokens(
    config: &ServerConfig,
    update: TokenUpdate,
) -> Option<Result<(), xmpp_sasl::StoreError>> {
    let domain = match &update {
        TokenUpdate::Issue { domain, .. }
        | TokenUpdate::Used { domain, .. }
        | TokenUpdate::Invalidate { domain, .. } => domain.clone(),
    };
    let Some(store) = config.domain(&domain).and_then(|d| d.tokens.clone()) else {
        let missing = xmpp_sasl::StoreError::msg("no token store for this domain");
        return matches!(update, TokenUpdate::Issue { .. }).then_some(Err(missing));
    };
    match update {
        TokenUpdate::Issue {
            username,
            user_agent,
            token,
            ..
        } => Some(store.issue(&username, &user_agent, token).await),
        // The login goes on whatever the store says: the token was valid.
        TokenUpdate::Used {
            username,
            user_agent,
            token,
            count,
            ..
        } => {
            let _ = store.used(&username, &user_agent, &token, count).await;
            None
        }
        TokenUpdate::Invalidate {
            username,
            user_agent,
            ..
        } => {
            let _ = store.invalidate(&username, &user_agent).await;
            None
        }
    }
}

/// Flushes `<proceed/>`, runs the handshake over the transport (with the
/// bytes the decoder read ahead) and rebuilds the connection on TLS.
#[cfg(feature = "tls")]
async fn start_tls<S>(
    mut conn: Conn<S>,
    core: &mut ServerCore,
    config: &ServerConfig,
) -> Result<Conn<S>, ServerError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    conn.flush().await?;
    if conn.framed.is_websocket() {
        return Err(ServerError::Internal("STARTTLS over WebSocket"));
    }
    let Some(tls) = config.tls.as_ref() else {
        return Err(ServerError::Internal("STARTTLS without a certificate"));
    };
    let (transport, buffered, codec, observer, client) = conn.into_transport();
    let handshake = crate::tls::upgrade_server(transport, buffered, tls);
    let result = match core.poll_timeout() {
        Some(deadline) => tokio::select! {
            r = handshake => r,
            () = crate::sleep_until(Some(deadline)) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        },
        None => handshake.await,
    };
    match result {
        Ok((transport, cb)) => {
            core.handle_tls(Ok(cb));
            Ok(Conn::rebuild(transport, codec, observer, client))
        }
        Err(e) => {
            // The transport is gone: the core can only report the failure.
            core.handle_tls(Err(e));
            Err(std::iter::from_fn(|| core.poll_action())
                .find_map(|action| match action {
                    ServerAction::Fail(err) => Some(err),
                    _ => None,
                })
                .unwrap_or(ServerError::Internal(
                    "a failed TLS handshake was not reported",
                )))
        }
    }
}

#[cfg(not(feature = "tls"))]
async fn start_tls<S>(
    _conn: Conn<S>,
    _core: &mut ServerCore,
    _config: &ServerConfig,
) -> Result<Conn<S>, ServerError> {
    Err(ServerError::Internal("STARTTLS without TLS support"))
}

/// A fresh random resource for a client that asked for none (RFC 6120
/// §7.6: the server generates one).
fn generated_resource() -> Result<jid::ResourcePart, ServerError> {
    // Hex digits always pass resourceprep.
    jid::ResourcePart::new(&crate::ids::resource())
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| ServerError::Internal("a generated resource is not valid"))
}

/// Runs `check` on the blocking pool under `limit` and reports to `core`:
/// the result, a refusal when the limit is reached, or the deadline.
async fn check_password(
    core: &mut ServerCore,
    check: PasswordCheck,
    limit: &DerivationLimit,
) -> Result<(), ServerError> {
    let Some(permit) = limit.try_acquire() else {
        core.handle_password_check_refused();
        return Ok(());
    };
    // The permit travels with the job: a check abandoned at the deadline
    // still counts until its thread is done with it.
    let job = tokio::task::spawn_blocking(move || {
        let checked = check.run();
        drop(permit);
        checked
    });
    tokio::select! {
        done = job => match done {
            Ok(checked) => core.handle_password_checked(checked),
            Err(_) => return Err(ServerError::Internal("the password check panicked")),
        },
        () = crate::sleep_until(core.poll_timeout()) => core.handle_timeout(crate::now()),
    }
    Ok(())
}
