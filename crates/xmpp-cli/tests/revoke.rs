//! Accounts that change under their sessions (issue #12): `xmpp user
//! disable` or `remove` against a running `xmpp serve` ends that account's
//! sessions with `<not-authorized/>`, and only those.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::held::*;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_and_remove_end_that_accounts_sessions_only() {
    let store = Store::new();
    for user in ["juliet", "romeo"] {
        let jid = format!("{user}@example.com");
        let o = xmpp(
            &[
                "user",
                "add",
                &jid,
                "--store",
                store.arg(),
                "--password-stdin",
            ],
            "pw\n",
        )
        .await;
        expect_code(&o, 0);
    }
    let server = Server::start(store.arg(), &["--mechanisms", "SCRAM-SHA-1"]);
    let mut juliet_a = client(&server.addr, "juliet@example.com/a", "pw").await;
    let mut juliet_b = client(&server.addr, "Juliet@example.com/b", "pw").await;
    let mut romeo = client(&server.addr, "romeo@example.com/r", "pw").await;
    let mut other = client(&server.addr, "somenode@example.com/x", "secret").await;

    let o = xmpp(
        &[
            "user",
            "disable",
            "JULIET@example.com",
            "--store",
            store.arg(),
        ],
        "",
    )
    .await;
    expect_code(&o, 0);
    expect_not_authorized(&mut juliet_a, "juliet/a").await;
    expect_not_authorized(&mut juliet_b, "juliet/b").await;
    expect_alive(&mut romeo, "p1").await;
    expect_alive(&mut other, "p2").await;
    // And she cannot come back.
    let o = login(&server.addr, "juliet@example.com", "pw", &[]);
    expect_failure(&o, 3, "account-disabled");

    let o = xmpp(
        &[
            "user",
            "remove",
            "romeo@example.com",
            "--store",
            store.arg(),
        ],
        "",
    )
    .await;
    expect_code(&o, 0);
    expect_not_authorized(&mut romeo, "romeo").await;
    expect_alive(&mut other, "p3").await;

    // A password change leaves the sessions alone.
    let o = xmpp(
        &[
            "user",
            "passwd",
            "somenode@example.com",
            "--store",
            store.arg(),
            "--password-stdin",
        ],
        "new\n",
    )
    .await;
    expect_code(&o, 0);
    // Long enough for several checks of the database files.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    expect_alive(&mut other, "p4").await;
}
