//! `cargo xtask bench-e2e`: end-to-end login rates of `xmpp serve` against
//! ejabberd and Prosody, measured with the same `xmpp bench` in one session.
//!
//! 1. builds `xmpp` in release (into `$CARGO_TARGET_DIR`, default `<repo>/target`);
//! 2. provisions `bench1..benchN@example.com` (`xmpp user bulk-add`) in a SQLite store
//!    in a temp dir;
//! 3. for DIGEST-MD5, SCRAM-SHA-1 and PLAIN: a fresh `xmpp serve` on 127.0.0.1 per run,
//!    then `xmpp bench --json` against it; for DIGEST-MD5 also `ours-rspauth`, with
//!    `ours-tuned` (`--threads 1`, and for DIGEST-MD5 `--rspauth-in-success`: RFC
//!    6120 §6.3.10, one round trip less) and the floor server (`floor.rs`);
//! 4. the same bench against each peer at its best, on a fresh private instance per
//!    run: ejabberd 23.01 (Debian's, started with `erl` from the interop config, its
//!    own ports and database) storing plaintext only for DIGEST-MD5 and SCRAM keys
//!    (`auth_password_format: scram`) otherwise, and Prosody 0.12 (the harness's
//!    rendered config copied with another port and data dir, `internal_hashed`; the
//!    peers README asks for a restart before each run because Prosody slows down
//!    over time; generational GC as in the harness config): no peer pays a PBKDF2
//!    per SCRAM login;
//! 5. the same over STARTTLS (our server with the harness's test PKI vs the private
//!    ejabberd's STARTTLS-required listener and a private copy of prosody-tls);
//! 6. the TLS logins table (`tls_logins.rs`): full RFC 6120 logins with
//!    `--tls-mechanism` (default SCRAM-SHA-256-PLUS) over STARTTLS on our server
//!    with full and with resumed TLS handshakes, and on the modern peers;
//!    then `--hold` idle authenticated sessions for the RSS per connection,
//!    without and with stream management (`hold.rs`);
//! 7. with `--modes`, the login protocols compared over STARTTLS on our server
//!    and on the [`modern_peers`] (Prosody 13.0.1 and ejabberd 24.12, a fresh
//!    private instance per run: `modern.rs`): `rfc6120` (SASL, restart, bind),
//!    `sasl2` (XEP-0388 with Bind2) and `fast` (XEP-0484 token reconnects, only
//!    those counted; `xmpp serve` needs a FAST token store for it, else the row
//!    shows `password-login:fast-not-offered`). Every server stores SCRAM keys
//!    of `--modes-mechanism` (default SCRAM-SHA-1; SCRAM-SHA-256 works too);
//! 8. with `websocket` in `--modes`, the WebSocket table (RFC 7395, no TLS on
//!    either transport, as the peers serve WebSocket on `ws://` only): for each
//!    other mode given (`rfc6120` if none), with `--modes-mechanism`, our server
//!    (a fresh `xmpp serve --websocket 127.0.0.1:0 --allow-sasl2-without-tls` per
//!    run) over TCP and over the printed `ws://` URL, and fresh Prosody 13
//!    (`/xmpp-websocket` on its HTTP port) and ejabberd 24.12 (`/ws`) over theirs,
//!    all with `xmpp bench --websocket URL --tls off`; then our server CPU per
//!    WebSocket login against per TCP login (target <= 1.3x) and our WebSocket
//!    rows against the peers'.
//!
//! Server CPU per login comes from `/proc/<pid>/stat` of the process that listens on
//! the port, so it does not depend on how the generator shares the two cores.
//!
//! Options: `--duration 10s` `--concurrency 50` `--users 10` `--hold 19900`
//! `--no-peers` `--no-tls` `--no-hold` `--mechanisms A,B`
//! `--modes rfc6120,sasl2,fast,resume,sasl2-resume,websocket` (default `rfc6120`:
//! no modes table; `resume` and `sasl2-resume` are XEP-0198 resumptions, only
//! those counted, with `xmpp bench --resume`; `websocket` adds the WebSocket
//! table, e.g. `--only-modes --modes rfc6120,websocket` for it alone)
//! `--modes-mechanism SCRAM-SHA-1` (the password mechanism of the modes table:
//! SCRAM-SHA-1, SCRAM-SHA-256 (-PLUS) or PLAIN with the modern peers)
//! `--tls-mechanism SCRAM-SHA-256-PLUS` (the TLS logins table's) `--no-tls-logins`
//! `--cert p256|rsa` (every server's certificate in the TLS rows: ECDSA P-256, the
//! default, as ACME clients issue by default, or RSA-2048; both from the test PKI).
//! Each table by itself: `--only-classic` (TCP logins, no TLS), `--only-tls`
//! (the STARTTLS table per mechanism), `--only-tls-logins`, `--only-modes`,
//! `--only-hold`.

