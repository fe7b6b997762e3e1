//! SASL2 (XEP-0388), Bind2 (XEP-0386), FAST tokens (XEP-0484) and the
//! channel-binding policy through the real binary: `xmpp login --sasl2,
//! --channel-binding, --fast-token-file, --transcript` against
//! `xmpp serve --sasl2, --allow-sasl2-without-tls`.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;

const JID: &str = "somenode@example.com";

/// A server with `--tls required` and a generated certificate whose CA is
/// written to a file of its own; returns the server and the CA path.
fn tls_server(store: &Store, extra: &[&str]) -> (Server, String) {
    static SERVERS: AtomicUsize = AtomicUsize::new(0);
    let n = SERVERS.fetch_add(1, Ordering::Relaxed);
    let ca = store.dir.path().join(format!("ca{n}.pem"));
    let ca = ca.to_str().unwrap().to_owned();
    let mut args = vec!["--tls", "required", "--write-ca", &ca];
    args.extend_from_slice(extra);
    let server = Server::start(store.arg(), &args);
    (server, ca)
}

/// `xmpp login` without a password on stdin (and no terminal to prompt
/// on: a prompt would fail the command).
fn login_without_password(server: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["login", JID, "--server", server];
    args.extend_from_slice(extra);
    run(&args, "")
}

/// The `key=` line of a token file.
fn field(path: &Path, key: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in the token file"))
        .to_owned()
}

#[test]
fn login_uses_sasl2_and_bind2_over_tls_unless_told_otherwise() {
    let store = Store::new();
    let (server, ca) = tls_server(&store, &[]);
    let o = login_with(&server.addr, JID, "secret", &["--ca-file", &ca]);
    expect_code(&o, 0);
    // The first line stays the bound JID; Bind2 chose the resource.
    assert!(
        stdout(&o).starts_with("somenode@example.com/xmpp-negotiate/"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("with SCRAM-SHA-256-PLUS (SASL2, Bind2)"),
        "{}",
        stderr(&o)
    );
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--sasl2", "off"],
    );
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("with SCRAM-SHA-256-PLUS (RFC 6120 SASL and binding)"),
        "{}",
        stderr(&o)
    );
    // A resource asked for: bound with RFC 6120 (after SASL2 when the
    // server offers it), not chosen by Bind2.
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--resource", "r"],
    );
    expect_code(&o, 0);
    assert_eq!(stdout(&o), "somenode@example.com/r\n");
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--resource", "r", "--sasl2", "required"],
    );
    expect_code(&o, 0);
    assert_eq!(stdout(&o), "somenode@example.com/r\n");
    assert!(
        stderr(&o).contains("(SASL2, RFC 6120 binding)"),
        "{}",
        stderr(&o)
    );

    // `serve --sasl2 off`: no SASL2 nor FAST in the features.
    let (plain, ca) = tls_server(&store, &["--sasl2", "off"]);
    let o = login_with(
        &plain.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--transcript"],
    );
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(!out.contains("urn:xmpp:sasl:2"), "{out}");
    assert!(!out.contains("urn:xmpp:fast:0"), "{out}");
    assert!(
        stderr(&o).contains("(RFC 6120 SASL and binding)"),
        "{}",
        stderr(&o)
    );
    let o = login_with(
        &plain.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--sasl2", "required"],
    );
    expect_failure(
        &o,
        4,
        "SASL2: the server does not offer SASL2 and our policy requires it",
    );
}

