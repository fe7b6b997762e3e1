//! bench-e2e's hold runs: the server's RSS per idle authenticated session,
//! without and with stream management, over one or more generators.

use super::{raise_nofile, spawn_with_stdin, start_ours, wait_stdout, Env, Opts, PREFIX};
use crate::peers::DOMAIN;

/// Sessions one `xmpp bench --hold` opens at most: it needs a descriptor
/// per session under the per-process limit (20,000 here), so larger
/// `--hold` counts are split over several generators.
const HOLD_PER_GENERATOR: usize = 10_000;

/// The RSS per idle authenticated session on our server: `--hold`
/// sessions, without and with stream management.
pub(super) fn hold(env: &Env, opts: &Opts) -> Result<(), String> {
    for sm in [false, true] {
        hold_run(env, opts, sm)?;
    }
    Ok(())
}

fn hold_run(env: &Env, opts: &Opts, sm: bool) -> Result<(), String> {
    let (server, addr, _) = start_ours(env, false, &[])?;
    let pid = server.child.id().to_string();
    let generators = opts.hold.div_ceil(HOLD_PER_GENERATOR).max(1);
    eprintln!(
        "bench-e2e: holding {} idle authenticated sessions{} on our server ({generators} generators)",
        opts.hold,
        if sm { " with stream management" } else { "" },
    );
    // Every generator reads the server's RSS before it starts and once all
    // of its sessions are open; they open theirs at the same time and hold
    // them long after, so the last "after" has every session open.
    let children = (0..generators)
        .map(|g| {
            let n = opts.hold / generators + usize::from(g < opts.hold % generators);
            let mut cmd = raise_nofile(&env.xmpp);
            // DIGEST-MD5: the cheapest login on both sides, so the hold run spends its
            // time opening sessions, not in PBKDF2. The ramp-up keeps the accept backlog short.
            cmd.args(["bench", "--server", &addr, "--domain", DOMAIN])
                .args(["--user-prefix", PREFIX, "--users", &opts.users.to_string()])
                .args(["--password-stdin", "--json", "--mechanism", "DIGEST-MD5"])
                .args(["--concurrency", &n.to_string(), "--hold"])
                .args(["--ramp-up", "10s", "--duration", "8s", "--timeout", "60s"])
                .args(["--tls", "off", "--server-pid", &pid]);
            if sm {
                cmd.arg("--stream-management");
            }
            spawn_with_stdin(cmd, "xmpp bench --hold")
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut reports = Vec::new();
    for child in children {
        let out = wait_stdout(child, "xmpp bench --hold")?;
        let v: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| format!("xmpp bench output: {e}: {out}"))?;
        reports.push(v);
    }
    let sum = |p: &str| {
        reports
            .iter()
            .filter_map(|v| v.pointer(p).and_then(serde_json::Value::as_f64))
            .sum::<f64>()
    };
    let each = |p: &str| {
        reports
            .iter()
            .filter_map(|v| v.pointer(p).and_then(serde_json::Value::as_f64))
            .collect::<Vec<_>>()
    };
    let held = sum("/held_connections");
    let before = each("/server_rss_kib_before").into_iter().reduce(f64::min);
    let after = each("/server_rss_kib_after").into_iter().reduce(f64::max);
    let target = if sm { 6.0 } else { 4.0 };
    println!(
        "\nIdle authenticated sessions on our server (xmpp bench --hold{}, DIGEST-MD5, {generators} generators)",
        if sm { " --stream-management" } else { "" }
    );
    println!(
        "  requested {}   held {held}   failures {}",
        opts.hold,
        sum("/failures")
    );
    match (before, after) {
        (Some(b), Some(a)) if held > 0.0 => {
            let per = (a - b) / held;
            println!("  server RSS {b:.0} KiB -> {a:.0} KiB");
            println!(
                "  RSS delta per idle connection: {per:.2} KiB (target <= {target} KiB: {})",
                if per <= target { "met" } else { "NOT met" }
            );
        }
        _ => println!("  RSS delta per idle connection: n/a"),
    }
    for v in &reports {
        if let Some(m) = v.get("failures_by_condition").and_then(|m| m.as_object()) {
            if !m.is_empty() {
                println!("  failures by condition: {m:?}");
            }
        }
    }
    drop(server);
    Ok(())
}
