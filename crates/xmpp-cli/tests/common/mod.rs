//! Helpers: run the real `xmpp` binary, start `xmpp serve` and stop it.

#![allow(dead_code)]

pub mod held;
pub mod pg;

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

pub const BIN: &str = env!("CARGO_BIN_EXE_xmpp");

/// What `xmpp send` says when the server acknowledged the message.
pub const ACKED: &str = "xmpp: sent, acknowledged by the server (XEP-0198)";

/// `xmpp send args...` (blocking, off the runtime's workers).
pub async fn send(args: &[&str], stdin: &str) -> Output {
    let mut all = vec!["send".to_owned()];
    all.extend(args.iter().map(|s| (*s).to_owned()));
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        run(&args, &stdin)
    })
    .await
    .expect("xmpp send ran")
}

/// Runs `xmpp args...` with `stdin` as its input.
pub fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("XMPP_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xmpp");
    // A command that fails before reading stdin (a usage error) may exit
    // before this write: a broken pipe is then no failure of the test.
    match child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("write stdin: {e}"),
        _ => {}
    }
    child.wait_with_output().expect("wait xmpp")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing the output when it differs.
pub fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Asserts the exit code and that stderr says `needle`.
pub fn expect_failure(o: &Output, code: i32, needle: &str) {
    expect_code(o, code);
    assert!(stderr(o).contains(needle), "{}", stderr(o));
}

/// A store file in a temp dir, with `somenode@example.com` / `secret`.
pub struct Store {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Store {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.sqlite3");
        let s = Store { dir, path };
        let o = run(
            &[
                "user",
                "add",
                "somenode@example.com",
                "--store",
                s.arg(),
                "--password-stdin",
            ],
            "secret\n",
        );
        expect_code(&o, 0);
        s
    }

    pub fn arg(&self) -> &str {
        self.path.to_str().expect("utf-8 path")
    }

    /// `xmpp user add <jid>` with `password`.
    pub fn add(&self, jid: &str, password: &str) {
        let o = run(
            &[
                "user",
                "add",
                jid,
                "--store",
                self.arg(),
                "--password-stdin",
            ],
            &format!("{password}\n"),
        );
        expect_code(&o, 0);
    }

    /// `xmpp user bulk-add <prefix> <n> --domain example.com`: accounts
    /// `<prefix>1 .. <prefix>n` with `password`.
    pub fn bulk_add(&self, prefix: &str, n: u32, password: &str) {
        let n = n.to_string();
        let o = run(
            &[
                "user",
                "bulk-add",
                prefix,
                &n,
                "--domain",
                "example.com",
                "--store",
                self.arg(),
                "--password-stdin",
            ],
            &format!("{password}\n"),
        );
        expect_code(&o, 0);
    }
}

/// A running `xmpp serve`, stopped on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// The direct TLS listener's address, with `--direct-tls`.
    pub direct: Option<String>,
    /// The WebSocket URL, with `--websocket`.
    pub websocket: Option<String>,
}

/// What a running `xmpp serve` logs on stderr, line by line (each line is
/// also passed on to the test's stderr).
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().expect("log lock").clone()
    }
}

impl Server {
    pub fn start(store: &str, extra: &[&str]) -> Self {
        Self::spawn(store, extra, None)
    }

    /// [`Server::start`] with `-v` (info), without colours, and its log
    /// kept: each established session is a `session established` line.
    pub fn start_logged(store: &str, extra: &[&str]) -> (Self, Log) {
        let log = Log::default();
        (Self::spawn(store, extra, Some(&log)), log)
    }

    fn spawn(store: &str, extra: &[&str], log: Option<&Log>) -> Self {
        let mut args = vec![
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--domain",
            "example.com",
            "--store",
            store,
        ];
        if log.is_some() {
            args.push("-v");
        }
        args.extend_from_slice(extra);
        let mut cmd = Command::new(BIN);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if log.is_some() {
            cmd.env("RUST_LOG", "info")
                .env("NO_COLOR", "1")
                .stderr(Stdio::piped());
        }
        let mut child = cmd.spawn().expect("spawn xmpp serve");
        if let Some(log) = log {
            let lines = log.0.clone();
            let err = BufReader::new(child.stderr.take().expect("stderr"));
            std::thread::spawn(move || {
                for line in err.lines().map_while(Result::ok) {
                    eprintln!("{line}");
                    lines.lock().expect("log lock").push(line);
                }
            });
        }
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut read = |prefix: &str| {
            let mut line = String::new();
            out.read_line(&mut line).expect("read listen line");
            line.trim()
                .strip_prefix(prefix)
                .unwrap_or_else(|| panic!("expected {prefix:?}, got {line:?}"))
                .to_owned()
        };
        let addr = read("listening on ");
        let direct = extra
            .contains(&"--direct-tls")
            .then(|| read("direct TLS on "));
        let websocket = extra
            .contains(&"--websocket")
            .then(|| read("websocket on "));
        Server {
            child,
            addr,
            direct,
            websocket,
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `xmpp login --tls off` against a `server` without TLS.
pub fn login(server: &str, jid: &str, password: &str, extra: &[&str]) -> Output {
    let mut args = vec!["--tls", "off"];
    args.extend_from_slice(extra);
    login_with(server, jid, password, &args)
}

/// `xmpp login` against `server`, with the default TLS policy unless
/// `extra` says otherwise.
pub fn login_with(server: &str, jid: &str, password: &str, extra: &[&str]) -> Output {
    let mut args = vec!["login", jid, "--server", server, "--password-stdin"];
    args.extend_from_slice(extra);
    run(&args, &format!("{password}\n"))
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

/// The `s=` of the server-first message `xmpp login --transcript` shows for
/// `jid` with SCRAM-SHA-1, with a password the login fails with.
pub fn scram_salt(server: &str, jid: &str) -> String {
    let o = login(
        server,
        jid,
        "not-the-password",
        &["--mechanism", "SCRAM-SHA-1", "--transcript"],
    );
    expect_failure(&o, 3, "<not-authorized/>");
    let out = stdout(&o);
    out.lines()
        .filter_map(|l| l.strip_prefix("r="))
        .find_map(|l| l.split(',').find_map(|a| a.strip_prefix("s=")))
        .unwrap_or_else(|| panic!("no server-first message in:\n{out}"))
        .to_owned()
}

/// A port free right now on 127.0.0.1 (bound, then released), for an
/// address that must be known before the server using it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .expect("local address")
        .port()
}

/// A store with the bench accounts `bench1@example.com` and
/// `bench2@example.com` (password `pw`), as [`bench`] logs in.
pub fn bench_accounts() -> Store {
    let store = Store::new();
    store.bulk_add("bench", 2, "pw");
    store
}

/// `xmpp bench` as the [`bench_accounts`] (bench1..bench2, password `pw`
/// on stdin), JSON out; `args` say where to connect and what to measure.
pub fn bench(args: &[&str]) -> Output {
    bench_table(&[args, &["--json"]].concat())
}

/// [`bench`] with the report as a table (without `--json`).
pub fn bench_table(args: &[&str]) -> Output {
    let mut all = vec![
        "bench",
        "--domain",
        "example.com",
        "--user-prefix",
        "bench",
        "--users",
        "2",
        "--password-stdin",
    ];
    all.extend_from_slice(args);
    run(&all, "pw\n")
}

/// The JSON that `o` printed on stdout.
pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_str(&stdout(o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}
