//! Accounts that change under their sessions (issue #12): `xmpp user
//! disable` or `remove` against a running `xmpp serve` ends that account's
//! sessions with `<not-authorized/>`, and only those.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::{SessionError, StreamCondition, XmppStream};
use xmpp_xml::{ns, Element};

async fn client(addr: &str, jid: &str, password: &str) -> XmppStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let config = ClientConfig::new(jid, password)
        .unwrap()
        .with_tls(TlsMode::Off);
    connect(tcp, config, None).await.unwrap()
}

/// `xmpp args...` without blocking the runtime.
async fn xmpp(args: &[&str], stdin: &str) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, &stdin)
    })
    .await
    .unwrap()
}

/// Asserts that the server ends `s` with `<not-authorized/>` (within a
/// bound that only a missing check exceeds).
async fn expect_not_authorized(s: &mut XmppStream<TcpStream>, who: &str) {
    let item = tokio::time::timeout(Duration::from_secs(15), s.next())
        .await
        .unwrap_or_else(|_| panic!("{who}: the session was not ended"));
    match item {
        Some(Err(SessionError::Received { condition, .. })) => {
            assert_eq!(condition, StreamCondition::NotAuthorized, "{who}")
        }
        other => panic!("{who}: expected <not-authorized/>, got {other:?}"),
    }
}

/// Asserts that `s` is still served: a ping is answered.
async fn expect_alive(s: &mut XmppStream<TcpStream>, id: &str) {
    let ping = Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", id)
        .attr("to", "example.com")
        .append(Element::builder("ping", ns::PING).build())
        .build();
    s.send(ping).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("a reply in time")
        .expect("stream open")
        .expect("no stream error");
    assert_eq!((r.attr("type"), r.attr("id")), (Some("result"), Some(id)));
}

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
