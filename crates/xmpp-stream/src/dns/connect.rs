//! Connecting to a domain's server: its targets in order, each target's
//! addresses raced Happy Eyeballs style (RFC 8305).

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tokio::net::TcpStream;

use super::{resolve, DnsError, Resolution, Resolve, Target};

/// How [`connect`] tries targets.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// The longest one TCP connection attempt (one address) may take, and
    /// one target's address lookup. 10 s by default.
    pub attempt_timeout: Duration,
    /// Happy Eyeballs: how long an attempt runs alone before the next
    /// address is tried beside it (RFC 8305 §5 recommends 250 ms).
    pub stagger: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            attempt_timeout: Duration::from_secs(10),
            stagger: Duration::from_millis(250),
        }
    }
}

impl ConnectOptions {
    /// With this per-attempt timeout.
    pub fn with_attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// With this Happy Eyeballs delay.
    pub fn with_stagger(mut self, stagger: Duration) -> Self {
        self.stagger = stagger;
        self
    }
}

/// One failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The target tried.
    pub target: Target,
    /// The address tried; `None` when the target's name gave none.
    pub addr: Option<SocketAddr>,
    /// Why it failed.
    pub error: String,
}

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.addr {
            Some(addr) => write!(f, "{} at {addr}: {}", self.target, self.error),
            None => write!(f, "{}: {}", self.target, self.error),
        }
    }
}

/// What [`connect`] does, as it does it: for logs and transcripts.
#[non_exhaustive]
#[derive(Debug)]
pub enum Event<'a> {
    /// The SRV records were looked up.
    Resolved(&'a Resolution),
    /// A TCP connection to `addr` is being attempted.
    Trying {
        /// The target.
        target: &'a Target,
        /// The address.
        addr: SocketAddr,
    },
    /// An attempt failed.
    Failed(&'a Attempt),
    /// Connected.
    Connected {
        /// The target.
        target: &'a Target,
        /// The address.
        addr: SocketAddr,
    },
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Resolved(r) if r.fallback => write!(
                f,
                "no SRV record for {} (_xmpp-client._tcp: {}; _xmpps-client._tcp: {}): trying the domain itself",
                r.domain, r.starttls, r.direct_tls
            ),
            Event::Resolved(r) => write!(
                f,
                "SRV records for {}: _xmpp-client._tcp: {}; _xmpps-client._tcp: {}",
                r.domain, r.starttls, r.direct_tls
            ),
            Event::Trying { target, addr } => write!(f, "trying {target} at {addr}"),
            Event::Failed(a) => write!(f, "failed: {a}"),
            Event::Connected { target, addr } => write!(f, "connected to {target} at {addr}"),
        }
    }
}

/// A TCP connection to a domain's server.
#[derive(Debug)]
pub struct Connected {
    /// The connection (`TCP_NODELAY` set).
    pub stream: TcpStream,
    /// The target it reached: STARTTLS or direct TLS.
    pub target: Target,
    /// The address it reached.
    pub addr: SocketAddr,
    /// The attempts that failed before.
    pub failed: Vec<Attempt>,
}

/// Why [`connect`] found no server.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The SRV lookups failed, or the domain offers no service.
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// Every target failed (or had no address).
    #[error("cannot connect to {domain}: {}", list(attempts))]
    Unreachable {
        /// The XMPP domain.
        domain: String,
        /// Every failed attempt, in order.
        attempts: Vec<Attempt>,
    },
}

fn list(attempts: &[Attempt]) -> String {
    if attempts.is_empty() {
        return "no target to try".to_owned();
    }
    let shown: Vec<String> = attempts.iter().map(Attempt::to_string).collect();
    shown.join("; ")
}

