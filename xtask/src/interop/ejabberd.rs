//! ejabberd: one instance with a plain, a STARTTLS-required and a direct-TLS listener.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::daemon;
use super::files::{io_err, render};
use crate::peers::{
    ejabberdctl, Layout, DOMAIN, EJABBERD_DIRECT_TLS_PORT, EJABBERD_DIST_PORT, EJABBERD_NODE,
    EJABBERD_PORT, EJABBERD_TLS_PORT, PASSWORD, USER,
};
use crate::ports::port_open;
use crate::process::run_checked;

/// Its pid-file name.
pub(super) const NAME: &str = "ejabberd";

/// Starts ejabberd with fresh state and registers the account.
pub(super) fn start(layout: &Layout) -> Result<(), String> {
    if let Some(pid) = daemon::running(layout, NAME) {
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
    let mut dir = layout.ejabberd_dir();
    prepare_dir(layout, &dir)?;
    if !readable_by_ejabberd(&dir.join("etc").join("ejabberd.yml")) {
        // ejabberd runs as the `ejabberd` user, which cannot reach a checkout in a
        // private directory: use a directory under the system temp dir instead.
        let fallback = layout.ejabberd_fallback_dir();
        eprintln!(
            "ejabberd cannot read {}; using {}",
            dir.display(),
            fallback.display()
        );
        let _ = fs::remove_dir_all(&dir);
        dir = fallback;
        prepare_dir(layout, &dir)?;
    }
    let log = dir.join("log").join("stdout.log");
    let child = daemon::spawn(ejabberdctl(&dir).arg("foreground"), &dir, &log)?;
    daemon::write_pid(layout, NAME, child.id())?;
    let wait = daemon::wait_until(Duration::from_secs(60), &log, child, || {
        [EJABBERD_PORT, EJABBERD_TLS_PORT, EJABBERD_DIRECT_TLS_PORT]
            .iter()
            .all(|p| port_open(*p))
            && ejabberdctl(&dir)
                .arg("status")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
    });
    if let Err(e) = wait {
        let _ = daemon::stop(layout, NAME);
        return Err(format!("ejabberd did not start: {e}"));
    }
    let reg = run_checked(
        ejabberdctl(&dir).args(["register", USER, DOMAIN, PASSWORD]),
        "ejabberdctl register",
    );
    if let Err(e) = reg {
        let _ = daemon::stop(layout, NAME);
        return Err(e);
    }
    eprintln!(
        "ejabberd up on 127.0.0.1:{EJABBERD_PORT}, STARTTLS required on \
         :{EJABBERD_TLS_PORT}, direct TLS on :{EJABBERD_DIRECT_TLS_PORT} (pid {})",
        daemon::running(layout, NAME).unwrap_or(0)
    );
    Ok(())
}

/// Fresh ejabberd state (config from the templates, empty database) owned by the
/// `ejabberd` user, as which ejabberdctl runs the server when started by root.
fn prepare_dir(layout: &Layout, dir: &Path) -> Result<(), String> {
    // Fresh state each start: the suite relies on exactly one registered account.
    let _ = fs::remove_dir_all(dir);
    for sub in ["etc", "db", "log"] {
        fs::create_dir_all(dir.join(sub)).map_err(|e| io_err("create", dir, e))?;
    }
    // ejabberd wants certificate and key in one file, readable by the ejabberd user.
    let certfile = dir.join("etc").join(format!("{DOMAIN}.pem"));
    let mut pem = fs::read_to_string(layout.cert_file())
        .map_err(|e| io_err("read", &layout.cert_file(), e))?;
    pem.push_str(
        &fs::read_to_string(layout.key_file())
            .map_err(|e| io_err("read", &layout.key_file(), e))?,
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
            &layout.src.join("ejabberd").join(f),
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
