//! Probes one endpoint: TCP, the stream header, features before and after
//! TLS, the TLS handshake (and which versions it accepts alone), and
//! XEP-0474 in a SCRAM server-first.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use xmpp_stream::tls::{rustls, ALPN_XMPP_CLIENT};

use super::features;
use super::report::{Endpoint, Features, VersionSupport};
use super::tls_info::{self, Versions};
use super::wire::{Io, Wire};

/// What every endpoint probe needs.
pub struct Context {
    /// The XMPP domain: the stream's `to`, SNI and the certificate's name.
    pub domain: String,
    /// The roots certificates are verified against.
    pub roots: Arc<rustls::RootCertStore>,
    /// The stream's `from` once TLS is up.
    pub from: String,
    /// The user name for the XEP-0474 look at a SCRAM server-first.
    pub scram_user: String,
    /// Each step's limit.
    pub timeout: Duration,
}

/// Where to connect: a name or address, a port, how TLS starts, and the
/// addresses (already resolved) to try in turn.
pub struct Target {
    /// The host as found (SRV target, `--server`'s host).
    pub host: String,
    /// The port.
    pub port: u16,
    /// TLS from the first byte (XEP-0368).
    pub direct_tls: bool,
    /// The addresses to try, in order.
    pub addresses: Vec<SocketAddr>,
}

impl Target {
    /// `host:port (STARTTLS)`: the name of its checks.
    pub fn name(&self) -> String {
        let how = if self.direct_tls {
            "direct TLS"
        } else {
            "STARTTLS"
        };
        if self.host.contains(':') {
            format!("[{}]:{} ({how})", self.host, self.port)
        } else {
            format!("{}:{} ({how})", self.host, self.port)
        }
    }
}

/// Probes `target`.
pub async fn probe(target: &Target, ctx: &Context) -> Endpoint {
    let mut e = Endpoint {
        name: target.name(),
        host: target.host.clone(),
        port: target.port,
        address: None,
        transport: if target.direct_tls {
            "direct_tls"
        } else {
            "starttls"
        },
        reachable: false,
        connect_ms: None,
        error: None,
        stream: None,
        features_before_tls: None,
        tls: None,
        stream_after_tls: None,
        features_after_tls: None,
        downgrade_protection: None,
    };
    let (tcp, addr, took) = match connect(target, ctx.timeout).await {
        Ok(c) => c,
        Err(why) => {
            e.error = Some(why);
            return e;
        }
    };
    e.reachable = true;
    e.address = Some(addr.to_string());
    e.connect_ms = Some(super::ms(took));
    if let Err(why) = negotiate(&mut e, Box::new(tcp), target.direct_tls, ctx).await {
        e.error = Some(why);
    }
    if e.tls.is_some() {
        let (v12, v13) = tokio::join!(
            version_accepted(target, Versions::Tls12, ctx),
            version_accepted(target, Versions::Tls13, ctx)
        );
        if let Some(tls) = &mut e.tls {
            tls.versions = vec![
                VersionSupport {
                    version: "TLS1.2",
                    accepted: v12,
                },
                VersionSupport {
                    version: "TLS1.3",
                    accepted: v13,
                },
            ];
        }
    }
    e
}

/// The first address of `target` that accepts a TCP connection.
async fn connect(
    target: &Target,
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr, Duration), String> {
    if target.addresses.is_empty() {
        return Err(format!("{} has no address", target.host));
    }
    let mut failures = Vec::new();
    for &addr in &target.addresses {
        let started = Instant::now();
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                return Ok((tcp, addr, started.elapsed()));
            }
            Ok(Err(err)) => failures.push(format!("{addr}: {err}")),
            Err(_) => failures.push(format!("{addr}: no answer within {timeout:?}")),
        }
    }
    Err(format!("cannot connect: {}", failures.join("; ")))
}

/// Header, features, TLS, header and features again, filled into `e` as
/// they come; the error is the step that failed.
async fn negotiate(e: &mut Endpoint, tcp: Io, direct: bool, ctx: &Context) -> Result<(), String> {
    let started = Instant::now();
    let tls_io = if direct {
        tls(e, tcp, Versions::Any, ctx).await?
    } else {
        let mut wire = Wire::new(tcp, ctx.timeout);
        let (header, feats) = wire.open(&ctx.domain, None, started).await?;
        e.stream = Some(header);
        let feats = features::parse(&feats);
        let starttls = feats.starttls;
        e.features_before_tls = Some(feats);
        if !starttls {
            // No TLS here: the SCRAM look happens on this stream.
            e.downgrade_protection = ssdp(&mut wire, e.features_before_tls.as_ref(), ctx).await;
            wire.close().await;
            return Ok(());
        }
        let io = wire.starttls().await?;
        tls(e, io, Versions::Any, ctx).await?
    };
    let mut wire = Wire::new(tls_io, ctx.timeout);
    let (header, feats) = wire
        .open(&ctx.domain, Some(&ctx.from), Instant::now())
        .await?;
    if direct {
        e.stream = Some(header);
    } else {
        e.stream_after_tls = Some(header);
    }
    e.features_after_tls = Some(features::parse(&feats));
    e.downgrade_protection = ssdp(&mut wire, e.features_after_tls.as_ref(), ctx).await;
    wire.close().await;
    Ok(())
}

/// The TLS handshake into `e.tls`.
async fn tls(e: &mut Endpoint, io: Io, versions: Versions, ctx: &Context) -> Result<Io, String> {
    let alpn = (e.transport == "direct_tls").then_some(ALPN_XMPP_CLIENT);
    let (report, io) =
        tls_info::handshake(io, &ctx.domain, &ctx.roots, versions, alpn, ctx.timeout).await;
    let error = report.error.clone();
    e.tls = Some(report);
    io.ok_or_else(|| format!("TLS handshake failed: {}", error.unwrap_or_default()))
}

/// XEP-0474 through a SCRAM mechanism the features offer (not -PLUS: the
/// probe does not bind).
async fn ssdp(wire: &mut Wire, features: Option<&Features>, ctx: &Context) -> Option<bool> {
    let offered = &features?.mechanisms;
    let scram = ["SCRAM-SHA-256", "SCRAM-SHA-512", "SCRAM-SHA-1"]
        .into_iter()
        .find(|m| offered.iter().any(|o| o == m))?;
    wire.scram_server_first(scram, &ctx.scram_user).await
}

/// Whether `target` completes a handshake limited to `versions`.
async fn version_accepted(target: &Target, versions: Versions, ctx: &Context) -> bool {
    let Ok((tcp, _, _)) = connect(target, ctx.timeout).await else {
        return false;
    };
    let io: Io = if target.direct_tls {
        Box::new(tcp)
    } else {
        let mut wire = Wire::new(Box::new(tcp), ctx.timeout);
        if wire.open(&ctx.domain, None, Instant::now()).await.is_err() {
            return false;
        }
        match wire.starttls().await {
            Ok(io) => io,
            Err(_) => return false,
        }
    };
    let alpn = target.direct_tls.then_some(ALPN_XMPP_CLIENT);
    let (report, io) =
        tls_info::handshake(io, &ctx.domain, &ctx.roots, versions, alpn, ctx.timeout).await;
    if let Some(mut io) = io {
        // Close the TLS session cleanly rather than leave the server waiting.
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut io).await;
    }
    report.ok
}
