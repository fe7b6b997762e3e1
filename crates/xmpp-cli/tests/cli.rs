//! End-to-end tests of the real `xmpp` binary.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

#[test]
fn demo_prints_every_rfc_example_step_with_decoded_payloads() {
    let o = run(&["demo"], "");
    expect_code(&o, 0);
    let out = stdout(&o);
    for needle in [
        "Step 1: Client initiates stream to server:",
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'",
        "Step 2: Server responds with a stream tag sent to client:",
        "Step 3: Server informs client of available authentication mechanisms:",
        "<mechanism>DIGEST-MD5</mechanism><mechanism>PLAIN</mechanism>",
        "Step 4: Client selects an authentication mechanism:",
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>",
        "Step 5: Server sends a [BASE64] encoded challenge to client:",
        "The decoded challenge is:",
        "realm=\"example.com\",nonce=\"",
        "qop=\"auth\",charset=utf-8,algorithm=md5-sess",
        "Step 6: Client sends a [BASE64] encoded response to the challenge:",
        "The decoded response is:",
        "username=\"somenode\"",
        "digest-uri=\"xmpp/example.com\"",
        "Step 7: Server sends a [BASE64] encoded challenge to client:",
        "rspauth=",
        "Step 8: Client responds to the challenge:",
        "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        "Step 9: Server informs client of successful authentication:",
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
        "Step 10: Client initiates a new stream to server:",
        "Step 11: Server responds by sending a stream header to client along with any additional features",
        "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>",
        "Result: authenticated and bound as somenode@example.com/demo",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn demo_shows_each_alternative_failure_step() {
    for (fail, step, cond) in [
        (
            "incorrect-encoding",
            "Step 5: Server informs client of failed authentication:",
            "<incorrect-encoding/>",
        ),
        (
            "temporary-auth-failure",
            "Step 7: Server informs client of failed authentication:",
            "<temporary-auth-failure/>",
        ),
        (
            "success=temporary-auth-failure",
            "Step 9: Server informs client of failed authentication:",
            "<temporary-auth-failure/>",
        ),
        (
            "host-unknown",
            "Step 3: Server returns error to client:",
            "<host-unknown",
        ),
    ] {
        let o = run(&["demo", "--fail", fail], "");
        expect_code(&o, 0);
        let out = stdout(&o);
        assert!(
            out.contains(step),
            "--fail {fail}: missing {step:?} in:\n{out}"
        );
        assert!(
            out.contains(cond),
            "--fail {fail}: missing {cond:?} in:\n{out}"
        );
        assert!(
            out.contains("Result: the login failed as requested"),
            "{out}"
        );
    }
}

#[test]
fn demo_with_each_mechanism() {
    for (mech, needle) in [
        ("SCRAM-SHA-1", "n,,n=somenode,r="),
        ("SCRAM-SHA-256", "The decoded additional data is:\nv="),
        ("PLAIN", "\\0somenode\\0<password redacted>"),
    ] {
        let o = run(&["demo", "--mechanism", mech], "");
        expect_code(&o, 0);
        let out = stdout(&o);
        assert!(
            out.contains(needle),
            "{mech}: missing {needle:?} in:\n{out}"
        );
        assert!(!out.contains("secret\n") || mech != "PLAIN" || !out.contains("\\0secret"));
    }
}

#[test]
fn user_commands_against_sqlite() {
    let store = Store::new();
    let s = store.arg();
    // A second add of the same account is refused.
    let o = run(
        &[
            "user",
            "add",
            "Somenode@example.com",
            "--store",
            s,
            "--password-stdin",
        ],
        "x\n",
    );
    expect_failure(&o, 2, "already exists");
    let o = run(
        &[
            "user",
            "add",
            "juliet@example.com",
            "--store",
            s,
            "--password-stdin",
            "--realm",
            "r1",
            "--realm",
            "r2",
        ],
        "pw\n",
    );
    expect_code(&o, 0);
    let o = run(&["user", "list", "--store", s], "");
    expect_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "juliet@example.com realms=r1,r2\nsomenode@example.com\n"
    );
    let o = run(
        &[
            "user",
            "passwd",
            "juliet@example.com",
            "--store",
            s,
            "--password-stdin",
        ],
        "new\n",
    );
    expect_code(&o, 0);
    let o = run(
        &[
            "user",
            "passwd",
            "nobody@example.com",
            "--store",
            s,
            "--password-stdin",
        ],
        "new\n",
    );
    expect_code(&o, 2);
    let o = run(&["user", "disable", "juliet@example.com", "--store", s], "");
    expect_code(&o, 0);
    let o = run(&["user", "list", "--store", s, "--json"], "");
    assert!(stdout(&o).contains("\"disabled\": true"));
    let o = run(&["user", "remove", "juliet@example.com", "--store", s], "");
    expect_code(&o, 0);
    let o = run(&["user", "remove", "juliet@example.com", "--store", s], "");
    expect_code(&o, 2);
    let o = run(
        &[
            "user",
            "bulk-add",
            "load",
            "5",
            "--domain",
            "example.com",
            "--store",
            s,
            "--password-stdin",
        ],
        "pw\n",
    );
    expect_code(&o, 0);
    let o = run(
        &["user", "list", "--store", s, "--domain", "example.com"],
        "",
    );
    assert_eq!(stdout(&o).lines().count(), 6);
    // The database holds no password.
    let bytes = std::fs::read(&store.path).unwrap();
    assert!(!bytes.windows(6).any(|w| w == b"secret"));
}

#[test]
fn serve_and_login_with_each_mechanism() {
    let store = Store::new();
    let server = Server::start(store.arg(), &["--allow-plain-without-tls"]);
    for mech in ["SCRAM-SHA-256", "SCRAM-SHA-1", "DIGEST-MD5", "PLAIN"] {
        let o = login(
            &server.addr,
            "somenode@example.com",
            "secret",
            &[
                "--mechanism",
                mech,
                "--allow-plain-without-tls",
                "--resource",
                "r",
            ],
        );
        expect_code(&o, 0);
        assert_eq!(stdout(&o), "somenode@example.com/r\n", "{mech}");
    }
    // Best mechanism by default.
    let o = login(
        &server.addr,
        "somenode@example.com",
        "secret",
        &["--transcript"],
    );
    expect_code(&o, 0);
    assert!(stdout(&o).contains("mechanism='SCRAM-SHA-256'"));
    assert!(stdout(&o).contains("Bound JID: somenode@example.com/"));
    // Wrong password: exit 3 naming the condition.
    let o = login(
        &server.addr,
        "somenode@example.com",
        "wrong",
        &["--mechanism", "DIGEST-MD5"],
    );
    expect_failure(&o, 3, "<not-authorized/>");
    // A user added while the server runs can log in at once.
    store.add("romeo@example.com", "pw2");
    let o = login(
        &server.addr,
        "romeo@example.com",
        "pw2",
        &["--mechanism", "SCRAM-SHA-1"],
    );
    expect_code(&o, 0);
    // Disabled account: authentication failure.
    expect_code(
        &run(
            &[
                "user",
                "disable",
                "romeo@example.com",
                "--store",
                store.arg(),
            ],
            "",
        ),
        0,
    );
    let o = login(
        &server.addr,
        "romeo@example.com",
        "pw2",
        &["--mechanism", "SCRAM-SHA-1"],
    );
    expect_failure(&o, 3, "account-disabled");
}

#[test]
fn serve_without_plain_flag_does_not_offer_plain() {
    let store = Store::new();
    let server = Server::start(store.arg(), &[]);
    let o = login(
        &server.addr,
        "somenode@example.com",
        "secret",
        &["--mechanism", "PLAIN", "--allow-plain-without-tls"],
    );
    expect_code(&o, 4);
    assert!(
        stderr(&o).contains("no acceptable SASL mechanism"),
        "{}",
        stderr(&o)
    );
    let server = Server::start(store.arg(), &["--mechanisms", "DIGEST-MD5"]);
    let o = login(
        &server.addr,
        "somenode@example.com",
        "secret",
        &["--mechanism", "SCRAM-SHA-1"],
    );
    expect_code(&o, 4);
    let o = login(&server.addr, "somenode@example.com", "secret", &[]);
    expect_code(&o, 0);
}

#[test]
fn each_injection_is_seen_by_login_with_the_right_exit_code() {
    let store = Store::new();
    let cases: &[(&str, &str, i32, &str)] = &[
        (
            "auth=incorrect-encoding",
            "DIGEST-MD5",
            3,
            "<incorrect-encoding/>",
        ),
        (
            "response=temporary-auth-failure",
            "DIGEST-MD5",
            3,
            "<temporary-auth-failure/>",
        ),
        (
            "success=temporary-auth-failure",
            "DIGEST-MD5",
            3,
            "<temporary-auth-failure/>",
        ),
        (
            "auth=not-authorized",
            "SCRAM-SHA-256",
            3,
            "<not-authorized/>",
        ),
        ("response=aborted", "SCRAM-SHA-1", 3, "<aborted/>"),
        ("header=host-unknown", "DIGEST-MD5", 4, "<host-unknown/>"),
        (
            "restart=system-shutdown",
            "DIGEST-MD5",
            4,
            "<system-shutdown/>",
        ),
        (
            "success=stream:not-authorized",
            "DIGEST-MD5",
            4,
            "<not-authorized/>",
        ),
        ("bind=not-allowed", "SCRAM-SHA-1", 4, "<not-allowed/>"),
        ("auth=close", "DIGEST-MD5", 5, "closed"),
        ("response=silence", "DIGEST-MD5", 5, "timed out"),
    ];
    for (inject, mech, code, needle) in cases {
        let server = Server::start(store.arg(), &["--inject", inject]);
        let o = login(
            &server.addr,
            "somenode@example.com",
            "secret",
            &["--mechanism", mech, "--timeout", "2s"],
        );
        expect_code(&o, *code);
        let err = stderr(&o);
        assert!(
            err.contains(needle),
            "--inject {inject}: missing {needle:?} in {err}"
        );
        if *code == 3 || (*code == 4 && !inject.starts_with("bind")) {
            assert!(
                err.contains("injected by xmpp serve --inject"),
                "server text missing: {err}"
            );
        }
    }
}

#[test]
fn network_errors_exit_5() {
    // Bind and drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = login(
        &format!("127.0.0.1:{port}"),
        "somenode@example.com",
        "secret",
        &[],
    );
    expect_failure(&o, 5, "cannot connect");
}

