//! The real clients' stream management resumption drivers
//! (`interop/clients/*_sm_resume.*`, interop/README.md) and the one scenario
//! they run against every server, through [`CutProxy`]: the driver logs in
//! with resumption, sends a message to a session of ours, waits while the
//! proxy cuts its connection and we send it a message, resumes, and sends
//! another. Each message must arrive exactly once.
//!
//! Shared by the suites against the real servers
//! (`crates/xmpp-stream/tests/interop_sm_resume.rs`) and against `xmpp
//! serve` (`crates/xmpp-cli/tests/interop_sm_serve.rs`), which include it
//! and `cut_proxy` with `#[path]`. Self-contained (no `peer` module): the
//! CLI's tests cannot include that one.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout};
use xmpp_sasl::{Mechanism, MechanismSelector};
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::XmppStream;
use xmpp_xml::{ns, Element};

use super::cut_proxy::CutProxy;

pub use super::unique::unique;

pub const BEFORE: &str = "before the cut";
pub const AFTER: &str = "after the resumption";
pub const DETACHED: &str = "sent while detached";
const SECONDS: Duration = Duration::from_secs(20);

/// The four drivers, by the names [`Driver::start`] knows.
pub const DRIVERS: [&str; 4] = ["slixmpp", "aioxmpp", "libstrophe", "xmpp.js"];

/// A harness variable; a missing one fails the test (never skips it).
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the interop suite with `cargo xtask interop`")
    })
}

/// The harness's account, `user@domain`.
pub fn bare_jid() -> String {
    format!(
        "{}@{}",
        env("XMPP_INTEROP_USER"),
        env("XMPP_INTEROP_DOMAIN")
    )
}

/// A running driver: its stdout line by line, its stdin, its stderr kept.
pub struct Driver {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
}

