//! `xmpp serve`'s arguments turned into the server's configuration: domains,
//! account store, mechanisms, limits, TLS certificate and fault injections.

use std::sync::Arc;

use xmpp_sasl::{Decoys, Mechanism, TokenStore};
use xmpp_stream::server::{
    ConflictPolicy, DerivationLimit, ResourceRegistry, ServerConfig, SessionFeature, TlsPolicy,
};
use xmpp_xml::Limits;

use super::admission::ConnectionLimits;
use super::inject::{Injection, Step};
use super::queue::QueueLimits;
use crate::cli::{ConflictMode, OnOff, ServeArgs, ServerSasl2, ServerTls, SessionMode};
use crate::exit::{Code, Failure};
use crate::store::{CacheConfig, DomainStore, SqlStore};

/// What `xmpp serve` runs with.
pub struct Settings {
    /// The negotiation settings, with the session registry.
    pub config: ServerConfig,
    /// The `--inject` faults.
    pub injections: Vec<Injection>,
    /// The served domains, first one first.
    pub domains: Vec<String>,
    /// Where the accounts are, for the log.
    pub store: String,
    /// The account store, watched for accounts that must lose their sessions.
    pub accounts: Arc<SqlStore>,
    /// Connection slots.
    pub connections: ConnectionLimits,
    /// Bounds on the sessions' queues.
    pub queues: QueueLimits,
}

/// File descriptors kept for everything but client connections: stdio, the
/// store's pool (SQLite: 4 connections of up to 3 files; PostgreSQL: 16
/// sockets), the listeners, the runtime's own, and the logs.
const RESERVED_FDS: u64 = 64;

/// Checks the arguments and builds the settings: opens the store, and loads
/// or generates the TLS certificate.
pub async fn build(args: &ServeArgs) -> Result<Settings, Failure> {
    let injections = injections(&args.inject)?;
    if args.account_check_interval.is_zero() {
        return Err(Failure::usage(
            "--account-check-interval must be more than 0 (it is a polling interval)",
        ));
    }
    if args.fast_token_ttl.is_zero() {
        return Err(Failure::usage("--fast-token-ttl must be more than 0"));
    }
    if args.sasl2 == ServerSasl2::Off && args.allow_sasl2_without_tls {
        tracing::warn!("--allow-sasl2-without-tls has no effect with --sasl2 off");
    }
    let domains = domains(&args.domain)?;
    let tls_offered = !matches!(args.tls, ServerTls::Off) || args.direct_tls.is_some();
    let mechanisms = mechanisms(
        args.mechanisms.as_deref(),
        args.allow_plain_without_tls,
        tls_offered,
    )?;
    let store = Arc::new(
        crate::user::open_store(&args.store)
            .await?
            .with_cache(CacheConfig {
                ttl: args.store_cache_ttl,
                max_entries: args.store_cache_size,
            }),
    );
    let accounts: Vec<Arc<DomainStore>> = domains
        .iter()
        .map(|d| Arc::new(DomainStore::new(store.clone(), d)))
        .collect();
    let mut config = ServerConfig::new(&domains[0], accounts[0].clone());
    for (d, a) in domains.iter().zip(&accounts).skip(1) {
        config.add_domain(d, a.clone());
    }
    // FAST is offered for the domains with a token store: none when SASL2
    // is off, so that no FAST element is ever sent then.
    if args.sasl2 == ServerSasl2::On {
        for (served, a) in config.domains.iter_mut().zip(&accounts) {
            served.tokens = Some(token_store_for(a));
        }
    }
    config.mechanisms = mechanisms;
    config.decoys = decoys(&store).await?;
    apply_negotiation(&mut config, args);
    config.tls = certificate(args, &domains, tls_offered)?;
    if config.tls_policy != TlsPolicy::Off {
        warn_about_injections_inside_tls(&injections);
    }
    Ok(Settings {
        config,
        injections,
        domains,
        store: store.location().to_owned(),
        accounts: store,
        connections: connection_limits(args, open_file_limit()),
        queues: QueueLimits {
            max_bytes: args.max_queued_bytes,
            max_total_bytes: args.max_queued_bytes_total,
        },
    })
}

