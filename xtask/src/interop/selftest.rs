//! `selftest`: runs every case of the [matrix](super::matrix) against the reference
//! servers and judges it, then the [modern peers' cases](super::modern) and the
//! [probe peers'](super::probe_peers), proving the harness works before our tests rely on it.

use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use super::matrix::{cases, Attempt, Case, Tls};
use super::modern;
use super::probe_peers;
use super::report::{self, Counts};
use super::suite::test_env;
use crate::peers::{Layout, DOMAIN, USER};
use crate::process::run_with_timeout;

const WRONG_PASSWORD: &str = "not-the-password";
/// The drivers' own `--timeout`; the harness kills them 10 s after it.
const DRIVER_TIMEOUT_SECS: u64 = 20;

/// Logs every client driver in to the reference servers with each mechanism it supports,
/// plus the cases that must fail, and prints a table.
pub(super) fn run(layout: &Layout) -> (Counts, Result<(), String>) {
    let env = match test_env(layout) {
        Ok(env) => env,
        Err(e) => return (Counts::default(), Err(e)),
    };
    let py = layout.venv_python().display().to_string();
    let node = env["XMPP_INTEROP_NODE"].clone();
    let cases = cases();
    report::table_header();
    let mut failed = 0;
    for c in &cases {
        let path = layout.clients().join(c.driver.script);
        let prog = if c.driver.script.ends_with(".mjs") {
            &node
        } else {
            &py
        };
        let mut cmd = Command::new(prog);
        cmd.arg(path)
            .args(driver_args(layout, c))
            .envs(&env)
            .env("XMPP_INTEROP_WRONG_PASSWORD", WRONG_PASSWORD);
        let t = Instant::now();
        let out = run_with_timeout(cmd, Duration::from_secs(DRIVER_TIMEOUT_SECS + 10));
        let ms = t.elapsed().as_millis();
        let verdict = match out {
            Ok((status, stdout, stderr)) => judge(c, status, &stdout, &stderr),
            Err(e) => Err(e),
        };
        if verdict.is_err() {
            failed += 1;
        }
        let password = match c.attempt {
            Attempt::Login => "right",
            Attempt::WrongPassword => "wrong",
            Attempt::UntrustedCa => "other CA",
        };
        report::table_row(c.driver.name, c.server.name, c.mech, password, ms, &verdict);
    }
    // The modern peers (SASL2, Bind2, FAST, SSDP, WebSocket), in the same table.
    let (modern_passed, modern_failed) = modern::run(layout, &env);
    // The probe peers (broken certificates, more configurations), likewise.
    let (probe_passed, probe_failed) = probe_peers::run(layout);
    let counts = Counts {
        passed: cases.len() - failed + modern_passed + probe_passed,
        failed: failed + modern_failed + probe_failed,
    };
    let failed = counts.failed;
    report::selftest_summary(counts);
    if failed == 0 {
        (counts, Ok(()))
    } else {
        (
            counts,
            Err(format!("{failed} driver selftest case(s) failed")),
        )
    }
}

/// The driver command line (interop/README.md) for `c`.
fn driver_args(layout: &Layout, c: &Case) -> Vec<String> {
    let mut argv: Vec<String> = [
        "--host",
        "127.0.0.1",
        "--port",
        &c.server.port.to_string(),
        "--jid",
        &format!("{USER}@{DOMAIN}"),
        "--mechanism",
        c.mech.split('/').next().unwrap_or(c.mech),
        "--password-env",
        if c.attempt == Attempt::WrongPassword {
            "XMPP_INTEROP_WRONG_PASSWORD"
        } else {
            "XMPP_INTEROP_PASSWORD"
        },
        "--timeout",
        &DRIVER_TIMEOUT_SECS.to_string(),
    ]
    .map(String::from)
    .into();
    let ca = match c.tls() {
        Tls::Off => None,
        Tls::Verified => Some(layout.ca_file()),
        Tls::OtherCa => Some(layout.other_ca_file()),
    };
    if let Some(ca) = ca {
        argv.extend(["--tls".to_string(), "--ca-file".to_string()]);
        argv.push(ca.display().to_string());
    }
    if let Some((_, cb)) = c.mech.split_once('/') {
        argv.extend(["--channel-binding".to_string(), cb.to_string()]);
    }
    if c.resource {
        argv.extend([
            "--resource".to_string(),
            format!("selftest-{}", c.driver.name.replace('.', "")),
        ]);
    }
    argv
}

/// Whether a finished driver did what `c` expects: the detail for the table, or why not.
fn judge(c: &Case, status: ExitStatus, stdout: &str, stderr: &str) -> Result<String, String> {
    if c.attempt == Attempt::Login {
        if !status.success() {
            return Err(format!("{status}: {}{}", stderr.trim(), stdout.trim()));
        }
        let line = stdout
            .lines()
            .find(|l| l.starts_with("LOGIN OK"))
            .unwrap_or("");
        let jid_ok = line.contains(&format!("jid={USER}@{DOMAIN}/"));
        let res_ok = !c.resource || line.contains("/selftest-");
        if jid_ok && res_ok {
            Ok(line.split_whitespace().nth(2).unwrap_or("").to_string())
        } else {
            Err(format!("unexpected output {stdout:?}"))
        }
    } else if !status.success() && !stdout.contains("LOGIN OK") && stderr.contains("LOGIN FAILED") {
        Ok(format!("refused as expected ({})", last_line(stderr)))
    } else {
        Err(format!(
            "not refused cleanly: {status} {stdout:?} {stderr:?}"
        ))
    }
}

/// The last line of a driver's output, where it says why it stopped.
fn last_line(s: &str) -> &str {
    s.trim().lines().last().unwrap_or("")
}
