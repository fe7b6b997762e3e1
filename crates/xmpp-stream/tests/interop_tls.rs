//! Interop over TLS, started by `cargo xtask interop` (see interop/README.md):
//! our client (STARTTLS required, verified against the suite's test CA)
//! against ejabberd and Prosody configured as deployed, direct TLS to
//! ejabberd, and real clients (slixmpp, aioxmpp, libstrophe, xmpp.js, the
//! stdlib reference) logging in to our server with STARTTLS required,
//! including SCRAM-*-PLUS where both sides share a channel-binding type.
//! Each test fails, never skips, when its peer is missing.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt as _;
use tokio::net::TcpStream;
use xmpp_sasl::{MechanismSelector, MemoryStore, MemoryTokenStore};
use xmpp_stream::client::{
    connect, connect_direct_tls, ChannelBindingPolicy, ClientConfig, TlsMode,
};
use xmpp_stream::server::{ServerConfig, TlsPolicy};
use xmpp_stream::tls::{ca_file_config, ServerTls};
use xmpp_stream::ClientError;

mod peer;
mod unique;

use peer::{bare_jid, env, OurServer};

/// STARTTLS required, trusting only the CA in `$ca_var`, exactly `mechanism`
/// (no fallback), PLAIN allowed only because the stream is protected.
fn tls_client(mechanism: &str, password: &str, ca_var: &str) -> ClientConfig {
    let selector = MechanismSelector::with_preference([mechanism
        .parse::<xmpp_sasl::Mechanism>()
        .expect("a known mechanism")]);
    let mut config = ClientConfig::new(&bare_jid(), password)
        .unwrap()
        .with_resource(&peer::unique_resource("interop-tls"))
        .with_selector(selector)
        .with_tls(TlsMode::Required);
    config.fallback = false;
    config.tls_config = Some(ca_file_config(Path::new(&env(ca_var))).unwrap());
    config
}

/// How our client reaches the peer.
#[derive(Clone, Copy, Debug)]
enum Via {
    StartTls,
    DirectTls,
}

/// ejabberd 23.01 (Debian 12) offers SCRAM-*-PLUS for tls-unique only,
/// without a XEP-0440 list and without XEP-0474: under the default policy
/// that offer cannot be told from one stripped in transit, so a client of
/// it must turn channel binding off, as these tests do (except the one
/// that checks the refusal).
fn for_peer(server_var: &str, mut config: ClientConfig) -> ClientConfig {
    if server_var.starts_with("XMPP_INTEROP_EJABBERD_") {
        config.channel_binding = ChannelBindingPolicy::Off;
    }
    config
}

async fn login(
    server_var: &str,
    via: Via,
    config: ClientConfig,
) -> Result<xmpp_stream::XmppStream<TcpStream>, ClientError> {
    login_as_configured(server_var, via, for_peer(server_var, config)).await
}

async fn login_as_configured(
    server_var: &str,
    via: Via,
    config: ClientConfig,
) -> Result<xmpp_stream::XmppStream<TcpStream>, ClientError> {
    let tcp = TcpStream::connect(env(server_var))
        .await
        .unwrap_or_else(|e| panic!("connect to {server_var}: {e}"));
    match via {
        Via::StartTls => connect(tcp, config, None).await,
        Via::DirectTls => connect_direct_tls(tcp, config, None).await,
    }
}

/// Logs in with `config`, checks the session is on TLS and usable (a ping
/// is answered), and returns the mechanism used.
async fn logs_in(server_var: &str, via: Via, config: ClientConfig) -> String {
    let wanted = format!("{config:?}");
    let mut stream = login(server_var, via, config)
        .await
        .unwrap_or_else(|e| panic!("login to {server_var} ({via:?}, {wanted}) failed: {e}"));
    assert!(stream.get_ref().is_tls(), "{server_var}: not on TLS");
    assert!(
        stream
            .jid()
            .as_str()
            .starts_with(&format!("{}/", bare_jid())),
        "{}",
        stream.jid()
    );
    peer::assert_ping(&mut stream).await;
    let mechanism = stream.info().mechanism;
    stream.close().await.unwrap();
    mechanism.to_string()
}

async fn our_client_logs_in(server_var: &str, via: Via, mechanism: &str) {
    let config = tls_client(mechanism, &env("XMPP_INTEROP_PASSWORD"), "XMPP_INTEROP_CA");
    let used = logs_in(server_var, via, config).await;
    assert_eq!(used, mechanism, "{server_var}");
}