mod floor;
mod hold;
mod modern;
mod options;
mod report;
mod tls_logins;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::peers::{Layout, TestCert, DOMAIN, PROSODY_PLAIN, PROSODY_TLS};
use crate::ports::{free_port, wait_port};
use crate::process::{clock_ticks, cpu_ticks, run_parallel, Proc};
use crate::workspace;
use modern::Peer;
use options::{Mode, Opts};
use report::{
    print_handshake_cost, print_machine, print_modes_table, print_table, print_websocket_table, Row,
};

/// The bench users' password (`bench1..benchN`).
const PASSWORD: &str = "secret";
const PREFIX: &str = "bench";

struct Env {
    xmpp: PathBuf,
    tmp: PathBuf,
    store: PathBuf,
    /// The interop harness's peers and test PKI.
    peers: Layout,
    /// The certificate every server presents in the TLS rows (`--cert`).
    cert: TestCert,
    /// The floor server (`benches/examples/floor.rs`).
    floor: PathBuf,
}

impl Env {
    /// The TLS rows' certificate chain (PEM).
    fn cert_file(&self) -> PathBuf {
        self.peers.test_cert(self.cert)
    }
    /// Its private key (PEM).
    fn key_file(&self) -> PathBuf {
        self.peers.test_key(self.cert)
    }
    /// Its key, for the tables' titles.
    fn cert_kind(&self) -> &'static str {
        match self.cert {
            TestCert::GoodP256 => "ECDSA P-256",
            _ => "RSA-2048",
        }
    }
}

pub fn run(args: &[String]) -> Result<(), String> {
    let opts = Opts::parse(args)?;
    let root = workspace::root();
    let target = workspace::target_dir();
    eprintln!("bench-e2e: building xmpp (release)");
    let status = workspace::cargo()
        .current_dir(&root)
        .args(["build", "--release", "-p", "xmpp-cli", "--bin", "xmpp"])
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed: {status}"));
    }
    let floor = floor::build()?;
    let tmp = std::env::temp_dir().join(format!("xmpp-bench-e2e-{}", std::process::id()));
    fs::create_dir_all(&tmp).map_err(|e| format!("create {}: {e}", tmp.display()))?;
    let peers = Layout::locate()?;
    let env = Env {
        xmpp: target.join("release").join("xmpp"),
        store: tmp.join("users.sqlite"),
        tmp: tmp.clone(),
        peers,
        cert: opts.cert,
        floor,
    };
    let result = session(&env, &opts);
    let _ = fs::remove_dir_all(&tmp);
    result
}

fn session(env: &Env, opts: &Opts) -> Result<(), String> {
    print_machine();
    let t = Instant::now();
    let mut cmd = Command::new(&env.xmpp);
    cmd.args(["user", "bulk-add", PREFIX, &opts.users.to_string()])
        .args(["--domain", DOMAIN, "--store"])
        .arg(&env.store)
        .arg("--password-stdin");
    run_with_stdin(cmd, "xmpp user bulk-add")?;
    eprintln!(
        "bench-e2e: {} users provisioned in {:.2} s",
        opts.users,
        t.elapsed().as_secs_f64()
    );

    runs(env, opts)
}

/// A peer's run that could not happen is reported and skipped, not fatal.
fn keep(rows: &mut Vec<Row>, r: Result<Row, String>) {
    match r {
        Ok(row) => rows.push(row),
        Err(e) => eprintln!("bench-e2e: skipped: {e}"),
    }
}

