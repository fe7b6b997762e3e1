//! Prosody: one process per [`ProsodyInstance`], each with its own config and state.

use std::fs;
use std::process::Command;
use std::time::Duration;

use super::daemon;
use super::files::{io_err, render};
use crate::peers::{Layout, ProsodyInstance, DOMAIN, PASSWORD, USER};
use crate::ports::port_open;
use crate::process::run_checked;

/// Starts `p` with fresh state and the account registered.
pub(super) fn start(layout: &Layout, p: &ProsodyInstance) -> Result<(), String> {
    let name = p.name;
    if let Some(pid) = daemon::running(layout, name) {
        eprintln!("{name} already running (pid {pid})");
        return Ok(());
    }
    if port_open(p.port) {
        return Err(format!(
            "port {} is already in use; cannot start {name}",
            p.port
        ));
    }
    let cfg = layout.prosody_config(p);
    let dir = cfg.parent().ok_or("prosody config has no directory")?;
    let _ = fs::remove_dir_all(dir);
    let data = dir.join("data");
    fs::create_dir_all(&data).map_err(|e| io_err("create", &data, e))?;
    let mut subst = vec![
        ("@DATA_DIR@", data.display().to_string()),
        ("@C2S_PORT@", p.port.to_string()),
    ];
    if p.tls {
        subst.push(("@CERT_FILE@", layout.cert_file().display().to_string()));
        subst.push(("@KEY_FILE@", layout.key_file().display().to_string()));
    }
    render(&layout.src.join("prosody").join(p.template), &cfg, &subst)?;
    run_checked(
        Command::new("prosodyctl")
            .current_dir(dir)
            .arg("--config")
            .arg(&cfg)
            .args(["register", USER, DOMAIN, PASSWORD]),
        "prosodyctl register",
    )?;
    let log = dir.join("stdout.log");
    let child = daemon::spawn(
        Command::new("prosody").arg("--config").arg(&cfg).arg("-F"),
        dir,
        &log,
    )?;
    daemon::write_pid(layout, name, child.id())?;
    if let Err(e) = daemon::wait_until(Duration::from_secs(30), &log, child, || port_open(p.port)) {
        let _ = daemon::stop(layout, name);
        return Err(format!("{name} did not start: {e}"));
    }
    eprintln!(
        "{name} up on 127.0.0.1:{} (pid {})",
        p.port,
        daemon::running(layout, name).unwrap_or(0)
    );
    Ok(())
}