#[test]
fn bad_usage_exits_2_with_a_clear_message() {
    let o = run(&["login"], "");
    expect_failure(&o, 2, "Usage");
    let o = run(&["serve", "--listen", "127.0.0.1:0"], "");
    expect_failure(&o, 2, "--domain");
    let o = run(
        &[
            "login",
            "somenode@example.com",
            "--mechanism",
            "CRAM-MD5",
            "--password-stdin",
        ],
        "x\n",
    );
    expect_failure(&o, 2, "unknown mechanism");
    let o = run(
        &[
            "login",
            "somenode@example.com",
            "--mechanism",
            "PLAIN",
            "--tls",
            "opportunistic",
            "--password-stdin",
        ],
        "x\n",
    );
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("--allow-plain-without-tls"),
        "{}",
        stderr(&o)
    );
    let o = run(&["login", "not a jid", "--password-stdin"], "x\n");
    expect_code(&o, 2);
    let o = run(
        &[
            "serve",
            "--domain",
            "example.com",
            "--inject",
            "nowhere=aborted",
            "--store",
            "/nonexistent/x",
        ],
        "",
    );
    expect_failure(&o, 2, "unknown step");
    let o = run(&["demo", "--fail", "no-such-condition"], "");
    expect_code(&o, 2);
    // In a fresh directory: a shared /tmp/x.db may belong to anyone.
    let dir = tempfile::tempdir().unwrap();
    let o = run(
        &[
            "user",
            "add",
            "a@example.com",
            "--store",
            dir.path().join("x.db").to_str().unwrap(),
            "--password-stdin",
        ],
        "",
    );
    expect_failure(&o, 2, "empty password");
}

