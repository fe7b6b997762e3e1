//! `xmpp send` delivers to slixmpp (`interop/clients/slix_receive.py`)
//! through ejabberd 23.01 and through our own `xmpp serve`, waiting for the
//! server's XEP-0198 acknowledgement; ejabberd's bounce of a message to a
//! user it does not have makes it fail. Started by `cargo xtask interop`;
//! fails when the harness's environment is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout};

/// Multi-line, so that the escaping of the receiver's output is exercised.
const BODY: &str = "interop: xmpp send\nsecond line";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the interop suite with `cargo xtask interop`")
    })
}

/// `slix_receive.py`, logged in and available.
struct Receiver {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    jid: String,
}

impl Receiver {
    /// Logs in to `addr` as `jid`/`resource`.
    async fn start(addr: &str, jid: &str, resource: &str, password: &str) -> Self {
        let (host, port) = addr.rsplit_once(':').unwrap();
        let mut child = tokio::process::Command::new(env("XMPP_INTEROP_PYTHON"))
            .arg(format!("{}/slix_receive.py", env("XMPP_INTEROP_CLIENTS")))
            .args(["--host", host, "--port", port, "--jid", jid])
            .args([
                "--resource",
                resource,
                "--password-env",
                "SLIX_RECEIVE_PASSWORD",
            ])
            .env("SLIX_RECEIVE_PASSWORD", password)
            .args(["--timeout", "30"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run slix_receive.py");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut r = Receiver {
            child,
            lines,
            jid: String::new(),
        };
        let ready = r.line("READY").await;
        r.jid = ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix("jid="))
            .unwrap()
            .to_owned();
        assert_eq!(r.jid, format!("{jid}/{resource}"));
        r
    }

    /// The next line, which must start with `word`.
    async fn line(&mut self, word: &str) -> String {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("slixmpp printed no {word} line in time"))
            .unwrap()
            .unwrap_or_else(|| panic!("slixmpp ended before {word}"));
        assert!(line.starts_with(word), "expected {word}, got {line:?}");
        line
    }

    /// Tells it to stop; whatever it printed after the lines read so far.
    async fn quit(mut self) -> Vec<String> {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.write_all(b"quit\n").await.unwrap();
        drop(stdin);
        let mut rest = Vec::new();
        while let Some(line) = self.lines.next_line().await.unwrap() {
            rest.push(line);
        }
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("slixmpp stopped")
            .unwrap();
        assert!(status.success(), "slix_receive.py: {status}");
        rest
    }
}

/// The `RECEIVED` line for a chat message from `from_bare` with `BODY`.
fn assert_received(line: &str, from_bare: &str) {
    let escaped = BODY.replace('\n', "\\n");
    let from = line.split_whitespace().nth(1).unwrap();
    assert!(from.starts_with(&format!("from={from_bare}/")), "{line:?}");
    assert!(line.ends_with(&format!(" type=chat {escaped}")), "{line:?}");
}

/// `xmpp send to BODY` from `from` through `server` on plain TCP, the
/// password on stdin.
async fn send_plain(server: &str, from: &str, password: &str, to: &str) -> std::process::Output {
    let args = [
        to,
        BODY,
        "--from",
        from,
        "--server",
        server,
        "--tls",
        "off",
        "--password-stdin",
    ];
    send(&args, &format!("{password}\n")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "interop: run by cargo xtask interop"]
async fn xmpp_send_through_ejabberd_to_slixmpp() {
    let server = env("XMPP_INTEROP_EJABBERD");
    let account = format!(
        "{}@{}",
        env("XMPP_INTEROP_USER"),
        env("XMPP_INTEROP_DOMAIN")
    );
    // The harness has one account: the receiver is another resource of it,
    // addressed by its full JID.
    let mut r = Receiver::start(
        &server,
        &account,
        "slix-inbox",
        &env("XMPP_INTEROP_PASSWORD"),
    )
    .await;
    let o = send_plain(
        &server,
        &account,
        &env("XMPP_INTEROP_PASSWORD"),
        &r.jid.clone(),
    )
    .await;
    expect_code(&o, 0);
    assert!(stderr(&o).contains(ACKED), "{}", stderr(&o));
    assert_received(&r.line("RECEIVED").await, &account);
    let rest = r.quit().await;
    assert!(rest.is_empty(), "more than the one message: {rest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "interop: run by cargo xtask interop"]
async fn xmpp_send_to_a_missing_user_is_bounced_by_ejabberd() {
    let server = env("XMPP_INTEROP_EJABBERD");
    let account = format!(
        "{}@{}",
        env("XMPP_INTEROP_USER"),
        env("XMPP_INTEROP_DOMAIN")
    );
    let to = format!("nobody@{}", env("XMPP_INTEROP_DOMAIN"));
    let o = send_plain(&server, &account, &env("XMPP_INTEROP_PASSWORD"), &to).await;
    // ejabberd acknowledges the message (it handled it), then bounces it.
    expect_failure(
        &o,
        6,
        "xmpp: the server bounced the message: <service-unavailable/>",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "interop: run by cargo xtask interop"]
async fn xmpp_send_through_xmpp_serve_to_slixmpp() {
    let store = Store::new();
    store.add("receiver@example.com", "pw");
    let server = Server::start(store.arg(), &[]);
    let mut r = Receiver::start(&server.addr, "receiver@example.com", "slix", "pw").await;
    // To the bare JID: the available session gets it.
    let o = send_plain(
        &server.addr,
        "somenode@example.com",
        "secret",
        "receiver@example.com",
    )
    .await;
    expect_code(&o, 0);
    assert!(stderr(&o).contains(ACKED), "{}", stderr(&o));
    assert_received(&r.line("RECEIVED").await, "somenode@example.com");
    let rest = r.quit().await;
    assert!(rest.is_empty(), "more than the one message: {rest:?}");
}
