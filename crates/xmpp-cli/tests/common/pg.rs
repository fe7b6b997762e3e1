//! A throwaway PostgreSQL cluster in a temp dir on 127.0.0.1, for the tests
//! that need a real server (`tests/postgres.rs`, and the store's own tests,
//! which include this file): ignored by default, run by `cargo xtask
//! interop`, which installs PostgreSQL.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

/// The PostgreSQL server binaries (`initdb`, `pg_ctl`).
fn pg_bin() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .rev()
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
        .expect("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (apt-get install -y postgresql)")
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root
/// (PostgreSQL refuses to run as root).
fn pg(tool: &PathBuf, args: &[&str]) -> std::process::Output {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    let mut cmd = if is_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(tool);
        c
    } else {
        Command::new(tool)
    };
    cmd.args(args).output().expect("run a PostgreSQL tool")
}

/// A running cluster, stopped when dropped.
pub struct Cluster {
    _dir: tempfile::TempDir,
    data: String,
    bin: PathBuf,
    /// `postgres://postgres@127.0.0.1:PORT/postgres` (local connections are
    /// trusted).
    pub url: String,
}

impl Cluster {
    /// Creates and starts a cluster (as the `postgres` user when root).
    pub fn start() -> Self {
        let bin = pg_bin();
        let dir = tempfile::tempdir().unwrap();
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout == b"0\n")
            .unwrap_or(false);
        if is_root {
            let st = Command::new("chown")
                .args(["postgres:postgres", dir.path().to_str().unwrap()])
                .status()
                .unwrap();
            assert!(st.success(), "chown to postgres failed (no postgres user?)");
        }
        let data = dir.path().join("data").to_str().unwrap().to_owned();
        let sock = dir.path().to_str().unwrap().to_owned();
        let o = pg(
            &bin.join("initdb"),
            &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        assert!(
            o.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = format!("-p {port} -c listen_addresses=127.0.0.1 -k {sock}");
        let log = format!("{sock}/log");
        let o = pg(
            &bin.join("pg_ctl"),
            &["-D", &data, "-o", &opts, "-l", &log, "-w", "start"],
        );
        assert!(
            o.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Cluster {
            _dir: dir,
            data,
            bin,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = pg(
            &self.bin.join("pg_ctl"),
            &["-D", &self.data, "-m", "immediate", "stop"],
        );
    }
}
