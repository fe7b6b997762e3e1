//! `cargo xtask interop`: install, start and check real XMPP/SASL peers on
//! 127.0.0.1, then run the interop test suite (`cargo test --workspace -- --ignored`).
//!
//! Subcommands (none = `all`):
//! - `install`: Debian packages (ejabberd, prosody, gsasl, libstrophe-dev, postgresql, ...),
//!   a Python venv with slixmpp/aioxmpp, @xmpp/client from npm, the libstrophe driver.
//! - `start` / `stop`: ejabberd and prosody with the configs in `interop/`, state under the
//!   state directory, stopped by pid.
//! - `selftest`: every client driver in `interop/clients/` against ejabberd/prosody.
//! - `test [-- ARGS]`: the ignored (interop) tests, with the `XMPP_INTEROP_*` environment.
//! - `env`: print that environment as `export` lines.
//! - `all [-- ARGS]`: install, start, selftest, test, stop (stop also runs on failure).
//!
//! Runtime state lives in `$XMPP_INTEROP_DIR`, default `<repo>/target/interop`, whatever
//! `CARGO_TARGET_DIR` says, so that `start` and `stop` from any shell agree.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const USER: &str = "somenode";
const PASSWORD: &str = "secret";
const WRONG_PASSWORD: &str = "not-the-password";
const DOMAIN: &str = "example.com";
/// Non-default ports so that a stock daemon on 5222 can never be mistaken for ours.
const EJABBERD_PORT: u16 = 15222;
/// Erlang distribution port of our ejabberd node; a fixed port means no epmd.
const EJABBERD_DIST_PORT: u16 = 15210;
const EJABBERD_NODE: &str = "xmppinterop@localhost";
const PROSODY_PORT: u16 = 15322;
/// ejabberd's listener with `starttls_required: true` (as deployed).
const EJABBERD_TLS_PORT: u16 = 15223;
/// ejabberd's direct TLS listener (XEP-0368, `tls: true`).
const EJABBERD_DIRECT_TLS_PORT: u16 = 15224;
/// The second prosody, configured as deployed: TLS required, hashed storage.
const PROSODY_TLS_PORT: u16 = 15323;
/// Ports a stock package could open on install (c2s, s2s, http).
const STOCK_PORTS: [u16; 3] = [5222, 5269, 5280];
const APT_PACKAGES: &[&str] = &[
    "ejabberd",
    "prosody",
    "gsasl",
    "libstrophe-dev",
    "pkg-config",
    "gcc",
    "libc6-dev",
    "python3",
    "python3-venv",
    "postgresql",
    "openssl",
];
const XMPP_CLIENT_VERSION: &str = "0.14.0";
const DRIVER_TIMEOUT_SECS: u64 = 20;

/// Entry point for `cargo xtask interop [subcommand] [-- test args]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let (sub, extra) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let ctx = Ctx::new()?;
    match sub.first().map(String::as_str).unwrap_or("all") {
        "install" => ctx.install(),
        "start" => ctx.start(),
        "stop" => ctx.stop(),
        "selftest" => ctx.selftest(),
        "test" => ctx.cargo_test(extra),
        "env" => {
            for (k, v) in ctx.test_env()? {
                println!("export {k}='{v}'");
            }
            Ok(())
        }
        "all" => ctx.all(extra),
        other => Err(format!(
            "unknown subcommand {other:?}; use install|start|stop|selftest|test|env|all"
        )),
    }
}

struct Ctx {
    repo: PathBuf,
    src: PathBuf,
    state: PathBuf,
}

impl Ctx {
    fn new() -> Result<Self, String> {
        // xtask lives one level below the workspace root.
        let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .ok_or("xtask has no parent directory")?
            .to_path_buf();
        let state = match std::env::var_os("XMPP_INTEROP_DIR") {
            Some(d) if !d.is_empty() => absolute(Path::new(&d))?,
            _ => repo.join("target").join("interop"),
        };
        let src = repo.join("interop");
        if !src.join("clients").is_dir() {
            return Err(format!("{} is missing", src.join("clients").display()));
        }
        Ok(Ctx { repo, src, state })
    }

    fn venv_python(&self) -> PathBuf {
        self.state.join("venv").join("bin").join("python")
    }
    fn node_modules(&self) -> PathBuf {
        self.state.join("node").join("node_modules")
    }
    fn strophe_bin(&self) -> PathBuf {
        self.state.join("bin").join("strophe_login")
    }
    fn run_dir(&self) -> PathBuf {
        self.state.join("run")
    }
    fn clients(&self) -> PathBuf {
        self.src.join("clients")
    }

