//! `xmpp bench --sasl2` and `--fast` over STARTTLS.
//!
//! `--sasl2` runs against `xmpp serve`. `xmpp serve` has no FAST token store
//! yet, so `--fast` runs against a server built here from the library
//! (`xmpp_stream::server::accept` with a `MemoryTokenStore`), and the same
//! server without a store shows the failure when FAST is not offered. Once
//! `xmpp serve` offers FAST, [`bench_fast_logs_in_with_tokens`] can run
//! against it instead.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::StreamExt as _;
use xmpp_sasl::{MemoryStore, MemoryTokenStore};
use xmpp_stream::server::{self, ServerConfig, TlsPolicy};
use xmpp_stream::tls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use xmpp_stream::Security;

/// `xmpp bench` against `server` over STARTTLS trusting `ca`, 20 logins
/// from 4 workers.
fn bench_tls(server: &str, ca: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--server",
        server,
        "--concurrency",
        "4",
        "--logins",
        "20",
        "--tls",
        "required",
        "--ca-file",
        ca,
    ];
    args.extend_from_slice(extra);
    bench(&args)
}

const DAY: Duration = Duration::from_secs(24 * 3600);

#[test]
fn bench_sasl2_against_serve_binds_every_login_inline() {
    let store = bench_accounts();
    let ca = store.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let server = Server::start(store.arg(), &["--tls", "required", "--write-ca", ca]);
    let o = bench_tls(&server.addr, ca, &["--sasl2"]);
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["mode"], "sasl2", "{v}");
    assert_eq!(v["failures"], 0, "{v}");
    assert_eq!(v["logins"], 20, "{v}");
    assert_eq!(v["sasl2_logins"], 20, "{v}");
    assert_eq!(v["bound_inline_logins"], 20, "{v}");
    // Without --sasl2 the same server is measured with RFC 6120 SASL.
    let o = bench_tls(&server.addr, ca, &[]);
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["mode"], "rfc6120", "{v}");
    assert_eq!(v["logins"], 20, "{v}");
    assert_eq!(v["sasl2_logins"], 0, "{v}");
}

/// A server for bench1..bench2@example.com (password `pw`) on 127.0.0.1,
/// STARTTLS required with a throwaway CA, SASL2 with FAST (tokens valid
/// for `token_ttl`) when `tokens`. Returns its address and the CA file; it
/// runs until the test ends.
/// A token store that forgets every token on each `every`th lookup (the
/// server then refuses it), as a server that lost its tokens would.
struct Forgetful {
    inner: MemoryTokenStore,
    lookups: std::sync::atomic::AtomicUsize,
    every: usize,
}

#[async_trait::async_trait]
impl xmpp_sasl::TokenStore for Forgetful {
    async fn tokens(
        &self,
        username: &str,
        user_agent: &str,
    ) -> Result<Vec<xmpp_sasl::FastToken>, xmpp_sasl::StoreError> {
        let n = self
            .lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % self.every == self.every - 1 {
            return Ok(Vec::new());
        }
        self.inner.tokens(username, user_agent).await
    }
    async fn issue(
        &self,
        username: &str,
        user_agent: &str,
        token: xmpp_sasl::FastToken,
    ) -> Result<(), xmpp_sasl::StoreError> {
        self.inner.issue(username, user_agent, token).await
    }
    async fn used(
        &self,
        username: &str,
        user_agent: &str,
        used: &xmpp_sasl::FastToken,
        count: Option<u64>,
    ) -> Result<(), xmpp_sasl::StoreError> {
        self.inner.used(username, user_agent, used, count).await
    }
    async fn invalidate(
        &self,
        username: &str,
        user_agent: &str,
    ) -> Result<(), xmpp_sasl::StoreError> {
        self.inner.invalidate(username, user_agent).await
    }
    async fn revoke_user(&self, username: &str) -> Result<(), xmpp_sasl::StoreError> {
        self.inner.revoke_user(username).await
    }
}

fn library_server(tokens: bool, token_ttl: Duration) -> (String, PathBuf, tempfile::TempDir) {
    library_server_with(
        tokens.then(|| Arc::new(MemoryTokenStore::new()) as _),
        token_ttl,
    )
}

fn library_server_with(
    tokens: Option<Arc<dyn xmpp_sasl::TokenStore>>,
    token_ttl: Duration,
) -> (String, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, tls) = throwaway_tls();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let users = MemoryStore::new();
    for u in ["bench1", "bench2"] {
        users.add(u, "pw", &["example.com"]).unwrap();
    }
    let mut config = ServerConfig::new("example.com", Arc::new(users));
    config.tls = Some(tls);
    config.tls_policy = TlsPolicy::Required;
    config.domains[0].tokens = tokens;
    config.fast_token_ttl = token_ttl;
    let config = Arc::new(config);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().to_string()).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let config = config.clone();
                tokio::spawn(async move {
                    if let Ok(mut stream) =
                        server::accept(tcp, config, Security::Cleartext, None).await
                    {
                        // Until the client closes.
                        while let Some(Ok(_)) = stream.next().await {}
                    }
                });
            }
        });
    });
    (rx.recv().unwrap(), ca, dir)
}

