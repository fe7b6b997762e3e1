//! Where `xmpp login`, `send` and `shell` connect: `--server` if given,
//! else the JID's domain found through DNS SRV (RFC 6120 §3.2, XEP-0368),
//! with `--resolver` (or `XMPP_RESOLVER`) as the name server.

use std::time::Duration;
use xmpp_stream::websocket::WsUrl;

use tokio::net::TcpStream;
use xmpp_stream::dns::{self, ConnectError, ConnectOptions, DnsResolver, Event, Target};

use crate::cli::ConnectArgs;
use crate::exit::{Code, Failure};

/// The longest one TCP connection attempt may take (one address of one
/// target): a dead target must leave time for the next.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for each DNS answer (the whole lookup is bounded by
/// `--timeout` too).
const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to the server, and how it was found.
pub struct Route {
    /// The connection.
    pub tcp: TcpStream,
    /// TLS from the first byte (`--direct-tls`, or an `_xmpps-client`
    /// target), else STARTTLS.
    pub direct: bool,
    /// The server, for messages: `--server`, or `target (address)`.
    pub server: String,
    /// Negotiate over WebSocket to this endpoint (`--websocket`, `--discover`).
    pub websocket: Option<WsUrl>,
}

/// Connects to the server of `domain` as `args` say. What the DNS said
/// and each target tried are logged (`-v`), and with `transcript` printed
/// on stdout as they happen, before the transcript's steps.
pub async fn open(domain: &str, args: &ConnectArgs, transcript: bool) -> Result<Route, Failure> {
    if let Some(url) = crate::discover::endpoint(domain, args).await? {
        let host = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        };
        return Ok(Route {
            tcp: crate::login::dial(&format!("{host}:{}", url.port), args.timeout).await?,
            direct: false,
            server: url.url.clone(),
            websocket: Some(url),
        });
    }
    if let Some(server) = &args.server {
        return Ok(Route {
            tcp: crate::login::dial(server, args.timeout).await?,
            direct: args.direct_tls,
            server: server.clone(),
            websocket: None,
        });
    }
    let resolver = match args.resolver {
        Some(addr) => DnsResolver::with_name_server(addr, DNS_TIMEOUT.min(args.timeout)),
        None => DnsResolver::system().map_err(|e| Failure::new(Code::Network, e))?,
    };
    let note = |line: String| {
        tracing::info!("{line}");
        if transcript {
            out!("{line}");
        }
    };
    let asked = match args.resolver {
        Some(addr) => format!("the name server at {addr}"),
        None => "the system's name servers".to_owned(),
    };
    note(format!(
        "DNS: looking up _xmpp-client._tcp.{domain} and _xmpps-client._tcp.{domain} with {asked}"
    ));
    let resolved = tokio::time::timeout(args.timeout, dns::resolve(domain, &resolver)).await;
    let mut resolution = match resolved {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(unreachable(domain, e.into())),
        Err(_) => {
            let e = dns::DnsError::Timeout {
                name: format!("the SRV records of {domain}"),
            };
            return Err(unreachable(domain, e.into()));
        }
    };
    note(format!("DNS: {}", Event::Resolved(&resolution)));
    if args.direct_tls {
        // Only TLS from the first byte: the direct TLS records, else the
        // domain on 5223 as before SRV.
        resolution.targets.retain(|t| t.direct_tls);
        if resolution.targets.is_empty() {
            note(format!(
                "DNS: no _xmpps-client._tcp target: trying {domain}:5223 (--direct-tls)"
            ));
            resolution.targets.push(Target {
                host: domain.to_owned(),
                port: 5223,
                direct_tls: true,
            });
        }
    }
    let order: Vec<String> = resolution.targets.iter().map(Target::to_string).collect();
    note(format!("DNS: targets in order: {}", order.join(", ")));
    let options = ConnectOptions::default().with_attempt_timeout(ATTEMPT_TIMEOUT.min(args.timeout));
    let connected = dns::connect_resolved(&resolution, &resolver, &options, &mut |e| {
        note(format!("connect: {e}"));
    })
    .await;
    match connected {
        Ok(c) => Ok(Route {
            tcp: c.stream,
            direct: c.target.direct_tls,
            websocket: None,
            server: format!("{} ({})", c.target, c.addr),
        }),
        Err(e) => Err(unreachable(domain, e)),
    }
}

/// Nothing worked: exit 5, naming what was tried.
fn unreachable(domain: &str, e: ConnectError) -> Failure {
    let message = match &e {
        ConnectError::Unreachable { attempts, .. } => {
            let mut m = format!("cannot connect to the server of {domain}; tried:");
            for a in attempts {
                m.push_str(&format!("\n  {a}"));
            }
            m
        }
        ConnectError::Dns(d) => format!("cannot find the server of {domain}: {d}"),
        _ => format!("cannot connect to the server of {domain}: {e}"),
    };
    Failure::new(Code::Network, message)
}
