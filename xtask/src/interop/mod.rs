//! `cargo xtask interop`: install, start and check real XMPP/SASL peers on
//! 127.0.0.1, then run the interop test suite (`cargo test --workspace -- --ignored`).
//!
//! Subcommands (none = `all`):
//! - `install`: Debian packages (ejabberd, prosody, gsasl, libstrophe-dev, postgresql, ...),
//!   the bookworm-backports peers (Prosody 13.0.1, ejabberd 24.12, go-sendxmpp 0.14.1; fetched
//!   with `apt-get download` and unpacked with `dpkg -x` under the state directory, never
//!   installed), a Python venv with slixmpp/aioxmpp/selenium, @xmpp/client and converse.js from
//!   npm, chromium + chromium-driver (apt) for the browser test, the libstrophe driver.
//! - `start` / `stop`: ejabberd 23.01 and prosody 0.12 with the configs in `interop/`, Prosody
//!   13 and ejabberd 24.12 with `interop/prosody13/` and `interop/ejabberd24/`, plus one more
//!   Prosody 0.12 (expired certificate) and Prosody 13 (wrong-name certificate) for the
//!   `xmpp probe` tests, state under the state directory, stopped by pid.
//! - `selftest`: every client driver in `interop/clients/` against ejabberd/prosody, and
//!   `sasl2_login.py`, go-sendxmpp and a WebSocket upgrade against the modern peers.
//! - `test [-- ARGS]`: the ignored (interop) tests, with the `XMPP_INTEROP_*` environment.
//! - `env`: print that environment as `export` lines.
//! - `all [-- ARGS]`: install, start, selftest, test, stop (stop also runs on failure).
//!
//! The modern peers' environment (SASL2, Bind2, FAST, SSDP; interop/README.md has the rest):
//! - `XMPP_INTEROP_PROSODY13`, `XMPP_INTEROP_EJABBERD24`: `127.0.0.1:PORT`, STARTTLS offered
//!   but not required, plaintext SASL2 allowed (ejabberd offers SASL2 only to a stream header
//!   with `from`);
//! - `XMPP_INTEROP_PROSODY13_DIRECT_TLS`, `XMPP_INTEROP_EJABBERD24_DIRECT_TLS`: direct TLS
//!   (XEP-0368), the certificate signed by `XMPP_INTEROP_CA`;
//! - `XMPP_INTEROP_PROSODY13_WS`, `XMPP_INTEROP_EJABBERD24_WS`: `ws://` URLs (RFC 7395);
//! - `XMPP_INTEROP_GO_SENDXMPP`: the go-sendxmpp binary (run it with `HOME` a temp dir,
//!   `SSL_CERT_FILE=$XMPP_INTEROP_CA`, `--suppress-root-warning`).
//!
//! Where things live and the servers' addresses: [`crate::peers`].

mod backports;
mod daemon;
mod ejabberd;
mod ejabberd24;
mod files;
mod install;
mod matrix;
mod modern;
mod pki;
mod probe_peers;
mod prosody;
mod report;
mod selftest;
mod suite;

use std::time::Instant;

use crate::peers::{Layout, PROSODY_EXPIRED, PROSODY_PLAIN, PROSODY_TLS};

// For bench-e2e, which starts private copies of the modern peers.
pub(crate) use backports::ejabberd24_erl_libs;
pub(crate) use files::render;
pub(crate) use prosody::cert_sha256_hex;

/// Entry point for `cargo xtask interop [subcommand] [-- test args]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let (sub, extra) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let layout = Layout::locate()?;
    match sub.first().map(String::as_str).unwrap_or("all") {
        "install" => install::install(&layout),
        "start" => start(&layout),
        "stop" => stop(&layout),
        "selftest" => selftest::run(&layout).1,
        "test" => suite::cargo_test(&layout, extra).1,
        "env" => {
            for (k, v) in suite::test_env(&layout)? {
                println!("export {k}='{v}'");
            }
            Ok(())
        }
        "all" => all(&layout, extra),
        other => Err(format!(
            "unknown subcommand {other:?}; use install|start|stop|selftest|test|env|all"
        )),
    }
}

fn all(layout: &Layout, extra: &[String]) -> Result<(), String> {
    let t = Instant::now();
    install::install(layout)?;
    eprintln!(
        "== interop: install done in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    if let Err(e) = start(layout) {
        let _ = stop(layout);
        return Err(e);
    }
    eprintln!(
        "== interop: servers up in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (self_counts, selftest) = selftest::run(layout);
    let (test_counts, tests) = suite::cargo_test(layout, extra);
    let stopped = stop(layout);
    // One closing line for the whole suite: driver selftest cases plus interop tests.
    println!(
        "interop: {} passed, {} failed",
        self_counts.passed + test_counts.passed,
        self_counts.failed + test_counts.failed
    );
    let mut failures = Vec::new();
    for (what, r) in [("selftest", selftest), ("tests", tests), ("stop", stopped)] {
        if let Err(e) = r {
            failures.push(format!("{what}: {e}"));
        }
    }
    if failures.is_empty() {
        eprintln!("== interop: all green");
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// The servers that `start` runs, by their pid-file names.
const SERVERS: [&str; 7] = [
    ejabberd::NAME,
    PROSODY_PLAIN.name,
    PROSODY_TLS.name,
    prosody::NAME13,
    ejabberd24::NAME,
    PROSODY_EXPIRED.name,
    prosody::NAME13_WRONG_NAME,
];

/// Makes the test PKI if there is none (bench-e2e on a checkout whose peers
/// never started: their `start` would make it). A PKI that exists is kept, as
/// servers of this state directory may present its certificate.
pub(crate) fn ensure_pki(layout: &Layout) -> Result<(), String> {
    if layout.ca_file().is_file() && layout.cert_file().is_file() && layout.key_file().is_file() {
        // A PKI from before the P-256 certificate gets it added.
        return pki::ensure_p256(layout);
    }
    if let Some(name) = SERVERS
        .iter()
        .find(|n| daemon::running(layout, n).is_some())
    {
        return Err(format!(
            "{name} runs but the test PKI in {} is incomplete: run cargo xtask interop stop, then start",
            layout.pki_dir().display()
        ));
    }
    pki::make(layout)
}

fn start(layout: &Layout) -> Result<(), String> {
    let run_dir = layout.run_dir();
    std::fs::create_dir_all(&run_dir).map_err(|e| files::io_err("create", &run_dir, e))?;
    // Servers left running by an earlier `start` present the current certificate: a new
    // PKI would make every verification against them fail.
    if SERVERS.iter().any(|n| daemon::running(layout, n).is_some()) && layout.ca_file().is_file() {
        eprintln!("servers already running: keeping the test PKI");
    } else {
        pki::make(layout)?;
    }
    ejabberd::start(layout)?;
    prosody::start(layout, &PROSODY_PLAIN)?;
    prosody::start(layout, &PROSODY_TLS)?;
    prosody::start13(layout)?;
    ejabberd24::start(layout)?;
    // The `xmpp probe` peers: an expired and a wrong-name certificate.
    prosody::start(layout, &PROSODY_EXPIRED)?;
    prosody::start13_wrong_name(layout)?;
    Ok(())
}

fn stop(layout: &Layout) -> Result<(), String> {
    let mut errors = Vec::new();
    for name in SERVERS {
        if let Err(e) = daemon::stop(layout, name) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}
