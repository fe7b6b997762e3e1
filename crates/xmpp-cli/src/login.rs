//! `xmpp login`: log in to any server and print the bound JID.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use xmpp_sasl::{Mechanism, MechanismSelector};
use xmpp_stream::client::{self, ClientConfig, TlsMode};
use xmpp_stream::{Observer, XmppStream};

use crate::cli::{ClientTls, LoginArgs};
use crate::exit::{CmdResult, Code, Failure};
use crate::password;
use crate::transcript::Transcript;

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
fn trust(mut config: ClientConfig, args: &LoginArgs) -> Result<ClientConfig, Failure> {
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
    let f = Failure::from(e);
    let mut message = format!("login to {server} failed: {}", f.message);
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
) -> Result<XmppStream<S>, xmpp_stream::ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if direct {
        client::connect_direct_tls(io, config, observer).await
    } else {
        client::connect(io, config, observer).await
    }
}

/// Logs in, prints, closes.
async fn finish<S: AsyncRead + AsyncWrite + Unpin>(
    result: Result<XmppStream<S>, xmpp_stream::ClientError>,
    server: &str,
    transcript: Option<&Transcript>,
    allow_plain: bool,
) -> CmdResult {
    let stream = match result {
        Ok(s) => s,
        Err(e) => {
            if let (Some(t), xmpp_stream::ClientError::Tls(reason)) = (transcript, &e) {
                t.tls_failed(reason);
            }
            return Err(failure(e, server, allow_plain));
        }
    };
    let jid = stream.jid().to_string();
    tracing::info!(jid, mechanism = %stream.info().mechanism, "logged in");
    close(stream, Duration::from_secs(1)).await;
    if transcript.is_some() {
        out!("Bound JID: {jid}");
    } else {
        out!("{jid}");
    }
    Ok(())
}

/// Runs `xmpp login`.
pub async fn run(args: LoginArgs) -> CmdResult {
    let tls = args.tls;
    if args.direct_tls && matches!(tls, ClientTls::Off) {
        return Err(Failure::usage(
            "--direct-tls and --tls off contradict each other",
        ));
    }
    let tls_first = args.direct_tls || matches!(tls, ClientTls::Required);
    let (selector, fallback) = selector(args.mechanism, args.allow_plain_without_tls, tls_first)?;
    // Check the JID before asking for a password.
    ClientConfig::new(&args.jid, "-").map_err(Failure::usage)?;
    let password = password::read(
        args.password_stdin,
        &format!("Password for {}: ", args.jid),
        false,
    )?;
    let mut config = ClientConfig::new(&args.jid, &password).map_err(Failure::usage)?;
    drop(password);
    if let Some(r) = &args.resource {
        config = config.with_resource(r);
    }
    config = config.with_selector(selector);
    config = apply_tls(config, tls, args.ca_file.as_deref())?;
    config = trust(config, &args)?;
    config.fallback = fallback;
    config.timeout = args.timeout;
    let port = if args.direct_tls { 5223 } else { 5222 };
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| format!("{}:{port}", config.domain));
    let tcp = dial(&server, args.timeout).await?;
    if args.transcript {
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
        let observer: Arc<dyn Observer> = transcript.clone();
        let io = crate::tls::Probe::new(tcp, probe);
        let result = negotiate(io, config, Some(observer), args.direct_tls).await;
        finish(
            result,
            &server,
            Some(&transcript),
            args.allow_plain_without_tls,
        )
        .await
    } else {
        let result = negotiate(tcp, config, None, args.direct_tls).await;
        finish(result, &server, None, args.allow_plain_without_tls).await
    }
}
