//! The TLS logins table: full RFC 6120 logins over STARTTLS with
//! `--tls-mechanism` (default SCRAM-SHA-256-PLUS, channel binding
//! `tls-exporter`), on our server with a full TLS handshake per login
//! (`xmpp bench --no-tls-resumption`) and with TLS 1.3 resumption (the
//! tickets of earlier logins), and on fresh private Prosody 13 and ejabberd
//! 24.12 (the modern peers, which offer -PLUS with XEP-0440; `xmpp bench`
//! offers them the tickets they sent, but neither resumes). Our same login
//! without TLS (the mechanism without -PLUS) gives the handshake's share of
//! our server CPU per login.

use super::report::{print_failures, print_targets};
use std::fmt::Write as _;

use super::{
    bench_modern, bench_with, keep, modern_peers, setup, start_ours, Env, Mode, Opts, Row,
};

/// One row and how its TLS was set up.
struct TlsRow {
    row: Row,
    /// "none", "full" or "resumed" (ours); "offered" (the peers').
    handshake: &'static str,
}

pub(super) fn run(env: &Env, opts: &Opts) -> Result<(), String> {
    if !env.peers.ca_file().is_file() {
        eprintln!(
            "bench-e2e: no test PKI at {} (cargo xtask interop start makes it); TLS logins table skipped",
            env.peers.pki_dir().display()
        );
        return Ok(());
    }
    let mech = opts.tls_mechanism.as_str();
    let plain_mech = mech.trim_end_matches("-PLUS");
    let mut rows = Vec::new();
    let ours = |tls: bool, mech: &str, extra: &[&str]| -> Result<Row, String> {
        let (server, addr, _) = start_ours(env, tls, &[])?;
        let pid = server.child.id();
        bench_with(
            env,
            opts,
            "ours",
            &addr,
            Some(pid),
            mech,
            tls,
            Mode::Rfc6120,
            extra,
        )
    };
    rows.push(TlsRow {
        row: ours(false, plain_mech, &[])?,
        handshake: "none",
    });
    rows.push(TlsRow {
        row: ours(true, mech, &["--no-tls-resumption"])?,
        handshake: "full",
    });
    rows.push(TlsRow {
        row: ours(true, mech, &[])?,
        handshake: "resumed",
    });
    if opts.peers {
        for peer in modern_peers(env) {
            let mut r = Vec::new();
            keep(
                &mut r,
                bench_modern(env, opts, peer, mech, Mode::Rfc6120, false),
            );
            rows.extend(r.into_iter().map(|row| TlsRow {
                row,
                handshake: "offered",
            }));
        }
    }
    print(&setup(opts), env.cert_kind(), &rows);
    Ok(())
}

fn print(setup: &str, cert: &str, rows: &[TlsRow]) {
    println!(
        "\nFull logins over STARTTLS (TLS 1.3, test CA, {cert}), RFC 6120: {setup}, closing without waiting for the server's close"
    );
    println!(
        "(handshake: none = our same login without TLS; full = no resumption; resumed = the client offers a ticket of an earlier login; offered = the client offers tickets, the server decides)"
    );
    println!(
        "{:<13} {:<20} {:<9} {:>10} {:>9} {:>9} {:>9} {:>13}",
        "server",
        "mechanism",
        "handshake",
        "logins/s",
        "p50 ms",
        "p99 ms",
        "failures",
        "srv CPU/login"
    );
    for TlsRow { row: r, handshake } in rows {
        let cpu = r
            .cpu_us
            .map(|c| format!("{c:.0} us"))
            .unwrap_or_else(|| "n/a".into());
        println!(
            "{:<13} {:<20} {:<9} {:>10.1} {:>9.2} {:>9.2} {:>9} {:>13}",
            r.target, r.mechanism, handshake, r.rate, r.p50, r.p99, r.failures, cpu
        );
        print_failures(r);
    }
    print_targets(&targets(rows));
}

/// Our server CPU per login (full and resumed) against each peer's: at most
/// 1/5 of ejabberd's and 1/10 of Prosody's; and the TLS handshake's share of
/// ours.
fn targets(rows: &[TlsRow]) -> String {
    let cpu = |target: &str, handshake: &str| {
        rows.iter()
            .find(|r| r.row.target == target && r.handshake == handshake)
            .and_then(|r| r.row.cpu_us)
            .filter(|c| *c > 0.0)
    };
    let mut out = String::new();
    let none = cpu("ours", "none");
    for handshake in ["full", "resumed"] {
        let Some(ours) = cpu("ours", handshake) else {
            continue;
        };
        if let Some(base) = none {
            let _ = write!(
                out,
                "\n  ours, {handshake} handshake: {ours:.0} us per login, {base:.0} us without TLS: the TLS handshake and records are {:.0} us, {:.0}% of it",
                ours - base,
                100.0 * (ours - base) / ours
            );
        }
        for peer in rows.iter().filter(|r| r.row.target != "ours") {
            let Some(theirs) = peer.row.cpu_us.filter(|c| *c > 0.0) else {
                continue;
            };
            let need = if peer.row.target.starts_with("ejabberd") {
                5.0
            } else {
                10.0
            };
            let share = ours / theirs;
            let _ = write!(
                out,
                "\n  srv CPU/login, ours ({handshake}) vs {}: {ours:.0} us vs {theirs:.0} us = 1/{:.1} (target <= 1/{need}: {})",
                peer.row.target,
                1.0 / share,
                if share <= 1.0 / need { "met" } else { "NOT met" }
            );
        }
    }
    out
}
