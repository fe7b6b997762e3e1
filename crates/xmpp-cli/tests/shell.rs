//! `xmpp shell` against `xmpp serve`, not on a terminal (lines from a
//! pipe, as scripts use it): commands and XML delivered to another client,
//! pings, incoming stanzas printed, input errors that the session survives,
//! `/quit`, the end of input, a lost connection and usage errors.

#![allow(clippy::unwrap_used)]

mod common;
#[path = "../../xmpp-stream/tests/cut_proxy/mod.rs"]
mod cut_proxy;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::XmppStream;
use xmpp_xml::{ns, Element};

/// A store with `somenode@example.com` / `secret` and `juliet@example.com` / `pw`.
fn store() -> Store {
    let store = Store::new();
    store.add("juliet@example.com", "pw");
    store
}

/// Juliet logged in as `juliet@example.com/balcony` with the library,
/// available (so that messages to her bare JID reach her).
async fn juliet(addr: &str) -> XmppStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let config = ClientConfig::new("juliet@example.com/balcony", "pw")
        .unwrap()
        .with_tls(TlsMode::Off);
    let mut s = connect(tcp, config, None).await.unwrap();
    s.send(Element::builder("presence", ns::CLIENT).build())
        .await
        .unwrap();
    // A ping round trip: the presence was handled before the answer.
    assert_eq!(ping_server(&mut s, "j1").await.attr("type"), Some("result"));
    s
}

/// Pings the server from `s`: the next stanza, which is its answer unless
/// something else came first.
async fn ping_server(s: &mut XmppStream<TcpStream>, id: &str) -> Element {
    let ping = Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", id)
        .attr("to", "example.com")
        .append(Element::builder("ping", ns::PING).build())
        .build();
    s.send(ping).await.unwrap();
    next(s).await
}

async fn next(s: &mut XmppStream<TcpStream>) -> Element {
    tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("a stanza in time")
        .expect("stream open")
        .expect("no stream error")
}

fn body(m: &Element) -> String {
    m.child("body", ns::CLIENT).unwrap().text()
}

/// `xmpp shell <jid> --server <addr> --tls off --password-stdin extra...`
/// with `lines` after the password on stdin (off the runtime's workers).
async fn shell(addr: &str, jid: &str, password: &str, lines: &str, extra: &[&str]) -> Output {
    let args: Vec<String> = ["shell", jid, "--server", addr, "--tls", "off"]
        .iter()
        .chain(["--password-stdin"].iter())
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect();
    let stdin = format!("{password}\n{lines}");
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, &stdin)
    })
    .await
    .unwrap()
}

