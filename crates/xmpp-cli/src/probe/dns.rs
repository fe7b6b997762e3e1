//! The DNS part of the probe: both SRV names as published, the hosts they
//! name (addresses, aliases), and the endpoints to probe, in order.

use std::net::{IpAddr, SocketAddr};

use xmpp_stream::dns::{self, DnsError, DnsResolver, Resolve as _, Srv, XMPPS_CLIENT, XMPP_CLIENT};

use super::endpoint::Target;
use super::report::{Dns, Host, SrvName, SrvRecord};

/// Looks `domain` up: the report's DNS section and the targets.
pub async fn lookup(domain: &str, resolver: &DnsResolver, asked: String) -> (Dns, Vec<Target>) {
    let client_name = format!("{XMPP_CLIENT}.{domain}");
    let direct_name = format!("{XMPPS_CLIENT}.{domain}");
    let (client, direct) = tokio::join!(resolver.srv(&client_name), resolver.srv(&direct_name));
    let starttls = srv_name(client_name, client);
    let direct_tls = srv_name(direct_name, direct);
    let usable = |n: &SrvName| -> Vec<Srv> {
        n.records
            .iter()
            .filter(|r| r.target != ".")
            .map(|r| Srv {
                priority: r.priority,
                weight: r.weight,
                port: r.port,
                target: r.target.clone(),
            })
            .collect()
    };
    let mut tagged: Vec<(Srv, bool)> = usable(&starttls).into_iter().map(|r| (r, false)).collect();
    tagged.extend(usable(&direct_tls).into_iter().map(|r| (r, true)));
    let fallback = starttls.status == "none" && direct_tls.status == "none";
    let ordered: Vec<(String, u16, bool)> = if fallback {
        vec![(domain.to_owned(), dns::FALLBACK_PORT, false)]
    } else {
        dns::order(tagged, |(r, _)| (r.priority, r.weight))
            .into_iter()
            .map(|(r, direct)| (r.target, r.port, direct))
            .collect()
    };
    let mut names: Vec<String> = Vec::new();
    for (host, _, _) in &ordered {
        if !names.contains(host) {
            names.push(host.clone());
        }
    }
    let hosts = futures_util::future::join_all(names.iter().map(|n| host(n, resolver))).await;
    let targets = ordered
        .into_iter()
        .map(|(host, port, direct_tls)| {
            let ips = hosts
                .iter()
                .find(|h| h.name == host)
                .map(|h| h.addresses.clone())
                .unwrap_or_default();
            Target {
                addresses: ips
                    .iter()
                    .filter_map(|ip| ip.parse::<IpAddr>().ok())
                    .map(|ip| SocketAddr::new(ip, port))
                    .collect(),
                host,
                port,
                direct_tls,
            }
        })
        .collect();
    let report = Dns {
        resolver: asked,
        starttls,
        direct_tls,
        fallback,
        hosts,
    };
    (report, targets)
}

fn srv_name(name: String, answer: Result<Vec<Srv>, DnsError>) -> SrvName {
    match answer {
        Ok(records) => {
            let status = match records.as_slice() {
                [] => "none",
                [only] if only.is_root() => "unavailable",
                _ => "records",
            };
            SrvName {
                name,
                status,
                records: records
                    .into_iter()
                    .map(|r| SrvRecord {
                        priority: r.priority,
                        weight: r.weight,
                        port: r.port,
                        target: r.target,
                    })
                    .collect(),
                error: None,
            }
        }
        Err(e) => SrvName {
            name,
            status: "error",
            records: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}

/// A host's addresses (IPv6 first, then IPv4) and whether it is an alias.
async fn host(name: &str, resolver: &DnsResolver) -> Host {
    let (ips, cname) = tokio::join!(resolver.ips(name), async {
        if name.parse::<IpAddr>().is_ok() {
            Ok(None)
        } else {
            resolver.cname(name).await
        }
    });
    let mut h = Host {
        name: name.to_owned(),
        addresses: Vec::new(),
        cname: cname.ok().flatten(),
        error: None,
    };
    match ips {
        Ok(mut ips) => {
            ips.sort_by_key(|ip| (ip.is_ipv4(), *ip));
            h.addresses = ips.iter().map(IpAddr::to_string).collect();
        }
        Err(e) => h.error = Some(e.to_string()),
    }
    h
}

/// `--server HOST:PORT`: the one target, its addresses from the system.
pub async fn server(spec: &str, direct_tls: bool) -> Result<Target, String> {
    let (host, port) = spec
        .rsplit_once(':')
        .and_then(|(h, p)| {
            Some((
                h.trim_start_matches('[').trim_end_matches(']'),
                p.parse().ok()?,
            ))
        })
        .ok_or_else(|| format!("--server {spec}: expected HOST:PORT"))?;
    let addresses = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("--server {spec}: cannot resolve {host}: {e}"))?
        .collect();
    Ok(Target {
        host: host.to_owned(),
        port,
        direct_tls,
        addresses,
    })
}