/// The login fails without a usable mechanism; returns what the server offered.
async fn not_offered(server_var: &str, mechanism: &str) -> Vec<String> {
    let config = tls_client(mechanism, &env("XMPP_INTEROP_PASSWORD"), "XMPP_INTEROP_CA");
    match login(server_var, Via::StartTls, config).await {
        Err(ClientError::NoMechanism { offered }) => {
            offered.iter().map(ToString::to_string).collect()
        }
        Err(other) => panic!("{server_var} {mechanism}: {other:?}"),
        Ok(s) => panic!(
            "{server_var} {mechanism}: logged in with {}",
            s.info().mechanism
        ),
    }
}

async fn our_client_is_refused(server_var: &str, mechanism: &str, password: &str) {
    let config = tls_client(mechanism, password, "XMPP_INTEROP_CA");
    match login(server_var, Via::StartTls, config).await {
        Err(ClientError::Sasl { condition, .. }) => {
            assert_eq!(
                condition,
                xmpp_sasl::Condition::NotAuthorized,
                "{mechanism}"
            )
        }
        Err(other) => panic!("{server_var} {mechanism}: {other:?}"),
        Ok(s) => panic!("{server_var} {mechanism}: logged in as {}", s.jid()),
    }
}

/// A CA that did not sign the server's certificate: the TLS step fails and
/// says why.
async fn untrusted_ca_fails(server_var: &str, via: Via) {
    let config = tls_client(
        "SCRAM-SHA-1",
        &env("XMPP_INTEROP_PASSWORD"),
        "XMPP_INTEROP_OTHER_CA",
    );
    match login(server_var, via, config).await {
        Err(ClientError::Tls(reason)) => {
            assert!(reason.contains("certificate"), "{server_var}: {reason}")
        }
        Err(other) => panic!("{server_var}: {other:?}"),
        Ok(s) => panic!(
            "{server_var}: logged in as {} with an untrusted CA",
            s.jid()
        ),
    }
}

