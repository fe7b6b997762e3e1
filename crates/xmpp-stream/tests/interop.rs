//! Interop with independent software, started by `cargo xtask interop`
//! (see interop/README.md): our client against ejabberd and Prosody, and
//! real clients (slixmpp, aioxmpp, libstrophe, xmpp.js) against our server.
//! Each test fails, never skips, when its peer is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt as _;
use tokio::net::TcpStream;
use xmpp_sasl::MemoryStore;
use xmpp_stream::client::connect;
use xmpp_stream::server::{ServerConfig, SessionFeature};
use xmpp_stream::ClientError;

mod peer;
mod unique;

use peer::{client_config, env};

async fn our_client_logs_in(server_var: &str, mechanism: &str) {
    let addr = env(server_var);
    let tcp = TcpStream::connect(&addr)
        .await
        .expect("connect to the peer");
    let config = client_config(mechanism, &env("XMPP_INTEROP_PASSWORD"));
    let mut stream = connect(tcp, config, None)
        .await
        .unwrap_or_else(|e| panic!("{mechanism} login to {server_var} failed: {e}"));
    let expected = format!(
        "{}@{}/",
        env("XMPP_INTEROP_USER"),
        env("XMPP_INTEROP_DOMAIN")
    );
    assert!(
        stream.jid().as_str().starts_with(&expected),
        "{}",
        stream.jid()
    );
    assert_eq!(stream.info().mechanism, mechanism);
    // The session is usable: a ping to the server is answered.
    peer::assert_ping(&mut stream).await;
    stream.close().await.unwrap();
}

async fn our_client_is_refused(server_var: &str, mechanism: &str) {
    let tcp = TcpStream::connect(env(server_var)).await.unwrap();
    let err = connect(tcp, client_config(mechanism, "wrong password"), None)
        .await
        .err()
        .expect("a wrong password must fail");
    match err {
        ClientError::Sasl { condition, .. } => {
            assert_eq!(condition, xmpp_sasl::Condition::NotAuthorized)
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_digest_md5() {
    our_client_logs_in("XMPP_INTEROP_EJABBERD", "DIGEST-MD5").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_plain() {
    our_client_logs_in("XMPP_INTEROP_EJABBERD", "PLAIN").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_scram_sha1_and_sha256() {
    our_client_logs_in("XMPP_INTEROP_EJABBERD", "SCRAM-SHA-1").await;
    our_client_logs_in("XMPP_INTEROP_EJABBERD", "SCRAM-SHA-256").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_wrong_password() {
    our_client_is_refused("XMPP_INTEROP_EJABBERD", "DIGEST-MD5").await;
    our_client_is_refused("XMPP_INTEROP_EJABBERD", "PLAIN").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_prosody_plain() {
    our_client_logs_in("XMPP_INTEROP_PROSODY", "PLAIN").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_prosody_scram_sha1_and_sha256() {
    our_client_logs_in("XMPP_INTEROP_PROSODY", "SCRAM-SHA-1").await;
    our_client_logs_in("XMPP_INTEROP_PROSODY", "SCRAM-SHA-256").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_prosody_wrong_password() {
    our_client_is_refused("XMPP_INTEROP_PROSODY", "SCRAM-SHA-1").await;
}

async fn our_server(configure: impl FnOnce(&mut ServerConfig)) -> peer::OurServer {
    let store = MemoryStore::default();
    let domain = env("XMPP_INTEROP_DOMAIN");
    store
        .add(
            &env("XMPP_INTEROP_USER"),
            &env("XMPP_INTEROP_PASSWORD"),
            &[domain.as_str()],
        )
        .unwrap();
    let mut config = ServerConfig::new(&domain, Arc::new(store));
    config.allow_plain_insecure = true;
    configure(&mut config);
    peer::start(config).await
}

/// Runs a driver against our server and checks what both sides saw.
async fn real_client_logs_in(
    server: &peer::OurServer,
    runner: &str,
    driver: &str,
    mechanism: &str,
) {
    let program = env(runner);
    let script = format!("{}/{driver}", env("XMPP_INTEROP_CLIENTS"));
    let user = env("XMPP_INTEROP_USER");
    let domain = env("XMPP_INTEROP_DOMAIN");
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&program)
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", &server.port.to_string()])
            .args(["--jid", &format!("{user}@{domain}")])
            .args([
                "--mechanism",
                mechanism,
                "--password-env",
                "XMPP_INTEROP_PASSWORD",
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("driver finished")
    .unwrap_or_else(|e| panic!("cannot run {program} {script}: {e}"));
    peer::assert_driver_login(
        server,
        &output,
        &format!("{driver} {mechanism}"),
        mechanism,
        false,
    );
}

async fn each_mechanism(runner: &str, driver: &str, mechanisms: &[&str]) {
    let server = our_server(|_| {}).await;
    for m in mechanisms {
        real_client_logs_in(&server, runner, driver, m).await;
    }
    // The seed's server: rspauth in a challenge, a required session.
    let seed = our_server(|c| c.session = SessionFeature::Required).await;
    for m in mechanisms {
        real_client_logs_in(&seed, runner, driver, m).await;
    }
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn slixmpp_to_our_server() {
    each_mechanism(
        "XMPP_INTEROP_PYTHON",
        "slix_login.py",
        &["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1"],
    )
    .await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn aioxmpp_to_our_server() {
    each_mechanism(
        "XMPP_INTEROP_PYTHON",
        "aioxmpp_login.py",
        &["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"],
    )
    .await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn libstrophe_to_our_server() {
    each_mechanism(
        "XMPP_INTEROP_PYTHON",
        "strophe_login.py",
        &["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"],
    )
    .await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn xmppjs_to_our_server() {
    each_mechanism(
        "XMPP_INTEROP_NODE",
        "xmppjs_login.mjs",
        &["PLAIN", "SCRAM-SHA-1"],
    )
    .await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn rspauth_in_success_data_with_real_clients() {
    let server = our_server(|c| c.rspauth_in_success = true).await;
    real_client_logs_in(
        &server,
        "XMPP_INTEROP_PYTHON",
        "slix_login.py",
        "DIGEST-MD5",
    )
    .await;
    real_client_logs_in(
        &server,
        "XMPP_INTEROP_PYTHON",
        "strophe_login.py",
        "DIGEST-MD5",
    )
    .await;
}
