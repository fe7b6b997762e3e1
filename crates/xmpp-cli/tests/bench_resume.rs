//! `xmpp bench --resume` against `xmpp serve`: stream management
//! resumptions (XEP-0198 §5), RFC 6120 and inline in SASL2, with nothing
//! lost or duplicated; and the failures when the server keeps no session.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// `xmpp bench --resume` against `server`: 24 resumptions from 3 workers.
fn bench_resume(server: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--server",
        server,
        "--concurrency",
        "3",
        "--logins",
        "24",
        "--resume",
    ];
    args.extend_from_slice(extra);
    bench(&args)
}

/// Every counted login is a resumption, each worker logged in once, and
/// every message in flight at a cut came back exactly once.
fn assert_resumed(o: &std::process::Output) -> serde_json::Value {
    expect_code(o, 0);
    let r = json(o);
    assert_eq!(r["mode"], "resume", "{r}");
    assert_eq!(r["logins"], 24, "{r}");
    assert_eq!(r["failures"], 0, "{r}");
    assert_eq!(r["password_logins"], 3, "{r}");
    assert_eq!(r["resumed_stanzas_lost"], 0, "{r}");
    assert_eq!(r["resumed_stanzas_duplicated"], 0, "{r}");
    assert!(r["latency_ms"]["p50"].as_f64().unwrap() > 0.0, "{r}");
    r
}

#[test]
fn bench_resume_resumes_rfc6120_sessions_without_loss() {
    let store = bench_accounts();
    let (server, log) = Server::start_logged(store.arg(), &[]);
    let r = assert_resumed(&bench_resume(&server.addr, &[]));
    assert_eq!(r["sasl2_logins"], 0, "{r}");
    // The server saw them as resumptions, not as new sessions. It logs a
    // session after answering it, so the last lines may still be on their
    // way when the bench ends: wait for them (a few seconds at most).
    let count = |lines: &[String], resumed: bool| {
        let field = format!("resumed={resumed}");
        lines
            .iter()
            .filter(|l| l.contains("session established") && l.contains(&field))
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut established = log.lines();
    while (count(&established, false), count(&established, true)) != (3, 24)
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
        established = log.lines();
    }
    assert_eq!(
        (count(&established, false), count(&established, true)),
        (3, 24),
        "{established:#?}"
    );
}

#[test]
fn bench_resume_with_sasl2_resumes_inline() {
    let store = bench_accounts();
    let ca = store.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let server = Server::start(store.arg(), &["--tls", "required", "--write-ca", ca]);
    let r = assert_resumed(&bench_resume(
        &server.addr,
        &["--sasl2", "--tls", "required", "--ca-file", ca],
    ));
    assert_eq!(r["sasl2_logins"], 24, "{r}");
}

#[test]
fn bench_resume_fails_where_no_session_is_kept() {
    let store = bench_accounts();
    for off in [["--sm", "off"], ["--resume-timeout", "0"]] {
        let server = Server::start(store.arg(), &off);
        let o = bench_resume(&server.addr, &[]);
        expect_code(&o, 1);
        let r = json(&o);
        assert_eq!(r["logins"], 0, "{off:?}: {r}");
        let failures = r["failures_by_condition"].as_object().unwrap();
        let why = if off[0] == "--sm" {
            "login:no-stream-management"
        } else {
            "resume:not-resumable"
        };
        assert!(failures.contains_key(why), "{off:?}: {r}");
    }
}

#[test]
fn bench_resume_conflicts_with_hold_and_fast() {
    for other in ["--hold", "--fast"] {
        let o = bench_resume("127.0.0.1:1", &[other]);
        expect_failure(&o, 2, "cannot be used with");
    }
}
