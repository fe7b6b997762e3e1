//! `xmpp login`: log in to any server and print the bound JID.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use xmpp_sasl::MechanismSelector;
use xmpp_stream::client::{self, ClientConfig, TlsMode};
use xmpp_stream::{Observer, XmppStream};

use crate::cli::LoginArgs;
use crate::exit::{CmdResult, Code, Failure};
use crate::password;
use crate::transcript::Transcript;

/// Checks a `--mechanism` value and builds the selector for it.
pub fn selector(
    mechanism: Option<&str>,
    allow_plain: bool,
) -> Result<(MechanismSelector, bool), Failure> {
    match mechanism {
        None => Ok((
            MechanismSelector::default().allow_plain_insecure(allow_plain),
            true,
        )),
        Some(m) => {
            let m = m.to_ascii_uppercase();
            if !xmpp_sasl::SUPPORTED_MECHANISMS.contains(&m.as_str()) {
                return Err(Failure::usage(format!(
                    "unknown mechanism {m:?} (supported: {})",
                    xmpp_sasl::SUPPORTED_MECHANISMS.join(", ")
                )));
            }
            if m == "PLAIN" && !allow_plain {
                return Err(Failure::usage(
                    "PLAIN sends the password in the clear: without TLS it needs --allow-plain-without-tls",
                ));
            }
            let s = MechanismSelector::with_preference(vec![m.clone()])
                .allow_only(vec![m])
                .allow_plain_insecure(allow_plain);
            Ok((s, false))
        }
    }
}

/// Applies `--tls` and `--ca-file`.
pub fn apply_tls(
    mut config: ClientConfig,
    tls: crate::cli::ClientTls,
    ca_file: Option<&std::path::Path>,
) -> Result<ClientConfig, Failure> {
    use crate::cli::ClientTls as T;
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

/// Runs `xmpp login`.
pub async fn run(args: LoginArgs) -> CmdResult {
    let (selector, fallback) = selector(args.mechanism.as_deref(), args.allow_plain_without_tls)?;
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
    config = apply_tls(config, args.tls, args.ca_file.as_deref())?;
    config.fallback = fallback;
    config.timeout = args.timeout;
    let server = args
        .server
        .clone()
        .unwrap_or_else(|| format!("{}:5222", config.domain));
    let tcp = dial(&server, args.timeout).await?;
    let observer: Option<Arc<dyn Observer>> =
        args.transcript.then(|| Arc::new(Transcript::stdout()) as _);
    let stream = client::connect(tcp, config, observer).await.map_err(|e| {
        let f = Failure::from(e);
        Failure::new(f.code, format!("login to {server} failed: {}", f.message))
    })?;
    let jid = stream.jid().to_owned();
    tracing::info!(jid, mechanism = stream.info().mechanism, "logged in");
    close(stream, Duration::from_secs(1)).await;
    if args.transcript {
        println!("Bound JID: {jid}");
    } else {
        println!("{jid}");
    }
    Ok(())
}
