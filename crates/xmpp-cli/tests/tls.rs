//! STARTTLS and direct TLS through the real binary: `serve --tls`,
//! `login --tls/--ca-file/--direct-tls`, `demo --tls`, `bench --tls`.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;

const JID: &str = "somenode@example.com";

/// A server with `--tls required` and a generated certificate whose CA is
/// written to a file; returns the server and the CA path.
fn tls_server(store: &Store, extra: &[&str]) -> (Server, String) {
    let ca = store.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap().to_owned();
    let mut args = vec!["--tls", "required", "--write-ca", &ca];
    args.extend_from_slice(extra);
    let server = Server::start(store.arg(), &args);
    (server, ca)
}

#[test]
fn tls_required_login_with_ca_file_for_plain_and_plus_mechanisms() {
    let store = Store::new();
    let (server, ca) = tls_server(&store, &[]);
    for mech in [
        "PLAIN",
        "SCRAM-SHA-256-PLUS",
        "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-256",
    ] {
        let o = login_with(
            &server.addr,
            JID,
            "secret",
            &["--ca-file", &ca, "--mechanism", mech, "--resource", "r"],
        );
        expect_code(&o, 0);
        assert_eq!(stdout(&o), "somenode@example.com/r\n", "{mech}");
    }
    // By default: TLS required, the best mechanism is -PLUS; the transcript
    // shows the TLS step.
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--transcript"],
    );
    expect_code(&o, 0);
    let out = stdout(&o);
    for needle in [
        "Step 3: Server requires STARTTLS before anything else:",
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>",
        "Step 4: Client asks to upgrade the connection to TLS (STARTTLS):",
        "Step 5: Server tells client to proceed with the TLS handshake:",
        "Step 6: TLS handshake (TLS1.3, cipher TLS13_",
        "channel binding tls-exporter",
        "Step 7: Client initiates a new stream to server:",
        "<mechanism>PLAIN</mechanism>",
        "mechanism='SCRAM-SHA-256-PLUS'",
        "p=tls-exporter,,n=somenode,r=",
        "Bound JID: somenode@example.com/",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    // A wrong password over TLS is still an authentication failure.
    let o = login_with(
        &server.addr,
        JID,
        "wrong",
        &["--ca-file", &ca, "--mechanism", "SCRAM-SHA-256-PLUS"],
    );
    expect_code(&o, 3);
}

#[test]
fn tls_failures_exit_4_and_say_why() {
    let store = Store::new();
    let (server, ca) = tls_server(&store, &[]);
    // Self-signed server, CA not given: the certificate does not verify.
    let o = login_with(&server.addr, JID, "secret", &["--transcript"]);
    expect_code(&o, 4);
    assert!(
        stdout(&o)
            .contains("Step 6: TLS handshake failed: invalid peer certificate: UnknownIssuer"),
        "{}",
        stdout(&o)
    );
    let err = stderr(&o);
    assert!(err.contains("invalid peer certificate"), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("--ca-file"), "{err}");
    // The certificate names example.com, not what we ask for.
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--tls-server-name", "other.example"],
    );
    expect_failure(&o, 4, "not valid for name");
    // --tls off against a server that requires TLS.
    let o = login_with(&server.addr, JID, "secret", &["--tls", "off"]);
    expect_code(&o, 4);
    let err = stderr(&o);
    assert!(
        err.contains("the server requires TLS and our policy forbids it"),
        "{err}"
    );
    // --insecure logs in, loudly.
    let o = login_with(&server.addr, JID, "secret", &["--insecure"]);
    expect_failure(&o, 0, "WARNING: --insecure");
    // STARTTLS refused by the server (injected).
    let refusing = Server::start(
        store.arg(),
        &["--tls", "required", "--inject", "starttls=failure"],
    );
    let o = login_with(&refusing.addr, JID, "secret", &["--ca-file", &ca]);
    expect_failure(&o, 4, "refused STARTTLS");
}

#[test]
fn plain_server_needs_an_explicit_choice() {
    let store = Store::new();
    let server = Server::start(store.arg(), &["--allow-plain-without-tls"]);
    // Default policy: TLS required; the message says how to proceed.
    let o = login_with(&server.addr, JID, "secret", &[]);
    expect_code(&o, 4);
    let err = stderr(&o);
    assert!(err.contains("does not offer STARTTLS"), "{err}");
    assert!(err.contains("--tls opportunistic"), "{err}");
    let o = login_with(&server.addr, JID, "secret", &["--tls", "opportunistic"]);
    expect_code(&o, 0);
}