/// A shell left running, its stdin open: lines are written as the test goes.
struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn start(addr: &str, jid: &str, password: &str, extra: &[&str]) -> Running {
        let mut args = vec![
            "shell",
            jid,
            "--server",
            addr,
            "--tls",
            "off",
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        let mut child = Command::new(BIN)
            .args(&args)
            .env_remove("XMPP_STORE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = stderr.clone();
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                eprintln!("shell {line}");
                lines.lock().unwrap().push(line);
            }
        });
        let mut shell = Running {
            stdin: child.stdin.take(),
            child,
            stderr,
        };
        shell.line(password);
        shell
    }

    fn line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits until stderr has a line that contains `needle`; that line.
    async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let found = self
                .stderr
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on stderr: {:?}",
                self.stderr.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Closes stdin (or not) and waits for the exit: its code, stdout and stderr.
    async fn finish(mut self, close_stdin: bool) -> (Option<i32>, String, String) {
        if close_stdin {
            drop(self.stdin.take());
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "the shell did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        // The stderr thread reads until the pipe closes, which it has.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let err = self.stderr.lock().unwrap().join("\n");
        (status.code(), out, err)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msg_reaches_another_client_and_eof_closes_with_0() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    let mut j = juliet(&server.addr).await;
    let o = shell(
        &server.addr,
        "somenode@example.com",
        "secret",
        "/msg juliet@example.com  wherefore art thou\n/msg juliet@example.com/balcony second\n",
        &[],
    )
    .await;
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("xmpp: logged in as somenode@example.com/"),
        "{}",
        stderr(&o)
    );
    for text in ["wherefore art thou", "second"] {
        let m = next(&mut j).await;
        assert_eq!(body(&m), text);
        assert_eq!(m.attr("type"), Some("chat"));
        assert!(
            m.attr("from").unwrap().starts_with("somenode@example.com/"),
            "{m:?}"
        );
        assert!(m.attr("id").is_some_and(|id| id.len() >= 16));
    }
    // Nothing printed: nothing came in.
    assert_eq!(stdout(&o), "");
    assert!(!stderr(&o).contains("secret"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xml_is_sent_as_typed_even_over_several_lines() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    let mut j = juliet(&server.addr).await;
    let lines = "<message to='juliet@example.com/balcony' type='normal' id='m-1' xml:lang='en'>\
                 <subject>s &amp; t</subject><body>one</body>\
                 <x xmlns='urn:example:x' a='1'><y/></x></message>\n\
                 <message to='juliet@example.com' id='m-2'>\n  \
                 <body>two\n lines</body>\n\
                 </message>\n\
                 /raw <r xmlns='urn:xmpp:sm:3'/>\n";
    let o = shell(&server.addr, "somenode@example.com", "secret", lines, &[]).await;
    expect_code(&o, 0);
    let m = next(&mut j).await;
    assert_eq!(m.attr("id"), Some("m-1"));
    assert_eq!(m.attr("type"), Some("normal"));
    assert_eq!(m.attr("xml:lang"), Some("en"));
    assert_eq!(m.child("subject", ns::CLIENT).unwrap().text(), "s & t");
    assert_eq!(body(&m), "one");
    let x = m.child("x", "urn:example:x").unwrap();
    assert_eq!(x.attr("a"), Some("1"));
    assert!(x.child("y", "urn:example:x").is_some());
    let m = next(&mut j).await;
    assert_eq!(m.attr("id"), Some("m-2"));
    assert_eq!(body(&m), "two\n lines");
    // `/raw <r/>` asked the server for an acknowledgement, which never
    // reaches the user; no error either.
    assert_eq!(stdout(&o), "");
    assert!(!stderr(&o).contains("line"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_errors_are_reported_and_the_session_goes_on() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    let mut j = juliet(&server.addr).await;
    // Line 1 is the password.
    let lines = "<message to='juliet@example.com'><body>x</bdy></message>\n\
                 /frobnicate\n\
                 hello there\n\
                 <r xmlns='urn:xmpp:sm:3'/>\n\
                 /msg juliet@example.com\n\
                 /presence busy\n\
                 /msg juliet@example.com still here\n";
    let o = shell(&server.addr, "somenode@example.com", "secret", lines, &[]).await;
    expect_code(&o, 0);
    let err = stderr(&o);
    for expected in [
        "xmpp: line 2: bad XML: end tag </bdy> does not match <body>",
        "xmpp: line 3: unknown command \"/frobnicate\" (/help lists the commands)",
        "xmpp: line 4: not a command or XML",
        "xmpp: line 5: <r> in namespace \"urn:xmpp:sm:3\" is not a stanza",
        "xmpp: line 6: usage: /msg <jid> <text>",
        "xmpp: line 7: \"busy\" is not a presence show",
    ] {
        assert!(err.contains(expected), "{expected:?} not in:\n{err}");
    }
    // Only the last line sent anything.
    let m = next(&mut j).await;
    assert_eq!(body(&m), "still here");
    let answer = ping_server(&mut j, "j2").await;
    assert_eq!(answer.attr("id"), Some("j2"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_closes_at_once_and_ignores_what_follows() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    let mut j = juliet(&server.addr).await;
    // An iq that Juliet never answers: the end of input would wait --wait
    // for its answer, /quit does not.
    let lines = "/msg juliet@example.com one\n\
                 <iq type='get' id='q1' to='juliet@example.com/balcony'><q xmlns='urn:example:q'/></iq>\n\
                 /quit\n\
                 /msg juliet@example.com two\n";
    let started = Instant::now();
    let o = shell(
        &server.addr,
        "somenode@example.com",
        "secret",
        lines,
        &["--wait", "20s"],
    )
    .await;
    expect_code(&o, 0);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(!stderr(&o).contains("no answer"), "{}", stderr(&o));
    assert_eq!(body(&next(&mut j).await), "one");
    assert_eq!(next(&mut j).await.attr("id"), Some("q1"));
    // "two" was never sent: the next stanza is the answer to a ping.
    let answer = ping_server(&mut j, "j2").await;
    assert_eq!(answer.attr("id"), Some("j2"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_input_waits_for_answers_and_prints_them() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    // An iq the server answers with an error, and a ping, at the very end
    // of input: their answers come after it.
    let lines = "<iq type='get' id='v1' to='example.com'><query xmlns='jabber:iq:version'/></iq>\n\
                 /ping\n";
    let o = shell(&server.addr, "somenode@example.com", "secret", lines, &[]).await;
    expect_code(&o, 0);
    let out = stdout(&o);
    assert_eq!(
        out,
        "<iq type='error' id='v1' from='example.com'>\n  \
         <error type='cancel'>\n    \
         <service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\n  \
         </error>\n\
         </iq>\n"
    );
    let err = stderr(&o);
    assert!(
        err.contains("xmpp: ping example.com: answered in "),
        "{err}"
    );
    assert!(!err.contains("no answer"), "{err}");

    // An iq nobody answers: the shell gives up after --wait, and says so.
    let mut j = juliet(&server.addr).await;
    let lines =
        "<iq type='set' id='q2' to='juliet@example.com/balcony'><q xmlns='urn:example:q'/></iq>\n";
    let o = shell(
        &server.addr,
        "somenode@example.com",
        "secret",
        lines,
        &["--wait", "300ms"],
    )
    .await;
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("xmpp: no answer to iq \"q2\" within --wait"),
        "{}",
        stderr(&o)
    );
    assert_eq!(next(&mut j).await.attr("id"), Some("q2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_stanzas_are_printed_and_pings_answered() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    // Juliet's shell: available, and ready once the server answered her ping
    // (her presence was handled before it).
    let mut juliet = Running::start(
        &server.addr,
        "juliet@example.com",
        "pw",
        &["--resource", "balcony"],
    );
    juliet.line("/presence");
    juliet.line("/ping");
    juliet.wait_for("ping example.com: answered in").await;
    let o = shell(
        &server.addr,
        "somenode@example.com",
        "secret",
        "/msg juliet@example.com hello Juliet\n/ping juliet@example.com/balcony\n",
        &[],
    )
    .await;
    expect_code(&o, 0);
    let pong = "xmpp: ping juliet@example.com/balcony: answered in ";
    assert!(stderr(&o).contains(pong), "{}", stderr(&o));
    let (code, out, err) = juliet.finish(true).await;
    assert_eq!(code, Some(0), "{err}");
    // The message, indented, then the ping her shell answered.
    let message = out.find("<message ").expect("the message printed");
    let rest = &out[message..];
    assert!(rest.contains("type='chat'"), "{out}");
    assert!(rest.contains("from='somenode@example.com/"), "{out}");
    assert!(
        rest.contains(">\n  <body>hello Juliet</body>\n</message>\n"),
        "{out}"
    );
    let ping = out
        .find("<ping xmlns='urn:xmpp:ping'/>")
        .expect("the ping printed");
    assert!(ping > message, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_reported_with_the_login_failure_code() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    let shell = Running::start(
        &server.addr,
        "somenode@example.com",
        "secret",
        &["--reconnect", "0"],
    );
    shell.wait_for("logged in as").await;
    // The server shuts down: <system-shutdown/>, a stream error (4).
    server.terminate();
    let (code, out, err) = shell.finish(false).await;
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("xmpp: connection lost: peer sent stream error <system-shutdown/>"),
        "{err}"
    );
    assert_eq!(out, "");

    // The server is killed: the connection closes without a stream
    // error, a network failure (5).
    let server = Server::start(store.arg(), &[]);
    let shell = Running::start(
        &server.addr,
        "somenode@example.com",
        "secret",
        &["--reconnect", "1"],
    );
    shell.wait_for("logged in as").await;
    drop(server);
    let (code, _, err) = shell.finish(false).await;
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("xmpp: connection lost: "), "{err}");
}

#[test]
fn usage_and_login_errors() {
    // Not a JID: usage (2), before anything is read or dialled.
    let o = run(
        &["shell", "@", "--server", "127.0.0.1:9", "--password-stdin"],
        "secret\n",
    );
    expect_code(&o, 2);
    // A bad --wait.
    let o = run(&["shell", "a@example.com", "--wait", "soon"], "");
    expect_failure(&o, 2, "invalid duration");
    // Nobody listening: a network failure (5), as `xmpp login`.
    let o = run(
        &[
            "shell",
            "somenode@example.com",
            "--server",
            "127.0.0.1:9",
            "--tls",
            "off",
            "--password-stdin",
        ],
        "secret\n/quit\n",
    );
    expect_failure(&o, 5, "cannot connect to 127.0.0.1:9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_exits_3() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    let o = shell(
        &server.addr,
        "somenode@example.com",
        "wrong",
        "/quit\n",
        &[],
    )
    .await;
    expect_failure(&o, 3, "not-authorized");
}

/// A connection lost under the shell (a relay cuts it): the shell
/// reconnects, resumes its XEP-0198 session with `xmpp serve`, says so, and
/// goes on; what it sent before and after reaches the other client once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_is_resumed_and_the_session_goes_on() {
    let store = store();
    let server = Server::start(store.arg(), &[]);
    let mut j = juliet(&server.addr).await;
    let proxy = cut_proxy::CutProxy::start(server.addr.clone()).await;
    let addr = proxy.addr().to_string();
    let mut shell = Running::start(&addr, "somenode@example.com", "secret", &[]);
    let logged_in = shell.wait_for("logged in as").await;
    shell.line("/msg juliet@example.com/balcony before");
    assert_eq!(body(&next(&mut j).await), "before");
    assert_eq!(proxy.cut().await, 1);
    // The shell notices the loss when it next reads or writes.
    shell.line("/msg juliet@example.com/balcony after");
    let resumed = shell.wait_for("resumed the session as").await;
    assert!(resumed.contains("nothing was lost"), "{resumed}");
    assert_eq!(body(&next(&mut j).await), "after");
    // The same resource as before.
    let jid = logged_in.split("logged in as ").nth(1).unwrap().trim();
    assert!(resumed.contains(jid), "{resumed} / {jid}");
    shell.line("/quit");
    let (code, _, err) = shell.finish(true).await;
    assert_eq!(code, Some(0), "{err}");
    // Nothing came twice.
    assert!(tokio::time::timeout(Duration::from_millis(300), j.next())
        .await
        .is_err());
}