#[test]
fn bench_against_serve_has_no_failures() {
    let store = Store::new();
    store.bulk_add("bench", 4, "pw");
    let server = Server::start(store.arg(), &["--allow-plain-without-tls"]);
    let bench = |mech: &str, extra: &[&str]| {
        let mut args = vec![
            "bench",
            "--server",
            &server.addr,
            "--domain",
            "example.com",
            "--user-prefix",
            "bench",
            "--users",
            "4",
            "--password-stdin",
            "--concurrency",
            "4",
            "--duration",
            "1s",
            "--mechanism",
            mech,
            "--json",
        ];
        args.extend_from_slice(extra);
        run(&args, "pw\n")
    };
    // Issue #12: --mechanism PLAIN no longer implies PLAIN in the clear
    // (bench's TLS is opportunistic, so a stripped <starttls/> would give
    // the password away).
    let o = bench("PLAIN", &[]);
    expect_failure(&o, 2, "--allow-plain-without-tls");
    for mech in ["DIGEST-MD5", "PLAIN", "SCRAM-SHA-1"] {
        let o = bench(mech, &["--allow-plain-without-tls"]);
        expect_code(&o, 0);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["failures"], 0, "{mech}: {v}");
        assert!(v["logins"].as_u64().unwrap() > 0, "{v}");
        assert!(v["logins_per_second"].as_f64().unwrap() > 0.0, "{v}");
        assert!(v["latency_ms"]["p99"].as_f64().unwrap() > 0.0, "{v}");
    }
    // --hold keeps sessions open and reports the server's memory.
    let pid = server.pid().to_string();
    let o = run(
        &[
            "bench",
            "--server",
            &server.addr,
            "--domain",
            "example.com",
            "--user-prefix",
            "bench",
            "--users",
            "4",
            "--password-stdin",
            "--concurrency",
            "20",
            "--hold",
            "--duration",
            "0.2s",
            "--mechanism",
            "DIGEST-MD5",
            "--server-pid",
            &pid,
            "--json",
        ],
        "pw\n",
    );
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["held_connections"], 20, "{v}");
    assert!(v["server_rss_kib_after"].as_u64().is_some(), "{v}");
    // Wrong password: failures by condition.
    let o = run(
        &[
            "bench",
            "--server",
            &server.addr,
            "--domain",
            "example.com",
            "--user-prefix",
            "bench",
            "--users",
            "4",
            "--password-stdin",
            "--concurrency",
            "2",
            "--logins",
            "4",
            "--mechanism",
            "DIGEST-MD5",
            "--json",
        ],
        "wrong\n",
    );
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["failures_by_condition"]["sasl:not-authorized"], 4, "{v}");
}