impl Driver {
    /// Runs `driver` (`slixmpp`, `aioxmpp`, `libstrophe`, `xmpp.js`) against
    /// `port` as `resource`, sending its messages to `to`.
    pub fn start(name: &'static str, port: u16, resource: &str, to: &str) -> Self {
        let clients = env("XMPP_INTEROP_CLIENTS");
        let mut cmd = match name {
            "slixmpp" | "aioxmpp" => {
                let script = if name == "slixmpp" { "slix" } else { "aioxmpp" };
                let mut c = tokio::process::Command::new(env("XMPP_INTEROP_PYTHON"));
                c.arg(format!("{clients}/{script}_sm_resume.py"));
                c
            }
            "xmpp.js" => {
                let mut c = tokio::process::Command::new(env("XMPP_INTEROP_NODE"));
                // It takes STARTTLS whenever offered (the modern servers do).
                c.arg(format!("{clients}/xmppjs_sm_resume.mjs"))
                    .args(["--ca-file", &env("XMPP_INTEROP_CA")]);
                c
            }
            "libstrophe" => tokio::process::Command::new(env("XMPP_INTEROP_STROPHE_SM")),
            other => panic!("no driver {other}"),
        };
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--jid", &bare_jid(), "--resource", resource])
            .args(["--password-env", "XMPP_INTEROP_PASSWORD", "--to", to])
            .args(["--before", BEFORE, "--after", AFTER, "--timeout", "60"])
            // With XMPP_INTEROP_TRACE set, the library's log (shown on failure).
            .args(std::env::var_os("XMPP_INTEROP_TRACE").map(|_| "-v"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("run {name}: {e}"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let kept = stderr.clone();
        tokio::spawn(async move {
            let mut buf = String::new();
            let _ = err.read_to_string(&mut buf).await;
            kept.lock().unwrap().push_str(&buf);
        });
        Driver {
            name,
            stdin: child.stdin.take().unwrap(),
            lines: BufReader::new(child.stdout.take().unwrap()).lines(),
            child,
            stderr,
        }
    }

    /// The next line; the driver's stderr in the panic if there is none.
    pub async fn line(&mut self, waiting_for: &str) -> String {
        match tokio::time::timeout(SECONDS, self.lines.next_line()).await {
            Ok(Ok(Some(line))) => line,
            outcome => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                panic!(
                    "{}: no line ({waiting_for}): {outcome:?}\nstderr:\n{}",
                    self.name,
                    self.stderr.lock().unwrap()
                )
            }
        }
    }

    /// The next line, which must be `expected`.
    pub async fn expect(&mut self, expected: &str) {
        let line = self.line(expected).await;
        assert_eq!(
            line,
            expected,
            "{}\nstderr:\n{}",
            self.name,
            self.stderr.lock().unwrap()
        );
    }

    pub async fn tell(&mut self, instruction: &str) {
        self.stdin
            .write_all(format!("{instruction}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
    }
}

/// The sender and body of the next message `stream` reads, skipping other
/// stanzas and bounces.
async fn next_message(stream: &mut XmppStream<TcpStream>, waiting_for: &str) -> (String, String) {
    tokio::time::timeout(SECONDS, async {
        loop {
            let el = stream.next().await.expect("open").expect("no error");
            if el.attr("type") == Some("error") {
                continue;
            }
            if let Some(body) = el.child("body", ns::CLIENT) {
                return (el.attr("from").unwrap_or("").to_owned(), body.text());
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no message in time ({waiting_for})"))
}

/// Nothing more for `stream`: a ping to the server is answered with no
/// message (a duplicate) or bounce before it.
async fn no_more_messages(stream: &mut XmppStream<TcpStream>, what: &str) {
    let ping = Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", "no-more")
        .attr("to", &env("XMPP_INTEROP_DOMAIN"))
        .append(Element::builder("ping", ns::PING).build())
        .build();
    stream.send(ping).await.unwrap();
    tokio::time::timeout(SECONDS, async {
        loop {
            let el = stream.next().await.expect("open").expect("no error");
            assert!(!el.is("message", ns::CLIENT), "{what}: one more: {el:?}");
            if el.attr("id") == Some("no-more") {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: the ping was not answered"));
}

/// Our session that talks to the driver: SCRAM-SHA-256 alone (every server
/// here has it on plaintext, `xmpp serve` too, which offers no PLAIN there),
/// no TLS, resource `resource`.
fn controller_config(resource: String) -> ClientConfig {
    let selector = MechanismSelector::with_preference([Mechanism::ScramSha256]);
    let mut config = ClientConfig::new(&bare_jid(), &env("XMPP_INTEROP_PASSWORD"))
        .unwrap()
        .with_selector(selector)
        .with_tls(TlsMode::Off);
    config.fallback = false;
    config.resource = Some(resource);
    config
}

/// `driver` with resumption through a cut, against the server at `addr`
/// (`what` names it in failures); the full JID of the driver's session.
pub async fn resumes(driver: &'static str, what: &str, addr: &str) -> String {
    let what = format!("{driver} / {what}");
    let proxy = CutProxy::start(addr).await;
    // Resources of their own: a session of an earlier run that did not end
    // cleanly waits to be resumed for minutes, and a new session with its
    // resource ends it and bounces what it kept.
    let run = unique();
    let tcp = TcpStream::connect(addr).await.unwrap();
    let config = controller_config(format!("sm-controller-{}-{run}", driver.replace('.', "")));
    let mut ours = connect(tcp, config, None)
        .await
        .unwrap_or_else(|e| panic!("{what}: our session: {e}"));
    let resource = format!("sm-{}-{run}", driver.replace('.', ""));
    let mut d = Driver::start(driver, proxy.addr().port(), &resource, ours.jid().as_str());

    // Bind2 (Prosody 13 with xmpp.js) makes a resource of its own from ours.
    let login = d.line("LOGIN OK").await;
    let full = login
        .strip_prefix("LOGIN OK jid=")
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("{what}: {login}"))
        .to_owned();
    assert!(
        full.starts_with(&format!("{}/{resource}", bare_jid())),
        "{what}: {login}"
    );
    let enabled = d.line("ENABLED").await;
    let id = enabled
        .strip_prefix("ENABLED id=")
        .unwrap_or_else(|| panic!("{what}: {enabled}"))
        .to_owned();
    assert!(!id.is_empty(), "{what}");
    d.expect(&format!("ACKED {BEFORE}")).await;
    d.expect("WAITING").await;
    assert_eq!(
        next_message(&mut ours, BEFORE).await,
        (full.clone(), BEFORE.to_owned()),
        "{what}"
    );

    assert_eq!(proxy.cut().await, 1, "{what}: one connection to cut");
    let message = Element::builder("message", ns::CLIENT)
        .attr("to", &full)
        .attr("type", "chat")
        .append(Element::builder("body", ns::CLIENT).text(DETACHED).build())
        .build();
    ours.send(message).await.unwrap();
    d.tell("resume").await;
    // The driver resumes, sends the second message, and gets the one the
    // server kept for it (printed as it comes: maybe before RESUMED).
    let mut after = Vec::new();
    for _ in 0..3 {
        after.push(d.line("RESUMED, ACKED, RECEIVED").await);
    }
    after.sort();
    let expected = [
        format!("ACKED {AFTER}"),
        format!("RECEIVED {DETACHED}"),
        format!("RESUMED {id}"),
    ];
    assert_eq!(after, expected, "{what}");
    assert_eq!(
        next_message(&mut ours, AFTER).await,
        (full.clone(), AFTER.to_owned()),
        "{what}"
    );
    assert_eq!(proxy.accepted(), 2, "{what}: one reconnection");

    // A message delivered twice to the driver would come before DONE.
    d.tell("quit").await;
    d.expect("DONE").await;
    let status = tokio::time::timeout(SECONDS, d.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(
        status.success(),
        "{what}: {status}\n{}",
        d.stderr.lock().unwrap()
    );
    // And one the driver sent twice (or a bounce) would come to us.
    no_more_messages(&mut ours, &what).await;
    if std::env::var_os("XMPP_INTEROP_TRACE").is_some() {
        eprintln!("{what}:\n{}", d.stderr.lock().unwrap());
    }
    ours.close().await.unwrap();
    full
}