/// A CA (PEM) and a certificate for example.com signed by it.
fn throwaway_tls() -> (String, xmpp_stream::tls::ServerTls) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["example.com".to_owned()]).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let tls = xmpp_stream::tls::ServerTls::from_der(vec![cert.der().clone()], key).unwrap();
    (ca.pem(), tls)
}

#[test]
fn bench_fast_logs_in_with_tokens() {
    let (addr, ca, _dir) = library_server(true, DAY);
    let o = bench_tls(&addr, ca.to_str().unwrap(), &["--fast"]);
    expect_code(&o, 0);
    let v = json(&o);
    assert_eq!(v["mode"], "fast", "{v}");
    assert_eq!(v["failures"], 0, "{v}");
    // Only token logins are counted: the 4 workers' password logins are not.
    assert_eq!(v["logins"], 20, "{v}");
    assert_eq!(v["password_logins"], 4, "{v}");
    assert_eq!(v["fast_tokens_issued"], 4, "{v}");
    // Over TLS 1.3 the token is bound to the channel.
    assert_eq!(
        v["mechanisms_used"],
        serde_json::json!({"HT-SHA-256-EXPR": 20}),
        "{v}"
    );
    assert_eq!(v["sasl2_logins"], 20, "{v}");
    assert_eq!(v["bound_inline_logins"], 20, "{v}");
    // The table says what is counted.
    let o = bench_table(&[
        "--server",
        &addr,
        "--concurrency",
        "2",
        "--logins",
        "4",
        "--tls",
        "required",
        "--ca-file",
        ca.to_str().unwrap(),
        "--fast",
        "--quiet",
    ]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("mode          FAST token logins (XEP-0484): only these are counted"),
        "{out}"
    );
    assert!(out.contains("mechanisms    HT-SHA-256-EXPR: 4"), "{out}");
}

#[test]
fn bench_fast_fails_clearly_without_fast() {
    let (addr, ca, _dir) = library_server(false, DAY);
    let o = bench_tls(&addr, ca.to_str().unwrap(), &["--fast"]);
    expect_failure(&o, 1, "the server offers no FAST (XEP-0484)");
    let v = json(&o);
    assert_eq!(v["logins"], 0, "{v}");
    assert_eq!(
        v["failures_by_condition"]["password-login:fast-not-offered"], 4,
        "{v}"
    );
    // --fast holds no sessions.
    let o = bench_tls(&addr, ca.to_str().unwrap(), &["--fast", "--hold"]);
    expect_code(&o, 2);
}

#[test]
fn bench_fast_replaces_a_refused_token_with_a_new_password_login() {
    // The server loses every token at each 5th lookup: that login is
    // refused, and the worker gets a new token with the password.
    let store = Forgetful {
        inner: MemoryTokenStore::new(),
        lookups: Default::default(),
        every: 5,
    };
    let (addr, ca, _dir) = library_server_with(Some(Arc::new(store)), DAY);
    let o = bench_run(&addr, ca.to_str().unwrap());
    expect_code(&o, 0);
    let v = json(&o);
    assert!(v["logins"].as_u64().unwrap() > 0, "{v}");
    let refused = v["failures_by_condition"]["sasl:not-authorized"]
        .as_u64()
        .unwrap_or(0);
    assert!(refused >= 2, "{v}");
    // Every refusal got its worker a new token with the password.
    assert_eq!(v["password_logins"].as_u64().unwrap(), 2 + refused, "{v}");
    assert_eq!(v["failures"].as_u64().unwrap(), refused, "{v}");
}

#[test]
fn bench_fast_short_lived_tokens_are_rotated_before_they_expire() {
    // Tokens valid for a second, used more often than every half second:
    // the server rotates each before it expires, so none is refused.
    let (addr, ca, _dir) = library_server(true, Duration::from_secs(1));
    let o = bench_run(&addr, ca.to_str().unwrap());
    expect_code(&o, 0);
    let v = json(&o);
    assert!(v["logins"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["failures"].as_u64().unwrap(), 0, "{v}");
    assert!(v["fast_tokens_rotated"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["password_logins"].as_u64().unwrap(), 2, "{v}");
}

/// `xmpp bench --fast` for 2.5 s, two workers, two users.
fn bench_run(addr: &str, ca: &str) -> std::process::Output {
    bench(&[
        "--server",
        addr,
        "--concurrency",
        "2",
        "--duration",
        "2.5s",
        "--tls",
        "required",
        "--ca-file",
        ca,
        "--fast",
    ])
}
