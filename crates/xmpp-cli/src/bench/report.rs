//! The report of `xmpp bench`: a table, or JSON with `--json`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::PoisonError;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::{Cpu, Totals, USER_HZ};
use crate::cli::BenchArgs;
use crate::exit::{Code, Failure};

/// The final report (`--json` prints it as is).
#[derive(Debug, Serialize)]
pub(super) struct Report {
    /// `--server`, or the `--websocket` URL.
    server: String,
    /// `tcp`, or `websocket` with `--websocket`.
    transport: &'static str,
    mechanism: Option<String>,
    /// `rfc6120`, `sasl2`, `fast` (only token logins counted) or `resume`
    /// (only resumptions counted, as `logins`).
    mode: &'static str,
    concurrency: usize,
    users: u32,
    duration_s: f64,
    pub(super) logins: u64,
    pub(super) failures: u64,
    logins_per_second: f64,
    latency_ms: Latency,
    failures_by_condition: BTreeMap<String, u64>,
    held_connections: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_rss_kib_before: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_rss_kib_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_rss_bytes_per_connection: Option<f64>,
    /// CPU time (user + system) of the generator per successful login.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_cpu_us_per_login: Option<f64>,
    /// CPU time of `--server-pid` per successful login.
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cpu_us_per_login: Option<f64>,
    /// The mechanism of each counted login.
    mechanisms_used: BTreeMap<String, u64>,
    /// Counted logins that used SASL2 (XEP-0388).
    sasl2_logins: u64,
    /// Counted logins whose resource Bind2 (XEP-0386) bound.
    bound_inline_logins: u64,
    /// `--fast`: the password logins that asked for the workers' tokens;
    /// `--resume`: those that opened the sessions resumed (neither counted
    /// in `logins`, the rate or the latencies).
    #[serde(skip_serializing_if = "Option::is_none")]
    password_logins: Option<u64>,
    /// `--fast`: tokens the server issued to those password logins.
    #[serde(skip_serializing_if = "Option::is_none")]
    fast_tokens_issued: Option<u64>,
    /// `--fast`: new tokens the server sent with token logins (rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    fast_tokens_rotated: Option<u64>,
    /// `--resume`: messages in flight at a cut whose echo never came after
    /// the resumption (must be 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    resumed_stanzas_lost: Option<u64>,
    /// `--resume`: echoes that came twice (must be 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    resumed_stanzas_duplicated: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Latency {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
    mean: f64,
}

impl Latency {
    /// Percentiles in milliseconds (all zero without a successful login).
    fn of(hist: Option<&Histogram<u64>>) -> Self {
        let ms = |us: u64| us as f64 / 1000.0;
        match hist {
            Some(h) if !h.is_empty() => Latency {
                p50: ms(h.value_at_quantile(0.50)),
                p90: ms(h.value_at_quantile(0.90)),
                p99: ms(h.value_at_quantile(0.99)),
                max: ms(h.max()),
                mean: h.mean() / 1000.0,
            },
            _ => Latency {
                p50: 0.0,
                p90: 0.0,
                p99: 0.0,
                max: 0.0,
                mean: 0.0,
            },
        }
    }
}

impl Report {
    /// The report of a finished run; `rss` and `cpu` are (before, after).
    pub(super) fn new(
        args: &BenchArgs,
        totals: &Totals,
        elapsed: f64,
        rss: (Option<u64>, Option<u64>),
        cpu: (Option<Cpu>, Option<Cpu>),
    ) -> Self {
        let ok = totals.ok.load(Ordering::Relaxed);
        let held = totals.held.load(Ordering::Relaxed);
        let hist = totals
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let per_conn = match (rss, held) {
            ((Some(b), Some(a)), h) if h > 0 => Some((a as f64 - b as f64) * 1024.0 / h as f64),
            _ => None,
        };
        let per_login = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if ok > 0 => {
                Some(b.saturating_sub(a) as f64 / USER_HZ * 1e6 / ok as f64)
            }
            _ => None,
        };
        let fast = |n: &AtomicU64| args.fast.then(|| n.load(Ordering::Relaxed));
        let resume = |n: &AtomicU64| args.resume.then(|| n.load(Ordering::Relaxed));
        Report {
            server: args
                .websocket
                .clone()
                .unwrap_or_else(|| args.server.clone()),
            transport: if args.websocket.is_some() {
                "websocket"
            } else {
                "tcp"
            },
            mechanism: args.mechanism.map(|m| m.to_string()),
            mode: match (args.fast, args.sasl2) {
                _ if args.resume => "resume",
                (true, _) => "fast",
                (false, true) => "sasl2",
                (false, false) => "rfc6120",
            },
            concurrency: args.concurrency,
            users: args.users,
            duration_s: elapsed,
            logins: ok,
            failures: totals.failed.load(Ordering::Relaxed),
            logins_per_second: ok as f64 / elapsed.max(1e-9),
            latency_ms: Latency::of(hist.as_ref()),
            failures_by_condition: totals
                .failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            held_connections: held,
            server_rss_kib_before: rss.0,
            server_rss_kib_after: rss.1,
            server_rss_bytes_per_connection: per_conn,
            client_cpu_us_per_login: per_login(
                cpu.0.and_then(|c| c.generator),
                cpu.1.and_then(|c| c.generator),
            ),
            server_cpu_us_per_login: per_login(
                cpu.0.and_then(|c| c.server),
                cpu.1.and_then(|c| c.server),
            ),
            mechanisms_used: totals
                .mechanisms
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            sasl2_logins: totals.sasl2.load(Ordering::Relaxed),
            bound_inline_logins: totals.bound_inline.load(Ordering::Relaxed),
            password_logins: fast(&totals.password_logins).or(resume(&totals.password_logins)),
            fast_tokens_issued: fast(&totals.tokens_issued),
            fast_tokens_rotated: fast(&totals.tokens_rotated),
            resumed_stanzas_lost: resume(&totals.sm_lost),
            resumed_stanzas_duplicated: resume(&totals.sm_duplicated),
        }
    }
}

