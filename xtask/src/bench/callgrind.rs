//! `cargo xtask bench negotiation --callgrind`: instructions per negotiation
//! under `valgrind --tool=callgrind`, for each part of the breakdown, and the
//! functions they are spent in. Unlike wall-clock times these repeat
//! exactly on a busy machine (nonces aside), so they show what a change
//! bought.
//!
//! Each mode of `benches/examples/negotiate.rs` runs twice, with `RUNS + 1`
//! and with 1 negotiation, counting only inside the driver function that
//! mode measures (`--toggle-collect`); the difference, divided by `RUNS`,
//! leaves out the set-up (the account's key derivation, the transcript) and
//! the first run's cold caches.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::process;
use crate::workspace;

const RUNS: u64 = 500;
/// (mode, what it measures, the driver function its work is counted in).
const MODES: [(&str, &str, &str); 5] = [
    ("full", "cores, mechanisms and codec", "negotiate"),
    ("direct", "cores and mechanisms, no XML", "negotiate"),
    ("mechanisms", "DIGEST-MD5 mechanisms alone", "mechanisms"),
    ("codec", "XML encode + decode alone", "replay_codec"),
    (
        "xml-floor",
        "quick-xml reading and writing the same bytes",
        "quick_xml_floor",
    ),
];
/// How many functions of `full` to list.
const TOP: usize = 25;

pub fn run(root: &Path) -> Result<(), String> {
    let exe = super::turns::build_example(root)?;
    let out = workspace::target_dir().join("callgrind");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "\ninstructions per negotiation (valgrind --tool=callgrind, {RUNS} negotiations less one)"
    );
    let mut full = None;
    for (mode, what, function) in MODES {
        let many = profile(&exe, &out, mode, function, RUNS + 1)?;
        let one = profile(&exe, &out, mode, function, 1)?;
        let per = (many.total.saturating_sub(one.total)) as f64 / RUNS as f64;
        println!("{mode:<12} {per:>10.0}  {what}");
        if mode == "full" {
            full = Some((many, one));
        }
    }
    let Some((many, one)) = full else {
        return Ok(());
    };
    let mut rows: Vec<(String, f64)> = many
        .functions
        .iter()
        .map(|(f, n)| {
            let base = one.functions.get(f).copied().unwrap_or(0);
            (f.clone(), n.saturating_sub(base) as f64 / RUNS as f64)
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total = (many.total.saturating_sub(one.total)) as f64 / RUNS as f64;
    println!("\nfull: where the instructions go (self cost per negotiation, top {TOP})");
    for (f, n) in rows.iter().take(TOP) {
        println!("{n:>10.0} {:>5.1}%  {f}", 100.0 * n / total.max(1.0));
    }
    Ok(())
}

struct Profile {
    total: u64,
    /// Self cost per function.
    functions: HashMap<String, u64>,
}

fn profile(exe: &Path, dir: &Path, mode: &str, function: &str, n: u64) -> Result<Profile, String> {
    let file = dir.join(format!("{mode}-{n}.out"));
    let what = format!("valgrind --tool=callgrind negotiate {mode} {n}");
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", file.display()))
        .arg(format!("--toggle-collect=*driver::{function}"))
        .arg(exe)
        .arg(mode)
        .arg(n.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("{what}: cannot run (is valgrind installed?): {e}"))?;
    if !status.success() {
        return Err(format!("{what} failed ({status})"));
    }
    let annotated = process::capture(
        Command::new("callgrind_annotate")
            .arg("--inclusive=no")
            .arg("--threshold=100")
            .arg(&file),
        "callgrind_annotate",
    )?;
    parse(&annotated).ok_or_else(|| format!("{what}: cannot read callgrind_annotate's output"))
}

/// Reads `callgrind_annotate`'s totals and per-function lines, e.g.
/// `58,644,739 ( 7.85%)  ./malloc/./malloc/malloc.c:_int_free [/usr/lib/...]`.
fn parse(text: &str) -> Option<Profile> {
    let number = |s: &str| s.replace(',', "").parse::<u64>().ok();
    let mut total = None;
    let mut functions = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        let Some(count) = number(count) else {
            continue;
        };
        let rest = rest.trim_start();
        let rest = match rest.strip_prefix('(') {
            Some(r) => r.split_once(')').map(|(_, r)| r.trim()).unwrap_or(r),
            None => rest,
        };
        if rest.starts_with("PROGRAM TOTALS") {
            total = Some(count);
            continue;
        }
        // `file:function [object]`: the function, without the object.
        let name = rest.split(" [").next().unwrap_or(rest);
        let name = match name.split_once(':') {
            Some((file, f)) if file.starts_with('.') || file.starts_with('/') || file == "???" => f,
            _ => name,
        };
        *functions.entry(name.to_owned()).or_insert(0) += count;
    }
    Some(Profile {
        total: total?,
        functions,
    })
}
