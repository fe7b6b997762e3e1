//! The servers' processes: started in their own session, recorded in pid files,
//! stopped by pid with everything they started.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::files::io_err;
use crate::peers::Layout;
use crate::process::{alive, descendants, signal};

/// Starts a long-running server in its own session (`setsid`), so a Ctrl-C in the
/// terminal that ran `start` does not reach it, with output appended to `log`.
pub(super) fn spawn(cmd: &mut Command, cwd: &Path, log: &Path) -> Result<Child, String> {
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
pub(super) fn wait_until(
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
            return Err(format!("exited with {status}{}", log_tail(log)));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "not ready after {} s{}",
                limit.as_secs(),
                log_tail(log)
            ));
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// The last lines of a server's log, as "; log FILE:" and the lines (empty if unreadable).
pub(super) fn log_tail(log: &Path) -> String {
    let Ok(text) = fs::read_to_string(log) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(20)..];
    format!("; log {}:\n{}", log.display(), tail.join("\n"))
}

fn pid_file(layout: &Layout, name: &str) -> PathBuf {
    layout.run_dir().join(format!("{name}.pid"))
}

/// Records the pid of the server `name`.
pub(super) fn write_pid(layout: &Layout, name: &str, pid: u32) -> Result<(), String> {
    let f = pid_file(layout, name);
    fs::write(&f, format!("{pid}\n")).map_err(|e| io_err("write", &f, e))
}

/// The pid of a server we started, if it is still alive.
pub(super) fn running(layout: &Layout, name: &str) -> Option<u32> {
    let pid = fs::read_to_string(pid_file(layout, name))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive(pid).then_some(pid)
}

/// Stops a server by the pid we recorded: SIGTERM to it and every descendant (ejabberdctl
/// runs the Erlang VM under `su`, in another session), then SIGKILL what is left.
pub(super) fn stop(layout: &Layout, name: &str) -> Result<(), String> {
    let pid_file = pid_file(layout, name);
    let Some(pid) = running(layout, name) else {
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
