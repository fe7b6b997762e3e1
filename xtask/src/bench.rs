//! `cargo xtask bench`: run the framing benchmarks and print a comparison table.
//!
//! Runs `cargo bench -p benches --bench framing` (extra arguments are passed
//! to criterion, e.g. a filter), then reads criterion's
//! `<group>/<bench>/new/{benchmark,estimates}.json` and prints, per corpus,
//! MB/s, stanzas/s and the ratio to quick-xml's `Reader` measured in the same
//! run. `--table` skips running and only prints the last results.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Targets from issue 2: (benchmark, minimum ratio to quick-xml Reader).
const TARGETS: &[(&str, f64)] = &[
    ("xmpp_xml_raw/chunked", 0.85),
    ("xmpp_xml_elements/chunked", 0.40),
];
const BASELINE: &str = "quick_xml_reader/whole";

pub fn run(args: &[String]) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        root.join(target)
    };
    let home = target.join("criterion");
    let table_only = args.iter().any(|a| a == "--table");
    if !table_only {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .env("CRITERION_HOME", &home)
            .args(["bench", "-p", "benches", "--bench", "framing", "--"])
            .args(args)
            .status()
            .map_err(|e| format!("cannot run cargo bench: {e}"))?;
        if !status.success() {
            return Err(format!("cargo bench failed: {status}"));
        }
    }
    let mut failed = Vec::new();
    for corpus in benches::all() {
        let rows = read_group(&home, corpus.name)?;
        if rows.is_empty() {
            continue;
        }
        let base = rows
            .iter()
            .find(|(id, _)| id == BASELINE)
            .map(|(_, ns)| *ns);
        println!(
            "\n{} corpus: {} bytes, {} top-level elements, {}-byte chunks",
            corpus.name,
            corpus.bytes.len(),
            corpus.stanzas,
            benches::CHUNK
        );
        println!(
            "{:<28} {:>12} {:>10} {:>14} {:>10}",
            "benchmark", "time", "MB/s", "stanzas/s", "vs Reader"
        );
        for (id, ns) in &rows {
            let mbs = corpus.bytes.len() as f64 / ns * 1e3;
            let sps = corpus.stanzas as f64 / ns * 1e9;
            let ratio = base.map(|b| b / ns);
            let mut mark = String::new();
            if let (Some(r), Some((_, min))) = (ratio, TARGETS.iter().find(|(t, _)| t == id)) {
                let ok = r >= *min;
                mark = format!(
                    "  (target >= {min:.2}: {})",
                    if ok { "met" } else { "MISSED" }
                );
                if !ok {
                    failed.push(format!("{}/{id}", corpus.name));
                }
            }
            println!(
                "{:<28} {:>9.3} ms {:>10.1} {:>14.0} {:>9}{mark}",
                id,
                ns / 1e6,
                mbs,
                sps,
                ratio
                    .map(|r| format!("{r:.2}x"))
                    .unwrap_or_else(|| "-".into())
            );
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        println!("\ntargets missed: {}", failed.join(", "));
        Ok(())
    }
}

/// (function id, mean time in ns) for each benchmark of a criterion group, in a fixed order.
fn read_group(home: &Path, group: &str) -> Result<Vec<(String, f64)>, String> {
    let dir = home.join(group);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    let mut stack: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    while let Some(p) = stack.pop() {
        let bench = p.join("new").join("benchmark.json");
        if bench.is_file() {
            let meta = read_json(&bench)?;
            let est = read_json(&p.join("new").join("estimates.json"))?;
            let id = meta["function_id"].as_str().unwrap_or_default().to_string();
            let id = match meta["value_str"].as_str() {
                Some(v) => format!("{id}/{v}"),
                None => id,
            };
            let ns = est["mean"]["point_estimate"]
                .as_f64()
                .ok_or("estimates.json without mean")?;
            rows.push((id, ns));
        } else if p.is_dir()
            && p.file_name()
                .is_some_and(|n| n != "report" && n != "new" && n != "base")
        {
            if let Ok(sub) = std::fs::read_dir(&p) {
                stack.extend(sub.filter_map(|e| e.ok().map(|e| e.path())));
            }
        }
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(rows)
}

fn read_json(p: &Path) -> Result<serde_json::Value, String> {
    let s = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    serde_json::from_str(&s).map_err(|e| format!("{}: {e}", p.display()))
}
