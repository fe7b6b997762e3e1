//! `xmpp probe`: what a domain's server offers and what is wrong with it,
//! from DNS to a bound session: SRV records, each endpoint's stream
//! header, features before and after TLS, the TLS handshake and
//! certificate, host-meta and WebSocket, and with credentials a login with
//! every mechanism offered.

mod checks;
mod dns;
mod endpoint;
mod features;
mod http;
mod login;
pub mod report;
mod table;
mod tls_info;
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use xmpp_stream::dns::DnsResolver;

use self::report::{Level, Report, SCHEMA};
use crate::duration;
use crate::exit::{CmdResult, Code, Failure};

/// `xmpp probe`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 no errors (warnings allowed), 1 errors, 5 nothing \
    reachable, 2 usage.\nThe JSON report (schema 1) only ever gains fields."
)]
pub struct ProbeArgs {
    /// The domain to probe, or an account (USER@DOMAIN) to also log in as
    /// (the password is prompted for, or read with --password-stdin).
    #[arg(value_name = "DOMAIN|JID")]
    pub target: String,
    /// Probe only this endpoint instead of the domain's SRV records. Host-meta is then
    /// fetched only with --host-meta.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// The --server endpoint speaks TLS from the first byte (XEP-0368).
    #[arg(long, requires = "server")]
    pub direct_tls: bool,
    /// Send the DNS queries to this name server instead of the system's.
    #[arg(long, env = "XMPP_RESOLVER", value_name = "IP:PORT")]
    pub resolver: Option<SocketAddr>,
    /// Verify certificates against the CA certificates in this PEM file instead of the
    /// system roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Fetch host-meta (XEP-0156) from this base URL instead of https://DOMAIN
    /// (http: allowed, for tests).
    #[arg(long, value_name = "URL")]
    pub host_meta: Option<String>,
    /// Also try this WebSocket endpoint (ws: or wss:); may be repeated.
    #[arg(long, value_name = "URL")]
    pub websocket: Vec<String>,
    /// Read the password from the first line of stdin instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
    /// Give up on each step (connect, answer, handshake) after this long.
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    pub timeout: Duration,
    /// Print the report as JSON (a stable schema, for monitoring) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Milliseconds, to a tenth.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// Runs `xmpp probe`. Exit: 0 no errors, 1 errors, 5 nothing reachable.
pub async fn run(args: ProbeArgs) -> CmdResult {
    let (domain, jid) = match args.target.split_once('@') {
        Some((_, d)) => (
            d.split('/').next().unwrap_or(d).to_owned(),
            Some(args.target.clone()),
        ),
        None => (args.target.trim_end_matches('.').to_owned(), None),
    };
    if domain.is_empty() || domain.contains(['/', ' ']) {
        return Err(Failure::usage(format!(
            "{:?} is not a domain or a JID",
            args.target
        )));
    }
    let password = match &jid {
        Some(j) => Some(crate::password::read(
            args.password_stdin,
            &format!("Password for {j}: "),
            false,
        )?),
        None if args.password_stdin => {
            return Err(Failure::usage(
                "--password-stdin needs an account to log in as: USER@DOMAIN",
            ))
        }
        None => None,
    };
    let roots = tls_info::roots(args.ca_file.as_deref()).map_err(|e| match &args.ca_file {
        Some(p) => Failure::usage(format!("--ca-file {}: {e}", p.display())),
        None => Failure::new(
            Code::Other,
            format!("cannot load the system's root certificates: {e}"),
        ),
    })?;
    let mut checks = checks::Checks::new();
    // `--resolver`'s name server, also asked for the host-meta URLs' hosts.
    let mut resolver: Option<DnsResolver> = None;
    let (dns_report, targets) = match &args.server {
        Some(spec) => (
            None,
            vec![dns::server(spec, args.direct_tls)
                .await
                .map_err(Failure::usage)?],
        ),
        None => {
            let (system, asked) = match args.resolver {
                Some(addr) => (
                    DnsResolver::with_name_server(addr, args.timeout.min(Duration::from_secs(5))),
                    addr.to_string(),
                ),
                None => (
                    DnsResolver::system().map_err(|e| Failure::new(Code::Network, e))?,
                    "system".to_owned(),
                ),
            };
            let (d, t) = dns::lookup(&domain, &system, asked).await;
            checks.dns(&d, &domain);
            resolver = args.resolver.map(|_| system);
            (Some(d), t)
        }
    };
    let user = jid
        .as_deref()
        .and_then(|j| j.split_once('@'))
        .map(|(u, _)| u.to_owned());
    let ctx = endpoint::Context {
        domain: domain.clone(),
        roots: roots.clone(),
        from: match &jid {
            Some(j) => j.split('/').next().unwrap_or(j).to_owned(),
            // Some servers (ejabberd 24.12) offer SASL2 only to a client that
            // names itself; a made-up account shows what a real one would see.
            None => format!("probe@{domain}"),
        },
        scram_user: user.unwrap_or_else(|| format!("xmpp-probe-{:08x}", rand_u32())),
        timeout: args.timeout,
    };
    let mut endpoints = Vec::new();
    for target in &targets {
        let e = endpoint::probe(target, &ctx).await;
        checks.endpoint(&e, &domain);
        endpoints.push(e);
    }
    let base = match (&args.host_meta, &args.server) {
        (Some(b), _) => Some(b.clone()),
        (None, None) => Some(format!("https://{domain}")),
        (None, Some(_)) => None,
    };
    let http = if base.is_some() || !args.websocket.is_empty() {
        let hctx = http::Context {
            domain: &domain,
            roots: &roots,
            timeout: args.timeout,
            resolver: resolver.as_ref(),
        };
        let h = http::probe(base.as_deref(), &args.websocket, &hctx).await;
        checks.http(&h);
        Some(h)
    } else {
        None
    };
    let login = match (&jid, &password) {
        (Some(j), Some(pw)) => {
            let usable = endpoints
                .iter()
                .zip(&targets)
                .find(|(e, _)| e.features_after_tls.is_some() || e.features_before_tls.is_some());
            let l = match usable {
                Some((e, t)) => Some(login::probe(j, pw, t, e, &args).await),
                None => None,
            };
            if let Some(l) = &l {
                checks.login(l);
            }
            l
        }
        _ => None,
    };
    let reachable = endpoints.iter().any(|e| e.reachable)
        || http
            .as_ref()
            .is_some_and(|h| h.websocket.iter().any(|w| w.opens_stream));
    if endpoints.iter().any(|e| e.reachable) {
        checks.soften_unreachable();
    }
    let (checks, fixes) = checks.finish();
    let verdict = checks.iter().map(|c| c.level).max().unwrap_or(Level::Ok);
    let exit_code = if !reachable {
        Code::Network as i32
    } else if verdict == Level::Error {
        1
    } else {
        0
    };
    let report = Report {
        schema: SCHEMA,
        domain,
        jid,
        verdict: if reachable { verdict } else { Level::Error },
        exit_code,
        dns: dns_report,
        endpoints,
        http,
        login,
        checks,
        fixes,
    };
    if args.json {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| Failure::new(Code::Other, e))?;
        out!("{text}");
    } else {
        table::print(&report);
    }
    match exit_code {
        0 => Ok(()),
        1 => Err(Failure::silent(Code::Other)),
        _ => Err(Failure::silent(Code::Network)),
    }
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    u32::from_le_bytes(b)
}
