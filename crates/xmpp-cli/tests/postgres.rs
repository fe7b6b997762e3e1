//! The account store on a real PostgreSQL server: a throwaway cluster in a
//! temp dir on 127.0.0.1 (run by `cargo xtask interop`, which installs it).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

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

struct Cluster {
    _dir: tempfile::TempDir,
    data: String,
    bin: PathBuf,
    url: String,
}

impl Cluster {
    fn start() -> Self {
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

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn user_commands_and_login_against_postgresql() {
    let pg = Cluster::start();
    let url = pg.url.as_str();
    let o = run(
        &[
            "user",
            "add",
            "somenode@example.com",
            "--store",
            url,
            "--password-stdin",
        ],
        "secret\n",
    );
    expect_code(&o, 0);
    let o = run(
        &[
            "user",
            "add",
            "somenode@example.com",
            "--store",
            url,
            "--password-stdin",
        ],
        "secret\n",
    );
    expect_code(&o, 2);
    let o = run(
        &[
            "user",
            "bulk-add",
            "pg",
            "3",
            "--domain",
            "example.com",
            "--store",
            url,
            "--password-stdin",
        ],
        "pw\n",
    );
    expect_code(&o, 0);
    let o = run(&["user", "list", "--store", url], "");
    expect_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "pg1@example.com\npg2@example.com\npg3@example.com\nsomenode@example.com\n"
    );
    let o = run(&["user", "remove", "pg3@example.com", "--store", url], "");
    expect_code(&o, 0);

    // Two server nodes sharing one user base.
    let a = Server::start(url, &["--allow-plain-without-tls"]);
    let b = Server::start(url, &[]);
    for mech in ["SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5"] {
        let o = login(
            &a.addr,
            "somenode@example.com",
            "secret",
            &["--mechanism", mech],
        );
        expect_code(&o, 0);
        let o = login(&b.addr, "pg1@example.com", "pw", &["--mechanism", mech]);
        expect_code(&o, 0);
    }
    let o = login(
        &a.addr,
        "somenode@example.com",
        "secret",
        &["--mechanism", "PLAIN", "--allow-plain-without-tls"],
    );
    expect_code(&o, 0);
    // Changes are seen by running servers at once.
    let o = run(
        &[
            "user",
            "passwd",
            "somenode@example.com",
            "--store",
            url,
            "--password-stdin",
        ],
        "changed\n",
    );
    expect_code(&o, 0);
    expect_code(
        &login(
            &b.addr,
            "somenode@example.com",
            "secret",
            &["--mechanism", "DIGEST-MD5"],
        ),
        3,
    );
    expect_code(
        &login(
            &b.addr,
            "somenode@example.com",
            "changed",
            &["--mechanism", "DIGEST-MD5"],
        ),
        0,
    );
    expect_code(
        &login(
            &a.addr,
            "pg3@example.com",
            "pw",
            &["--mechanism", "SCRAM-SHA-1"],
        ),
        3,
    );
    // Both nodes read one decoy secret from the store: an unknown user is
    // shown one salt, as a real account is (issue #12).
    assert_eq!(
        scram_salt(&a.addr, "nobody@example.com"),
        scram_salt(&b.addr, "nobody@example.com")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "interop: run by cargo xtask interop"]
async fn disable_ends_sessions_on_every_node_at_once() {
    use common::held::*;

    let pg = Cluster::start();
    // The password in the query is applied by us and hidden everywhere; the
    // throwaway cluster trusts local connections, so any password does.
    let url = format!("{}?sslmode=disable&password=s3cret", pg.url);
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("store-url");
    std::fs::write(&url_file, format!("{url}\n")).unwrap();
    let url_file = url_file.to_str().unwrap();
    for user in ["juliet", "romeo"] {
        let jid = format!("{user}@example.com");
        let o = xmpp(
            &[
                "user",
                "add",
                &jid,
                "--store-file",
                url_file,
                "--password-stdin",
            ],
            "pw\n",
        )
        .await;
        expect_code(&o, 0);
        assert!(!stderr(&o).contains("s3cret"), "{}", stderr(&o));
    }
    // Two nodes; the cache TTL is long, so only the notification can make
    // them see the change in time.
    let extra = ["--mechanisms", "SCRAM-SHA-1", "--store-cache-ttl", "1h"];
    let a = Server::start(&url, &extra);
    let b = Server::start(&url, &extra);
    let mut on_a = client(&a.addr, "juliet@example.com/a", "pw").await;
    let mut on_b = client(&b.addr, "juliet@example.com/b", "pw").await;
    let mut romeo = client(&b.addr, "romeo@example.com/r", "pw").await;
    let started = std::time::Instant::now();
    let o = xmpp(
        &[
            "user",
            "disable",
            "juliet@example.com",
            "--store-file",
            url_file,
        ],
        "",
    )
    .await;
    expect_code(&o, 0);
    expect_not_authorized(&mut on_a, "juliet on node a").await;
    expect_not_authorized(&mut on_b, "juliet on node b").await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    expect_alive(&mut romeo, "p1").await;
    // The cached credentials were dropped too: no login within the TTL.
    for node in [&a, &b] {
        let o = login(&node.addr, "juliet@example.com", "pw", &[]);
        expect_failure(&o, 3, "account-disabled");
    }
    let o = xmpp(
        &[
            "user",
            "remove",
            "romeo@example.com",
            "--store-file",
            url_file,
        ],
        "",
    )
    .await;
    expect_code(&o, 0);
    expect_not_authorized(&mut romeo, "romeo").await;
}