/// Prints the report as JSON or as a table.
pub(super) fn print_report(report: &Report, json: bool) -> Result<(), Failure> {
    if json {
        let out = serde_json::to_string_pretty(report).map_err(|e| Failure::new(Code::Other, e))?;
        println!("{out}");
    } else {
        print_table(report);
    }
    Ok(())
}

fn print_table(r: &Report) {
    println!(
        "server        {} ({})",
        r.server,
        r.mechanism.as_deref().unwrap_or("best offered mechanism")
    );
    match r.transport {
        "websocket" => println!("transport     websocket (RFC 7395): a WebSocket per login"),
        _ => println!("transport     tcp"),
    }
    match r.mode {
        "fast" => println!(
            "mode          FAST token logins (XEP-0484): only these are counted, timed and in \
             the rate; not the {} password logins that asked for the workers' tokens ({} \
             issued, {} rotated since)",
            r.password_logins.unwrap_or(0),
            r.fast_tokens_issued.unwrap_or(0),
            r.fast_tokens_rotated.unwrap_or(0)
        ),
        "resume" => println!(
            "mode          stream management resumptions (XEP-0198): only these are counted, \
             timed and in the rate, as logins; not the {} logins that opened the sessions \
             ({}); resumed stanzas lost {}, duplicated {}",
            r.password_logins.unwrap_or(0),
            if r.sasl2_logins > 0 { "SASL2, resumed inline" } else { "RFC 6120" },
            r.resumed_stanzas_lost.unwrap_or(0),
            r.resumed_stanzas_duplicated.unwrap_or(0)
        ),
        "sasl2" => println!(
            "mode          SASL2 (XEP-0388), Bind2 (XEP-0386) when offered: {} of {} logins bound inline",
            r.bound_inline_logins, r.logins
        ),
        _ => println!("mode          RFC 6120 SASL, then resource binding"),
    }
    if !r.mechanisms_used.is_empty() {
        let used: Vec<String> = r
            .mechanisms_used
            .iter()
            .map(|(m, n)| format!("{m}: {n}"))
            .collect();
        println!("mechanisms    {}", used.join(", "));
    }
    println!("concurrency   {}   users {}", r.concurrency, r.users);
    println!(
        "logins        {} ok, {} failed in {:.2} s",
        r.logins, r.failures, r.duration_s
    );
    println!("logins/s      {:.1}", r.logins_per_second);
    let l = &r.latency_ms;
    println!(
        "latency ms    p50 {:.2}   p90 {:.2}   p99 {:.2}   max {:.2}   mean {:.2}",
        l.p50, l.p90, l.p99, l.max, l.mean
    );
    if r.failures_by_condition.is_empty() {
        println!("failures      none");
    } else {
        for (i, (c, n)) in r.failures_by_condition.iter().enumerate() {
            let label = if i == 0 { "failures" } else { "" };
            println!("{label:<13} {c}: {n}");
        }
    }
    println!("held          {}", r.held_connections);
    if let Some(c) = r.client_cpu_us_per_login {
        print!("CPU/login     generator {c:.0} us");
        match r.server_cpu_us_per_login {
            Some(s) => println!("   server {s:.0} us"),
            None => println!(),
        }
    }
    if let (Some(b), Some(a)) = (r.server_rss_kib_before, r.server_rss_kib_after) {
        print!("server RSS    {b} KiB -> {a} KiB");
        match r.server_rss_bytes_per_connection {
            Some(p) => println!(" ({p:.0} bytes per held connection)"),
            None => println!(),
        }
    }
}
