//! The modes table's peers with SASL2, Bind2 and FAST: Prosody 13.0.1 and
//! ejabberd 24.12 as `cargo xtask interop install` unpacks them, each run on a
//! fresh private instance (its own ports and state under the bench's temp
//! dir; the interop suite's instances are left alone) from the interop
//! configs (`interop/prosody13/`, `interop/ejabberd24/`: the same modules),
//! changed for the bench only where it has to be:
//!
//! - STARTTLS required (as our server and the stock peers' TLS rows run),
//!   with the test PKI's certificate;
//! - logging at warning level, as the stock peers' bench configs (one line per
//!   connection at info level would be measured too);
//! - the accounts stored as SCRAM keys of the table's mechanism (SHA-1 for
//!   SCRAM-SHA-1 and PLAIN, SHA-256 for SCRAM-SHA-256), like our store: no
//!   server derives a key from a password at each SCRAM login (ejabberd's
//!   interop config stores plaintext, on which it would), and every server
//!   offers the mechanism measured (Prosody offers only the SCRAM of its hash);
//! - the bench users `bench1..benchN` registered before the clock starts.
//!
//! Both also serve XMPP over WebSocket on their HTTP port, `ws://` only, as
//! the interop configs have it: Prosody at `/xmpp-websocket` (mod_websocket,
//! `consider_websocket_secure`, so SASL2 and SCRAM are offered there as on
//! TLS), ejabberd at `/ws` (ejabberd_http_ws, `allow_unencrypted_sasl2`).
//! The bench waits for that port too before it measures.
//!
//! Not equalised: TLS session resumption. Our server resumes TLS 1.3 sessions
//! (rustls' stateless tickets), and `xmpp bench` offers the tickets it got
//! (unless `--no-tls-resumption`), so nearly all of our logins skip the
//! certificate signature; Prosody 13 and ejabberd 24.12 send tickets but
//! resume none (`openssl s_client -starttls xmpp -sess_in` gets `New` each
//! time), so each of their logins pays a full handshake with an RSA-2048
//! signature. The TLS logins table (`tls_logins.rs`) shows ours both ways.
//! ejabberd's CPU also counts the Erlang schedulers' busy-waiting (its
//! default, as deployed).
//!
//! [`start_ejabberd23`] starts the stock ejabberd 23.01 the same way (its
//! interop config, `erl` directly) for the classic tables, so that it too
//! runs at its best: SCRAM keys stored unless the mechanism is DIGEST-MD5.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::{Env, PASSWORD, PREFIX};
use crate::interop::{cert_sha256_hex, ejabberd24_erl_libs, render};
use crate::peers::DOMAIN;
use crate::ports::{free_port, listening_pid, port_open_addr};
use crate::process::{run_parallel, Proc};

/// A peer of the modes table.
#[derive(Clone, Copy, Debug)]
pub(super) enum Peer {
    Prosody13,
    Ejabberd24,
}

/// A started peer: stopped (by pid) when dropped.
pub(super) struct Running {
    pub _proc: Proc,
    /// Its STARTTLS c2s address.
    pub addr: String,
    /// Its WebSocket endpoint (RFC 7395) on the HTTP port, `ws://` (no TLS).
    pub ws_url: String,
    /// The process whose CPU is measured (the one listening on `addr`).
    pub pid: Option<u32>,
}

/// How the peers store the bench password.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn for_mechanism(mech: &str) -> Result<Self, String> {
        match mech {
            "SCRAM-SHA-1" | "SCRAM-SHA-1-PLUS" | "PLAIN" => Ok(Hash::Sha1),
            "SCRAM-SHA-256" | "SCRAM-SHA-256-PLUS" => Ok(Hash::Sha256),
            other => Err(format!(
                "the modern peers are measured with SCRAM-SHA-1, SCRAM-SHA-256 or PLAIN, not {other}"
            )),
        }
    }
}

impl Peer {
    pub(super) const ALL: [Peer; 2] = [Peer::Prosody13, Peer::Ejabberd24];

