//! `xmpp demo --sasl2` and `--fast`: a SASL2 (XEP-0388) login with Bind2
//! (XEP-0386) over STARTTLS, printed step by step with its round trips; with
//! `--fast`, a second login with the FAST token (XEP-0484) the first one
//! asked for. Each ends with the round trips compared with an RFC 6120 login
//! to the same server, measured on a connection of its own (not shown).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpStream;
use xmpp_sasl::{Mechanism, MechanismSelector, MemoryStore, MemoryTokenStore};
use xmpp_stream::client::{self, ClientConfig, Sasl2Mode, TlsMode};
use xmpp_stream::server::{ServerConfig, TlsPolicy};
use xmpp_stream::{ClientError, XmppStream};

use super::sasl2_transcript::{RoundTrips, Sasl2Transcript};
use super::{ping_and_close, DemoServer, PASSWORD};
use crate::cli::DemoArgs;
use crate::exit::{CmdResult, Code, Failure};
use crate::tls::{Generated, Probe, ProbeState};

/// Runs `xmpp demo --sasl2` (or `--fast`).
pub async fn run(args: DemoArgs) -> CmdResult {
    let mechanism = args.mechanism.unwrap_or(Mechanism::ScramSha256);
    if mechanism.is_fast() {
        return Err(Failure::usage(format!(
            "{mechanism} logs in with a FAST token, which a password login asks for: use --fast (with a password mechanism)"
        )));
    }
    // TLS comes first, so PLAIN needs no flag.
    let (selector, _) = crate::login::selector(Some(mechanism), false, true)?;
    let generated = crate::tls::generate(std::slice::from_ref(&args.domain))
        .map_err(|e| Failure::new(Code::Other, e))?;
    let config = server_config(&args, mechanism, &generated)?;
    let server = DemoServer::start(config, None).await?;
    print_introduction(&args, mechanism, server.addr);
    let demo = Demo {
        args: &args,
        generated: &generated,
        selector,
        addr: server.addr,
    };
    let result = if args.fast {
        demo.fast(mechanism).await
    } else {
        demo.sasl2(mechanism).await
    };
    server.stop().await;
    result
}

/// The server: the demo user in memory, the chosen mechanism first and the
/// usual password mechanisms after it, STARTTLS required, SASL2 with Bind2,
/// and FAST with a token store in memory.
fn server_config(
    args: &DemoArgs,
    mechanism: Mechanism,
    generated: &Generated,
) -> Result<ServerConfig, Failure> {
    let store = MemoryStore::new();
    store
        .add(&args.user, PASSWORD, &[&args.domain])
        .map_err(|e| Failure::usage(format!("--user: {e}")))?;
    let mut config = ServerConfig::new(&args.domain, Arc::new(store));
    let mut offered = vec![mechanism];
    for m in [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ] {
        if m != mechanism {
            offered.push(m);
        }
    }
    config.mechanisms = offered;
    config.tls = Some(generated.server.clone());
    config.tls_policy = TlsPolicy::Required;
    config.sasl2 = true;
    // The demo shows SASL2, Bind2 and FAST; stream management (XEP-0198),
    // which Bind2 would enable inline, is left out to keep it to those.
    config.stream_management = None;
    if args.fast {
        for d in &mut config.domains {
            d.tokens = Some(Arc::new(MemoryTokenStore::new()));
        }
    }
    Ok(config)
}

fn print_introduction(args: &DemoArgs, mechanism: Mechanism, addr: SocketAddr) {
    let who = format!("{}@{} (password {PASSWORD:?})", args.user, args.domain);
    if args.fast {
        out!(
            "xmpp demo --fast: two SASL2 (XEP-0388) logins of {who} to a server on {addr}: \
             first with the password ({mechanism}), asking for a FAST token (XEP-0484); then, on \
             a new connection with the same user agent, with that token instead of the password."
        );
    } else {
        out!(
            "xmpp demo --sasl2: a SASL2 (XEP-0388) login with Bind2 (XEP-0386) of {who} with \
             {mechanism} to a server on {addr}."
        );
    }
    out!(
        "Over TCP with STARTTLS (a throwaway certificate for the domain, trusted by this process \
         only): the server offers SASL2 on TLS streams only, as XEP-0388 expects."
    );
    out!(
        "Every element is shown as sent on the wire, SASL payloads decoded beneath{}.",
        if args.fast { ", tokens redacted" } else { "" }
    );
    out!(
        "Each step says in which round trip after the TCP connect it travels: one each time the \
         client sends and then waits for the server; the TLS 1.3 handshake takes one."
    );
    out!();
}

/// One demo run's fixed parts.
struct Demo<'a> {
    args: &'a DemoArgs,
    generated: &'a Generated,
    selector: MechanismSelector,
    addr: SocketAddr,
}

/// A finished login: the stream and its round trips.
struct LoggedIn {
    stream: XmppStream<Probe<TcpStream>>,
    round_trips: RoundTrips,
}