fn runs(env: &Env, opts: &Opts) -> Result<(), String> {
    let mut rows = Vec::new();
    let prosody_tpl = env.peers.prosody_config(&PROSODY_PLAIN);
    let prosody_tls_tpl = env.peers.prosody_config(&PROSODY_TLS);
    if opts.plain_runs {
        for mech in &opts.mechanisms {
            rows.push(bench_ours(env, opts, mech, false, Mode::Rfc6120)?);
            rows.extend(floor::rows(env, opts, mech)?);
            if opts.peers {
                keep(&mut rows, bench_ejabberd23(env, opts, mech, false));
            }
            if opts.peers && prosody_supports(mech) {
                keep(
                    &mut rows,
                    bench_prosody(env, opts, &prosody_tpl, mech, false),
                );
            }
        }
        print_table("Logins over TCP (no TLS)", &setup(opts), &rows);
    }
    let mut tls_rows = Vec::new();
    if opts.tls {
        if let Err(e) = crate::interop::ensure_pki(&env.peers) {
            eprintln!("bench-e2e: test PKI: {e}");
        }
    }
    if opts.tls && opts.tls_mechanism_runs {
        if !env.peers.ca_file().is_file() {
            eprintln!(
                "bench-e2e: no test PKI at {} (cargo xtask interop start makes it); TLS runs skipped",
                env.peers.pki_dir().display()
            );
        } else {
            for mech in ["PLAIN", "SCRAM-SHA-1"] {
                if !opts.mechanisms.iter().any(|m| m == mech) {
                    continue;
                }
                tls_rows.push(bench_ours(env, opts, mech, true, Mode::Rfc6120)?);
                if opts.peers {
                    keep(&mut tls_rows, bench_ejabberd23(env, opts, mech, true));
                }
                if opts.peers && prosody_tls_tpl.is_file() {
                    keep(
                        &mut tls_rows,
                        bench_prosody(env, opts, &prosody_tls_tpl, mech, true),
                    );
                }
            }
            print_table(
                &format!(
                    "Logins over STARTTLS (TLS 1.3, test CA, {})",
                    env.cert_kind()
                ),
                &setup(opts),
                &tls_rows,
            );
            print_handshake_cost(&rows, &tls_rows);
        }
    }
    if opts.modes_run() {
        modes(env, opts)?;
    }
    if !opts.websocket_modes().is_empty() {
        websocket(env, opts)?;
    }
    if opts.tls_logins_run() {
        tls_logins::run(env, opts)?;
    }
    if opts.hold_run {
        hold::hold(env, opts)?;
    }
    Ok(())
}