// ---------------------------------------------------------------- ejabberd

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_tls_plain() {
    our_client_logs_in("XMPP_INTEROP_EJABBERD_TLS", Via::StartTls, "PLAIN").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_tls_scram_sha1_and_sha256() {
    our_client_logs_in("XMPP_INTEROP_EJABBERD_TLS", Via::StartTls, "SCRAM-SHA-1").await;
    our_client_logs_in("XMPP_INTEROP_EJABBERD_TLS", Via::StartTls, "SCRAM-SHA-256").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_tls_digest_md5() {
    our_client_logs_in("XMPP_INTEROP_EJABBERD_TLS", Via::StartTls, "DIGEST-MD5").await;
}

/// ejabberd 23.01 offers SCRAM-SHA-*-PLUS, even on TLS 1.3, without a
/// XEP-0440 list, so it binds only with tls-unique (RFC 5802's default),
/// which TLS 1.3 does not have and we do not implement. A client asked to
/// use only -PLUS must therefore find nothing it can use, and say so before
/// sending any credentials.
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_tls_plus_is_not_attempted_without_a_shared_binding() {
    let password = env("XMPP_INTEROP_PASSWORD");
    for mechanism in ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"] {
        let config = tls_client(mechanism, &password, "XMPP_INTEROP_CA");
        match login("XMPP_INTEROP_EJABBERD_TLS", Via::StartTls, config).await {
            Err(ClientError::NoMechanism { offered }) => {
                assert!(offered.iter().any(|m| m == mechanism), "{offered:?}")
            }
            Err(other) => panic!("{mechanism}: {other:?}"),
            Ok(s) => panic!("{mechanism}: logged in as {}", s.jid()),
        }
    }
}

/// The default client (preference SCRAM-*-PLUS first, channel binding
/// preferred) refuses ejabberd 23.01's -PLUS offer without a binding type or
/// XEP-0474, before sending credentials; with binding off it logs in with
/// SCRAM without binding at the first attempt.
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_tls_defaults_refuse_an_unverifiable_plus_offer() {
    let mut config = ClientConfig::new(&bare_jid(), &env("XMPP_INTEROP_PASSWORD")).unwrap();
    config.fallback = false;
    config.tls_config = Some(ca_file_config(Path::new(&env("XMPP_INTEROP_CA"))).unwrap());
    match login_as_configured("XMPP_INTEROP_EJABBERD_TLS", Via::StartTls, config).await {
        Err(ClientError::ChannelBinding(why)) => assert!(why.contains("XEP-0440"), "{why}"),
        // It went on with SCRAM only on condition that XEP-0474 proves the
        // offer genuine, and ejabberd 23.01 has no XEP-0474.
        Err(ClientError::Mechanism { source, .. })
            if source.kind() == xmpp_sasl::ErrorKind::Downgrade =>
        {
            assert!(source.to_string().contains("XEP-0474"), "{source}")
        }
        Err(other) => panic!("{other:?}"),
        Ok(s) => panic!("logged in with {}", s.info().mechanism),
    }
    let mut config = ClientConfig::new(&bare_jid(), &env("XMPP_INTEROP_PASSWORD")).unwrap();
    config.fallback = false;
    config.tls_config = Some(ca_file_config(Path::new(&env("XMPP_INTEROP_CA"))).unwrap());
    let used = logs_in("XMPP_INTEROP_EJABBERD_TLS", Via::StartTls, config).await;
    assert!(
        used.starts_with("SCRAM-SHA-") && !used.ends_with("-PLUS"),
        "{used}"
    );
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_tls_wrong_password() {
    our_client_is_refused("XMPP_INTEROP_EJABBERD_TLS", "PLAIN", "wrong password").await;
    our_client_is_refused(
        "XMPP_INTEROP_EJABBERD_TLS",
        "SCRAM-SHA-256",
        "wrong password",
    )
    .await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_tls_untrusted_ca() {
    untrusted_ca_fails("XMPP_INTEROP_EJABBERD_TLS", Via::StartTls).await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_ejabberd_direct_tls() {
    for mechanism in ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"] {
        our_client_logs_in(
            "XMPP_INTEROP_EJABBERD_DIRECT_TLS",
            Via::DirectTls,
            mechanism,
        )
        .await;
    }
    untrusted_ca_fails("XMPP_INTEROP_EJABBERD_DIRECT_TLS", Via::DirectTls).await;
}

// ---------------------------------------------------------------- prosody

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_prosody_tls_plain() {
    our_client_logs_in("XMPP_INTEROP_PROSODY_TLS", Via::StartTls, "PLAIN").await;
}

/// Our client has a binding (tls-exporter) but Prosody offers no -PLUS on
/// TLS 1.3, so SCRAM-SHA-1 goes with the `y` flag, which Prosody accepts.
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_prosody_tls_scram_sha1() {
    our_client_logs_in("XMPP_INTEROP_PROSODY_TLS", Via::StartTls, "SCRAM-SHA-1").await;
}

/// Prosody 0.12 with hashed storage has only SCRAM-SHA-1 keys, and its
/// SCRAM-SHA-1-PLUS binds only with tls-unique: on TLS 1.3 it offers
/// neither SCRAM-SHA-256 nor any -PLUS.
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_prosody_tls_offers_no_sha256_and_no_plus_on_tls13() {
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"] {
        // Prosody lists its mechanisms in Lua table order, which varies by run.
        let mut offered = not_offered("XMPP_INTEROP_PROSODY_TLS", mechanism).await;
        offered.sort();
        assert_eq!(offered, ["PLAIN", "SCRAM-SHA-1"], "{mechanism}");
    }
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_prosody_tls_defaults_log_in() {
    let mut config = ClientConfig::new(&bare_jid(), &env("XMPP_INTEROP_PASSWORD")).unwrap();
    config.tls_config = Some(ca_file_config(Path::new(&env("XMPP_INTEROP_CA"))).unwrap());
    let used = logs_in("XMPP_INTEROP_PROSODY_TLS", Via::StartTls, config).await;
    assert_eq!(used, "SCRAM-SHA-1");
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_prosody_tls_wrong_password() {
    our_client_is_refused("XMPP_INTEROP_PROSODY_TLS", "SCRAM-SHA-1", "wrong password").await;
    our_client_is_refused("XMPP_INTEROP_PROSODY_TLS", "PLAIN", "wrong password").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_to_prosody_tls_untrusted_ca() {
    untrusted_ca_fails("XMPP_INTEROP_PROSODY_TLS", Via::StartTls).await;
}

/// Prosody as deployed offers nothing but `<starttls><required/>` before
/// TLS: a client with TLS off stops there with a TLS error (and sends no
/// credentials).
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn client_without_tls_is_stopped_by_prosody_tls() {
    let mut config = tls_client("PLAIN", &env("XMPP_INTEROP_PASSWORD"), "XMPP_INTEROP_CA");
    config.tls = TlsMode::Off;
    config.selector = MechanismSelector::with_preference([xmpp_sasl::Mechanism::Plain])
        .allow_plain_insecure(true);
    match login("XMPP_INTEROP_PROSODY_TLS", Via::StartTls, config).await {
        Err(ClientError::Tls(reason)) => assert!(reason.contains("requires TLS"), "{reason}"),
        Err(other) => panic!("{other:?}"),
        Ok(s) => panic!("logged in without TLS as {}", s.jid()),
    }
}

// ---------------------------------------------------------------- our server

/// Our server on an ephemeral loopback port with the suite's certificate for
/// the domain and STARTTLS required; PLAIN is offered because the stream is
/// protected (`allow_plain_insecure` stays off). Records every session.
async fn our_tls_server(configure: impl FnOnce(&mut ServerConfig)) -> OurServer {
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
    config.tls = Some(
        ServerTls::from_pem_files(
            Path::new(&env("XMPP_INTEROP_CERT")),
            Path::new(&env("XMPP_INTEROP_KEY")),
        )
        .unwrap(),
    );
    config.tls_policy = TlsPolicy::Required;
    configure(&mut config);
    assert!(!config.allow_plain_insecure);
    peer::start(config).await
}

/// Runs a driver with `--tls` against our server; `mechanism` may be
/// `MECH/TYPE` for a channel-binding type.
async fn run_driver(
    server: &OurServer,
    runner: &str,
    driver: &str,
    mechanism: &str,
) -> std::process::Output {
    let (mech, cb) = match mechanism.split_once('/') {
        Some((m, cb)) => (m, Some(cb)),
        None => (mechanism, None),
    };
    let program = env(runner);
    let script = format!("{}/{driver}", env("XMPP_INTEROP_CLIENTS"));
    let mut cmd = tokio::process::Command::new(&program);
    cmd.arg(&script)
        .args(["--host", "127.0.0.1", "--port", &server.port.to_string()])
        .args(["--jid", &bare_jid()])
        .args([
            "--mechanism",
            mech,
            "--password-env",
            "XMPP_INTEROP_PASSWORD",
        ])
        .args(["--tls", "--ca-file", &env("XMPP_INTEROP_CA")]);
    if let Some(cb) = cb {
        cmd.args(["--channel-binding", cb]);
    }
    tokio::time::timeout(
        Duration::from_secs(60),
        cmd.stdin(Stdio::null()).kill_on_drop(true).output(),
    )
    .await
    .expect("driver finished")
    .unwrap_or_else(|e| panic!("cannot run {program} {script}: {e}"))
}

/// Runs a driver with `--tls` against our server and checks what both sides
/// saw.
async fn real_client_logs_in(server: &OurServer, runner: &str, driver: &str, mechanism: &str) {
    let mech = mechanism.split('/').next().unwrap_or(mechanism);
    let output = run_driver(server, runner, driver, mechanism).await;
    peer::assert_driver_login(
        server,
        &output,
        &format!("{driver} {mechanism}"),
        mech,
        true,
    );
}

async fn each_mechanism(runner: &str, driver: &str, mechanisms: &[&str]) {
    let server = our_tls_server(|_| {}).await;
    for m in mechanisms {
        real_client_logs_in(&server, runner, driver, m).await;
    }
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn slixmpp_to_our_tls_server() {
    // slixmpp binds only with tls-unique (Python's ssl has no exporter), which
    // TLS 1.3 does not have and we do not offer: no -PLUS.
    each_mechanism(
        "XMPP_INTEROP_PYTHON",
        "slix_login.py",
        &["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"],
    )
    .await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn aioxmpp_to_our_tls_server() {
    each_mechanism(
        "XMPP_INTEROP_PYTHON",
        "aioxmpp_login.py",
        &["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256"],
    )
    .await;
}

/// aiosasl's SCRAMPLUS over pyOpenSSL: tls-server-end-point (aiosasl's own
/// provider) and tls-exporter (OpenSSL's exporter via pyOpenSSL).
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn aioxmpp_plus_to_our_tls_server() {
    each_mechanism(
        "XMPP_INTEROP_PYTHON",
        "aioxmpp_login.py",
        &[
            "SCRAM-SHA-1-PLUS/tls-exporter",
            "SCRAM-SHA-256-PLUS/tls-exporter",
            "SCRAM-SHA-1-PLUS/tls-server-end-point",
            "SCRAM-SHA-256-PLUS/tls-server-end-point",
        ],
    )
    .await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn xmpp_raw_to_our_tls_server() {
    each_mechanism(
        "XMPP_INTEROP_PYTHON",
        "xmpp_raw.py",
        &[
            "PLAIN",
            "DIGEST-MD5",
            "SCRAM-SHA-1",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1-PLUS/tls-server-end-point",
            "SCRAM-SHA-256-PLUS/tls-server-end-point",
        ],
    )
    .await;
}

/// tls-unique (TLS 1.2 only, RFC 9266) is not a binding we offer: the
/// stdlib client forced to it (and so to TLS 1.2) is refused, not let in.
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn tls_unique_is_refused_by_our_tls_server() {
    let server = our_tls_server(|_| {}).await;
    let output = run_driver(
        &server,
        "XMPP_INTEROP_PYTHON",
        "xmpp_raw.py",
        "SCRAM-SHA-256-PLUS/tls-unique",
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("SASL failure"), "{stderr}");
    assert!(server.logins().is_empty());
}

/// libstrophe takes the strongest mechanism offered and no proxy can filter
/// inside TLS, so our server offers exactly one per run.
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn libstrophe_to_our_tls_server() {
    for mechanism in ["PLAIN", "DIGEST-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256"] {
        let server =
            our_tls_server(|c| c.mechanisms = vec![mechanism.parse().expect("a known mechanism")])
                .await;
        real_client_logs_in(
            &server,
            "XMPP_INTEROP_PYTHON",
            "strophe_login.py",
            mechanism,
        )
        .await;
    }
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn xmppjs_to_our_tls_server() {
    each_mechanism(
        "XMPP_INTEROP_NODE",
        "xmppjs_login.mjs",
        &["PLAIN", "SCRAM-SHA-1"],
    )
    .await;
}

/// The `LOGIN OK` lines of a driver, as (jid, mechanism) pairs.
fn driver_logins(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("LOGIN OK "))
        .map(|l| {
            let field = |name: &str| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {l}"))
                    .to_owned()
            };
            (field("jid="), field("mechanism="))
        })
        .collect()
}

/// xmpp.js 0.14 with SASL2 (`xmppjs_fast.mjs`): a password login with
/// Bind2 that asks for a FAST token, then, in the same process and with the
/// same user-agent id, a login with that token. xmpp.js has only
/// HT-SHA-256-NONE (no channel binding), SCRAM-SHA-1 and PLAIN. Checked on
/// our server's side.
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn xmppjs_sasl2_bind2_fast_to_our_tls_server() {
    let server = our_tls_server(|c| {
        c.domains[0].tokens = Some(Arc::new(MemoryTokenStore::new()));
    })
    .await;
    let program = env("XMPP_INTEROP_NODE");
    let script = format!("{}/xmppjs_fast.mjs", env("XMPP_INTEROP_CLIENTS"));
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(&program)
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", &server.port.to_string()])
            .args(["--jid", &bare_jid(), "--resource", "xmppjs-fast"])
            .args(["--password-env", "XMPP_INTEROP_PASSWORD"])
            .args(["--mechanism", "SCRAM-SHA-1"])
            .args(["--tls", "--ca-file", &env("XMPP_INTEROP_CA")])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("driver finished")
    .unwrap_or_else(|e| panic!("cannot run {program} {script}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "xmppjs_fast.mjs failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let client_side = driver_logins(&stdout);
    assert_eq!(client_side.len(), 2, "{stdout}");
    assert_eq!(client_side[0].1, "SCRAM-SHA-1", "{stdout}");
    assert_eq!(client_side[1].1, "HT-SHA-256-NONE", "{stdout}");
    assert!(
        stdout.contains("TOKEN mechanism=HT-SHA-256-NONE "),
        "{stdout}"
    );

    let logins = server.logins();
    assert_eq!(logins.len(), 2, "{logins:?}");
    for (jid, mechanism) in &client_side {
        let login = logins
            .iter()
            .find(|l| &l.mechanism == mechanism)
            .unwrap_or_else(|| panic!("our server saw no {mechanism} login: {logins:?}"));
        assert_eq!(&login.jid, jid, "{logins:?}");
        assert!(
            login.tls && login.sasl2 && login.bound_inline,
            "{mechanism}: not SASL2 + Bind2 on TLS: {login:?}"
        );
        // The Bind2 tag starts the resource.
        assert!(
            jid.starts_with(&format!("{}/xmppjs-fast/", bare_jid())),
            "{jid}"
        );
    }
}
