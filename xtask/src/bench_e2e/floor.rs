//! The classic table's variant rows: our server tuned for CPU per login
//! (`ours-tuned`), and the floor (`benches/examples/floor.rs`: canned XML
//! around the real SASL mechanisms, nothing else a server must do) in our
//! default runtime (`floor`, a multi-threaded tokio scheduler) and tuned as
//! `ours-tuned` is (`floor-tuned`: one thread, and for DIGEST-MD5 `rspauth`
//! in `<success/>`, one round trip less, as RFC 6120 §6.3.10 allows).

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::thread;

use super::{bench_ours_with, bench_tcp, raise_nofile, Env, Opts, Row};
use crate::process::Proc;
use crate::workspace;

/// Builds the floor server (release); its path.
pub(super) fn build() -> Result<PathBuf, String> {
    let status = workspace::cargo()
        .current_dir(workspace::root())
        .args(["build", "--release", "-p", "benches", "--example", "floor"])
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build (the floor server) failed: {status}"));
    }
    Ok(workspace::target_dir()
        .join("release")
        .join("examples")
        .join("floor"))
}

/// `xmpp serve`'s flags for `ours-tuned` with `mech`.
fn tuned_serve_args(mech: &str) -> &'static [&'static str] {
    if mech == "DIGEST-MD5" {
        &["--threads", "1", "--rspauth-in-success"]
    } else {
        &["--threads", "1"]
    }
}

/// The floor server's flags for `floor-tuned` with `mech`.
fn tuned_floor_args(mech: &str) -> &'static [&'static str] {
    if mech == "DIGEST-MD5" {
        &["--current-thread", "--rspauth-in-success"]
    } else {
        &["--current-thread"]
    }
}

/// The variant rows for `mech`, in the table's order: `ours-tuned`,
/// `floor`, `floor-tuned` (a floor that cannot run is skipped, reported).
pub(super) fn rows(env: &Env, opts: &Opts, mech: &str) -> Result<Vec<Row>, String> {
    let mut rows = vec![bench_ours_with(
        env,
        opts,
        "ours-tuned",
        mech,
        tuned_serve_args(mech),
    )?];
    for (label, args) in [("floor", &[][..]), ("floor-tuned", tuned_floor_args(mech))] {
        match bench_floor(env, opts, label, mech, args) {
            Ok(r) => rows.push(r),
            Err(e) => eprintln!("bench-e2e: skipped: {label}: {e}"),
        }
    }
    Ok(rows)
}

fn bench_floor(
    env: &Env,
    opts: &Opts,
    label: &str,
    mech: &str,
    args: &[&str],
) -> Result<Row, String> {
    let log = fs::File::create(env.tmp.join("floor.log")).map_err(|e| e.to_string())?;
    let mut child = raise_nofile(&env.floor)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", env.floor.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc {
        name: "floor".into(),
        child,
    };
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(a) = l.strip_prefix("listening on ") {
                    break a.trim().to_owned();
                }
            }
            _ => return Err("the floor server exited before listening".into()),
        }
    };
    thread::spawn(move || for _ in lines {});
    let row = bench_tcp(env, opts, label, &addr, proc.child.id(), mech);
    drop(proc);
    row
}
