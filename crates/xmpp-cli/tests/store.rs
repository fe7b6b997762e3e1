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