#[test]
fn fast_token_file_logs_in_without_the_password() {
    let store = Store::new();
    let (server, ca) = tls_server(&store, &[]);
    let file = store.dir.path().join("token");
    let path = file.to_str().unwrap();
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--fast-token-file", path],
    );
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("stored a new FAST token (HT-SHA-256-EXPR)"),
        "{}",
        stderr(&o)
    );
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("xmpp-fast-token 1\n"), "{text}");
    assert!(!text.contains("secret"), "the password is not stored");
    assert_eq!(field(&file, "jid"), JID);
    assert_eq!(field(&file, "mechanism"), "HT-SHA-256-EXPR");
    let first = field(&file, "token");
    let ua = field(&file, "user-agent-id");

    // No password on stdin, no terminal: the token alone logs in, bound to
    // tls-exporter over TLS 1.3.
    let o = login_without_password(&server.addr, &["--ca-file", &ca, "--fast-token-file", path]);
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("with HT-SHA-256-EXPR (SASL2, Bind2, FAST token)"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains(&first), "the token is never printed");
    assert!(!stdout(&o).contains(&first), "the token is never printed");
    // A fresh token is kept (the server replaces it past half its life),
    // and so is the user agent.
    assert_eq!(field(&file, "token"), first);
    assert_eq!(field(&file, "user-agent-id"), ua);
    // The stable user agent gets the same Bind2 resource.
    let again =
        login_without_password(&server.addr, &["--ca-file", &ca, "--fast-token-file", path]);
    expect_code(&again, 0);
    assert_eq!(stdout(&again), stdout(&o));

    // A server that offers no FAST: without a password nothing can log in,
    // and the token (not refused) is kept.
    let (no_sasl2, ca2) = tls_server(&store, &["--sasl2", "off"]);
    let o = login_without_password(
        &no_sasl2.addr,
        &["--ca-file", &ca2, "--fast-token-file", path],
    );
    expect_failure(&o, 3, "the FAST token (HT-SHA-256-EXPR) needs SASL2");
    assert!(file.exists());
    drop(no_sasl2);
    // A token file others can read is refused, whatever it holds.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = login_without_password(&server.addr, &["--ca-file", &ca, "--fast-token-file", path]);
    expect_failure(&o, 1, "refusing to read");
    assert!(stderr(&o).contains("chmod 600"), "{}", stderr(&o));
    // Tokens only over a verified certificate.
    let o = login_without_password(&server.addr, &["--insecure", "--fast-token-file", path]);
    expect_failure(&o, 2, "needs a verified certificate");
    // FAST needs SASL2.
    let o = login_without_password(
        &server.addr,
        &[
            "--ca-file",
            &ca,
            "--fast-token-file",
            path,
            "--sasl2",
            "off",
        ],
    );
    expect_failure(&o, 2, "--fast-token-file needs SASL2");
}

#[test]
fn a_refused_token_is_removed_or_replaced_through_the_password() {
    let store = Store::new();
    let file = store.dir.path().join("token");
    let path = file.to_str().unwrap();
    let (server, ca) = tls_server(&store, &[]);
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--fast-token-file", path],
    );
    expect_code(&o, 0);
    assert!(file.exists());
    // A restarted server still knows its tokens: they are in the account
    // store.
    drop(server);
    let (server, ca) = tls_server(&store, &[]);
    let o = login_without_password(&server.addr, &["--ca-file", &ca, "--fast-token-file", path]);
    expect_code(&o, 0);
    // A token the server does not know, and no password: exit 3, and the
    // file is removed.
    let text = std::fs::read_to_string(&file).unwrap();
    let good = field(&file, "token");
    std::fs::write(&file, text.replace(&good, "unknown-token")).unwrap();
    let o = login_without_password(&server.addr, &["--ca-file", &ca, "--fast-token-file", path]);
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("refused the FAST token"), "{err}");
    assert!(err.contains("the file was removed"), "{err}");
    assert!(!file.exists());

    // With the password on stdin, a refused (here: corrupted) token falls
    // back to the password on the same stream, and a new token is stored.
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--fast-token-file", path],
    );
    expect_code(&o, 0);
    let text = std::fs::read_to_string(&file).unwrap();
    let good = field(&file, "token");
    let mut corrupted = good.clone();
    let last = corrupted.pop().unwrap();
    corrupted.push(if last == 'A' { 'B' } else { 'A' });
    std::fs::write(&file, text.replace(&good, &corrupted)).unwrap();
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--fast-token-file", path],
    );
    expect_code(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains("with SCRAM-SHA-256-PLUS (SASL2, Bind2)"),
        "{err}"
    );
    assert!(
        err.contains("refused the FAST token") && err.contains("stored the new token"),
        "{err}"
    );
    let renewed = field(&file, "token");
    assert_ne!(renewed, corrupted);
    let o = login_without_password(&server.addr, &["--ca-file", &ca, "--fast-token-file", path]);
    expect_code(&o, 0);

    // An expired token is not offered: the password is read instead.
    let text = std::fs::read_to_string(&file).unwrap();
    let expires = field(&file, "expires");
    std::fs::write(&file, text.replace(&expires, "2001-01-01T00:00:00Z")).unwrap();
    let o = login_without_password(&server.addr, &["--ca-file", &ca, "--fast-token-file", path]);
    expect_failure(&o, 2, "it expired at 2001-01-01T00:00:00Z");
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--fast-token-file", path],
    );
    expect_code(&o, 0);
    assert_ne!(field(&file, "expires"), "2001-01-01T00:00:00Z");

    // A new password revokes the tokens issued under the old one...
    let o = run(
        &[
            "user",
            "passwd",
            JID,
            "--store",
            store.arg(),
            "--password-stdin",
        ],
        "n3w-pass\n",
    );
    expect_code(&o, 0);
    let o = login_without_password(&server.addr, &["--ca-file", &ca, "--fast-token-file", path]);
    expect_failure(&o, 3, "refused the FAST token");
    assert!(!file.exists());
    // ...and a disabled account's tokens stop working at once.
    let o = login_with(
        &server.addr,
        JID,
        "n3w-pass",
        &["--ca-file", &ca, "--fast-token-file", path],
    );
    expect_code(&o, 0);
    assert!(file.exists());
    let o = run(&["user", "disable", JID, "--store", store.arg()], "");
    expect_code(&o, 0);
    let o = login_without_password(&server.addr, &["--ca-file", &ca, "--fast-token-file", path]);
    expect_failure(&o, 3, "refused the FAST token");
    assert!(!file.exists());
}

