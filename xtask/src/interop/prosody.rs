//! Prosody: one process per [`ProsodyInstance`] (stock 0.12), plus Prosody 13 from
//! bookworm-backports ([`start13`]), each with its own config and state.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::daemon;
use super::files::{io_err, render};
use crate::peers::{
    Layout, ProsodyInstance, TestCert, DOMAIN, PASSWORD, PROSODY13_DIRECT_TLS_PORT,
    PROSODY13_HTTP_PORT, PROSODY13_PORT, PROSODY13_WRONG_NAME_HTTP_PORT, PROSODY13_WRONG_NAME_PORT,
    USER, USER2,
};
use crate::ports::port_open;
use crate::process::{capture, run_checked};

/// Prosody 13's pid-file and state-directory name.
pub(super) const NAME13: &str = "prosody13";
/// The second Prosody 13's (STARTTLS required, wrong-name certificate).
pub(super) const NAME13_WRONG_NAME: &str = "prosody13-wrong-name";

/// Starts `p` with fresh state and the accounts registered.
pub(super) fn start(layout: &Layout, p: &ProsodyInstance) -> Result<(), String> {
    let t = Instant::now();
    let cfg = layout.prosody_config(p);
    let dir = cfg.parent().ok_or("prosody config has no directory")?;
    let data = dir.join("data");
    let mut subst = vec![
        ("@DATA_DIR@", data.display().to_string()),
        ("@C2S_PORT@", p.port.to_string()),
    ];
    if let Some(c) = p.cert {
        subst.push(("@CERT_FILE@", layout.test_cert(c).display().to_string()));
        subst.push(("@KEY_FILE@", layout.test_key(c).display().to_string()));
    }
    let mut ports = vec![p.port];
    if let Some(direct) = p.direct_tls_port {
        subst.push(("@DIRECT_TLS_PORT@", direct.to_string()));
        ports.push(direct);
    }
    let instance = Instance {
        name: p.name,
        template: layout.src.join("prosody").join(p.template),
        cfg: cfg.clone(),
        subst,
        ports,
        launcher: None,
    };
    instance.start(layout)?;
    let direct = p
        .direct_tls_port
        .map(|d| format!(", direct TLS :{d}"))
        .unwrap_or_default();
    let cert = match p.cert {
        Some(TestCert::Good) | None => "",
        Some(TestCert::GoodP256) => ", ECDSA P-256 certificate",
        Some(TestCert::Expired) => ", expired certificate",
        Some(TestCert::WrongName) => ", wrong-name certificate",
    };
    eprintln!(
        "{} up on 127.0.0.1:{}{direct}{cert} (pid {}, {:.1} s)",
        p.name,
        p.port,
        daemon::running(layout, p.name).unwrap_or(0),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Starts Prosody 13 (unpacked by `install`) with `interop/prosody13/prosody.cfg.lua`:
/// SASL2, Bind2, FAST, SSDP, inline SM; STARTTLS offered but not required, direct TLS,
/// WebSocket.
pub(super) fn start13(layout: &Layout) -> Result<(), String> {
    let t = Instant::now();
    let dir = layout.run_dir().join(NAME13);
    let data = dir.join("data");
    let subst = vec![
        ("@DATA_DIR@", data.display().to_string()),
        ("@C2S_PORT@", PROSODY13_PORT.to_string()),
        ("@DIRECT_TLS_PORT@", PROSODY13_DIRECT_TLS_PORT.to_string()),
        ("@HTTP_PORT@", PROSODY13_HTTP_PORT.to_string()),
        ("@CERT_FILE@", layout.cert_file().display().to_string()),
        ("@KEY_FILE@", layout.key_file().display().to_string()),
        ("@CERT_HASH@", cert_sha256_hex(&layout.cert_file())?),
    ];
    let instance = Instance {
        name: NAME13,
        template: layout.src.join("prosody13").join("prosody.cfg.lua"),
        cfg: dir.join("prosody.cfg.lua"),
        subst,
        ports: vec![
            PROSODY13_PORT,
            PROSODY13_DIRECT_TLS_PORT,
            PROSODY13_HTTP_PORT,
        ],
        launcher: Some(layout.prosody13_root().join("usr/bin")),
    };
    instance.start(layout)?;
    eprintln!(
        "Prosody 13 up on 127.0.0.1:{PROSODY13_PORT} (STARTTLS optional), direct TLS \
         :{PROSODY13_DIRECT_TLS_PORT}, WebSocket :{PROSODY13_HTTP_PORT} (pid {}, {:.1} s)",
        daemon::running(layout, NAME13).unwrap_or(0),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Starts the second Prosody 13 with `interop/prosody13/prosody-wrong-name.cfg.lua`:
/// STARTTLS required, the certificate for [`crate::peers::WRONG_NAME`], in-band
/// registration, SASL2/Bind2/FAST without stream management, no direct TLS; WebSocket and
/// host-meta on its HTTP port.
pub(super) fn start13_wrong_name(layout: &Layout) -> Result<(), String> {
    let t = Instant::now();
    let dir = layout.run_dir().join(NAME13_WRONG_NAME);
    let cert = layout.test_cert(TestCert::WrongName);
    let subst = vec![
        ("@DATA_DIR@", dir.join("data").display().to_string()),
        ("@C2S_PORT@", PROSODY13_WRONG_NAME_PORT.to_string()),
        ("@HTTP_PORT@", PROSODY13_WRONG_NAME_HTTP_PORT.to_string()),
        ("@CERT_FILE@", cert.display().to_string()),
        (
            "@KEY_FILE@",
            layout.test_key(TestCert::WrongName).display().to_string(),
        ),
        ("@CERT_HASH@", cert_sha256_hex(&cert)?),
    ];
    let instance = Instance {
        name: NAME13_WRONG_NAME,
        template: layout
            .src
            .join("prosody13")
            .join("prosody-wrong-name.cfg.lua"),
        cfg: dir.join("prosody.cfg.lua"),
        subst,
        ports: vec![PROSODY13_WRONG_NAME_PORT, PROSODY13_WRONG_NAME_HTTP_PORT],
        launcher: Some(layout.prosody13_root().join("usr/bin")),
    };
    instance.start(layout)?;
    eprintln!(
        "Prosody 13 (wrong-name certificate) up on 127.0.0.1:{PROSODY13_WRONG_NAME_PORT} \
         (STARTTLS required), host-meta and WebSocket :{PROSODY13_WRONG_NAME_HTTP_PORT} \
         (pid {}, {:.1} s)",
        daemon::running(layout, NAME13_WRONG_NAME).unwrap_or(0),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A Prosody process to start.
struct Instance {
    name: &'static str,
    template: PathBuf,
    /// The rendered config; its directory is the instance's state, wiped at each start.
    cfg: PathBuf,
    subst: Vec<(&'static str, String)>,
    /// Every port it listens on: all free before, all open after.
    ports: Vec<u16>,
    /// The directory of an unpacked `prosody`/`prosodyctl` (run with `lua5.4`); `None`
    /// for the system's.
    launcher: Option<PathBuf>,
}

impl Instance {
    fn command(&self, tool: &str) -> Command {
        match &self.launcher {
            Some(bin) => {
                let mut c = Command::new("lua5.4");
                c.arg(bin.join(tool));
                c
            }
            None => Command::new(tool),
        }
    }

    fn start(&self, layout: &Layout) -> Result<(), String> {
        let name = self.name;
        if let Some(pid) = daemon::running(layout, name) {
            eprintln!("{name} already running (pid {pid})");
            return Ok(());
        }
        if let Some(port) = self.ports.iter().find(|p| port_open(**p)) {
            return Err(format!(
                "port {port} is already in use; cannot start {name}"
            ));
        }
        let dir = self.cfg.parent().ok_or("prosody config has no directory")?;
        let _ = fs::remove_dir_all(dir);
        let data = dir.join("data");
        fs::create_dir_all(&data).map_err(|e| io_err("create", &data, e))?;
        render(&self.template, &self.cfg, &self.subst)?;
        // Registered before the start, with the config's password_hash: the stored
        // SCRAM keys are derived at registration.
        for user in [USER, USER2] {
            run_checked(
                self.command("prosodyctl")
                    .current_dir(dir)
                    .arg("--config")
                    .arg(&self.cfg)
                    .args(["register", user, DOMAIN, PASSWORD]),
                &format!("prosodyctl register {user} ({name})"),
            )?;
        }
        let log = dir.join("stdout.log");
        let child = daemon::spawn(
            self.command("prosody")
                .arg("--config")
                .arg(&self.cfg)
                .arg("-F"),
            dir,
            &log,
        )?;
        daemon::write_pid(layout, name, child.id())?;
        let ready = || self.ports.iter().all(|p| port_open(*p));
        if let Err(e) = daemon::wait_until(Duration::from_secs(30), &log, child, ready) {
            let _ = daemon::stop(layout, name);
            return Err(format!(
                "{name} did not start: {e}{}",
                daemon::log_tail(&data.join("prosody.log"))
            ));
        }
        Ok(())
    }
}

/// The SHA-256 of the certificate's DER, in hex: Prosody's `tls_server_end_point_hash`
/// takes the tls-server-end-point binding itself (RFC 5929 §4.1: the hash of the
/// certificate with its signature's hash, SHA-256 for the test certificate), not a hash
/// name.
pub(crate) fn cert_sha256_hex(cert: &Path) -> Result<String, String> {
    let out = capture(
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert),
        "openssl x509 -fingerprint",
    )?;
    // "sha256 Fingerprint=AB:CD:..."
    let hex: String = out
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(format!("unexpected openssl fingerprint output {out:?}"))
    }
}