/// The modes table: each of `--modes` with `--modes-mechanism` over
/// STARTTLS, on our server and on the [`modern_peers`].
fn modes(env: &Env, opts: &Opts) -> Result<(), String> {
    if !env.peers.ca_file().is_file() {
        eprintln!(
            "bench-e2e: no test PKI at {} (cargo xtask interop start makes it); modes table skipped",
            env.peers.pki_dir().display()
        );
        return Ok(());
    }
    let mech = opts.modes_mechanism.as_str();
    let peers = if opts.peers {
        modern_peers(env)
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    for &mode in opts.modes.iter().filter(|m| **m != Mode::WebSocket) {
        rows.push(bench_ours(env, opts, mech, true, mode)?);
        if opts.peers {
            for &peer in &peers {
                keep(&mut rows, bench_modern(env, opts, peer, mech, mode, false));
            }
        }
    }
    print_modes_table(
        "Login protocols over STARTTLS (TLS 1.3, test CA)",
        &setup(opts),
        &rows,
    );
    Ok(())
}

/// The WebSocket table: for each of its login protocols, with
/// `--modes-mechanism` and no TLS, our server over TCP and over `ws://`, and
/// the [`modern_peers`] over their `ws://` endpoints.
fn websocket(env: &Env, opts: &Opts) -> Result<(), String> {
    let mech = opts.modes_mechanism.as_str();
    let peers = if opts.peers {
        modern_peers(env)
    } else {
        Vec::new()
    };
    let mut rows = Vec::new();
    for mode in opts.websocket_modes() {
        rows.push(bench_ours_plain(env, opts, mech, mode, false)?);
        rows.push(bench_ours_plain(env, opts, mech, mode, true)?);
        for &peer in &peers {
            keep(&mut rows, bench_modern(env, opts, peer, mech, mode, true));
        }
    }
    print_websocket_table(
        "Logins over WebSocket (RFC 7395, ws://) and TCP, no TLS",
        &setup(opts),
        &rows,
    );
    Ok(())
}

/// The peers with SASL2, Bind2 and FAST (Prosody 13, ejabberd 24.12) that
/// the modes table measures besides ours: those `cargo xtask interop
/// install` has unpacked. [`bench_modern`] starts a fresh one for each run.
fn modern_peers(env: &Env) -> Vec<Peer> {
    Peer::ALL
        .into_iter()
        .filter(|p| {
            let ok = p.installed(env);
            if !ok {
                eprintln!(
                    "bench-e2e: {} is not unpacked under {} (cargo xtask interop install); its rows are skipped",
                    p.name(),
                    env.peers.modern_dir().display()
                );
            }
            ok
        })
        .collect()
}

/// How the tables' rows were measured.
fn setup(opts: &Opts) -> String {
    format!(
        "{} concurrent logins, {} per run, {} users",
        opts.concurrency, opts.duration, opts.users
    )
}

fn prosody_supports(mech: &str) -> bool {
    // Prosody 0.12 has no DIGEST-MD5.
    mech != "DIGEST-MD5"
}

// ------------------------------------------------------------------ servers

/// Spawns `xmpp serve` on an ephemeral loopback port; returns it, its
/// address, and with `--websocket` in `extra` its WebSocket URL.
fn start_ours(
    env: &Env,
    tls: bool,
    extra: &[&str],
) -> Result<(Proc, String, Option<String>), String> {
    let log = fs::File::create(env.tmp.join("serve.log")).map_err(|e| e.to_string())?;
    let mut cmd = raise_nofile(&env.xmpp);
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--domain",
        DOMAIN,
        "--store",
    ])
    .arg(&env.store)
    .arg("--allow-plain-without-tls")
    // PLAIN is checked against the stored SCRAM secret (no plaintext is
    // stored, unlike the peers' configurations here): remember verified
    // passwords so repeated logins of the same users skip PBKDF2.
    .args(["--plain-cache", "10000"])
    // Every bench client comes from 127.0.0.1 and measures throughput, not
    // load shedding: lift the per-address cap on negotiating connections
    // and let every PLAIN login in flight derive (the peers have no such caps).
    .args([
        "--max-pending-per-ip",
        "1000000",
        "--max-derivations",
        "100000",
    ])
    .args(extra);
    if tls {
        cmd.args(["--starttls", "required", "--tls-cert"])
            .arg(env.cert_file())
            .arg("--tls-key")
            .arg(env.key_file());
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start xmpp serve: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc {
        name: "xmpp serve".into(),
        child,
    };
    let mut lines = BufReader::new(stdout).lines();
    let (mut addr, mut ws) = (None, None);
    let want_ws = extra.contains(&"--websocket");
    while addr.is_none() || (want_ws && ws.is_none()) {
        match lines.next() {
            Some(Ok(l)) => {
                if let Some(a) = l.strip_prefix("listening on ") {
                    addr = Some(a.trim().to_owned());
                } else if let Some(u) = l.strip_prefix("websocket on ") {
                    ws = Some(u.trim().to_owned());
                }
            }
            _ => {
                return Err(format!(
                    "xmpp serve exited before listening; see {}",
                    env.tmp.join("serve.log").display()
                ))
            }
        }
    }
    let addr = addr.unwrap_or_default();
    // Keep draining stdout so the server never blocks on a full pipe.
    thread::spawn(move || for _ in lines {});
    Ok((proc, addr, ws))
}