    /// Its name in the tables.
    pub(super) fn name(self) -> &'static str {
        match self {
            Peer::Prosody13 => "prosody13",
            Peer::Ejabberd24 => "ejabberd24",
        }
    }

    /// What must be unpacked for it to run.
    fn landmark(self, env: &Env) -> PathBuf {
        match self {
            Peer::Prosody13 => prosody_bin(env).join("prosody"),
            Peer::Ejabberd24 => env
                .peers
                .ejabberd24_root()
                .join("usr/lib/x86_64-linux-gnu/ejabberd-24.12/ebin/mod_auth_fast.beam"),
        }
    }

    /// Whether `cargo xtask interop install` has unpacked it.
    pub(super) fn installed(self, env: &Env) -> bool {
        self.landmark(env).is_file()
    }

    /// A fresh instance with `users` bench users, storing SCRAM keys for `mech`.
    pub(super) fn start(self, env: &Env, users: u32, mech: &str) -> Result<Running, String> {
        let hash = Hash::for_mechanism(mech)?;
        let t = Instant::now();
        // The fourth is ejabberd 24.12's STARTTLS-required listener (Prosody: unused).
        let ports = free_ports(4)?;
        let r = match self {
            Peer::Prosody13 => start_prosody13(env, users, hash, &ports),
            Peer::Ejabberd24 => start_ejabberd24(env, users, hash, &ports),
        }?;
        eprintln!(
            "bench-e2e: {} up on {} with {users} users ({:?} keys) in {:.1} s",
            self.name(),
            r.addr,
            hash,
            t.elapsed().as_secs_f64()
        );
        Ok(r)
    }
}

/// `n` distinct ports that were free a moment ago.
fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    let mut seen = HashSet::new();
    for _ in 0..n * 20 {
        seen.insert(free_port()?);
        if seen.len() == n {
            return Ok(seen.into_iter().collect());
        }
    }
    Err(format!("could not find {n} distinct free ports"))
}

/// `text` with `from` replaced by `to`, which must be there exactly once.
fn edit(text: &str, from: &str, to: &str, what: &Path) -> Result<String, String> {
    match text.matches(from).count() {
        1 => Ok(text.replacen(from, to, 1)),
        n => Err(format!(
            "{}: {from:?} found {n} times, want once (the bench's edits and the interop config disagree)",
            what.display()
        )),
    }
}

fn prosody_bin(env: &Env) -> PathBuf {
    env.peers.prosody13_root().join("usr/bin")
}

fn lua(env: &Env, tool: &str) -> Command {
    let mut c = Command::new("lua5.4");
    c.arg(prosody_bin(env).join(tool));
    c
}

fn start_prosody13(env: &Env, users: u32, hash: Hash, ports: &[u16]) -> Result<Running, String> {
    let (c2s, direct, http) = (ports[0], ports[1], ports[2]);
    let dir = env.tmp.join(format!("prosody13-{c2s}"));
    let data = dir.join("data");
    fs::create_dir_all(&data).map_err(|e| format!("create {}: {e}", data.display()))?;
    let template = env.peers.src.join("prosody13").join("prosody.cfg.lua");
    let cfg = dir.join("prosody.cfg.lua");
    render(
        &template,
        &cfg,
        &[
            ("@DATA_DIR@", data.display().to_string()),
            ("@C2S_PORT@", c2s.to_string()),
            ("@DIRECT_TLS_PORT@", direct.to_string()),
            ("@HTTP_PORT@", http.to_string()),
            ("@CERT_FILE@", env.cert_file().display().to_string()),
            ("@KEY_FILE@", env.key_file().display().to_string()),
            ("@CERT_HASH@", cert_sha256_hex(&env.cert_file())?),
        ],
    )?;
    let mut text = fs::read_to_string(&cfg).map_err(|e| format!("{}: {e}", cfg.display()))?;
    for (from, to) in [
        ("log = { info = ", "log = { warn = "),
        (
            "c2s_require_encryption = false",
            "c2s_require_encryption = true",
        ),
        (
            "password_hash = \"SHA-256\"",
            match hash {
                Hash::Sha1 => "password_hash = \"SHA-1\"",
                Hash::Sha256 => "password_hash = \"SHA-256\"",
            },
        ),
    ] {
        text = edit(&text, from, to, &template)?;
    }
    fs::write(&cfg, text).map_err(|e| format!("{}: {e}", cfg.display()))?;
    // Registered before the start, with the config's password_hash.
    let jobs: Vec<Command> = (1..=users)
        .map(|i| {
            let mut c = lua(env, "prosodyctl");
            c.current_dir(&dir).arg("--config").arg(&cfg).args([
                "register",
                &format!("{PREFIX}{i}"),
                DOMAIN,
                PASSWORD,
            ]);
            c
        })
        .collect();
    run_parallel(jobs, 4, "prosodyctl register (Prosody 13)")?;
    let log_path = dir.join("stdout.log");
    let log = fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let child = lua(env, "prosody")
        .arg("--config")
        .arg(&cfg)
        .arg("-F")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start Prosody 13: {e}"))?;
    let mut proc = Proc {
        name: "prosody13".into(),
        child,
    };
    let addr = format!("127.0.0.1:{c2s}");
    let http = format!("127.0.0.1:{http}");
    wait_ready(&mut proc, &log_path, Duration::from_secs(30), || {
        port_open_addr(&addr) && port_open_addr(&http)
    })?;
    let pid = Some(proc.child.id());
    Ok(Running {
        _proc: proc,
        addr,
        ws_url: format!("ws://{http}/xmpp-websocket"),
        pid,
    })
}

