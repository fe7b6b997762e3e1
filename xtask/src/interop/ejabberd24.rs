//! ejabberd 24.12 from bookworm-backports: one Erlang VM started with `erl` directly (no
//! ejabberdctl, no epmd, no distribution), state under `$STATE/run/ejabberd24/`, the
//! account registered by `-eval` once ejabberd is up.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use super::backports::ejabberd24_erl_libs;
use super::daemon;
use super::files::{io_err, render};
use crate::peers::{
    Layout, DOMAIN, EJABBERD24_DIRECT_TLS_PORT, EJABBERD24_HTTP_PORT, EJABBERD24_PORT,
    EJABBERD24_TLS_PORT, PASSWORD, USER,
};
use crate::ports::port_open;

/// Its pid-file and state-directory name.
pub(super) const NAME: &str = "ejabberd24";
/// The line the `-eval` prints once ejabberd runs and the account is registered.
const READY: &str = "XMPP_INTEROP_READY";
const PORTS: [u16; 4] = [
    EJABBERD24_PORT,
    EJABBERD24_TLS_PORT,
    EJABBERD24_DIRECT_TLS_PORT,
    EJABBERD24_HTTP_PORT,
];

/// Starts ejabberd 24.12 with fresh state and the account registered.
pub(super) fn start(layout: &Layout) -> Result<(), String> {
    let t = Instant::now();
    if let Some(pid) = daemon::running(layout, NAME) {
        eprintln!("{NAME} already running (pid {pid})");
        return Ok(());
    }
    if let Some(port) = PORTS.iter().find(|p| port_open(**p)) {
        return Err(format!(
            "port {port} is already in use; cannot start {NAME}"
        ));
    }
    let dir = layout.run_dir().join(NAME);
    let _ = fs::remove_dir_all(&dir);
    for sub in ["db", "log"] {
        fs::create_dir_all(dir.join(sub)).map_err(|e| io_err("create", &dir, e))?;
    }
    // ejabberd wants certificate and key in one file.
    let certfile = dir.join(format!("{DOMAIN}.pem"));
    let mut pem = fs::read_to_string(layout.cert_file())
        .map_err(|e| io_err("read", &layout.cert_file(), e))?;
    pem.push_str(
        &fs::read_to_string(layout.key_file())
            .map_err(|e| io_err("read", &layout.key_file(), e))?,
    );
    fs::write(&certfile, pem).map_err(|e| io_err("write", &certfile, e))?;
    let yml = dir.join("ejabberd.yml");
    render(
        &layout.src.join("ejabberd24").join("ejabberd.yml"),
        &yml,
        &[
            ("@C2S_PORT@", EJABBERD24_PORT.to_string()),
            ("@TLS_PORT@", EJABBERD24_TLS_PORT.to_string()),
            ("@DIRECT_TLS_PORT@", EJABBERD24_DIRECT_TLS_PORT.to_string()),
            ("@HTTP_PORT@", EJABBERD24_HTTP_PORT.to_string()),
            ("@CERTFILE@", certfile.display().to_string()),
            ("@CA_FILE@", layout.ca_file().display().to_string()),
        ],
    )?;
    // Erlang string arguments: the value in double quotes, as one argv element.
    let erl_str = |p: &std::path::Path| format!("\"{}\"", p.display());
    // `-s ejabberd` returns once the application has started; then register the account
    // and report which `xmpp` library is loaded (it must be the unpacked 1.9.4).
    let eval = format!(
        "R = ejabberd_auth:try_register(<<\"{USER}\">>, <<\"{DOMAIN}\">>, <<\"{PASSWORD}\">>), \
         io:format(\"{READY} register=~p xmpp=~s ejabberd=~s~n\", \
         [R, code:which(xmpp), code:which(ejabberd)])"
    );
    let log = dir.join("stdout.log");
    let child = daemon::spawn(
        Command::new("erl")
            .args(["-noinput", "-noshell", "-mnesia", "dir"])
            .arg(erl_str(&dir.join("db")))
            .args(["-ejabberd", "config"])
            .arg(erl_str(&yml))
            .arg("log_path")
            .arg(erl_str(&dir.join("log").join("ejabberd.log")))
            .args(["-s", "ejabberd", "-eval", &eval])
            .env("ERL_LIBS", ejabberd24_erl_libs(layout))
            .env("ERL_CRASH_DUMP_BYTES", "0"),
        &dir,
        &log,
    )?;
    daemon::write_pid(layout, NAME, child.id())?;
    let ready_line = || {
        fs::read_to_string(&log)
            .ok()
            .and_then(|t| t.lines().find(|l| l.starts_with(READY)).map(str::to_owned))
    };
    let wait = daemon::wait_until(Duration::from_secs(60), &log, child, || {
        ready_line().is_some() && PORTS.iter().all(|p| port_open(*p))
    });
    let checked = wait.and_then(|()| {
        let line = ready_line().unwrap_or_default();
        let prefix = layout.ejabberd24_root().display().to_string();
        let loaded_from = |key: &str, dir: &str| {
            line.split_whitespace().any(|w| {
                w.strip_prefix(key)
                    .is_some_and(|p| p.starts_with(&prefix) && p.contains(dir))
            })
        };
        let xmpp_ok = loaded_from("xmpp=", "xmpp-1.9.4/");
        let ejabberd_ok = loaded_from("ejabberd=", "/ejabberd-24.12");
        if line.contains("register=ok") && xmpp_ok && ejabberd_ok {
            Ok(())
        } else {
            Err(format!(
                "unexpected {READY} line (want register=ok and the libraries under {prefix}): \
                 {line}{}",
                daemon::log_tail(&log)
            ))
        }
    });
    if let Err(e) = checked {
        let _ = daemon::stop(layout, NAME);
        return Err(format!("{NAME} did not start: {e}"));
    }
    eprintln!(
        "ejabberd 24.12 up on 127.0.0.1:{EJABBERD24_PORT} (STARTTLS optional), STARTTLS \
         required :{EJABBERD24_TLS_PORT}, direct TLS :{EJABBERD24_DIRECT_TLS_PORT}, WebSocket \
         :{EJABBERD24_HTTP_PORT} (pid {}, {:.1} s)",
        daemon::running(layout, NAME).unwrap_or(0),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
