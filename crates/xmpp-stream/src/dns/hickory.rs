//! [`Resolve`] with hickory-resolver: the system's name servers, or one
//! given.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::TokioResolver;

use super::{DnsError, Resolve, Srv};

/// A DNS resolver (hickory-resolver) over UDP, and TCP for truncated
/// answers. Cheap to clone; clones share the cache.
///
/// ```no_run
/// use std::time::Duration;
/// use xmpp_stream::dns::DnsResolver;
///
/// // The name servers of /etc/resolv.conf (the registry on Windows):
/// let system = DnsResolver::system()?;
/// // Or one name server, for tests and split-horizon setups:
/// let local = DnsResolver::with_name_server("127.0.0.1:5353".parse()?, Duration::from_secs(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct DnsResolver {
    inner: TokioResolver,
}

impl DnsResolver {
    /// The system's configuration: its name servers, search list and
    /// timeouts (`/etc/resolv.conf` on Unix); `/etc/hosts` is consulted
    /// for addresses.
    pub fn system() -> Result<Self, DnsError> {
        let failed = |e: NetError| DnsError::Failed {
            name: "the system's resolver configuration".to_owned(),
            reason: e.to_string(),
        };
        let mut builder = TokioResolver::builder_tokio().map_err(failed)?;
        builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        Ok(DnsResolver {
            inner: builder.build().map_err(failed)?,
        })
    }

    /// Sends every query to the name server at `addr` (UDP, then TCP for
    /// truncated answers), waiting `timeout` for each answer, with one
    /// retry. `/etc/hosts` is not consulted: the name server alone
    /// answers.
    pub fn with_name_server(addr: SocketAddr, timeout: Duration) -> Self {
        let mut server = NameServerConfig::udp_and_tcp(addr.ip());
        for connection in &mut server.connections {
            connection.port = addr.port();
        }
        let config = ResolverConfig::from_name_servers(vec![server]);
        let mut options = ResolverOpts::default();
        options.timeout = timeout;
        options.attempts = 1;
        options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
        options.use_hosts_file = ResolveHosts::Never;
        let inner = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(options)
            .build();
        DnsResolver {
            // Building fails only for DNSSEC or encrypted transports, which
            // this configuration does not ask for.
            inner: match inner {
                Ok(r) => r,
                Err(e) => unreachable_config(e),
            },
        }
    }

    /// A resolver from hickory's own configuration.
    pub fn from_hickory(inner: TokioResolver) -> Self {
        DnsResolver { inner }
    }

    /// The name `host` is an alias of (its CNAME record), if it is one.
    /// RFC 2782 forbids an SRV target to be an alias; `xmpp probe` says
    /// so.
    pub async fn cname(&self, host: &str) -> Result<Option<String>, DnsError> {
        use hickory_resolver::proto::rr::RecordType;
        match self.inner.lookup(fqdn(host), RecordType::CNAME).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .find_map(|record| match &record.data {
                    RData::CNAME(alias) => Some(target_name(&alias.0.to_ascii())),
                    _ => None,
                })),
            Err(e) => no_records(host, e).map(|()| None),
        }
    }
}

#[cold]
fn unreachable_config(e: NetError) -> ! {
    // A plain UDP/TCP configuration always builds; say what broke if not.
    panic!("hickory-resolver refused a plain name server configuration: {e}")
}

/// `name` as a fully qualified name, so that no search domain is
/// appended.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_owned()
    } else {
        format!("{name}.")
    }
}

/// `Ok(())` for "the name has no such record" (NXDOMAIN, NODATA); the
/// error for anything else.
fn no_records(name: &str, e: NetError) -> Result<(), DnsError> {
    match &e {
        NetError::Dns(HickoryDnsError::NoRecordsFound(n))
            if matches!(
                n.response_code,
                ResponseCode::NXDomain | ResponseCode::NoError
            ) =>
        {
            Ok(())
        }
        NetError::Timeout => Err(DnsError::Timeout {
            name: name.to_owned(),
        }),
        _ => Err(DnsError::Failed {
            name: name.to_owned(),
            reason: e.to_string(),
        }),
    }
}

impl Resolve for DnsResolver {
    async fn srv(&self, name: &str) -> Result<Vec<Srv>, DnsError> {
        let lookup = match self.inner.srv_lookup(fqdn(name)).await {
            Ok(lookup) => lookup,
            Err(e) => return no_records(name, e).map(|()| Vec::new()),
        };
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::SRV(srv) => Some(Srv {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: target_name(&srv.target.to_ascii()),
                }),
                _ => None,
            })
            .collect())
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        match self.inner.lookup_ip(fqdn(host)).await {
            Ok(lookup) => Ok(lookup.iter().collect()),
            Err(e) => no_records(host, e).map(|()| Vec::new()),
        }
    }
}

/// An SRV target as shown: without the trailing dot, `.` for the root.
fn target_name(ascii: &str) -> String {
    match ascii.trim_end_matches('.') {
        "" => ".".to_owned(),
        name => name.to_owned(),
    }
}
