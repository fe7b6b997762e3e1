//! The account store on a real PostgreSQL server: a throwaway cluster in a
//! temp dir on 127.0.0.1 (run by `cargo xtask interop`, which installs it).

#![allow(clippy::unwrap_used)]

mod common;

use common::pg::Cluster;
use common::*;

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

/// `xmpp user passwd`, `disable` and `remove` revoke the account's FAST
/// tokens (rows written here as a server would), and no other account's.
/// The token store itself is tested on PostgreSQL by the store's own
/// ignored test (`fast_tokens_against_postgresql`), as this crate has no
/// library for an integration test to call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "interop: run by cargo xtask interop"]
async fn user_commands_revoke_fast_tokens_on_postgresql() {
    use common::held::xmpp;
    use sqlx::Row as _;

    let pg = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let url = pg.url.as_str();
    for user in ["juliet", "romeo"] {
        let jid = format!("{user}@example.com");
        let o = xmpp(
            &["user", "add", &jid, "--store", url, "--password-stdin"],
            "pw\n",
        )
        .await;
        expect_code(&o, 0);
    }
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let issue = |user: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query(
                "INSERT INTO xmpp_fast_tokens (domain, username, user_agent, token, mechanism,
                     expires_at, issued_at, last_active)
                 VALUES ('example.com', $1, 'ua', 'tok', 'HT-SHA-256-NONE', 4000000000, 0, 1)",
            )
            .bind(user)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    let count = |user: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query("SELECT COUNT(*) FROM xmpp_fast_tokens WHERE username = $1")
                .bind(user)
                .fetch_one(&pool)
                .await
                .unwrap()
                .try_get::<i64, _>(0)
                .unwrap()
        }
    };
    issue("romeo").await;
    let juliet = "juliet@example.com";
    let commands: [(&[&str], &str); 4] = [
        (&["user", "passwd", juliet, "--password-stdin"], "new\n"),
        (&["user", "disable", juliet], ""),
        (&["user", "enable", juliet], ""),
        (&["user", "remove", juliet], ""),
    ];
    for (args, stdin) in commands {
        issue("juliet").await;
        let mut args = args.to_vec();
        args.extend(["--store", url]);
        expect_code(&xmpp(&args, stdin).await, 0);
        // Enabling keeps them; the others revoke them.
        let want = i64::from(args[1] == "enable");
        assert_eq!(count("juliet").await, want, "after {args:?}");
        if want == 1 {
            sqlx::query("DELETE FROM xmpp_fast_tokens WHERE username = 'juliet'")
                .execute(&pool)
                .await
                .unwrap();
        }
    }
    assert_eq!(count("romeo").await, 1);
}