/// `--max-connections`, by default what the open-file limit allows, and
/// `--max-pending-per-ip`.
fn connection_limits(args: &ServeArgs, fd_limit: Option<u64>) -> ConnectionLimits {
    let max_connections = args.max_connections.unwrap_or_else(|| {
        let max = default_max_connections(fd_limit);
        tracing::debug!(fd_limit, max, "--max-connections from the open-file limit");
        max
    });
    ConnectionLimits {
        max_connections: usize::try_from(max_connections).unwrap_or(usize::MAX),
        max_pending_per_ip: usize::try_from(args.max_pending_per_ip).unwrap_or(usize::MAX),
    }
}

/// One connection per file descriptor, less [`RESERVED_FDS`]; 1,024 when
/// the limit cannot be read, and never less than one.
fn default_max_connections(fd_limit: Option<u64>) -> u64 {
    fd_limit
        .map_or(1024, |limit| limit.saturating_sub(RESERVED_FDS))
        .max(1)
}

/// The process's soft limit on open files (RLIMIT_NOFILE); `None` when it
/// is unlimited or unknown.
#[cfg(unix)]
fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

#[cfg(not(unix))]
fn open_file_limit() -> Option<u64> {
    None
}

/// The SASL decoys for unknown users: keyed by the store's secret (so every
/// node and restart shows an unknown user the same salt), named as the store
/// names accounts, at the iteration count `xmpp user add` gives them.
async fn decoys(store: &SqlStore) -> Result<Decoys, Failure> {
    let secret = store.decoy_secret().await.map_err(|e| {
        Failure::new(
            Code::Other,
            format!(
                "cannot read the server secret from {}: {e}",
                store.location()
            ),
        )
    })?;
    // The default account key is nodeprep, as the store files names.
    Ok(Decoys::new(secret).with_iterations(xmpp_sasl::DEFAULT_ITERATIONS))
}

/// Parses every `--inject STEP=CONDITION`.
fn injections(specs: &[String]) -> Result<Vec<Injection>, Failure> {
    specs
        .iter()
        .map(|s| s.parse::<Injection>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::usage)
}

/// Checks each `--domain` and returns it prepared (RFC 7622).
fn domains(given: &[String]) -> Result<Vec<String>, Failure> {
    given
        .iter()
        .map(|d| {
            let parsed = jid::BareJid::new(d)
                .map_err(|e| Failure::usage(format!("invalid domain {d:?}: {e}")))?;
            if parsed.node().is_some() {
                return Err(Failure::usage(format!(
                    "--domain {d:?}: a domain has no localpart"
                )));
            }
            Ok(parsed.domain().as_str().to_owned())
        })
        .collect()
}

/// Validates and builds the offered mechanism list.
pub fn mechanisms(
    given: Option<&[Mechanism]>,
    allow_plain: bool,
    tls: bool,
) -> Result<Vec<Mechanism>, Failure> {
    let list = given.map_or(Mechanism::DEFAULT_OFFER.to_vec(), <[_]>::to_vec);
    if list.is_empty() {
        return Err(Failure::usage("--mechanisms: no mechanism given"));
    }
    if given.is_some() && !tls {
        if list.iter().any(|m| m.sends_password()) && !allow_plain {
            tracing::warn!(
                "PLAIN is listed but not offered without TLS: add --tls or --allow-plain-without-tls"
            );
        }
        if list.iter().any(|m| m.is_plus()) {
            tracing::warn!("the -PLUS mechanisms are only offered over TLS: add --tls");
        }
    }
    Ok(list)
}

/// Where the FAST tokens (XEP-0484) of a domain are kept: in the account
/// store, beside the accounts, which drops them when an account's password
/// changes or it is disabled or removed.
fn token_store_for(domain_store: &Arc<DomainStore>) -> Arc<dyn TokenStore> {
    domain_store.clone()
}