/// A fresh Prosody from the harness's rendered config, with its own port and data dir,
/// storing the accounts hashed (`internal_hashed`, with the hash of `mech`'s SCRAM:
/// no PBKDF2 per SCRAM login), as deployed.
fn start_prosody(
    env: &Env,
    template: &Path,
    users: u32,
    mech: &str,
) -> Result<(Proc, String), String> {
    let text = fs::read_to_string(template).map_err(|e| {
        format!(
            "{}: {e} (run cargo xtask interop start first)",
            template.display()
        )
    })?;
    let old_data = text
        .lines()
        .find_map(|l| l.strip_prefix("data_path = \""))
        .and_then(|l| l.strip_suffix('"'))
        .ok_or("prosody template has no data_path line")?
        .to_owned();
    let old_port = text
        .lines()
        .find_map(|l| l.strip_prefix("c2s_ports = { "))
        .and_then(|l| l.strip_suffix(" }"))
        .ok_or("prosody template has no c2s_ports line")?
        .to_owned();
    let port = free_port()?;
    let dir = env.tmp.join(format!("prosody-{port}"));
    let data = dir.join("data");
    fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let cfg = dir.join("prosody.cfg.lua");
    let text = text
        .replace(&old_data, &data.to_string_lossy())
        .replace(
            &format!("c2s_ports = {{ {old_port} }}"),
            &format!("c2s_ports = {{ {port} }}"),
        )
        // The interop instance's certificate, replaced by the TLS rows' one.
        .replace(
            &*env.peers.cert_file().to_string_lossy(),
            &env.cert_file().to_string_lossy(),
        )
        .replace(
            &*env.peers.key_file().to_string_lossy(),
            &env.key_file().to_string_lossy(),
        );
    let hash = if mech.starts_with("SCRAM-SHA-256") {
        "SHA-256"
    } else {
        "SHA-1"
    };
    let text = text.replace(
        "authentication = \"internal_plain\"",
        &format!("authentication = \"internal_hashed\"\npassword_hash = \"{hash}\""),
    );
    if !text.contains("authentication = \"internal_hashed\"") {
        return Err(format!(
            "{}: no internal_hashed authentication",
            template.display()
        ));
    }
    fs::write(&cfg, text).map_err(|e| e.to_string())?;
    // prosodyctl register: ~0.2 s each, run a few at a time.
    let jobs: Vec<Command> = (1..=users)
        .map(|i| {
            let mut c = Command::new("prosodyctl");
            c.arg("--config").arg(&cfg).args([
                "register",
                &format!("{PREFIX}{i}"),
                DOMAIN,
                PASSWORD,
            ]);
            c
        })
        .collect();
    run_parallel(jobs, 4, "prosodyctl register")?;
    let log = fs::File::create(dir.join("stdout.log")).map_err(|e| e.to_string())?;
    let child = Command::new("prosody")
        .arg("--config")
        .arg(&cfg)
        .arg("-F")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start prosody: {e}"))?;
    let proc = Proc {
        name: "prosody".into(),
        child,
    };
    let addr = format!("127.0.0.1:{port}");
    wait_port(&addr, Duration::from_secs(20))?;
    Ok((proc, addr))
}

// ------------------------------------------------------------------ benches

fn bench_ours(env: &Env, opts: &Opts, mech: &str, tls: bool, mode: Mode) -> Result<Row, String> {
    let (server, addr, _) = start_ours(env, tls, &[])?;
    let pid = server.child.id();
    bench(env, opts, "ours", &addr, Some(pid), mech, tls, mode)
}

/// A row of our server without TLS started with `serve_args`, labelled `label`.
fn bench_ours_with(
    env: &Env,
    opts: &Opts,
    label: &str,
    mech: &str,
    serve_args: &[&str],
) -> Result<Row, String> {
    let (server, addr, _) = start_ours(env, false, serve_args)?;
    bench_tcp(env, opts, label, &addr, server.child.id(), mech)
}

/// An RFC 6120 row over TCP without TLS against the server `pid` at `addr`.
fn bench_tcp(
    env: &Env,
    opts: &Opts,
    label: &str,
    addr: &str,
    pid: u32,
    mech: &str,
) -> Result<Row, String> {
    bench(
        env,
        opts,
        label,
        addr,
        Some(pid),
        mech,
        false,
        Mode::Rfc6120,
    )
}

