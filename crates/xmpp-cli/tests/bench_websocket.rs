//! `xmpp bench --websocket` against `xmpp serve --websocket`: logins over
//! ws:// and wss:// (RFC 7395), each mode, counted by the server as
//! WebSocket sessions (its `session established` log line's `transport`);
//! and the usage errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// `xmpp bench --websocket url`: 20 logins from 4 workers.
fn bench_ws(url: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["--websocket", url, "--concurrency", "4", "--logins", "20"];
    args.extend_from_slice(extra);
    bench(&args)
}

/// The report of a run that succeeded over WebSocket.
fn report(o: &std::process::Output) -> serde_json::Value {
    expect_code(o, 0);
    let v = json(o);
    assert_eq!(v["transport"], "websocket", "{v}");
    assert!(v["logins"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["failures"], 0, "{v}");
    v
}

/// How many sessions the server established over `transport` (`tcp`,
/// `ws`, `wss`), and how many of them were resumptions.
fn established(log: &Log, transport: &str) -> (usize, usize) {
    let field = format!("transport=\"{transport}\"");
    let lines: Vec<String> = log
        .lines()
        .into_iter()
        .filter(|l| l.contains("session established") && l.contains(&field))
        .collect();
    let resumed = lines.iter().filter(|l| l.contains("resumed=true")).count();
    (lines.len(), resumed)
}

/// The log lines come from another thread: wait until `n` sessions over
/// `transport` are in.
fn wait_established(log: &Log, transport: &str, n: usize) -> (usize, usize) {
    for _ in 0..50 {
        if established(log, transport).0 >= n {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    established(log, transport)
}

#[test]
fn bench_over_ws_logs_in_with_rfc6120_and_sasl2() {
    let store = bench_accounts();
    let (server, log) = Server::start_logged(
        store.arg(),
        &["--websocket", "127.0.0.1:0", "--allow-sasl2-without-tls"],
    );
    let url = server.websocket.clone().unwrap();
    assert!(url.starts_with("ws://"), "{url}");
    let v = report(&bench_ws(&url, &["--tls", "off"]));
    assert_eq!(v["mode"], "rfc6120", "{v}");
    assert_eq!(v["logins"], 20, "{v}");
    assert_eq!(v["server"], url.as_str(), "{v}");
    assert_eq!(v["sasl2_logins"], 0, "{v}");
    let v = report(&bench_ws(&url, &["--tls", "off", "--sasl2"]));
    assert_eq!(v["mode"], "sasl2", "{v}");
    assert_eq!(v["logins"], 20, "{v}");
    assert_eq!(v["bound_inline_logins"], 20, "{v}");
    // Every login was a WebSocket session on the server, none a TCP one.
    assert_eq!(wait_established(&log, "ws", 40), (40, 0));
    assert_eq!(established(&log, "tcp"), (0, 0));
}

#[test]
fn bench_over_wss_logs_in_resumes_and_holds() {
    let store = bench_accounts();
    let ca = store.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let (server, log) = Server::start_logged(
        store.arg(),
        &[
            "--tls",
            "required",
            "--write-ca",
            ca,
            "--websocket",
            "127.0.0.1:0",
        ],
    );
    let url = server.websocket.clone().unwrap();
    assert!(url.starts_with("wss://"), "{url}");
    // The certificate names example.com, not 127.0.0.1.
    let trust = ["--ca-file", ca, "--tls-server-name", "example.com"];
    let v = report(&bench_ws(&url, &trust));
    assert_eq!(v["logins"], 20, "{v}");
    // SASL2 is offered over wss:// (TLS), without the cleartext flag.
    let v = report(&bench_ws(&url, &[&trust[..], &["--sasl2"]].concat()));
    assert_eq!(v["bound_inline_logins"], 20, "{v}");
    assert_eq!(wait_established(&log, "wss", 40), (40, 0));
    // Resumptions over a new WebSocket each: nothing lost or duplicated.
    let v = report(&bench_ws(&url, &[&trust[..], &["--resume"]].concat()));
    assert_eq!(v["mode"], "resume", "{v}");
    assert_eq!(v["logins"], 20, "{v}");
    assert_eq!(v["resumed_stanzas_lost"], 0, "{v}");
    assert_eq!(v["resumed_stanzas_duplicated"], 0, "{v}");
    // 4 new sessions, then 20 resumed over wss://.
    assert_eq!(wait_established(&log, "wss", 64), (64, 20));
    // --hold keeps one WebSocket session per worker open.
    let v = report(&bench_ws(
        &url,
        &[&trust[..], &["--hold", "--duration", "0.2s"]].concat(),
    ));
    assert_eq!(v["held_connections"], 4, "{v}");
    assert_eq!(wait_established(&log, "wss", 68), (68, 20));
    assert_eq!(established(&log, "tcp"), (0, 0));
    // Without the CA the certificate is refused: every login fails.
    let o = bench_ws(&url, &["--tls-server-name", "example.com"]);
    expect_code(&o, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["logins"], 0, "{v}");
    assert_eq!(v["failures_by_condition"]["tls"], 20, "{v}");
}

#[test]
fn bench_websocket_usage_errors() {
    // ws:// only with --tls off, as in `xmpp login`.
    let o = bench_ws("ws://127.0.0.1:9/xmpp-websocket", &[]);
    expect_failure(&o, 2, "use wss://, or --tls off");
    let o = bench_ws("http://127.0.0.1:9/xmpp-websocket", &["--tls", "off"]);
    expect_failure(&o, 2, "not a ws:// or wss:// URL");
    // One transport per run.
    let o = bench_ws(
        "wss://127.0.0.1:9/xmpp-websocket",
        &["--server", "127.0.0.1:5222"],
    );
    expect_failure(&o, 2, "--server");
}
