//! Finding a domain's XMPP server (RFC 6120 §3.2, XEP-0368): DNS SRV
//! records for `_xmpp-client._tcp` (STARTTLS) and `_xmpps-client._tcp`
//! (direct TLS), merged into one RFC 2782 order, with the A/AAAA fallback
//! on port 5222 when the domain publishes no SRV record; then TCP
//! connection attempts, target after target, Happy Eyeballs style over
//! IPv6 and IPv4 ([`connect`]).
//!
//! The resolver is injectable: anything implementing [`Resolve`].
//! [`DnsResolver`] is the real one (hickory-resolver), on the system's
//! name servers or on one given ([`DnsResolver::with_name_server`]).
//!
//! What the procedure decides, after RFC 6120 §3.2.1 and XEP-0368:
//! - both names are queried; their records are merged into one set, each
//!   tagged STARTTLS or direct TLS, and ordered by priority, then weighted
//!   random within a priority ([`order`]);
//! - a name whose only record has the target `.` offers no service
//!   ([`Found::Unavailable`]): its records are left out. If that name is
//!   `_xmpp-client._tcp`, there is no A/AAAA fallback either;
//! - only when neither name has a record is the domain itself tried, on
//!   port 5222 with STARTTLS ([`Resolution::fallback`]). When records were
//!   found but every target failed, there is no fallback;
//! - whatever the target, TLS is checked against the XMPP domain, never
//!   the SRV target: [`Target`] says where to connect, not who the server
//!   must prove to be (see [`crate::client::connect_direct_tls`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use xmpp_stream::dns::{self, ConnectOptions, DnsResolver};
//!
//! let resolver = DnsResolver::system()?;
//! let connected = dns::connect("example.org", &resolver, &ConnectOptions::default(), &mut |event| {
//!     eprintln!("{event}");
//! })
//! .await?;
//! let config = xmpp_stream::client::ClientConfig::new("juliet@example.org", "secret")?;
//! # #[cfg(feature = "tls")] {
//! let stream = if connected.target.direct_tls {
//!     xmpp_stream::client::connect_direct_tls(connected.stream, config, None).await?
//! } else {
//!     xmpp_stream::client::connect(connected.stream, config, None).await?
//! };
//! # drop(stream); }
//! # Ok(()) }
//! ```

mod connect;
mod hickory;
mod order;

use std::fmt;
use std::future::Future;
use std::net::IpAddr;

pub use self::connect::{
    connect, connect_resolved, interleave, Attempt, ConnectError, ConnectOptions, Connected, Event,
};
pub use self::hickory::DnsResolver;
pub use self::order::{order, order_with};
/// The hickory-resolver crate [`DnsResolver`] wraps, for building
/// configurations of its own.
pub use hickory_resolver;

/// The SRV name for STARTTLS (RFC 6120 §3.2.1).
pub const XMPP_CLIENT: &str = "_xmpp-client._tcp";
/// The SRV name for direct TLS (XEP-0368).
pub const XMPPS_CLIENT: &str = "_xmpps-client._tcp";
/// The port tried on the domain itself when it publishes no SRV record.
pub const FALLBACK_PORT: u16 = 5222;

/// One SRV record as the resolver returns it (RFC 2782).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Srv {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative weight within a priority.
    pub weight: u16,
    /// The port to connect to.
    pub port: u16,
    /// The host to connect to, without a trailing dot; `.` alone is the
    /// root: "no service here".
    pub target: String,
}

impl Srv {
    /// The target is `.`: the service is decidedly not available.
    pub fn is_root(&self) -> bool {
        self.target == "." || self.target.is_empty()
    }
}

impl fmt::Display for Srv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.priority, self.weight, self.port, self.target
        )
    }
}

/// Where to connect: a host name (or address), a port, and whether TLS
/// starts with the first byte (XEP-0368) or with STARTTLS.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The host to resolve and connect to. Not the name the certificate
    /// is checked against: that is always the XMPP domain.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Direct TLS (from `_xmpps-client._tcp`) rather than STARTTLS.
    pub direct_tls: bool,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.direct_tls {
            "direct TLS"
        } else {
            "STARTTLS"
        };
        if self.host.contains(':') {
            write!(f, "[{}]:{} ({how})", self.host, self.port)
        } else {
            write!(f, "{}:{} ({how})", self.host, self.port)
        }
    }
}

/// What one SRV name held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Found {
    /// These records (never a lone `.`).
    Records(Vec<Srv>),
    /// No record: the name does not exist (NXDOMAIN) or has no SRV.
    Nothing,
    /// A single record with the target `.`: the service is decidedly not
    /// available (RFC 2782).
    Unavailable,
}

impl Found {
    fn from_records(records: Vec<Srv>) -> Found {
        match records.as_slice() {
            [] => Found::Nothing,
            [only] if only.is_root() => Found::Unavailable,
            // `.` among other targets means nothing: skip it.
            _ => Found::Records(records.into_iter().filter(|r| !r.is_root()).collect()),
        }
    }

    fn records(&self) -> &[Srv] {
        match self {
            Found::Records(r) => r,
            _ => &[],
        }
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Records(r) => {
                let shown: Vec<String> = r.iter().map(Srv::to_string).collect();
                write!(f, "{}", shown.join(", "))
            }
            Found::Nothing => f.write_str("no record"),
            Found::Unavailable => f.write_str("\".\" (service not available)"),
        }
    }
}