/// A WebSocket table's run on our server without TLS (SASL2 allowed
/// without it, as the peers allow it on `ws://`), WebSocket listener on:
/// over `ws://` with `websocket`, else over TCP.
fn bench_ours_plain(
    env: &Env,
    opts: &Opts,
    mech: &str,
    mode: Mode,
    websocket: bool,
) -> Result<Row, String> {
    let extra = ["--allow-sasl2-without-tls", "--websocket", "127.0.0.1:0"];
    let (server, addr, ws) = start_ours(env, false, &extra)?;
    let pid = server.child.id();
    let addr = match ws {
        Some(url) if websocket => url,
        _ => addr,
    };
    bench(env, opts, "ours", &addr, Some(pid), mech, false, mode)
}

/// One run on a fresh private ejabberd 23.01 at its best for `mech`:
/// plaintext storage for DIGEST-MD5, SCRAM keys otherwise; over its
/// STARTTLS-required listener with `tls`.
fn bench_ejabberd23(env: &Env, opts: &Opts, mech: &str, tls: bool) -> Result<Row, String> {
    let storage = modern::Storage::for_mechanism(mech)?;
    let (server, tls_addr) = modern::start_ejabberd23(env, opts.users, storage)
        .map_err(|e| format!("ejabberd 23.01: {e}"))?;
    let (name, addr) = if tls {
        ("ejabberd-tls", tls_addr)
    } else {
        ("ejabberd", server.addr.clone())
    };
    let row = bench(env, opts, name, &addr, server.pid, mech, tls, Mode::Rfc6120);
    drop(server);
    row
}

/// One run on a fresh instance of a modern peer, stopped afterwards:
/// over STARTTLS, or with `websocket` over its `ws://` endpoint.
fn bench_modern(
    env: &Env,
    opts: &Opts,
    peer: Peer,
    mech: &str,
    mode: Mode,
    websocket: bool,
) -> Result<Row, String> {
    let server = peer
        .start(env, opts.users, mech)
        .map_err(|e| format!("{}: {e}", peer.name()))?;
    let (addr, tls) = if websocket {
        (&server.ws_url, false)
    } else {
        (&server.addr, true)
    };
    let row = bench(env, opts, peer.name(), addr, server.pid, mech, tls, mode);
    drop(server);
    row
}

fn bench_prosody(
    env: &Env,
    opts: &Opts,
    template: &Path,
    mech: &str,
    tls: bool,
) -> Result<Row, String> {
    let (server, addr) = start_prosody(env, template, opts.users, mech)?;
    let pid = server.child.id();
    let name = if tls { "prosody-tls" } else { "prosody" };
    bench(env, opts, name, &addr, Some(pid), mech, tls, Mode::Rfc6120)
}

#[allow(clippy::too_many_arguments)]
fn bench(
    env: &Env,
    opts: &Opts,
    target: &str,
    addr: &str,
    pid: Option<u32>,
    mech: &str,
    tls: bool,
    mode: Mode,
) -> Result<Row, String> {
    bench_with(env, opts, target, addr, pid, mech, tls, mode, &[])
}