/// A man in the middle's view of a client: sends a stream header and
/// features offering only PLAIN (no `<starttls/>`, as if stripped), then
/// records whatever the client sends until it hangs up.
fn stripping_server() -> (String, std::thread::JoinHandle<String>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let recorder = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        let mut answered = false;
        while let Ok(n @ 1..) = tcp.read(&mut buf) {
            seen.extend_from_slice(&buf[..n]);
            if !answered && seen.contains(&b'>') {
                answered = true;
                let _ = tcp.write_all(
                    b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
                      xmlns:stream='http://etherx.jabber.org/streams' id='s1' \
                      from='example.com' version='1.0'><stream:features>\
                      <mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
                      <mechanism>PLAIN</mechanism></mechanisms></stream:features>",
                );
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    (addr, recorder)
}

/// Issue #12: `--allow-plain-without-tls` used to turn the default
/// `--tls required` into opportunistic, so whoever stripped `<starttls/>`
/// from the features got the password. It only allows PLAIN now.
#[test]
fn allow_plain_without_tls_does_not_turn_tls_off() {
    let (addr, recorder) = stripping_server();
    let o = login_with(
        &addr,
        JID,
        "secret",
        &["--allow-plain-without-tls", "--timeout", "5s"],
    );
    let sent = recorder.join().unwrap();
    // base64("\0somenode\0secret"), and no <auth/> at all.
    assert!(!sent.contains("AHNvbWVub2RlAHNlY3JldA"), "{sent}");
    assert!(!sent.contains("<auth"), "{sent}");
    expect_failure(&o, 4, "does not offer STARTTLS");
    let err = stderr(&o);
    assert!(err.contains("--tls opportunistic"), "{err}");
    assert!(err.contains("does not turn TLS off"), "{err}");

    // Asked for explicitly, PLAIN in the clear works (against xmpp serve
    // without --tls, offering only PLAIN).
    let store = Store::new();
    let server = Server::start(
        store.arg(),
        &["--allow-plain-without-tls", "--mechanisms", "PLAIN"],
    );
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &[
            "--allow-plain-without-tls",
            "--tls",
            "opportunistic",
            "--transcript",
        ],
    );
    expect_code(&o, 0);
    assert!(stdout(&o).contains("mechanism='PLAIN'"), "{}", stdout(&o));
    let o = login_with(&server.addr, JID, "secret", &["--allow-plain-without-tls"]);
    expect_failure(&o, 4, "does not offer STARTTLS");
}

#[test]
fn optional_tls_serves_both_kinds_of_client() {
    let store = Store::new();
    let ca = store.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let server = Server::start(store.arg(), &["--tls", "optional", "--write-ca", ca]);
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", ca, "--mechanism", "PLAIN"],
    );
    expect_code(&o, 0);
    // Without TLS, PLAIN is not offered (no --allow-plain-without-tls on the server).
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &[
            "--tls",
            "off",
            "--allow-plain-without-tls",
            "--mechanism",
            "PLAIN",
        ],
    );
    expect_code(&o, 4);
    assert!(
        stderr(&o).contains("no acceptable SASL mechanism"),
        "{}",
        stderr(&o)
    );
    let o = login_with(&server.addr, JID, "secret", &["--tls", "off"]);
    expect_code(&o, 0);
}

#[test]
fn direct_tls_listener() {
    let store = Store::new();
    let (server, ca) = tls_server(&store, &["--direct-tls", "127.0.0.1:0"]);
    let direct = server.direct.clone().unwrap();
    let o = login_with(
        &direct,
        JID,
        "secret",
        &["--direct-tls", "--ca-file", &ca, "--transcript"],
    );
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with("-- round trip 1 --\nStep 1: TLS handshake (TLS1.3"),
        "direct TLS comes first:\n{out}"
    );
    assert!(!out.contains("<starttls"), "{out}");
    assert!(out.contains("mechanism='SCRAM-SHA-256-PLUS'"), "{out}");
    // STARTTLS on the other port still works.
    let o = login_with(&server.addr, JID, "secret", &["--ca-file", &ca]);
    expect_code(&o, 0);
}

#[test]
fn demo_with_tls_shows_starttls() {
    let o = run(&["demo", "--tls"], "");
    expect_code(&o, 0);
    let out = stdout(&o);
    for needle in [
        "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>",
        "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
        "TLS handshake (TLS1.3, cipher TLS13_",
        "channel binding tls-exporter",
        "mechanism='DIGEST-MD5'",
        "Result: authenticated and bound as somenode@example.com/demo",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let o = run(&["demo", "--tls", "--mechanism", "SCRAM-SHA-256-PLUS"], "");
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("p=tls-exporter,,n=somenode,r="), "{out}");
    assert!(out.contains("The decoded additional data is:\nv="), "{out}");
    // -PLUS needs a TLS channel to bind to.
    let o = run(&["demo", "--mechanism", "SCRAM-SHA-1-PLUS"], "");
    expect_failure(&o, 2, "--tls");
}

#[test]
fn bench_over_tls_has_no_failures() {
    let store = bench_accounts();
    let (server, ca) = tls_server(&store, &[]);
    for mech in ["SCRAM-SHA-256-PLUS", "PLAIN"] {
        let o = bench(&[
            "--server",
            &server.addr,
            "--concurrency",
            "4",
            "--duration",
            "1s",
            "--mechanism",
            mech,
            "--tls",
            "required",
            "--ca-file",
            &ca,
        ]);
        expect_code(&o, 0);
        let v = json(&o);
        assert_eq!(v["failures"], 0, "{mech}: {v}");
        assert!(v["logins"].as_u64().unwrap() > 0, "{mech}: {v}");
    }
}
