//! The account store on disk and where it is named (issue #12): file
//! permissions, the URL kept out of argv and out of messages.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::*;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn add(store: &str, jid: &str) -> std::process::Output {
    run(
        &["user", "add", jid, "--store", store, "--password-stdin"],
        "secret\n",
    )
}

#[test]
fn a_new_store_and_its_directory_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/xmpp/users.sqlite3");
    expect_code(&add(db.to_str().unwrap(), "juliet@example.com"), 0);
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state/xmpp")), 0o700);
    assert_eq!(mode(&db), 0o600);
    for side in ["-wal", "-shm"] {
        let p = db.with_file_name(format!("users.sqlite3{side}"));
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

#[test]
fn a_store_others_can_read_is_refused_with_the_chmod_that_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("users.sqlite3");
    let store = db.to_str().unwrap();
    expect_code(&add(store, "juliet@example.com"), 0);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(&["user", "list", "--store", store], "");
    expect_failure(&o, 1, &format!("chmod 600 {store}"));
    // A server refuses it too, before listening.
    let o = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--domain",
            "example.com",
            "--store",
            store,
        ],
        "",
    );
    expect_failure(&o, 1, "chmod 600");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    expect_code(&run(&["user", "list", "--store", store], ""), 0);
}

/// Runs `xmpp args...` with extra environment variables.
fn run_env(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args)
        .env_remove("XMPP_STORE")
        .env_remove("XMPP_STORE_FILE")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn the_store_can_be_named_in_a_file_or_the_environment() {
    let s = Store::new();
    let file = s.dir.path().join("store-url");
    std::fs::write(&file, format!("{}\n", s.arg())).unwrap();
    let file = file.to_str().unwrap();
    let o = run_env(&["user", "list", "--store-file", file], &[]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), "somenode@example.com\n");
    let o = run_env(&["user", "list"], &[("XMPP_STORE_FILE", file)]);
    assert_eq!(stdout(&o), "somenode@example.com\n");
    let o = run_env(&["user", "list"], &[("XMPP_STORE", s.arg())]);
    assert_eq!(stdout(&o), "somenode@example.com\n");
    // One source only.
    let o = run_env(
        &["user", "list", "--store-file", file, "--store", s.arg()],
        &[],
    );
    expect_failure(&o, 2, "cannot be used with");
    let missing = s.dir.path().join("nope");
    let o = run_env(
        &["user", "list", "--store-file", missing.to_str().unwrap()],
        &[],
    );
    expect_failure(&o, 2, "--store-file");
    let empty = s.dir.path().join("empty");
    std::fs::write(&empty, "\n").unwrap();
    let o = run_env(
        &["user", "list", "--store-file", empty.to_str().unwrap()],
        &[],
    );
    expect_failure(&o, 2, "first line is empty");
}

#[test]
fn a_database_password_never_reaches_the_terminal_and_argv_is_warned_about() {
    // Nothing listens on port 1: the open fails (after sqlx's 10 s of
    // retries) and says which store.
    let url = "postgres://xmpp:s3cret@127.0.0.1:1/xmpp";
    let o = run_env(&["-vv", "user", "list", "--store", url], &[]);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(!err.contains("s3cret"), "{err}");
    assert!(
        err.contains("cannot open store postgres://xmpp:***@127.0.0.1:1/xmpp"),
        "{err}"
    );
    assert!(err.contains("process list"), "{err}");
    // A bad parameter fails at once; every password form is hidden.
    for url in [
        "postgres://xmpp@127.0.0.1:1/xmpp?sslmode=bogus&password=s3cret",
        "postgres://xmpp@127.0.0.1:1/xmpp?Password=s3cret",
    ] {
        let o = run_env(&["-vv", "user", "list", "--store", url], &[]);
        expect_code(&o, 2);
        let err = stderr(&o);
        assert!(!err.contains("s3cret"), "{err}");
        assert!(err.contains("assword=***"), "{err}");
        assert!(err.contains("process list"), "{err}");
        // From the environment: no warning about the process list.
        let o = run_env(&["-vv", "user", "list"], &[("XMPP_STORE", url)]);
        expect_code(&o, 2);
        let err = stderr(&o);
        assert!(!err.contains("s3cret"), "{err}");
        assert!(!err.contains("process list"), "{err}");
    }
}