#[test]
fn channel_binding_policy() {
    let store = Store::new();
    let (server, ca) = tls_server(&store, &[]);
    let o = login_with(
        &server.addr,
        JID,
        "secret",
        &["--ca-file", &ca, "--channel-binding", "required"],
    );
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("with SCRAM-SHA-256-PLUS"),
        "{}",
        stderr(&o)
    );
    // Without TLS there is nothing to bind to.
    let plain = Server::start(store.arg(), &["--allow-sasl2-without-tls"]);
    let o = login(
        &plain.addr,
        JID,
        "secret",
        &["--channel-binding", "required"],
    );
    expect_failure(&o, 4, "channel binding: ");
    assert!(stderr(&o).contains("no TLS"), "{}", stderr(&o));
    // The default (preferred) goes on without binding there: no -PLUS is
    // offered, so nothing suggests tampering.
    let o = login(&plain.addr, JID, "secret", &[]);
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("with SCRAM-SHA-256 (SASL2, Bind2)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn transcript_of_sasl2_logins_numbers_round_trips_and_shows_no_secret() {
    const PASSWORD: &str = "Pa55-w0rd-zebra";
    // base64("\0juliet\0Pa55-w0rd-zebra"), PLAIN's initial response.
    const PLAIN_B64: &str = "AGp1bGlldABQYTU1LXcwcmQtemVicmE=";
    let store = Store::new();
    let o = run(
        &[
            "user",
            "add",
            "juliet@example.com",
            "--store",
            store.arg(),
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    );
    expect_code(&o, 0);
    let (server, ca) = tls_server(&store, &[]);
    let file = store.dir.path().join("token");
    let path = file.to_str().unwrap();
    let juliet = "juliet@example.com";
    let mut seen = String::new();
    for extra in [
        &["--mechanism", "PLAIN"][..],
        &["--mechanism", "SCRAM-SHA-256-PLUS"][..],
        &["--fast-token-file", path][..],
    ] {
        let mut args = vec!["--ca-file", ca.as_str(), "--transcript"];
        args.extend_from_slice(extra);
        let o = login_with(&server.addr, juliet, PASSWORD, &args);
        expect_code(&o, 0);
        seen.push_str(&stdout(&o));
        seen.push_str(&stderr(&o));
    }
    // The password login asked for a token: shown redacted, never in clear.
    assert!(
        seen.contains("FAST token: <token \u{2026} redacted, expires "),
        "{seen}"
    );
    let first_token = field(&file, "token");
    let o = run(
        &[
            "login",
            juliet,
            "--server",
            &server.addr,
            "--ca-file",
            &ca,
            "--transcript",
            "--fast-token-file",
            path,
        ],
        "",
    );
    expect_code(&o, 0);
    let token_login = stdout(&o);
    seen.push_str(&token_login);
    seen.push_str(&stderr(&o));
    for needle in [
        "-- round trip 1 --\nStep 1: Client initiates stream to server:",
        "-- round trip 4 --\nStep 9: Client selects an authentication mechanism (SASL2, XEP-0388):",
        "-- round trip 5 --\nStep 12: Client closes the stream:",
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-EXPR'>",
        "The decoded initial response is:\njuliet\\0<32-byte HMAC>",
        "The decoded additional data is:\n<32-byte HMAC>",
        "Bind2 bound the resource: juliet@example.com/xmpp-negotiate/",
        "Bound JID: juliet@example.com/xmpp-negotiate/",
    ] {
        assert!(
            token_login.contains(needle),
            "missing {needle:?} in:\n{token_login}"
        );
    }
    for needle in [
        "mechanism='PLAIN'><initial-response>(redacted: contains the password)",
        "The decoded initial response is:\n\\0juliet\\0<password redacted>",
        "mechanism='SCRAM-SHA-256-PLUS'",
        "p=tls-exporter,,n=juliet,r=",
        "The decoded additional data is:\nv=",
        "FAST: asks for a HT-SHA-256-EXPR token.",
    ] {
        assert!(seen.contains(needle), "missing {needle:?} in:\n{seen}");
    }
    for secret in [PASSWORD, PLAIN_B64, first_token.as_str()] {
        assert!(!seen.contains(secret), "{secret:?} was printed:\n{seen}");
    }
    assert!(!seen.contains(&field(&file, "token")), "token printed");
}