    fn all(&self, extra: &[String]) -> Result<(), String> {
        let t = Instant::now();
        self.install()?;
        eprintln!(
            "== interop: install done in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        if let Err(e) = self.start() {
            let _ = self.stop();
            return Err(e);
        }
        eprintln!(
            "== interop: servers up in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let (self_counts, selftest) = self.selftest_counted();
        let (test_counts, tests) = self.cargo_test_counted(extra);
        let stopped = self.stop();
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

    // ---------------------------------------------------------------- install

    fn install(&self) -> Result<(), String> {
        fs::create_dir_all(&self.state).map_err(|e| io_err("create", &self.state, e))?;
        self.install_apt()?;
        self.guard_stock_daemons();
        self.install_venv()?;
        self.install_node()?;
        self.build_strophe()?;
        eprintln!("interop install: ok (state in {})", self.state.display());
        Ok(())
    }

    fn install_apt(&self) -> Result<(), String> {
        let mut wanted: Vec<&str> = APT_PACKAGES.to_vec();
        if which("npm").is_none() || which("node").is_none() {
            // The image may ship Node.js from elsewhere; only fall back to Debian's if absent.
            wanted.extend(["nodejs", "npm"]);
        }
        let missing: Vec<&str> = wanted
            .iter()
            .copied()
            .filter(|p| !dpkg_installed(p))
            .collect();
        if missing.is_empty() {
            eprintln!("interop install: Debian packages already installed");
            return Ok(());
        }
        eprintln!("interop install: apt-get install {}", missing.join(" "));
        // Other sessions may be running apt at the same time: wait for the lock.
        let lock = ["-o", "DPkg::Lock::Timeout=600"];
        run_checked(
            Command::new("apt-get")
                .args(lock)
                .args(["update", "-q"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get update",
        )?;
        run_checked(
            Command::new("apt-get")
                .args(lock)
                .args(["install", "-y", "-q"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get install",
        )?;
        let still: Vec<&str> = missing
            .iter()
            .copied()
            .filter(|p| !dpkg_installed(p))
            .collect();
        if !still.is_empty() {
            return Err(format!("packages not installed: {}", still.join(" ")));
        }
        for tool in [
            "ejabberdctl",
            "prosody",
            "prosodyctl",
            "gsasl",
            "pkg-config",
            "cc",
        ] {
            if which(tool).is_none() {
                return Err(format!("{tool} not found after installing packages"));
            }
        }
        Ok(())
    }

    /// On a machine without a `policy-rc.d` that forbids it, installing ejabberd or prosody
    /// starts the stock daemon listening on all addresses. Stop it: our peers use their own
    /// ports and configs, and nothing should listen publicly.
    fn guard_stock_daemons(&self) {
        if !STOCK_PORTS.iter().any(|p| port_open(*p)) {
            return;
        }
        eprintln!("interop install: a stock XMPP daemon is listening; stopping the services");
        for svc in ["ejabberd", "prosody"] {
            let _ = Command::new("service")
                .args([svc, "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while STOCK_PORTS.iter().any(|p| port_open(*p)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(250));
        }
        for p in STOCK_PORTS {
            if port_open(p) {
                eprintln!("interop install: WARNING: something still listens on port {p}");
            }
        }
    }

    fn install_venv(&self) -> Result<(), String> {
        let req_path = self.src.join("requirements.txt");
        let req = fs::read_to_string(&req_path).map_err(|e| io_err("read", &req_path, e))?;
        let venv = self.state.join("venv");
        let stamp = venv.join("interop-requirements.txt");
        let py = self.venv_python();
        if py.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(req.as_str()) {
            eprintln!("interop install: Python venv up to date");
            return Ok(());
        }
        // Debian's python3 (with python3-venv) is the one this script installs and knows.
        let base = if Path::new("/usr/bin/python3").exists() {
            PathBuf::from("/usr/bin/python3")
        } else {
            which("python3").ok_or("python3 not found")?
        };
        eprintln!("interop install: Python venv in {}", venv.display());
        let _ = fs::remove_dir_all(&venv);
        run_checked(
            Command::new(&base).args(["-m", "venv"]).arg(&venv),
            "python3 -m venv",
        )?;
        run_checked(
            Command::new(&py)
                .args(["-m", "pip", "install", "-q", "-r"])
                .arg(&req_path),
            "pip install",
        )?;
        run_checked(
            Command::new(&py).args(["-c", "import slixmpp, aioxmpp, aiosasl, pytz"]),
            "import the Python clients",
        )?;
        fs::write(&stamp, req).map_err(|e| io_err("write", &stamp, e))
    }

    fn install_node(&self) -> Result<(), String> {
        let pkg_src = self.src.join("node").join("package.json");
        let pkg = fs::read_to_string(&pkg_src).map_err(|e| io_err("read", &pkg_src, e))?;
        let dir = self.state.join("node");
        let stamp = dir.join("interop-package.json");
        let client_pkg = self.node_modules().join("@xmpp/client/package.json");
        if client_pkg.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(pkg.as_str()) {
            eprintln!("interop install: node modules up to date");
            return Ok(());
        }
        eprintln!("interop install: npm install in {}", dir.display());
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
        fs::write(dir.join("package.json"), &pkg).map_err(|e| io_err("write", &dir, e))?;
        run_checked(
            Command::new("npm")
                .args([
                    "install",
                    "--no-package-lock",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                ])
                .current_dir(&dir),
            "npm install",
        )?;
        let installed =
            fs::read_to_string(&client_pkg).map_err(|e| io_err("read", &client_pkg, e))?;
        if !installed.contains(&format!("\"version\": \"{XMPP_CLIENT_VERSION}\"")) {
            return Err(format!("@xmpp/client is not version {XMPP_CLIENT_VERSION}"));
        }
        fs::write(&stamp, pkg).map_err(|e| io_err("write", &stamp, e))
    }

    fn build_strophe(&self) -> Result<(), String> {
        let src = self.clients().join("strophe_login.c");
        let out = self.strophe_bin();
        fs::create_dir_all(self.state.join("bin")).map_err(|e| io_err("create", &out, e))?;
        let flags = capture(
            Command::new("pkg-config").args(["--cflags", "--libs", "libstrophe"]),
            "pkg-config libstrophe",
        )?;
        run_checked(
            Command::new("cc")
                .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
                .arg(&out)
                .arg(&src)
                .args(flags.split_whitespace()),
            "compile strophe_login.c",
        )
    }

    // ---------------------------------------------------------------- start/stop

    fn start(&self) -> Result<(), String> {
        fs::create_dir_all(self.run_dir()).map_err(|e| io_err("create", &self.run_dir(), e))?;
        // Servers left running by an earlier `start` present the current certificate: a new
        // PKI would make every verification against them fail.
        let names = ["ejabberd", PROSODY_PLAIN.name, PROSODY_TLS.name];
        if names.iter().any(|n| self.running(n).is_some()) && self.ca_file().is_file() {
            eprintln!("servers already running: keeping the test PKI");
        } else {
            self.make_pki()?;
        }
        self.start_ejabberd()?;
        self.start_prosody(&PROSODY_PLAIN)?;
        self.start_prosody(&PROSODY_TLS)?;
        Ok(())
    }

    fn pki_dir(&self) -> PathBuf {
        self.run_dir().join("pki")
    }
    /// The throwaway test CA (PEM) that signed every server certificate of the suite.
    fn ca_file(&self) -> PathBuf {
        self.pki_dir().join("ca.crt")
    }
    /// A certificate for `example.com` signed by the test CA (PEM).
    fn cert_file(&self) -> PathBuf {
        self.pki_dir().join(format!("{DOMAIN}.crt"))
    }
    /// A second CA that signed nothing the servers present (verification must fail).
    fn other_ca_file(&self) -> PathBuf {
        self.pki_dir().join("other-ca.crt")
    }
    /// Its private key (PEM, PKCS#8).
    fn key_file(&self) -> PathBuf {
        self.pki_dir().join(format!("{DOMAIN}.key"))
    }

    /// A fresh test PKI at each start: a CA and a certificate for the served domain with
    /// `subjectAltName DNS:example.com` (what XMPP clients verify), signed by it. The CA key
    /// only lives until the next start; nothing outside the suite trusts it.
    fn make_pki(&self) -> Result<(), String> {
        let dir = self.pki_dir();
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).map_err(|e| io_err("create", &dir, e))?;
        let ext = dir.join("server.ext");
        fs::write(
            &ext,
            format!(
                "basicConstraints = critical, CA:FALSE\n\
                 keyUsage = critical, digitalSignature, keyEncipherment\n\
                 extendedKeyUsage = serverAuth\n\
                 subjectAltName = DNS:{DOMAIN}\n"
            ),
        )
        .map_err(|e| io_err("write", &ext, e))?;
        // Whitespace-separated arguments: none of them contains a space.
        let openssl = |args: &str, what: &str| {
            capture(
                Command::new("openssl")
                    .args(args.split_whitespace())
                    .current_dir(&dir),
                what,
            )
            .map(|_| ())
        };
        openssl(
            "req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -keyout ca.key -out ca.crt \
             -subj /CN=xmpp-negotiate-interop-test-CA \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
            "openssl: test CA",
        )?;
        openssl(
            &format!(
                "req -new -newkey rsa:2048 -nodes -sha256 -keyout {DOMAIN}.key -out {DOMAIN}.csr \
                 -subj /CN={DOMAIN}"
            ),
            "openssl: server key and CSR",
        )?;
        openssl(
            &format!(
                "x509 -req -sha256 -days 30 -in {DOMAIN}.csr -CA ca.crt -CAkey ca.key \
                 -CAcreateserial -out {DOMAIN}.crt -extfile server.ext"
            ),
            "openssl: sign the server certificate",
        )?;
        openssl(
            "req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -keyout other-ca.key \
             -out other-ca.crt -subj /CN=xmpp-negotiate-interop-untrusted-CA \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
            "openssl: a second, unrelated CA",
        )?;
        // Check with an independent verifier before any server or client relies on it.
        openssl(
            &format!(
                "verify -CAfile ca.crt -verify_hostname {DOMAIN} -purpose sslserver {DOMAIN}.crt"
            ),
            "openssl verify",
        )?;
        Ok(())
    }

    fn stop(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        for name in ["ejabberd", PROSODY_PLAIN.name, PROSODY_TLS.name] {
            if let Err(e) = self.stop_one(name) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    fn pid_file(&self, name: &str) -> PathBuf {
        self.run_dir().join(format!("{name}.pid"))
    }

    /// The pid of a server we started, if it is still alive.
    fn running(&self, name: &str) -> Option<u32> {
        let pid = fs::read_to_string(self.pid_file(name))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        alive(pid).then_some(pid)
    }

    fn ejabberdctl(&self, dir: &Path) -> Command {
        let etc = dir.join("etc");
        let mut c = Command::new("ejabberdctl");
        c.arg("--config-dir")
            .arg(&etc)
            .arg("--ctl-config")
            .arg(etc.join("ejabberdctl.cfg"))
            .arg("--config")
            .arg(etc.join("ejabberd.yml"))
            .arg("--spool")
            .arg(dir.join("db"))
            .arg("--logs")
            .arg(dir.join("log"));
        c
    }

    fn start_ejabberd(&self) -> Result<(), String> {
        if let Some(pid) = self.running("ejabberd") {
            eprintln!("ejabberd already running (pid {pid})");
            return Ok(());
        }
        for port in [
            EJABBERD_PORT,
            EJABBERD_TLS_PORT,
            EJABBERD_DIRECT_TLS_PORT,
            EJABBERD_DIST_PORT,
        ] {
            if port_open(port) {
                return Err(format!(
                    "port {port} is already in use; cannot start ejabberd"
                ));
            }
        }
        let mut dir = self.run_dir().join("ejabberd");
        self.prepare_ejabberd_dir(&dir)?;
        if !readable_by_ejabberd(&dir.join("etc").join("ejabberd.yml")) {
            // ejabberd runs as the `ejabberd` user, which cannot reach a checkout in a
            // private directory: use a directory under the system temp dir instead.
            let fallback = std::env::temp_dir().join(format!(
                "xmpp-interop-ejabberd-{:016x}",
                fnv1a(self.state.to_string_lossy().as_bytes())
            ));
            eprintln!(
                "ejabberd cannot read {}; using {}",
                dir.display(),
                fallback.display()
            );
            let _ = fs::remove_dir_all(&dir);
            dir = fallback;
            self.prepare_ejabberd_dir(&dir)?;
        }
        let log = dir.join("log").join("stdout.log");
        let child = spawn_daemon(self.ejabberdctl(&dir).arg("foreground"), &dir, &log)?;
        self.write_pid("ejabberd", child.id())?;
        let wait = wait_until(Duration::from_secs(60), &log, child, || {
            [EJABBERD_PORT, EJABBERD_TLS_PORT, EJABBERD_DIRECT_TLS_PORT]
                .iter()
                .all(|p| port_open(*p))
                && self
                    .ejabberdctl(&dir)
                    .arg("status")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false)
        });
        if let Err(e) = wait {
            let _ = self.stop_one("ejabberd");
            return Err(format!("ejabberd did not start: {e}"));
        }
        let reg = run_checked(
            self.ejabberdctl(&dir)
                .args(["register", USER, DOMAIN, PASSWORD]),
            "ejabberdctl register",
        );
        if let Err(e) = reg {
            let _ = self.stop_one("ejabberd");
            return Err(e);
        }
        eprintln!(
            "ejabberd up on 127.0.0.1:{EJABBERD_PORT}, STARTTLS required on \
             :{EJABBERD_TLS_PORT}, direct TLS on :{EJABBERD_DIRECT_TLS_PORT} (pid {})",
            self.running("ejabberd").unwrap_or(0)
        );
        Ok(())
    }

    /// Fresh ejabberd state (config from the templates, empty database) owned by the
    /// `ejabberd` user, as which ejabberdctl runs the server when started by root.
    fn prepare_ejabberd_dir(&self, dir: &Path) -> Result<(), String> {
        // Fresh state each start: the suite relies on exactly one registered account.
        let _ = fs::remove_dir_all(dir);
        for sub in ["etc", "db", "log"] {
            fs::create_dir_all(dir.join(sub)).map_err(|e| io_err("create", dir, e))?;
        }
        // ejabberd wants certificate and key in one file, readable by the ejabberd user.
        let certfile = dir.join("etc").join(format!("{DOMAIN}.pem"));
        let mut pem = fs::read_to_string(self.cert_file())
            .map_err(|e| io_err("read", &self.cert_file(), e))?;
        pem.push_str(
            &fs::read_to_string(self.key_file())
                .map_err(|e| io_err("read", &self.key_file(), e))?,
        );
        fs::write(&certfile, pem).map_err(|e| io_err("write", &certfile, e))?;
        let subst = [
            ("@C2S_PORT@", EJABBERD_PORT.to_string()),
            ("@TLS_PORT@", EJABBERD_TLS_PORT.to_string()),
            ("@DIRECT_TLS_PORT@", EJABBERD_DIRECT_TLS_PORT.to_string()),
            ("@CERTFILE@", certfile.display().to_string()),
            ("@DIST_PORT@", EJABBERD_DIST_PORT.to_string()),
            ("@NODE@", EJABBERD_NODE.to_string()),
        ];
        for f in ["ejabberd.yml", "ejabberdctl.cfg", "inetrc"] {
            render(
                &self.src.join("ejabberd").join(f),
                &dir.join("etc").join(f),
                &subst,
            )?;
        }
        run_checked(
            Command::new("chown")
                .args(["-R", "ejabberd:ejabberd"])
                .arg(dir),
            "chown ejabberd state",
        )
    }

    fn start_prosody(&self, p: &ProsodyInstance) -> Result<(), String> {
        let name = p.name;
        if let Some(pid) = self.running(name) {
            eprintln!("{name} already running (pid {pid})");
            return Ok(());
        }
        if port_open(p.port) {
            return Err(format!(
                "port {} is already in use; cannot start {name}",
                p.port
            ));
        }
        let dir = self.run_dir().join(name);
        let _ = fs::remove_dir_all(&dir);
        let data = dir.join("data");
        fs::create_dir_all(&data).map_err(|e| io_err("create", &data, e))?;
        let cfg = dir.join("prosody.cfg.lua");
        let mut subst = vec![
            ("@DATA_DIR@", data.display().to_string()),
            ("@C2S_PORT@", p.port.to_string()),
        ];
        if p.tls {
            subst.push(("@CERT_FILE@", self.cert_file().display().to_string()));
            subst.push(("@KEY_FILE@", self.key_file().display().to_string()));
        }
        render(&self.src.join("prosody").join(p.template), &cfg, &subst)?;
        run_checked(
            Command::new("prosodyctl")
                .current_dir(&dir)
                .arg("--config")
                .arg(&cfg)
                .args(["register", USER, DOMAIN, PASSWORD]),
            "prosodyctl register",
        )?;
        let log = dir.join("stdout.log");
        let child = spawn_daemon(
            Command::new("prosody").arg("--config").arg(&cfg).arg("-F"),
            &dir,
            &log,
        )?;
        self.write_pid(name, child.id())?;
        if let Err(e) = wait_until(Duration::from_secs(30), &log, child, || port_open(p.port)) {
            let _ = self.stop_one(name);
            return Err(format!("{name} did not start: {e}"));
        }
        eprintln!(
            "{name} up on 127.0.0.1:{} (pid {})",
            p.port,
            self.running(name).unwrap_or(0)
        );
        Ok(())
    }

    fn write_pid(&self, name: &str, pid: u32) -> Result<(), String> {
        let f = self.pid_file(name);
        fs::write(&f, format!("{pid}\n")).map_err(|e| io_err("write", &f, e))
    }

    /// Stops a server by the pid we recorded: SIGTERM to it and every descendant (ejabberdctl
    /// runs the Erlang VM under `su`, in another session), then SIGKILL what is left.
    fn stop_one(&self, name: &str) -> Result<(), String> {
        let pid_file = self.pid_file(name);
        let Some(pid) = self.running(name) else {
            let _ = fs::remove_file(&pid_file);
            return Ok(());
        };
        let mut tree = descendants(pid);
        tree.push(pid);
        signal(&tree, "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tree.iter().any(|p| alive(*p)) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
        }
        let left: Vec<u32> = tree.iter().copied().filter(|p| alive(*p)).collect();
        if !left.is_empty() {
            signal(&left, "KILL");
            thread::sleep(Duration::from_millis(300));
        }
        let _ = fs::remove_file(&pid_file);
        let still: Vec<u32> = tree.iter().copied().filter(|p| alive(*p)).collect();
        if still.is_empty() {
            eprintln!("{name} stopped (pid {pid})");
            Ok(())
        } else {
            Err(format!("{name}: processes {still:?} did not stop"))
        }
    }

    // ---------------------------------------------------------------- tests

    fn test_env(&self) -> Result<BTreeMap<&'static str, String>, String> {
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
        env.insert("XMPP_INTEROP_CA", self.ca_file().display().to_string());
        env.insert("XMPP_INTEROP_CERT", self.cert_file().display().to_string());
        env.insert("XMPP_INTEROP_KEY", self.key_file().display().to_string());
        env.insert(
            "XMPP_INTEROP_OTHER_CA",
            self.other_ca_file().display().to_string(),
        );
        env.insert("XMPP_INTEROP_USER", USER.to_string());
        env.insert("XMPP_INTEROP_PASSWORD", PASSWORD.to_string());
        env.insert("XMPP_INTEROP_DOMAIN", DOMAIN.to_string());
        env.insert(
            "XMPP_INTEROP_PYTHON",
            self.venv_python().display().to_string(),
        );
        env.insert("XMPP_INTEROP_CLIENTS", self.clients().display().to_string());
        env.insert(
            "XMPP_INTEROP_STROPHE",
            self.strophe_bin().display().to_string(),
        );
        env.insert(
            "XMPP_INTEROP_NODE_MODULES",
            self.node_modules().display().to_string(),
        );
        let node = which("node").ok_or("node not found in PATH")?;
        env.insert("XMPP_INTEROP_NODE", node.display().to_string());
        if let Some(gsasl) = which("gsasl") {
            env.insert("XMPP_INTEROP_GSASL", gsasl.display().to_string());
        }
        if let Some(bindir) = postgres_bindir() {
            env.insert("XMPP_INTEROP_PG_BINDIR", bindir.display().to_string());
        }
        env.insert("XMPP_INTEROP_STATE", self.state.display().to_string());
        Ok(env)
    }

    fn cargo_test(&self, extra: &[String]) -> Result<(), String> {
        self.cargo_test_counted(extra).1
    }

    /// Runs the ignored tests, passing their output through and adding up the
    /// `test result:` lines so that `all` can print one closing line for the whole suite.
    fn cargo_test_counted(&self, extra: &[String]) -> (Counts, Result<(), String>) {
        let mut counts = Counts::default();
        let env = match self.test_env() {
            Ok(env) => env,
            Err(e) => return (counts, Err(e)),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["test", "--workspace", "--no-fail-fast", "--", "--ignored"])
            .args(extra)
            .current_dir(&self.repo)
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

    /// Logs every client driver in to the reference servers with each mechanism it supports,
    /// plus one wrong-password attempt per driver that must fail, and prints a table.
    fn selftest(&self) -> Result<(), String> {
        self.selftest_counted().1
    }

    fn selftest_counted(&self) -> (Counts, Result<(), String>) {
        let env = match self.test_env() {
            Ok(env) => env,
            Err(e) => return (Counts::default(), Err(e)),
        };
        let py = self.venv_python().display().to_string();
        let node = env["XMPP_INTEROP_NODE"].clone();
        let clients = self.clients();
        let driver = |script: &str| -> (String, Vec<String>) {
            let path = clients.join(script).display().to_string();
            if script.ends_with(".mjs") {
                (node.clone(), vec![path])
            } else {
                (py.clone(), vec![path])
            }
        };
        let ej = ("ejabberd", EJABBERD_PORT);
        let pr = ("prosody", PROSODY_PORT);
        // (client, script, server, mechanisms)
        // What each server offers that the client can force (prosody 0.12 has no DIGEST-MD5;
        // aioxmpp and xmpp.js have no DIGEST-MD5 of their own; xmpp.js has no SCRAM-SHA-256).
        const EJ_ALL: &[&str] = &["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"];
        const PR_ALL: &[&str] = &["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"];
        const NO_DIGEST: &[&str] = &["SCRAM-SHA-1", "PLAIN", "SCRAM-SHA-256"];
        const XMPPJS: &[&str] = &["PLAIN", "SCRAM-SHA-1"];
        let matrix: &[MatrixRow] = &[
            ("xmpp_raw", "xmpp_raw.py", ej, EJ_ALL),
            ("xmpp_raw", "xmpp_raw.py", pr, PR_ALL),
            ("slixmpp", "slix_login.py", ej, EJ_ALL),
            ("slixmpp", "slix_login.py", pr, PR_ALL),
            ("aioxmpp", "aioxmpp_login.py", ej, NO_DIGEST),
            ("aioxmpp", "aioxmpp_login.py", pr, NO_DIGEST),
            ("libstrophe", "strophe_login.py", ej, EJ_ALL),
            ("libstrophe", "strophe_login.py", pr, PR_ALL),
            ("xmpp.js", "xmppjs_login.mjs", ej, XMPPJS),
            ("xmpp.js", "xmppjs_login.mjs", pr, XMPPJS),
        ];
        // Over STARTTLS (TLS 1.3 unless a row says tls-unique, which caps it at 1.2).
        // ejabberd-tls offers DIGEST-MD5, PLAIN, SCRAM-SHA-1/256/512 and their -PLUS, whose
        // only binding is tls-unique (advertised on TLS 1.3 too, where it is undefined);
        // prosody-tls (hashed storage) offers PLAIN and SCRAM-SHA-1, plus SCRAM-SHA-1-PLUS
        // (tls-unique) on TLS 1.2 only. "MECH/TYPE" = --channel-binding TYPE.
        // libstrophe takes the strongest mechanism offered and no proxy can filter inside
        // TLS: one row per server. xmpp.js has no -PLUS; aioxmpp and xmpp.js no DIGEST-MD5.
        let ejt = ("ejabberd-tls", EJABBERD_TLS_PORT);
        let prt = ("prosody-tls", PROSODY_TLS_PORT);
        const EJT_ALL: &[&str] = &[
            "PLAIN",
            "DIGEST-MD5",
            "SCRAM-SHA-1",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1-PLUS/tls-unique",
            "SCRAM-SHA-256-PLUS/tls-unique",
        ];
        const EJT_AIOXMPP: &[&str] = &[
            "PLAIN",
            "SCRAM-SHA-1",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1-PLUS/tls-unique",
            "SCRAM-SHA-256-PLUS/tls-unique",
        ];
        const PRT_ALL: &[&str] = &["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS/tls-unique"];
        let tls_matrix: &[MatrixRow] = &[
            ("xmpp_raw", "xmpp_raw.py", ejt, EJT_ALL),
            ("xmpp_raw", "xmpp_raw.py", prt, PRT_ALL),
            ("slixmpp", "slix_login.py", ejt, EJT_ALL),
            ("slixmpp", "slix_login.py", prt, PRT_ALL),
            ("aioxmpp", "aioxmpp_login.py", ejt, EJT_AIOXMPP),
            ("aioxmpp", "aioxmpp_login.py", prt, PRT_ALL),
            ("libstrophe", "strophe_login.py", ejt, &["SCRAM-SHA-512"]),
            ("libstrophe", "strophe_login.py", prt, &["SCRAM-SHA-1"]),
            ("xmpp.js", "xmppjs_login.mjs", ejt, XMPPJS),
            ("xmpp.js", "xmppjs_login.mjs", prt, XMPPJS),
        ];
        let mut cases = Vec::new();
        for (rows, tls) in [(matrix, false), (tls_matrix, true)] {
            for (client, script, (server, port), mechs) in rows {
                for (i, mech) in mechs.iter().enumerate() {
                    cases.push(Case {
                        client,
                        script,
                        server,
                        port: *port,
                        mech,
                        good_password: true,
                        resource: i % 2 == 0,
                        tls: if tls { Tls::Verified } else { Tls::Off },
                    });
                }
            }
        }
        // A wrong password must make every driver fail, not hang or report success.
        for (client, script, mech) in [
            ("xmpp_raw", "xmpp_raw.py", "PLAIN"),
            ("slixmpp", "slix_login.py", "PLAIN"),
            ("aioxmpp", "aioxmpp_login.py", "SCRAM-SHA-1"),
            ("libstrophe", "strophe_login.py", "SCRAM-SHA-1"),
            ("xmpp.js", "xmppjs_login.mjs", "SCRAM-SHA-1"),
        ] {
            cases.push(Case {
                client,
                script,
                server: "prosody",
                port: PROSODY_PORT,
                mech,
                good_password: false,
                resource: false,
                tls: Tls::Off,
            });
            // A certificate from a CA the driver was not told to trust must stop it.
            cases.push(Case {
                client,
                script,
                server: "prosody-tls",
                port: PROSODY_TLS_PORT,
                mech,
                good_password: true,
                resource: false,
                tls: Tls::OtherCa,
            });
        }

        println!(
            "{:<11} {:<12} {:<29} {:<9} {:>6}  result",
            "client", "server", "mechanism", "password", "ms"
        );
        let mut failed = 0;
        for c in &cases {
            let (prog, mut argv) = driver(c.script);
            argv.extend(
                [
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &c.port.to_string(),
                    "--jid",
                    &format!("{USER}@{DOMAIN}"),
                    "--mechanism",
                    c.mech.split('/').next().unwrap_or(c.mech),
                    "--password-env",
                    if c.good_password {
                        "XMPP_INTEROP_PASSWORD"
                    } else {
                        "XMPP_INTEROP_WRONG_PASSWORD"
                    },
                    "--timeout",
                    &DRIVER_TIMEOUT_SECS.to_string(),
                ]
                .map(String::from),
            );
            let ca = match c.tls {
                Tls::Off => None,
                Tls::Verified => Some(self.ca_file()),
                Tls::OtherCa => Some(self.other_ca_file()),
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
                    format!("selftest-{}", c.client.replace('.', "")),
                ]);
            }
            let mut cmd = Command::new(&prog);
            cmd.args(&argv)
                .envs(&env)
                .env("XMPP_INTEROP_WRONG_PASSWORD", WRONG_PASSWORD);
            let t = Instant::now();
            let out = run_with_timeout(cmd, Duration::from_secs(DRIVER_TIMEOUT_SECS + 10));
            let ms = t.elapsed().as_millis();
            let must_login = c.good_password && c.tls != Tls::OtherCa;
            let verdict = match (&out, must_login) {
                (Ok((status, stdout, _)), true) if status.success() => {
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
                }
                (Ok((status, stdout, stderr)), true) => {
                    Err(format!("{status}: {}{}", stderr.trim(), stdout.trim()))
                }
                (Ok((status, stdout, stderr)), false) => {
                    if !status.success()
                        && !stdout.contains("LOGIN OK")
                        && stderr.contains("LOGIN FAILED")
                    {
                        Ok(format!("refused as expected ({})", last_line(stderr)))
                    } else {
                        Err(format!(
                            "not refused cleanly: {status} {stdout:?} {stderr:?}"
                        ))
                    }
                }
                (Err(e), _) => Err(e.clone()),
            };
            let pw = match (c.good_password, c.tls) {
                (_, Tls::OtherCa) => "other CA",
                (true, _) => "right",
                (false, _) => "wrong",
            };
            match verdict {
                Ok(msg) => println!(
                    "{:<11} {:<12} {:<29} {:<9} {:>6}  ok    {msg}",
                    c.client, c.server, c.mech, pw, ms
                ),
                Err(msg) => {
                    failed += 1;
                    println!(
                        "{:<11} {:<12} {:<29} {:<9} {:>6}  FAIL  {msg}",
                        c.client, c.server, c.mech, pw, ms
                    );
                }
            }
        }
        let counts = Counts {
            passed: cases.len() - failed,
            failed,
        };
        println!(
            "selftest: {} passed, {} failed",
            counts.passed, counts.failed
        );
        if failed == 0 {
            (counts, Ok(()))
        } else {
            (
                counts,
                Err(format!("{failed} driver selftest case(s) failed")),
            )
        }
    }
}

/// One prosody process: its name (state directory and pid file), config template and port.
struct ProsodyInstance {
    name: &'static str,
    template: &'static str,
    port: u16,
    /// The template takes the test certificate and key (`@CERT_FILE@`, `@KEY_FILE@`).
    tls: bool,
}

/// Stock prosody without TLS, plaintext storage (every SCRAM variant).
const PROSODY_PLAIN: ProsodyInstance = ProsodyInstance {
    name: "prosody",
    template: "prosody.cfg.lua",
    port: PROSODY_PORT,
    tls: false,
};

/// Prosody as deployed: STARTTLS required, hashed storage.
const PROSODY_TLS: ProsodyInstance = ProsodyInstance {
    name: "prosody-tls",
    template: "prosody-tls.cfg.lua",
    port: PROSODY_TLS_PORT,
    tls: true,
};

/// (client, driver script, (server, port), mechanisms to log in with).
type MatrixRow = (
    &'static str,
    &'static str,
    (&'static str, u16),
    &'static [&'static str],
);

#[derive(Clone, Copy, Default)]
struct Counts {
    passed: usize,
    failed: usize,
}

/// In `"ok. 12 passed; 0 failed; ..."`, the number before `word`.
fn count_before(text: &str, word: &str) -> usize {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[1].trim_end_matches([';', ',']) == word)
        .and_then(|w| w[0].parse().ok())
        .unwrap_or(0)
}

struct Case {
    client: &'static str,
    script: &'static str,
    server: &'static str,
    port: u16,
    /// The mechanism, or `MECH/TYPE` for a channel-binding type.
    mech: &'static str,
    good_password: bool,
    resource: bool,
    tls: Tls,
}

/// How a selftest case uses TLS.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tls {
    /// Plain TCP (the driver never uses STARTTLS).
    Off,
    /// STARTTLS required, verified against the suite's CA.
    Verified,
    /// STARTTLS required, but trusting another CA: the login must fail.
    OtherCa,
}

// -------------------------------------------------------------------- helpers

fn io_err(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        std::env::current_dir()
            .map(|d| d.join(p))
            .map_err(|e| format!("no current directory: {e}"))
    }
}

fn last_line(s: &str) -> &str {
    s.trim().lines().last().unwrap_or("")
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

fn dpkg_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}", pkg])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).starts_with("ii"))
        .unwrap_or(false)
}

fn postgres_bindir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Whether the `ejabberd` system user can read `file` (every parent directory searchable).
fn readable_by_ejabberd(file: &Path) -> bool {
    Command::new("su")
        .args(["-s", "/bin/sh", "-c", "test -r \"$0\"", "ejabberd"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// FNV-1a, for a stable per-checkout directory name.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// Replaces each placeholder of `subst` in the template `src` and writes `dst`.
fn render(src: &Path, dst: &Path, subst: &[(&str, String)]) -> Result<(), String> {
    let mut text = fs::read_to_string(src).map_err(|e| io_err("read", src, e))?;
    for (k, v) in subst {
        text = text.replace(k, v);
    }
    // A leftover `@NAME@` means the template and this code disagree.
    let ats: Vec<usize> = text.match_indices('@').map(|(i, _)| i).collect();
    let leftover = ats.windows(2).map(|w| &text[w[0] + 1..w[1]]).find(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    });
    if let Some(name) = leftover {
        return Err(format!(
            "unreplaced placeholder @{name}@ in {}",
            src.display()
        ));
    }
    fs::write(dst, text).map_err(|e| io_err("write", dst, e))
}

fn run_checked(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn capture(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Starts a long-running server in its own session (`setsid`), so a Ctrl-C in the
/// terminal that ran `start` does not reach it, with output appended to `log`.
fn spawn_daemon(cmd: &mut Command, cwd: &Path, log: &Path) -> Result<Child, String> {
    let out = fs::File::create(log).map_err(|e| io_err("create", log, e))?;
    let err = out.try_clone().map_err(|e| io_err("dup", log, e))?;
    let mut setsid = Command::new("setsid");
    setsid.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => setsid.env(k, v),
            None => setsid.env_remove(k),
        };
    }
    setsid
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))
}

/// Polls `ready` until it holds; fails early if the daemon exits (showing its log).
fn wait_until(
    limit: Duration,
    log: &Path,
    mut child: Child,
    ready: impl Fn() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(20).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(format!(
                "exited with {status}; log {}:\n{}",
                log.display(),
                tail.join("\n")
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "not ready after {} s; see {}",
                limit.as_secs(),
                log.display()
            ));
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name, which may itself contain ") ".
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(") ")?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// All live descendants of `root`, found through /proc parent links.
fn descendants(root: u32) -> Vec<u32> {
    let pids: Vec<u32> = fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let parents: Vec<(u32, u32)> = pids
        .iter()
        .filter_map(|p| parent_of(*p).map(|pp| (*p, pp)))
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let cur = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    found.remove(0);
    found
}

fn signal(pids: &[u32], sig: &str) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs a client driver with a hard time limit, capturing its output. The driver runs in
/// its own process group so that a timeout kills it together with anything it started.
fn run_with_timeout(cmd: Command, limit: Duration) -> Result<(ExitStatus, String, String), String> {
    let mut setsid = Command::new("setsid");
    setsid.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            setsid.env(k, v);
        }
    }
    let mut child = setsid
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let mut out = child.stdout.take().ok_or("no stdout pipe")?;
    let mut err = child.stderr.take().ok_or("no stderr pipe")?;
    let out_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() > deadline => {
                let mut group = descendants(child.id());
                group.push(child.id());
                signal(&group, "KILL");
                let _ = child.wait();
                return Err(format!("killed after {} s", limit.as_secs()));
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("wait failed: {e}")),
        }
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    Ok((status, stdout, stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_from_cargo_result_lines() {
        let line =
            "FAILED. 11 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; finished in 6.29s";
        assert_eq!(count_before(line, "passed"), 11);
        assert_eq!(count_before(line, "failed"), 1);
        assert_eq!(count_before("ok. nothing here", "passed"), 0);
    }

    #[test]
    fn templates_are_fully_rendered() {
        let dir = std::env::temp_dir().join(format!("xtask-interop-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let src = dir.join("t.cfg");
        fs::write(&src, "port: @C2S_PORT@ # mail me at a@b.c\n").unwrap();
        let dst = dir.join("out.cfg");
        render(&src, &dst, &[("@C2S_PORT@", "15222".into())]).unwrap();
        assert_eq!(
            fs::read_to_string(&dst).unwrap(),
            "port: 15222 # mail me at a@b.c\n"
        );
        assert!(render(&src, &dst, &[]).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_repo_templates_have_only_known_placeholders() {
        let ctx = Ctx::new().unwrap();
        let dir = std::env::temp_dir().join(format!("xtask-interop-t-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let subst = [
            ("@C2S_PORT@", "1".to_string()),
            ("@DIST_PORT@", "2".to_string()),
            ("@NODE@", "n@localhost".to_string()),
            ("@DATA_DIR@", "/tmp/x".to_string()),
            ("@TLS_PORT@", "3".to_string()),
            ("@DIRECT_TLS_PORT@", "4".to_string()),
            ("@CERTFILE@", "/tmp/x.pem".to_string()),
            ("@CERT_FILE@", "/tmp/x.crt".to_string()),
            ("@KEY_FILE@", "/tmp/x.key".to_string()),
        ];
        for f in [
            "ejabberd/ejabberd.yml",
            "ejabberd/ejabberdctl.cfg",
            "ejabberd/inetrc",
            "prosody/prosody.cfg.lua",
            "prosody/prosody-tls.cfg.lua",
        ] {
            render(&ctx.src.join(f), &dir.join("out"), &subst).unwrap();
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn process_liveness_reads_proc() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX));
        assert!(parent_of(std::process::id()).is_some());
    }
}