/// The line the `-eval` prints once ejabberd runs and the users are registered.
const EJABBERD_READY: &str = "XMPP_BENCH_READY";

fn start_ejabberd24(env: &Env, users: u32, hash: Hash, ports: &[u16]) -> Result<Running, String> {
    let spec = Ejabberd {
        name: "ejabberd24",
        template: env.peers.src.join("ejabberd24").join("ejabberd.yml"),
        erl_libs: ejabberd24_erl_libs(&env.peers),
        ca_file: true,
        starttls_required: true,
        storage: Storage::Scram(hash),
    };
    start_ejabberd(env, users, &spec, ports)
}

/// How an ejabberd stores the bench password.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Storage {
    /// Plaintext (`auth_password_format: plain`): what DIGEST-MD5 needs.
    Plain,
    /// SCRAM keys of this hash (`auth_password_format: scram`): no PBKDF2 per SCRAM login.
    Scram(Hash),
}

impl Storage {
    /// The storage a peer at its best uses for `mech`: plaintext only where the
    /// mechanism needs it (DIGEST-MD5), SCRAM keys otherwise.
    pub(super) fn for_mechanism(mech: &str) -> Result<Self, String> {
        match mech {
            "DIGEST-MD5" => Ok(Storage::Plain),
            other => Hash::for_mechanism(other).map(Storage::Scram),
        }
    }
}

/// An ejabberd instance to start with `erl` (no ejabberdctl, no epmd, no
/// distribution).
struct Ejabberd {
    name: &'static str,
    template: PathBuf,
    erl_libs: String,
    /// Whether the template takes `@CA_FILE@`.
    ca_file: bool,
    /// Whether the c2s port (`@C2S_PORT@`) is changed to require STARTTLS.
    starttls_required: bool,
    storage: Storage,
}

/// A fresh private ejabberd 23.01 (Debian's, `interop/ejabberd/ejabberd.yml`)
/// with `users` bench users stored as `storage` says: its c2s port without
/// TLS in `addr`, and its STARTTLS-required port in `tls_addr`.
pub(super) fn start_ejabberd23(
    env: &Env,
    users: u32,
    storage: Storage,
) -> Result<(Running, String), String> {
    let t = Instant::now();
    let ports = free_ports(4)?;
    let spec = Ejabberd {
        name: "ejabberd",
        template: env.peers.src.join("ejabberd").join("ejabberd.yml"),
        erl_libs: "/usr/lib/x86_64-linux-gnu".into(),
        ca_file: false,
        starttls_required: false,
        storage,
    };
    let r = start_ejabberd(env, users, &spec, &ports)?;
    eprintln!(
        "bench-e2e: ejabberd 23.01 up on {} with {users} users ({storage:?} storage) in {:.1} s",
        r.addr,
        t.elapsed().as_secs_f64()
    );
    Ok((r, format!("127.0.0.1:{}", ports[3])))
}