/// The outcome of [`resolve`]: what both SRV names held and the targets to
/// try, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The XMPP domain.
    pub domain: String,
    /// `_xmpp-client._tcp.<domain>` (STARTTLS).
    pub starttls: Found,
    /// `_xmpps-client._tcp.<domain>` (direct TLS).
    pub direct_tls: Found,
    /// The targets in the order to try them: SRV targets in RFC 2782 order,
    /// or the domain itself on port 5222 with STARTTLS.
    pub targets: Vec<Target>,
    /// No SRV record at all: `targets` is the domain on port 5222.
    pub fallback: bool,
}

/// Why a domain's server could not be found.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The query got no answer in time.
    #[error("DNS query for {name} timed out")]
    Timeout {
        /// The name queried.
        name: String,
    },
    /// The query failed: SERVFAIL, REFUSED, no usable name server, a
    /// malformed name.
    #[error("DNS query for {name} failed: {reason}")]
    Failed {
        /// The name queried.
        name: String,
        /// What the resolver said.
        reason: String,
    },
    /// The domain says it offers no XMPP client service: its
    /// `_xmpp-client._tcp` record is `.` and there is no direct TLS record.
    #[error("{domain} offers no XMPP client service (its _xmpp-client._tcp SRV record is \".\")")]
    Unavailable {
        /// The XMPP domain.
        domain: String,
    },
}

/// A DNS resolver: what [`resolve`] and [`connect`] ask. Implement it to
/// inject answers (tests, a cache, another DNS library).
pub trait Resolve: Send + Sync {
    /// The SRV records at `name` (a fully qualified name, without the
    /// trailing dot). A name that does not exist or has no SRV record is
    /// `Ok` with no records; only failures to get an answer are errors.
    fn srv(&self, name: &str) -> impl Future<Output = Result<Vec<Srv>, DnsError>> + Send;

    /// The IPv6 and IPv4 addresses of `host`, in any order; none is `Ok`
    /// and empty.
    fn ips(&self, host: &str) -> impl Future<Output = Result<Vec<IpAddr>, DnsError>> + Send;
}

/// Looks up both SRV names of `domain` (concurrently) and orders their
/// targets ([`order`]), or falls back to the domain on port 5222.
///
/// A failed query (timeout, SERVFAIL) of one name is tolerated when the
/// other one has records; when neither has, it is the error, since the
/// fallback is only for domains that publish no SRV record.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::net::IpAddr;
/// use xmpp_stream::dns::{resolve, DnsError, Resolve, Srv, Target};
///
/// /// Answers from a table: one STARTTLS record.
/// struct Table;
/// impl Resolve for Table {
///     async fn srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
///         Ok(match name {
///             "_xmpp-client._tcp.example.org" => vec![Srv {
///                 priority: 0,
///                 weight: 5,
///                 port: 5222,
///                 target: "xmpp.example.org".into(),
///             }],
///             _ => vec![],
///         })
///     }
///     async fn ips(&self, _host: &str) -> Result<Vec<IpAddr>, DnsError> {
///         Ok(vec![])
///     }
/// }
///
/// let found = resolve("example.org", &Table).await.unwrap();
/// assert!(!found.fallback);
/// assert_eq!(
///     found.targets,
///     [Target { host: "xmpp.example.org".into(), port: 5222, direct_tls: false }]
/// );
/// # }
/// ```
pub async fn resolve<R: Resolve + ?Sized>(
    domain: &str,
    resolver: &R,
) -> Result<Resolution, DnsError> {
    resolve_with(domain, resolver, &mut order::system_random).await
}

/// [`resolve`] with the random source of the weighted ordering given:
/// `random(n)` returns a number uniform in `0..=n` (see [`order_with`]).
pub async fn resolve_with<R: Resolve + ?Sized>(
    domain: &str,
    resolver: &R,
    random: &mut (dyn FnMut(u32) -> u32 + Send),
) -> Result<Resolution, DnsError> {
    let domain = domain.trim_end_matches('.');
    let client_name = format!("{XMPP_CLIENT}.{domain}");
    let direct_name = format!("{XMPPS_CLIENT}.{domain}");
    let (client, direct) = tokio::join!(resolver.srv(&client_name), resolver.srv(&direct_name));
    let client = client.map(Found::from_records);
    let direct = direct.map(Found::from_records);
    let (starttls, direct_tls) = match (client, direct) {
        (Ok(c), Ok(d)) => (c, d),
        // One name failed: go on with the other's records, if it has any
        // (the failed one counts as having none).
        (Ok(c @ Found::Records(_)), Err(_)) => (c, Found::Nothing),
        (Err(_), Ok(d @ Found::Records(_))) => (Found::Nothing, d),
        (Err(e), _) | (_, Err(e)) => return Err(e),
    };
    let mut records: Vec<(Srv, bool)> = Vec::new();
    records.extend(starttls.records().iter().map(|r| (r.clone(), false)));
    records.extend(direct_tls.records().iter().map(|r| (r.clone(), true)));
    if records.is_empty() {
        if starttls == Found::Unavailable {
            return Err(DnsError::Unavailable {
                domain: domain.to_owned(),
            });
        }
        return Ok(Resolution {
            domain: domain.to_owned(),
            targets: vec![Target {
                host: domain.to_owned(),
                port: FALLBACK_PORT,
                direct_tls: false,
            }],
            starttls,
            direct_tls,
            fallback: true,
        });
    }
    let targets = order_with(records, |(r, _)| (r.priority, r.weight), &mut *random)
        .into_iter()
        .map(|(r, direct_tls)| Target {
            host: r.target,
            port: r.port,
            direct_tls,
        })
        .collect();
    Ok(Resolution {
        domain: domain.to_owned(),
        starttls,
        direct_tls,
        targets,
        fallback: false,
    })
}

#[cfg(test)]
mod tests;