/// The negotiation settings that come straight from the arguments.
fn apply_negotiation(config: &mut ServerConfig, args: &ServeArgs) {
    if let Some(r) = &args.realm {
        config.set_realm(r);
    }
    config.allow_plain_insecure = args.allow_plain_without_tls;
    config.rspauth_in_success = args.rspauth_in_success;
    config.plain_cache =
        (args.plain_cache > 0).then(|| xmpp_sasl::Pbkdf2Cache::new(args.plain_cache));
    if let Some(n) = args.max_derivations {
        config.derivations = DerivationLimit::new(usize::try_from(n).unwrap_or(usize::MAX));
    }
    config.sasl_retries = args.sasl_retries;
    config.close_after_sasl_failure = args.close_after_sasl_failure;
    config.negotiation_timeout = args.negotiation_timeout;
    config.limits = Limits {
        max_stanza_bytes: args.max_stanza_bytes,
        ..Limits::default()
    };
    config.pre_auth_limits = Limits {
        max_stanza_bytes: args.pre_auth_max_stanza_bytes,
        ..Limits::default()
    };
    config.session = match args.session {
        SessionMode::Optional => SessionFeature::Optional,
        SessionMode::Required => SessionFeature::Required,
        SessionMode::Omitted => SessionFeature::Omitted,
    };
    config.registry = Arc::new(ResourceRegistry::new(match args.resource_conflict {
        ConflictMode::Replace => ConflictPolicy::Replace,
        ConflictMode::Refuse => ConflictPolicy::Refuse,
    }));
    config.sasl2 = args.sasl2 == ServerSasl2::On;
    config.allow_sasl2_insecure = args.allow_sasl2_without_tls;
    config.fast_token_ttl = args.fast_token_ttl;
    config.stream_management = (args.sm == OnOff::On).then(|| xmpp_stream::sm::ServerOptions {
        resumption: (!args.resume_timeout.is_zero()).then_some(args.resume_timeout),
        ..xmpp_stream::sm::ServerOptions::default()
    });
    // Sessions are parked by `session::connection` when their connection
    // is lost.
    config.resumable = Some(Arc::new(xmpp_stream::server::ResumableSessions::new()));
    config.tls_policy = match args.tls {
        ServerTls::Off => TlsPolicy::Off,
        ServerTls::Optional => TlsPolicy::Optional,
        ServerTls::Required => TlsPolicy::Required,
    };
}

/// The certificate for STARTTLS and direct TLS: `--tls-cert`/`--tls-key`,
/// or a throwaway one when TLS is offered without them (its CA written to
/// `--write-ca`).
fn certificate(
    args: &ServeArgs,
    domains: &[String],
    tls_offered: bool,
) -> Result<Option<xmpp_stream::tls::ServerTls>, Failure> {
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = xmpp_stream::tls::ServerTls::from_pem_files(cert, key).map_err(|e| {
                Failure::usage(format!("cannot load the TLS certificate or key: {e}"))
            })?;
            if !tls_offered {
                tracing::warn!(
                    "--tls-cert given but --tls off and no --direct-tls: TLS is not offered"
                );
            }
            Ok(Some(tls))
        }
        _ if tls_offered => {
            let generated =
                crate::tls::generate(domains).map_err(|e| Failure::new(Code::Other, e))?;
            match &args.write_ca {
                Some(path) => {
                    std::fs::write(path, &generated.ca_pem).map_err(|e| {
                        Failure::new(Code::Other, format!("--write-ca {}: {e}", path.display()))
                    })?;
                    tracing::warn!(
                        domains = ?domains,
                        ca = %path.display(),
                        "no --tls-cert: generated a throwaway certificate; clients can trust it with --ca-file {}",
                        path.display()
                    );
                }
                None => tracing::warn!(
                    domains = ?domains,
                    "no --tls-cert: generated a throwaway self-signed certificate that no client trusts \
                     (--write-ca PATH saves its CA for `xmpp login --ca-file PATH`)"
                ),
            }
            Ok(Some(generated.server))
        }
        _ if args.write_ca.is_some() => Err(Failure::usage(
            "--write-ca needs TLS: --tls optional|required or --direct-tls",
        )),
        _ => Ok(None),
    }
}

/// Injection reads the clear text: with STARTTLS, the steps after
/// `<proceed/>` only reach clients that do not use it.
fn warn_about_injections_inside_tls(injections: &[Injection]) {
    if injections
        .iter()
        .any(|i| !matches!(i.step, Step::Header | Step::Starttls))
    {
        tracing::warn!(
            "--inject after <proceed/> cannot look inside TLS: those steps apply only to clients that do not use STARTTLS"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_connection_cap_leaves_room_under_the_open_file_limit() {
        assert_eq!(default_max_connections(Some(1024)), 960);
        assert_eq!(default_max_connections(Some(20_000)), 19_936);
        assert_eq!(default_max_connections(Some(10)), 1);
        assert_eq!(default_max_connections(None), 1024);
    }

    #[cfg(unix)]
    #[test]
    fn the_open_file_limit_is_read() {
        assert!(open_file_limit().is_some_and(|n| n > RESERVED_FDS));
    }
}