/// Resolves `domain` ([`resolve`]) and connects to its server: the
/// targets in order, each target's addresses raced ([`interleave`], one
/// more attempt every [`ConnectOptions::stagger`] or as soon as one
/// fails, the first connection winning). `report` hears every step.
///
/// Only TCP is tried here: TLS and the negotiation come after, on the
/// returned stream, with the certificate checked against `domain`.
pub async fn connect<R: Resolve + ?Sized>(
    domain: &str,
    resolver: &R,
    options: &ConnectOptions,
    report: &mut (dyn FnMut(&Event<'_>) + Send),
) -> Result<Connected, ConnectError> {
    let resolution = resolve(domain, resolver).await?;
    report(&Event::Resolved(&resolution));
    connect_resolved(&resolution, resolver, options, report).await
}

/// [`connect`] for a resolution made already (and perhaps filtered, e.g.
/// to its direct TLS targets); `Resolved` is not reported again.
pub async fn connect_resolved<R: Resolve + ?Sized>(
    resolution: &Resolution,
    resolver: &R,
    options: &ConnectOptions,
    report: &mut (dyn FnMut(&Event<'_>) + Send),
) -> Result<Connected, ConnectError> {
    let mut failed = Vec::new();
    for target in &resolution.targets {
        let ips =
            match tokio::time::timeout(options.attempt_timeout, resolver.ips(&target.host)).await {
                Ok(Ok(ips)) if ips.is_empty() => Err("the name has no address".to_owned()),
                Ok(Ok(ips)) => Ok(ips),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!(
                    "its address lookup timed out after {}",
                    humantime::format_duration(options.attempt_timeout)
                )),
            };
        let ips = match ips {
            Ok(ips) => ips,
            Err(error) => {
                let attempt = Attempt {
                    target: target.clone(),
                    addr: None,
                    error,
                };
                report(&Event::Failed(&attempt));
                failed.push(attempt);
                continue;
            }
        };
        let addrs = interleave(&ips)
            .into_iter()
            .map(|ip| SocketAddr::new(ip, target.port))
            .collect();
        if let Some((stream, addr)) = race(target, addrs, options, report, &mut failed).await {
            let _ = stream.set_nodelay(true);
            return Ok(Connected {
                stream,
                target: target.clone(),
                addr,
                failed,
            });
        }
    }
    Err(ConnectError::Unreachable {
        domain: resolution.domain.clone(),
        attempts: failed,
    })
}

/// RFC 8305 §4: addresses alternating between the families, IPv6 first,
/// each family in its given order.
///
/// ```
/// use std::net::IpAddr;
/// use xmpp_stream::dns::interleave;
///
/// let ips: Vec<IpAddr> = ["192.0.2.1", "192.0.2.2", "2001:db8::1"]
///     .iter()
///     .map(|s| s.parse().unwrap())
///     .collect();
/// let shown: Vec<String> = interleave(&ips).iter().map(|ip| ip.to_string()).collect();
/// assert_eq!(shown, ["2001:db8::1", "192.0.2.1", "192.0.2.2"]);
/// ```
pub fn interleave(ips: &[IpAddr]) -> Vec<IpAddr> {
    let mut v6 = ips.iter().filter(|ip| ip.is_ipv6()).copied();
    let mut v4 = ips.iter().filter(|ip| ip.is_ipv4()).copied();
    let mut out = Vec::with_capacity(ips.len());
    loop {
        let (a, b) = (v6.next(), v4.next());
        if a.is_none() && b.is_none() {
            return out;
        }
        out.extend(a);
        out.extend(b);
    }
}

/// Races TCP connections to `addrs` (in order, one more every `stagger`
/// or at once when one fails); the first to connect wins and the others
/// are dropped. Failures are added to `failed`.
async fn race(
    target: &Target,
    addrs: Vec<SocketAddr>,
    options: &ConnectOptions,
    report: &mut (dyn FnMut(&Event<'_>) + Send),
    failed: &mut Vec<Attempt>,
) -> Option<(TcpStream, SocketAddr)> {
    let timeout = options.attempt_timeout;
    let attempt = move |addr: SocketAddr| async move {
        let result = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("timed out after {}", humantime::format_duration(timeout)),
            )),
        };
        (addr, result)
    };
    let mut pending = addrs.into_iter();
    let mut running = FuturesUnordered::new();
    loop {
        if running.is_empty() {
            let addr = pending.next()?;
            report(&Event::Trying { target, addr });
            running.push(attempt(addr));
        }
        let more = pending.len() > 0;
        tokio::select! {
            Some((addr, result)) = running.next() => match result {
                Ok(stream) => {
                    report(&Event::Connected { target, addr });
                    return Some((stream, addr));
                }
                Err(e) => {
                    let a = Attempt { target: target.clone(), addr: Some(addr), error: e.to_string() };
                    report(&Event::Failed(&a));
                    failed.push(a);
                    // A failure starts the next attempt at once (RFC 8305 §5).
                    if let Some(next) = pending.next() {
                        report(&Event::Trying { target, addr: next });
                        running.push(attempt(next));
                    }
                }
            },
            () = tokio::time::sleep(options.stagger), if more => {
                if let Some(next) = pending.next() {
                    report(&Event::Trying { target, addr: next });
                    running.push(attempt(next));
                }
            }
        }
    }
}
