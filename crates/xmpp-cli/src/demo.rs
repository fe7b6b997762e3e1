//! `xmpp demo`: the RFC 3920 §6.5 example exchange between a server and a
//! client in this process, over real TCP on 127.0.0.1, printed step by step;
//! with `--sasl2` or `--fast`, a SASL2 login ([`sasl2`]) instead.

mod sasl2;
mod sasl2_transcript;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use xmpp_sasl::{Mechanism, MechanismSelector, MemoryStore};
use xmpp_stream::client::{self, ClientConfig, Sasl2Mode, TlsMode};
use xmpp_stream::server::{ServerConfig, SessionFeature, TlsPolicy};
use xmpp_stream::{ClientError, XmppStream};
use xmpp_xml::{ns, Element};

use crate::cli::DemoArgs;
use crate::exit::{CmdResult, Code, Failure};
use crate::serve::inject::{Action, Injection, Step};
use crate::serve::{self, Shared};
use crate::tls::Probe;
use crate::transcript::Transcript;

/// The demo user's password (shown: it is a demo).
const PASSWORD: &str = "secret";

/// `--fail CONDITION` (the step follows from the condition, as in the
/// RFC 3920 §6.5 example) or `--fail STEP=CONDITION`.
fn parse_fail(fail: &str, mechanism: Mechanism) -> Result<Injection, Failure> {
    let spec = if fail.contains('=') {
        fail.to_owned()
    } else if let Some(c) = xmpp_sasl::Condition::from_name(fail) {
        use xmpp_sasl::Condition as C;
        // The RFC 3920 §6.5 example answers a bad <auth/> at step 5 and
        // fails later steps (7, 9) with temporary-auth-failure.
        let step = match c {
            C::IncorrectEncoding
            | C::InvalidMechanism
            | C::MechanismTooWeak
            | C::EncryptionRequired
            | C::MalformedRequest
            | C::InvalidAuthzid => "auth",
            _ => "response",
        };
        format!("{step}={fail}")
    } else {
        format!("header={fail}")
    };
    let mut inj: Injection = spec
        .parse()
        .map_err(|e: String| Failure::usage(e.replacen("--inject", "--fail", 1)))?;
    // PLAIN has no second round: its answer to <auth/> is the last one.
    if mechanism == Mechanism::Plain && inj.step == Step::Response {
        inj.step = Step::Auth;
    }
    Ok(inj)
}

/// Runs the demo: a server on 127.0.0.1, one login to it with the transcript
/// on stdout, and the outcome checked against `--fail`.
pub async fn run(args: DemoArgs) -> CmdResult {
    if args.sasl2 || args.fast {
        return sasl2::run(args).await;
    }
    let mechanism = args.mechanism.unwrap_or(Mechanism::DigestMd5);
    let (selector, _) = crate::login::selector(Some(mechanism), true, false)?;
    let injection = check_arguments(&args, mechanism)?;
    let generated = args
        .tls
        .then(|| crate::tls::generate(std::slice::from_ref(&args.domain)))
        .transpose()
        .map_err(|e| Failure::new(Code::Other, e))?;
    let config = server_config(&args, mechanism, generated.as_ref())?;
    let server = DemoServer::start(config, injection).await?;
    print_introduction(&args, mechanism, server.addr, injection);
    let config = client_config(&args, selector, generated.as_ref())?;
    let result = log_in(&args, config, server.addr).await?;
    let outcome = judge(result, injection, &args.domain).await;
    server.stop().await;
    outcome
}

/// Checks the mechanism against `--tls` and turns `--fail` into the
/// injection the server gets.
fn check_arguments(args: &DemoArgs, mechanism: Mechanism) -> Result<Option<Injection>, Failure> {
    if mechanism.is_plus() && !args.tls {
        return Err(Failure::usage(format!(
            "{mechanism} binds to the TLS channel: add --tls"
        )));
    }
    let injection = args
        .fail
        .as_deref()
        .map(|f| parse_fail(f, mechanism))
        .transpose()?;
    if let (true, Some(i)) = (args.tls, injection) {
        // The injector reads the server's clear text; after <proceed/> it is TLS.
        if !matches!(i.step, Step::Header | Step::Starttls) {
            return Err(Failure::usage(format!(
                "--fail {i} happens inside TLS, where the demo cannot inject: use it without --tls (with --tls: header= or starttls= steps)"
            )));
        }
    }
    Ok(injection)
}

/// The server: the demo user in memory, the RFC 3920 §6.5 example's
/// mechanisms with the chosen one first, the legacy session required,
/// STARTTLS required with `--tls`, and no SASL2 (this is the RFC 6120 demo).
fn server_config(
    args: &DemoArgs,
    mechanism: Mechanism,
    generated: Option<&crate::tls::Generated>,
) -> Result<ServerConfig, Failure> {
    let store = MemoryStore::new();
    store
        .add(&args.user, PASSWORD, &[&args.domain])
        .map_err(|e| Failure::usage(format!("--user: {e}")))?;
    let mut config = ServerConfig::new(&args.domain, Arc::new(store));
    let mut offered = vec![mechanism];
    for m in [Mechanism::DigestMd5, Mechanism::Plain] {
        if m != mechanism {
            offered.push(m);
        }
    }
    config.mechanisms = offered;
    config.allow_plain_insecure = true;
    config.rspauth_in_success = args.rspauth_in_success;
    config.session = SessionFeature::Required;
    config.close_after_sasl_failure = true;
    config.sasl2 = false;
    // Nor stream management (XEP-0198), which the RFC 3920 example predates.
    config.stream_management = None;
    if let Some(g) = generated {
        config.tls = Some(g.server.clone());
        config.tls_policy = TlsPolicy::Required;
    }
    Ok(config)
}

