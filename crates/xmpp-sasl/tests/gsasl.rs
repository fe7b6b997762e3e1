//! Cross-implementation tests against GNU SASL's `gsasl` command (Debian package
//! `gsasl`), both directions: our client against its server, its client against
//! our server. Our side runs in-process with the line-protocol driver of
//! `examples/sasl_lines.rs`, talking to `gsasl` over its stdin/stdout.
//!
//! Run with `cargo test -p xmpp-sasl -- --ignored` (or `cargo xtask interop`).
//! A missing `gsasl` is a failure, not a skip.
#![allow(clippy::unwrap_used)]

#[path = "../examples/sasl_lines.rs"]
mod sasl_lines;

use std::io::{BufReader, Write};
use std::process::{Command, Stdio};

use sasl_lines::{Framing, Opts};

const DIRECT: Framing = Framing {
    print_mechanism: false,
    skip_peer_mechanism: true,
};

fn common_args() -> Vec<String> {
    [
        "--realm=example.com",
        "--service=xmpp",
        "--hostname=example.com",
        "--quality-of-protection=qop-auth",
        "--quiet",
        // A gengetopt flag that defaults on: giving it turns waiting for application data off.
        "--application-data",
    ]
    .map(String::from)
    .into()
}

/// Spawns `gsasl` (bounded by `timeout` so a protocol mismatch cannot hang the suite).
fn gsasl(args: Vec<String>) -> std::process::Child {
    Command::new("timeout")
        .arg("20")
        .arg("gsasl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run gsasl: install it (apt-get install gsasl)")
}

fn finish(mut child: std::process::Child) -> (bool, String) {
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    if out.status.code() == Some(127) {
        panic!("gsasl is not installed (apt-get install gsasl)");
    }
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Our client against the gsasl server. Returns (our result, gsasl succeeded).
fn our_client(
    mech: &str,
    user: &str,
    password: &str,
    server_password: &str,
) -> (Result<(), String>, bool) {
    let mut args = vec![
        "--server".to_string(),
        format!("--mechanism={mech}"),
        format!("--password={server_password}"),
        "--disable-cleartext-validate".into(),
    ];
    args.extend(common_args());
    let mut child = gsasl(args);
    let o = Opts {
        mechanism: mech.into(),
        authentication_id: user.into(),
        password: password.into(),
        service: "xmpp".into(),
        hostname: "example.com".into(),
        ..Opts::default()
    };
    let mut input = BufReader::new(child.stdout.take().unwrap());
    let mut output = child.stdin.take().unwrap();
    let r = sasl_lines::run_client(&o, DIRECT, &mut input, &mut output);
    // Like gsasl_pair.py: when one side is done, the other gets one empty token and EOF.
    let _ = output.write_all(b"\n");
    drop(output);
    let (ok, stderr) = finish(child);
    eprintln!("{mech} our client -> gsasl server: ours={r:?} gsasl ok={ok} {stderr}");
    (r, ok)
}

/// The gsasl client against our server. Returns (our result, gsasl succeeded).
fn our_server(
    mech: &str,
    user: &str,
    password: &str,
    server_password: &str,
    rspauth_in_success: bool,
) -> (Result<String, String>, bool) {
    let mut args = vec![
        "--client".to_string(),
        format!("--mechanism={mech}"),
        format!("--authentication-id={user}"),
        format!("--password={password}"),
    ];
    args.extend(common_args());
    let mut child = gsasl(args);
    let o = Opts {
        server: true,
        mechanism: mech.into(),
        password: server_password.into(),
        realm: Some("example.com".into()),
        service: "xmpp".into(),
        hostname: "example.com".into(),
        rspauth_in_success,
        ..Opts::default()
    };
    let mut input = BufReader::new(child.stdout.take().unwrap());
    let mut output = child.stdin.take().unwrap();
    let r = sasl_lines::run_server(&o, DIRECT, &mut input, &mut output);
    // Like gsasl_pair.py: when one side is done, the other gets one empty token and EOF.
    let _ = output.write_all(b"\n");
    drop(output);
    let (ok, stderr) = finish(child);
    eprintln!("{mech} gsasl client -> our server: ours={r:?} gsasl ok={ok} {stderr}");
    (r, ok)
}

const MECHS: [&str; 4] = ["DIGEST-MD5", "PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"];

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn our_client_against_gsasl_server() {
    for mech in MECHS {
        let (r, ok) = our_client(mech, "somenode", "secret", "secret");
        assert!(r.is_ok() && ok, "{mech}: ours={r:?} gsasl ok={ok}");
    }
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn gsasl_client_against_our_server() {
    for mech in MECHS {
        let (r, ok) = our_server(mech, "somenode", "secret", "secret", false);
        assert_eq!(r.as_deref(), Ok("somenode"), "{mech}");
        assert!(ok, "{mech}: gsasl client failed");
    }
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn gsasl_client_accepts_rspauth_in_success() {
    let (r, ok) = our_server("DIGEST-MD5", "somenode", "secret", "secret", true);
    assert_eq!(r.as_deref(), Ok("somenode"));
    assert!(ok);
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn non_ascii_credentials_both_directions() {
    // Password in Latin-1 range: every reading of RFC 2831 §2.1.2.1 converts it.
    // CJK/€ passwords: never converted. SCRAM/PLAIN: UTF-8 + SASLprep.
    for mech in MECHS {
        for pw in ["café", "密码€"] {
            let (r, ok) = our_client(mech, "somenode", pw, pw);
            assert!(r.is_ok() && ok, "{mech} {pw}: ours={r:?} gsasl ok={ok}");
            let (r, ok) = our_server(mech, "somenode", pw, pw, false);
            assert!(r.is_ok() && ok, "{mech} {pw}: ours={r:?} gsasl ok={ok}");
        }
    }
    // A Latin-1 username: GNU SASL hashes it as UTF-8 (it converts only the password),
    // our server accepts that reading too.
    let (r, ok) = our_server("DIGEST-MD5", "jürgen", "café", "café", false);
    assert_eq!(r.as_deref(), Ok("jürgen"));
    assert!(ok);
    for mech in ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"] {
        let (r, ok) = our_client(mech, "jürgen", "café", "café");
        assert!(r.is_ok() && ok, "{mech}: ours={r:?} gsasl ok={ok}");
        let (r, ok) = our_server(mech, "jürgen", "café", "café", false);
        assert!(r.is_ok() && ok, "{mech}: ours={r:?} gsasl ok={ok}");
    }
}

#[test]
#[ignore = "interop: run by cargo xtask interop"]
fn wrong_password_fails_both_directions() {
    for mech in MECHS {
        let (r, ok) = our_client(mech, "somenode", "secret", "nope");
        assert!(!ok, "{mech}: gsasl server accepted a wrong password");
        if mech != "PLAIN" {
            // PLAIN has no mutual authentication; the others must notice.
            assert!(
                r.is_err(),
                "{mech}: our client accepted an unauthenticated server"
            );
        }
        let (r, ok) = our_server(mech, "somenode", "secret", "nope", false);
        assert!(
            r.as_ref().is_err_and(|e| e.contains("not-authorized")),
            "{mech}: ours={r:?}"
        );
        // A PLAIN client cannot tell (no mutual authentication, no outcome in the line protocol).
        if mech != "PLAIN" {
            assert!(!ok, "{mech}: gsasl client reported success");
        }
    }
}