fn start_ejabberd(
    env: &Env,
    users: u32,
    spec: &Ejabberd,
    ports: &[u16],
) -> Result<Running, String> {
    let (c2s, direct, http, tls) = (ports[0], ports[1], ports[2], ports[3]);
    let dir = env.tmp.join(format!("{}-{c2s}", spec.name));
    for sub in ["db", "log"] {
        let d = dir.join(sub);
        fs::create_dir_all(&d).map_err(|e| format!("create {}: {e}", d.display()))?;
    }
    // ejabberd wants certificate and key in one file.
    let certfile = dir.join(format!("{DOMAIN}.pem"));
    let read = |p: PathBuf| fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
    let pem = read(env.cert_file())? + &read(env.key_file())?;
    fs::write(&certfile, pem).map_err(|e| format!("{}: {e}", certfile.display()))?;
    let template = &spec.template;
    let yml = dir.join("ejabberd.yml");
    let mut subst = vec![
        ("@C2S_PORT@", c2s.to_string()),
        ("@TLS_PORT@", tls.to_string()),
        ("@DIRECT_TLS_PORT@", direct.to_string()),
        ("@CERTFILE@", certfile.display().to_string()),
    ];
    if spec.ca_file {
        subst.push(("@HTTP_PORT@", http.to_string()));
        subst.push(("@CA_FILE@", env.peers.ca_file().display().to_string()));
    }
    render(template, &yml, &subst)?;
    let mut text = fs::read_to_string(&yml).map_err(|e| format!("{}: {e}", yml.display()))?;
    let mut edits = vec![(
        "auth_password_format: plain",
        match spec.storage {
            Storage::Plain => "auth_password_format: plain",
            Storage::Scram(Hash::Sha1) => "auth_password_format: scram\nauth_scram_hash: sha",
            Storage::Scram(Hash::Sha256) => "auth_password_format: scram\nauth_scram_hash: sha256",
        },
    )];
    if spec.starttls_required {
        edits.push(("loglevel: info", "loglevel: warning"));
        edits.push(("starttls_required: false", "starttls_required: true"));
    }
    for (from, to) in edits {
        text = edit(&text, from, to, template)?;
    }
    fs::write(&yml, text).map_err(|e| format!("{}: {e}", yml.display()))?;
    let erl_str = |p: &Path| format!("\"{}\"", p.display());
    let eval = format!(
        "Rs = [ejabberd_auth:try_register(<<\"{PREFIX}\", (integer_to_binary(I))/binary>>, \
         <<\"{DOMAIN}\">>, <<\"{PASSWORD}\">>) || I <- lists:seq(1, {users})], \
         io:format(\"{EJABBERD_READY} failed=~p~n\", [length([R || R <- Rs, R =/= ok])])"
    );
    let log_path = dir.join("stdout.log");
    let log = fs::File::create(&log_path).map_err(|e| e.to_string())?;
    // `erl` execs erlexec, which execs beam.smp: the child is the VM.
    let child = Command::new("erl")
        .args(["-noinput", "-noshell", "-mnesia", "dir"])
        .arg(erl_str(&dir.join("db")))
        .args(["-ejabberd", "config"])
        .arg(erl_str(&yml))
        .arg("log_path")
        .arg(erl_str(&dir.join("log").join("ejabberd.log")))
        .args(["-s", "ejabberd", "-eval", &eval])
        .env("ERL_LIBS", &spec.erl_libs)
        .env("ERL_CRASH_DUMP_BYTES", "0")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", spec.name))?;
    let mut proc = Proc {
        name: spec.name.into(),
        child,
    };
    let addr = format!("127.0.0.1:{c2s}");
    let http = spec.ca_file.then(|| format!("127.0.0.1:{http}"));
    let ready_line = || {
        fs::read_to_string(&log_path).ok().and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(EJABBERD_READY))
                .map(str::to_owned)
        })
    };
    wait_ready(&mut proc, &log_path, Duration::from_secs(60), || {
        ready_line().is_some()
            && port_open_addr(&addr)
            && http.as_deref().is_none_or(port_open_addr)
    })?;
    let line = ready_line().unwrap_or_default();
    if !line.ends_with("failed=0") {
        return Err(format!(
            "{}: registering the bench users: {line}{}",
            spec.name,
            tail(&log_path)
        ));
    }
    let pid = listening_pid(c2s).or(Some(proc.child.id()));
    Ok(Running {
        _proc: proc,
        addr,
        ws_url: format!("ws://{}/ws", http.unwrap_or_default()),
        pid,
    })
}

/// Polls `ready`; fails early if the server exits, with its log's tail.
fn wait_ready(
    proc: &mut Proc,
    log: &Path,
    limit: Duration,
    ready: impl Fn() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            return Err(format!("{} exited with {status}{}", proc.name, tail(log)));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} not ready after {} s{}",
                proc.name,
                limit.as_secs(),
                tail(log)
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!(
        "; {}:\n{}",
        log.display(),
        lines[lines.len().saturating_sub(15)..].join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_store_the_hash_of_the_measured_mechanism() {
        assert_eq!(Hash::for_mechanism("SCRAM-SHA-1"), Ok(Hash::Sha1));
        assert_eq!(Hash::for_mechanism("SCRAM-SHA-256"), Ok(Hash::Sha256));
        assert!(Hash::for_mechanism("DIGEST-MD5").is_err());
    }

    #[test]
    fn edits_must_match_once() {
        let p = Path::new("t");
        assert_eq!(edit("a b", "a", "c", p).unwrap(), "c b");
        assert!(edit("a a", "a", "c", p).is_err());
        assert!(edit("b", "a", "c", p).is_err());
    }

    /// The bench's edits still apply to the interop configs.
    #[test]
    fn interop_configs_take_the_edits() {
        let layout = crate::peers::Layout::locate().unwrap();
        let p = layout.src.join("prosody13").join("prosody.cfg.lua");
        let text = fs::read_to_string(&p).unwrap();
        for from in [
            "log = { info = ",
            "c2s_require_encryption = false",
            "password_hash = \"SHA-256\"",
        ] {
            edit(&text, from, "", &p).unwrap();
        }
        let p = layout.src.join("ejabberd24").join("ejabberd.yml");
        let text = fs::read_to_string(&p).unwrap();
        for from in [
            "loglevel: info",
            "starttls_required: false",
            "auth_password_format: plain",
        ] {
            edit(&text, from, "", &p).unwrap();
        }
    }
}