/// `xmpp serve`'s accept loop on an ephemeral port, in this process.
struct DemoServer {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl DemoServer {
    async fn start(config: ServerConfig, injection: Option<Injection>) -> Result<Self, Failure> {
        let queues = serve::QueueLimits {
            max_bytes: 1 << 20,
            max_total_bytes: 1 << 24,
        };
        let shared = Shared::new(Arc::new(config), injection.into_iter().collect(), queues);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Failure::new(Code::Network, format!("cannot listen on 127.0.0.1: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::new(Code::Network, e))?;
        let (stop, stopped) = oneshot::channel::<()>();
        let limits = serve::ConnectionLimits {
            max_connections: 16,
            max_pending_per_ip: 16,
        };
        let c2s = serve::C2s::single(listener);
        let task = tokio::spawn(serve::serve(c2s, None, None, shared, limits, async {
            let _ = stopped.await;
        }));
        Ok(DemoServer { addr, stop, task })
    }

    /// Shuts the server down and waits (briefly) for it.
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(6), self.task).await;
    }
}

fn print_introduction(
    args: &DemoArgs,
    mechanism: Mechanism,
    addr: SocketAddr,
    injection: Option<Injection>,
) {
    out!(
        "xmpp demo: {mechanism} login of {}@{} (password {PASSWORD:?}) to a server on {addr}, over TCP{}.",
        args.user,
        args.domain,
        if args.tls {
            " with STARTTLS (a throwaway certificate for the domain, trusted by this process only)"
        } else {
            ""
        }
    );
    if let Some(i) = injection {
        out!("The server is told to fail: --inject {i}");
    }
    out!("Every element is shown as sent on the wire; SASL payloads are decoded beneath.");
    out!();
}

/// The client: the demo user with resource `demo`, only the chosen
/// mechanism, and STARTTLS (trusting the demo's CA) exactly when `--tls`.
fn client_config(
    args: &DemoArgs,
    selector: MechanismSelector,
    generated: Option<&crate::tls::Generated>,
) -> Result<ClientConfig, Failure> {
    let jid = format!("{}@{}/demo", args.user, args.domain);
    let mut config = ClientConfig::new(&jid, PASSWORD)
        .map_err(Failure::usage)?
        .with_selector(selector)
        // The RFC 3920 §6.5 example has no TLS.
        .with_tls(if args.tls {
            TlsMode::Required
        } else {
            TlsMode::Off
        });
    if let Some(g) = generated {
        config.tls_config =
            Some(crate::tls::trusting(&g.ca).map_err(|e| Failure::new(Code::Other, e))?);
    }
    config.fallback = false;
    config.timeout = Duration::from_secs(10);
    config.sasl2 = Sasl2Mode::Off;
    Ok(config)
}

/// Connects and negotiates, printing the transcript as it happens.
async fn log_in(
    args: &DemoArgs,
    config: ClientConfig,
    addr: SocketAddr,
) -> Result<Result<XmppStream<Probe<TcpStream>>, ClientError>, Failure> {
    let tcp = crate::login::dial(&addr.to_string(), Duration::from_secs(5)).await?;
    let probe = Arc::new(crate::tls::ProbeState::default());
    let transcript = Arc::new(Transcript::stdout().with_probe(
        probe.clone(),
        &format!(
            "The server's certificate was verified for {} against the demo's throwaway CA.",
            args.domain
        ),
    ));
    let observer: Arc<dyn xmpp_stream::Observer> = transcript.clone();
    let io = Probe::new(tcp, probe);
    let result = client::connect(io, config, Some(observer)).await;
    if let Err(ClientError::Tls(reason)) = &result {
        transcript.tls_failed(reason);
    }
    Ok(result)
}

/// Finishes a successful login (one XEP-0199 ping, then a proper close) and
/// says whether the exchange went as asked: success without `--fail`, the
/// requested failure with it.
async fn judge(
    result: Result<XmppStream<Probe<TcpStream>>, ClientError>,
    injection: Option<Injection>,
    domain: &str,
) -> CmdResult {
    match result {
        Ok(stream) => {
            let bound = ping_and_close(stream, domain).await;
            out!();
            match injection {
                None => {
                    out!("Result: authenticated and bound as {bound}.");
                    Ok(())
                }
                Some(i) => Err(Failure::new(
                    Code::Other,
                    format!("the login succeeded although the server was told to fail with {i}"),
                )),
            }
        }
        Err(e) => {
            let f = Failure::from(e);
            out!();
            match injection {
                Some(i) if i.action != Action::Silence => {
                    out!("Result: the login failed as requested ({i}): {}", f.message);
                    Ok(())
                }
                _ => Err(Failure::new(
                    f.code,
                    format!("demo login failed: {}", f.message),
                )),
            }
        }
    }
}

/// Pings the server, closes the stream, and returns the bound JID.
async fn ping_and_close(mut stream: XmppStream<Probe<TcpStream>>, domain: &str) -> String {
    let ping = Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", "ping_1")
        .attr("to", domain)
        .append(Element::builder("ping", ns::PING).build())
        .build();
    if stream.send(ping).await.is_ok() {
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.next()).await;
    }
    let bound = stream.jid().to_string();
    crate::login::close(stream, Duration::from_secs(2)).await;
    bound
}