impl Demo<'_> {
    /// `--sasl2`: one login, shown, then the RFC 6120 count.
    async fn sasl2(&self, mechanism: Mechanism) -> CmdResult {
        let config = self.client_config(PASSWORD, self.selector.clone())?;
        let login = self.log_in(config, true).await?;
        let info = login.stream.info().clone();
        let bound = ping_and_close(login.stream, &self.args.domain).await;
        let rfc6120 = self.rfc6120_round_trips().await?;
        out!();
        out!(
            "Result: authenticated with {} over SASL2{} as {bound}.",
            info.mechanism,
            if info.bound_inline {
                " and bound inline by Bind2"
            } else {
                ", then bound with a <bind/> IQ,"
            }
        );
        out!(
            "Round trips after the TCP connect: {} (the first {} until TLS is up, then {} for the \
             login itself).",
            login.round_trips.total,
            login.round_trips.until_tls,
            login.round_trips.total - login.round_trips.until_tls
        );
        out!(
            "The same {mechanism} login with RFC 6120 SASL (a stream restart after <success/>, \
             then a <bind/> IQ) took {rfc6120}: measured on another connection to this server, \
             not shown."
        );
        Ok(())
    }

    /// `--fast`: a password login that asks for a token, then a token login.
    async fn fast(&self, mechanism: Mechanism) -> CmdResult {
        out!("Login 1: SASL2 with the password ({mechanism}), asking for a FAST token");
        out!();
        let mut config = self.client_config(PASSWORD, self.selector.clone())?;
        config.request_fast_token = true;
        let user_agent = config.user_agent.clone();
        let first = self.log_in(config, true).await?;
        let info = first.stream.info().clone();
        crate::login::close(first.stream, Duration::from_secs(2)).await;
        out!();
        let Some(token) = info.fast_token.clone() else {
            return Err(Failure::new(
                Code::Other,
                "the server issued no FAST token in the first login",
            ));
        };
        out!(
            "Result of login 1: authenticated with {} and bound as {}; the server issued a FAST \
             token for {}, valid for {}. Round trips after the TCP connect: {}.",
            info.mechanism,
            info.jid,
            token.mechanism,
            validity(token.expires),
            first.round_trips.total
        );
        out!();
        out!(
            "Login 2: a new connection, the same user agent, the token instead of the password \
             (the client is given no password this time)"
        );
        out!();
        let mut config = self.client_config("", self.selector.clone())?;
        config.user_agent = user_agent;
        config.fast_token = Some(token);
        let second = self.log_in(config, true).await?;
        let info2 = second.stream.info().clone();
        let bound = ping_and_close(second.stream, &self.args.domain).await;
        let rfc6120 = self.rfc6120_round_trips().await?;
        out!();
        if !info2.mechanism.is_fast() || info2.fast_token_refused {
            return Err(Failure::new(
                Code::Other,
                format!(
                    "the second login did not use the token (it used {})",
                    info2.mechanism
                ),
            ));
        }
        out!(
            "Result of login 2: authenticated with the token ({}) and bound as {bound}. Round \
             trips after the TCP connect: {}.",
            info2.mechanism,
            second.round_trips.total
        );
        out!();
        out!(
            "Round trips after the TCP connect: FAST token login {}, SASL2 password login {}, \
             RFC 6120 password login {rfc6120} (measured on another connection to this server, \
             not shown).",
            second.round_trips.total,
            first.round_trips.total
        );
        out!(
            "The token login is one message each way: the client's HMAC proves it holds the \
             token, the server's HMAC in <success/> proves it knows it."
        );
        Ok(())
    }

    /// The demo user's SASL2 client: only `selector`'s mechanisms, STARTTLS
    /// required and trusting the demo's CA, SASL2 required, no resource
    /// asked for (Bind2 makes one from the tag).
    fn client_config(
        &self,
        password: &str,
        selector: MechanismSelector,
    ) -> Result<ClientConfig, Failure> {
        let jid = format!("{}@{}", self.args.user, self.args.domain);
        let mut config = ClientConfig::new(&jid, password)
            .map_err(Failure::usage)?
            .with_selector(selector)
            .with_tls(TlsMode::Required);
        config.tls_config = Some(
            crate::tls::trusting(&self.generated.ca).map_err(|e| Failure::new(Code::Other, e))?,
        );
        config.sasl2 = Sasl2Mode::Required;
        config.fallback = false;
        config.timeout = Duration::from_secs(10);
        Ok(config)
    }

    /// Connects and negotiates with the transcript on stdout (`shown`) or
    /// only counting.
    async fn log_in(&self, config: ClientConfig, shown: bool) -> Result<LoggedIn, Failure> {
        let tcp = crate::login::dial(&self.addr.to_string(), Duration::from_secs(5)).await?;
        let probe = Arc::new(ProbeState::default());
        let out: Box<dyn Write + Send> = if shown {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::io::sink())
        };
        let trust = format!(
            "The server's certificate was verified for {} against the demo's throwaway CA.",
            self.args.domain
        );
        let transcript = Arc::new(Sasl2Transcript::new(out, probe.clone(), &trust));
        let observer: Arc<dyn xmpp_stream::Observer> = transcript.clone();
        let result = client::connect(Probe::new(tcp, probe), config, Some(observer)).await;
        let round_trips = transcript.logged_in();
        match result {
            Ok(stream) => Ok(LoggedIn {
                stream,
                round_trips,
            }),
            Err(e) => Err(failed(e)),
        }
    }

    /// The round trips of an RFC 6120 login with the same mechanism.
    async fn rfc6120_round_trips(&self) -> Result<u32, Failure> {
        let mut config = self.client_config(PASSWORD, self.selector.clone())?;
        config.sasl2 = Sasl2Mode::Off;
        let login = self.log_in(config, false).await?;
        crate::login::close(login.stream, Duration::from_secs(2)).await;
        Ok(login.round_trips.total)
    }
}

fn failed(e: ClientError) -> Failure {
    let f = Failure::from(e);
    Failure::new(f.code, format!("demo login failed: {}", f.message))
}

/// How long until `expires`, roughly.
fn validity(expires: SystemTime) -> String {
    let secs = expires
        .duration_since(SystemTime::now())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match secs {
        s if s >= 2 * 86_400 => format!("{} days", (s + 43_200) / 86_400),
        s if s >= 2 * 3_600 => format!("{} hours", (s + 1_800) / 3_600),
        s => format!("{s} seconds"),
    }
}
