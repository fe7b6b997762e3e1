//! The interop tests: their `XMPP_INTEROP_*` environment and the `cargo test` run.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

use super::report::{count_before, Counts};
use crate::peers::{
    Layout, TestCert, DOMAIN, EJABBERD24_DIRECT_TLS_PORT, EJABBERD24_HTTP_PORT, EJABBERD24_PORT,
    EJABBERD24_TLS_PORT, EJABBERD24_WS_PATH, EJABBERD_DIRECT_TLS_PORT, EJABBERD_PORT,
    EJABBERD_TLS_PORT, PASSWORD, PROSODY13_DIRECT_TLS_PORT, PROSODY13_HTTP_PORT, PROSODY13_PORT,
    PROSODY13_WRONG_NAME_HTTP_PORT, PROSODY13_WRONG_NAME_PORT, PROSODY13_WS_PATH,
    PROSODY_EXPIRED_DIRECT_TLS_PORT, PROSODY_EXPIRED_PORT, PROSODY_PORT, PROSODY_TLS_PORT, USER,
    USER2, WRONG_NAME,
};
use crate::process::which;
use crate::workspace;

/// The environment the interop tests and the client drivers read (interop/README.md).
pub(super) fn test_env(layout: &Layout) -> Result<BTreeMap<&'static str, String>, String> {
    let mut env = BTreeMap::new();
    env.insert(
        "XMPP_INTEROP_EJABBERD",
        format!("127.0.0.1:{EJABBERD_PORT}"),
    );
    env.insert("XMPP_INTEROP_PROSODY", format!("127.0.0.1:{PROSODY_PORT}"));
    env.insert(
        "XMPP_INTEROP_EJABBERD_TLS",
        format!("127.0.0.1:{EJABBERD_TLS_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_EJABBERD_DIRECT_TLS",
        format!("127.0.0.1:{EJABBERD_DIRECT_TLS_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_PROSODY_TLS",
        format!("127.0.0.1:{PROSODY_TLS_PORT}"),
    );
    // The modern peers (SASL2, Bind2, FAST, SSDP): STARTTLS offered but not required on
    // the first address, TLS from the first byte on the second, ws:// URLs.
    env.insert(
        "XMPP_INTEROP_PROSODY13",
        format!("127.0.0.1:{PROSODY13_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_PROSODY13_DIRECT_TLS",
        format!("127.0.0.1:{PROSODY13_DIRECT_TLS_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_PROSODY13_WS",
        format!("ws://127.0.0.1:{PROSODY13_HTTP_PORT}{PROSODY13_WS_PATH}"),
    );
    env.insert(
        "XMPP_INTEROP_EJABBERD24",
        format!("127.0.0.1:{EJABBERD24_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_EJABBERD24_DIRECT_TLS",
        format!("127.0.0.1:{EJABBERD24_DIRECT_TLS_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_EJABBERD24_WS",
        format!("ws://127.0.0.1:{EJABBERD24_HTTP_PORT}{EJABBERD24_WS_PATH}"),
    );
    // The `xmpp probe` peers: one more configuration of three of the servers, two of
    // them presenting a broken certificate (signed by the test CA all the same).
    env.insert(
        "XMPP_INTEROP_EJABBERD24_TLS",
        format!("127.0.0.1:{EJABBERD24_TLS_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_PROSODY_EXPIRED",
        format!("127.0.0.1:{PROSODY_EXPIRED_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_PROSODY_EXPIRED_DIRECT_TLS",
        format!("127.0.0.1:{PROSODY_EXPIRED_DIRECT_TLS_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_PROSODY13_WRONG_NAME",
        format!("127.0.0.1:{PROSODY13_WRONG_NAME_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_PROSODY13_WRONG_NAME_HTTP",
        format!("http://127.0.0.1:{PROSODY13_WRONG_NAME_HTTP_PORT}"),
    );
    env.insert(
        "XMPP_INTEROP_PROSODY13_WRONG_NAME_WS",
        format!("ws://127.0.0.1:{PROSODY13_WRONG_NAME_HTTP_PORT}{PROSODY13_WS_PATH}"),
    );
    for (cert, key, c) in [
        (
            "XMPP_INTEROP_EXPIRED_CERT",
            "XMPP_INTEROP_EXPIRED_KEY",
            TestCert::Expired,
        ),
        (
            "XMPP_INTEROP_WRONG_NAME_CERT",
            "XMPP_INTEROP_WRONG_NAME_KEY",
            TestCert::WrongName,
        ),
    ] {
        env.insert(cert, layout.test_cert(c).display().to_string());
        env.insert(key, layout.test_key(c).display().to_string());
    }
    env.insert("XMPP_INTEROP_WRONG_NAME", WRONG_NAME.to_string());
    env.insert(
        "XMPP_INTEROP_GO_SENDXMPP",
        layout.go_sendxmpp_bin().display().to_string(),
    );
    env.insert("XMPP_INTEROP_CA", layout.ca_file().display().to_string());
    env.insert(
        "XMPP_INTEROP_CERT",
        layout.cert_file().display().to_string(),
    );
    env.insert("XMPP_INTEROP_KEY", layout.key_file().display().to_string());
    env.insert(
        "XMPP_INTEROP_OTHER_CA",
        layout.other_ca_file().display().to_string(),
    );
    env.insert("XMPP_INTEROP_USER", USER.to_string());
    env.insert("XMPP_INTEROP_USER2", USER2.to_string());
    env.insert("XMPP_INTEROP_PASSWORD", PASSWORD.to_string());
    env.insert("XMPP_INTEROP_DOMAIN", DOMAIN.to_string());
    env.insert(
        "XMPP_INTEROP_PYTHON",
        layout.venv_python().display().to_string(),
    );
    env.insert(
        "XMPP_INTEROP_CLIENTS",
        layout.clients().display().to_string(),
    );
    env.insert(
        "XMPP_INTEROP_STROPHE",
        layout.strophe_bin().display().to_string(),
    );
    env.insert(
        "XMPP_INTEROP_STROPHE_SM",
        layout.strophe_sm_bin().display().to_string(),
    );
    env.insert(
        "XMPP_INTEROP_NODE_MODULES",
        layout.node_modules().display().to_string(),
    );
    let node = which("node").ok_or("node not found in PATH")?;
    env.insert("XMPP_INTEROP_NODE", node.display().to_string());
    if let Some(gsasl) = which("gsasl") {
        env.insert("XMPP_INTEROP_GSASL", gsasl.display().to_string());
    }
    if let Some(bindir) = postgres_bindir() {
        env.insert("XMPP_INTEROP_PG_BINDIR", bindir.display().to_string());
    }
    env.insert("XMPP_INTEROP_STATE", layout.state.display().to_string());
    Ok(env)
}

/// The newest PostgreSQL's `bin` directory (with `initdb`), for tests that start their own.
fn postgres_bindir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Runs the ignored tests, passing their output through and adding up the
/// `test result:` lines so that `all` can print one closing line for the whole suite.
pub(super) fn cargo_test(layout: &Layout, extra: &[String]) -> (Counts, Result<(), String>) {
    let mut counts = Counts::default();
    let env = match test_env(layout) {
        Ok(env) => env,
        Err(e) => return (counts, Err(e)),
    };
    let mut cmd = workspace::cargo();
    cmd.args(["test", "--workspace", "--no-fail-fast", "--", "--ignored"])
        .args(extra)
        .current_dir(&layout.repo)
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    eprintln!(
        "== interop: cargo test --workspace --no-fail-fast -- --ignored {}",
        extra.join(" ")
    );
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (counts, Err(format!("cannot run cargo test: {e}"))),
    };
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                counts.passed += count_before(rest, "passed");
                counts.failed += count_before(rest, "failed");
            }
        }
    }
    let result = match child.wait() {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => Err(format!("interop tests failed ({status})")),
        Err(e) => Err(format!("cannot wait for cargo test: {e}")),
    };
    (counts, result)
}