/// [`bench()`] with more `xmpp bench` arguments.
#[allow(clippy::too_many_arguments)]
fn bench_with(
    env: &Env,
    opts: &Opts,
    target: &str,
    addr: &str,
    pid: Option<u32>,
    mech: &str,
    tls: bool,
    mode: Mode,
    extra: &[&str],
) -> Result<Row, String> {
    let websocket = addr.starts_with("ws://") || addr.starts_with("wss://");
    eprintln!(
        "bench-e2e: {target} {mech}{}{}{} for {}",
        match mode {
            Mode::Rfc6120 | Mode::WebSocket => "",
            Mode::Sasl2 => " (SASL2 + Bind2)",
            Mode::Fast => " (FAST token logins)",
            Mode::Resume => " (XEP-0198 resumptions)",
            Mode::Sasl2Resume => " (XEP-0198 resumptions in SASL2)",
        },
        if tls { " over STARTTLS" } else { "" },
        if websocket { " over WebSocket" } else { "" },
        opts.duration
    );
    let mut cmd = raise_nofile(&env.xmpp);
    cmd.arg("bench")
        .args([if websocket { "--websocket" } else { "--server" }, addr])
        .args(["--domain", DOMAIN])
        .args(["--user-prefix", PREFIX, "--users", &opts.users.to_string()])
        .args(["--password-stdin", "--json", "--mechanism", mech])
        .args(["--concurrency", &opts.concurrency.to_string()])
        .args(["--duration", &opts.duration]);
    if mech == "PLAIN" {
        cmd.arg("--allow-plain-without-tls");
    }
    cmd.args(mode.flags()).args(extra);
    if tls {
        cmd.args(["--tls", "required", "--ca-file"])
            .arg(env.peers.ca_file());
    } else {
        cmd.args(["--tls", "off"]);
    }
    let cpu0 = pid.and_then(cpu_ticks);
    // `xmpp bench` exits 1 when every login failed but still prints its JSON:
    // that is a row (with its failure conditions), not a reason to stop the session.
    let out = match run_with_stdin(cmd, "xmpp bench") {
        Ok(out) => out,
        Err(e) => e
            .split_once("): ")
            .map(|(_, json)| json.to_owned())
            .filter(|j| j.trim_start().starts_with('{'))
            .ok_or(e)?,
    };
    let cpu1 = pid.and_then(cpu_ticks);
    let v: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("xmpp bench output: {e}: {out}"))?;
    let f = |p: &str| {
        v.pointer(p)
            .and_then(serde_json::Value::as_f64)
            .unwrap_or(0.0)
    };
    let logins = f("/logins");
    let kinds = v
        .get("failures_by_condition")
        .and_then(|m| m.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, n)| format!("{k}:{n}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    // Resumptions: messages in flight at a cut that came back lost or twice.
    let kinds = ["resumed_stanzas_lost", "resumed_stanzas_duplicated"]
        .into_iter()
        .filter(|k| f(&format!("/{k}")) > 0.0)
        .fold(kinds, |acc, k| format!("{acc} {k}:{}", f(&format!("/{k}"))));
    // FAST: the token mechanisms the counted logins used.
    let mechanism = match v.get("mechanisms_used").and_then(|m| m.as_object()) {
        Some(used) if mode == Mode::Fast && !used.is_empty() => {
            used.keys().cloned().collect::<Vec<_>>().join("+")
        }
        _ => mech.to_owned(),
    };
    let cpu_us = match (cpu0, cpu1) {
        (Some(a), Some(b)) if logins > 0.0 => {
            Some((b - a) as f64 * 1e6 / clock_ticks() as f64 / logins)
        }
        _ => None,
    };
    Ok(Row {
        target: target.to_owned(),
        mechanism,
        mode,
        tls,
        websocket,
        rate: f("/logins_per_second"),
        p50: f("/latency_ms/p50"),
        p99: f("/latency_ms/p99"),
        failures: f("/failures") as u64,
        failure_kinds: kinds,
        cpu_us,
    })
}

// ------------------------------------------------------------------ helpers

/// `sh -c 'ulimit -n <hard>; exec prog'`: raises the soft open-files limit to the
/// hard one in the child only (10,000 held sessions need more than the default 1024).
fn raise_nofile(prog: &Path) -> Command {
    let mut c = Command::new("sh");
    c.args([
        "-c",
        "ulimit -n \"$(ulimit -Hn)\" 2>/dev/null; exec \"$0\" \"$@\"",
    ])
    .arg(prog);
    c
}

/// Runs `cmd` with the bench password on stdin; returns stdout.
fn run_with_stdin(cmd: Command, what: &str) -> Result<String, String> {
    wait_stdout(spawn_with_stdin(cmd, what)?, what)
}

/// Starts `cmd` with the bench password on stdin.
fn spawn_with_stdin(mut cmd: Command, what: &str) -> Result<std::process::Child, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = writeln!(stdin, "{PASSWORD}");
    }
    Ok(child)
}

/// Waits for `child`; its stdout, or an error with it if it failed.
fn wait_stdout(child: std::process::Child, what: &str) -> Result<String, String> {
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("{what} failed ({}): {stdout}", out.status));
    }
    Ok(stdout)
}
