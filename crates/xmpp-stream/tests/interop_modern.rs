//! Interop with the modern servers, started by `cargo xtask interop`:
//! our client against Prosody 13.0.1 and ejabberd 24.12 with SASL2
//! (XEP-0388), Bind2 (XEP-0386), FAST tokens (XEP-0484) and XEP-0474,
//! over STARTTLS, direct TLS and (for the tampering checks) plaintext
//! through a proxy that rewrites the offer. Each test fails, never skips,
//! when its peer is missing.
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use futures_util::SinkExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use xmpp_sasl::ErrorKind;
use xmpp_stream::client::{
    connect, connect_direct_tls, ChannelBindingPolicy, ClientConfig, TlsMode,
};
use xmpp_stream::tls::ca_file_config;
use xmpp_stream::{ClientError, StreamInfo};

mod peer;
mod unique;

use peer::{env, sasl2_client as client};

const PROSODY: &str = "XMPP_INTEROP_PROSODY13";
const PROSODY_TLS: &str = "XMPP_INTEROP_PROSODY13_DIRECT_TLS";
const EJABBERD: &str = "XMPP_INTEROP_EJABBERD24";
const EJABBERD_TLS: &str = "XMPP_INTEROP_EJABBERD24_DIRECT_TLS";

#[derive(Clone, Copy, Debug)]
enum Via {
    StartTls,
    DirectTls,
}

async fn login(addr: &str, via: Via, config: ClientConfig) -> Result<StreamInfo, ClientError> {
    let tcp = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let observer: Option<std::sync::Arc<dyn xmpp_stream::Observer>> =
        std::env::var_os("XMPP_INTEROP_TRACE").map(|_| std::sync::Arc::new(Trace) as _);
    let mut stream = match via {
        Via::StartTls => connect(tcp, config, observer).await?,
        Via::DirectTls => connect_direct_tls(tcp, config, observer).await?,
    };
    // The session is usable.
    peer::assert_ping(&mut stream).await;
    let info = stream.info().clone();
    stream.close().await.unwrap();
    Ok(info)
}

/// With `XMPP_INTEROP_TRACE` set, the exchange goes to stderr (redacted as
/// any observer sees it).
struct Trace;

impl xmpp_stream::Observer for Trace {
    fn observe(&self, e: &xmpp_stream::Observed<'_>) {
        let xml = match e.frame {
            xmpp_xml::Frame::Element(el) => el.to_xml(),
            other => format!("{other:?}"),
        };
        eprintln!(
            "{:?} {xml} {}",
            e.direction,
            e.sasl.as_deref().unwrap_or("")
        );
    }
}

async fn logs_in(var: &str, via: Via, config: ClientConfig) -> StreamInfo {
    let what = format!("{var} {via:?} {config:?}");
    let info = login(&env(var), via, config)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(info.sasl2, "{what}: not SASL2");
    info
}

/// SASL2 + Bind2 with each SCRAM the server has, -PLUS with tls-exporter.
async fn sasl2_with_bind2(var: &str, via: Via, mechanisms: &[&str]) {
    for m in mechanisms {
        let info = logs_in(var, via, client(Some(m))).await;
        assert_eq!(info.mechanism.as_str(), *m, "{var}");
        assert!(info.bound_inline, "{var} {m}: Bind2 did not bind");
        // The resource comes from our tag; its form is the server's.
        assert!(
            info.jid.resource().as_str().starts_with("xmpp-negotiate"),
            "{var}: {}",
            info.jid
        );
    }
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn sasl2_bind2_with_prosody13() {
    // Prosody stores SHA-256 keys only (password_hash = "SHA-256").
    let ms = ["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "PLAIN"];
    sasl2_with_bind2(PROSODY, Via::StartTls, &ms).await;
    sasl2_with_bind2(PROSODY_TLS, Via::DirectTls, &ms).await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn sasl2_bind2_with_ejabberd24() {
    let ms = [
        "SCRAM-SHA-1",
        "SCRAM-SHA-256",
        "SCRAM-SHA-1-PLUS",
        "SCRAM-SHA-256-PLUS",
        "PLAIN",
        // ejabberd offers DIGEST-MD5 under SASL2 too (plaintext storage).
        "DIGEST-MD5",
    ];
    sasl2_with_bind2(EJABBERD, Via::StartTls, &ms).await;
    sasl2_with_bind2(EJABBERD_TLS, Via::DirectTls, &ms[..4]).await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn the_default_client_binds_to_the_channel() {
    for (var, via) in [
        (PROSODY, Via::StartTls),
        (PROSODY_TLS, Via::DirectTls),
        (EJABBERD, Via::StartTls),
        (EJABBERD_TLS, Via::DirectTls),
    ] {
        let mut config = client(None);
        config.channel_binding = ChannelBindingPolicy::Required;
        let info = logs_in(var, via, config).await;
        assert!(info.mechanism.is_plus(), "{var}: {}", info.mechanism);
    }
}

/// A password login asks for a token; the next login uses it (no password
/// given) with a channel-bound HT mechanism; a wrong token falls back to
/// the password on the same stream.
async fn fast(var: &str, via: Via) {
    let mut first = client(None);
    first.request_fast_token = true;
    let ua = first.user_agent.clone();
    let info = logs_in(var, via, first).await;
    let token = info
        .fast_token
        .clone()
        .unwrap_or_else(|| panic!("{var}: no token issued"));
    assert!(token.mechanism.is_fast());

    let mut second = client(None);
    second.user_agent = ua.clone();
    second.fast_token = Some(token.clone());
    second.password = Default::default();
    second.request_fast_token = true;
    let info = logs_in(var, via, second).await;
    assert_eq!(info.mechanism, token.mechanism, "{var}");
    assert!(!info.fast_token_refused);
    assert!(
        token.mechanism.fast_binding().is_some(),
        "{var}: {} is not channel-bound",
        token.mechanism
    );

    let mut bad = client(None);
    bad.user_agent = ua;
    let mut wrong = token;
    wrong.secret = "not-the-token".to_owned().into();
    bad.fast_token = Some(wrong);
    match login(&env(var), via, bad).await {
        Ok(info) => {
            assert!(info.fast_token_refused, "{var}");
            assert!(!info.mechanism.is_fast());
        }
        // Prosody 13.0.1: after a refused token its SASL2 handler hashes a
        // channel-binding list without tls-server-end-point into XEP-0474's
        // `h`, although its features list it: the same stream cannot be
        // trusted for the password, and the client says why. A new
        // connection logs in with the password.
        Err(ClientError::Mechanism { source, .. })
            if var.starts_with(PROSODY) && source.kind() == ErrorKind::Downgrade =>
        {
            let info = logs_in(var, via, client(None)).await;
            assert!(!info.mechanism.is_fast());
        }
        Err(e) => panic!("{var}: a refused token did not fall back to the password: {e}"),
    }
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn fast_tokens_with_prosody13() {
    fast(PROSODY, Via::StartTls).await;
    fast(PROSODY_TLS, Via::DirectTls).await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn fast_tokens_with_ejabberd24() {
    fast(EJABBERD, Via::StartTls).await;
    fast(EJABBERD_TLS, Via::DirectTls).await;
}

/// A man in the middle on a plaintext stream: forwards everything, but
/// rewrites the server's first features with `edit`. Returns the address
/// to connect to.
async fn tamper_proxy(target: String, edit: fn(&str) -> String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                let mut server = TcpStream::connect(&target).await.unwrap();
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = tokio::io::copy(&mut cr, &mut sw);
                let down = async {
                    // Hold the server's bytes until its first features are
                    // complete, edit them, then pass everything through.
                    let mut held = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = sr.read(&mut buf).await?;
                        if n == 0 {
                            return Ok::<_, std::io::Error>(());
                        }
                        held.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&held).into_owned();
                        if text.contains("</stream:features>") {
                            cw.write_all(edit(&text).as_bytes()).await?;
                            break;
                        }
                    }
                    tokio::io::copy(&mut sr, &mut cw).await.map(|_| ())
                };
                let _ = tokio::join!(up, down);
            });
        }
    });
    addr
}

fn plaintext_client(mechanism: &str) -> ClientConfig {
    let mut config = client(Some(mechanism)).with_tls(TlsMode::Off);
    config.selector = config.selector.clone().allow_plain_insecure(true);
    config
}

/// XEP-0474: a mechanism removed from the offer in transit makes the
/// server's hash disagree with what our client saw: the client stops
/// before proving anything. Untouched, the same path logs in.
async fn downgrade_is_detected(var: &str, removed: &str, mechanism: &str) {
    let untouched = tamper_proxy(env(var), |s| s.to_owned()).await;
    let info = login(&untouched, Via::StartTls, plaintext_client(mechanism))
        .await
        .unwrap_or_else(|e| panic!("{var} through an honest proxy: {e}"));
    assert_eq!(info.mechanism.as_str(), mechanism);

    let edit = match removed {
        "SCRAM-SHA-256" => |s: &str| s.replace("<mechanism>SCRAM-SHA-256</mechanism>", ""),
        "OAUTHBEARER" => |s: &str| s.replace("<mechanism>OAUTHBEARER</mechanism>", ""),
        other => panic!("no edit for {other}"),
    };
    let proxy = tamper_proxy(env(var), edit).await;
    match login(&proxy, Via::StartTls, plaintext_client(mechanism)).await {
        Err(ClientError::Mechanism { source, .. }) => {
            assert_eq!(source.kind(), ErrorKind::Downgrade, "{var}: {source}")
        }
        Err(other) => panic!("{var}: {other:?}"),
        Ok(info) => panic!(
            "{var}: logged in with {} through the tampering proxy",
            info.mechanism
        ),
    }
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn ssdp_exposes_a_tampered_offer() {
    // ejabberd: SCRAM-SHA-256 removed, our client takes SCRAM-SHA-1.
    downgrade_is_detected(EJABBERD, "SCRAM-SHA-256", "SCRAM-SHA-1").await;
    // Prosody has SCRAM-SHA-256 only: hide another mechanism.
    downgrade_is_detected(PROSODY, "OAUTHBEARER", "SCRAM-SHA-256").await;
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn channel_binding_required_refuses_plaintext() {
    for var in [PROSODY, EJABBERD] {
        let mut config = plaintext_client("SCRAM-SHA-256");
        config.channel_binding = ChannelBindingPolicy::Required;
        match login(&env(var), Via::StartTls, config).await {
            Err(ClientError::ChannelBinding(_)) => {}
            other => panic!("{var}: {other:?}"),
        }
    }
}

/// A man in the middle who can read the TLS channel (it holds a certificate
/// the client trusts, as a compromised CA or a corporate proxy does): it
/// terminates our client's direct TLS, opens its own to the server, and
/// relays, rewriting the server's first features with `edit`. The two TLS
/// sessions have different channel bindings.
async fn tls_mitm(target: String, edit: fn(&str) -> String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let ours = xmpp_stream::tls::ServerTls::from_pem_files(
        Path::new(&env("XMPP_INTEROP_CERT")),
        Path::new(&env("XMPP_INTEROP_KEY")),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(ours.config);
    let connector = tokio_rustls::TlsConnector::from(
        ca_file_config(Path::new(&env("XMPP_INTEROP_CA"))).unwrap(),
    );
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, connector, target) =
                (acceptor.clone(), connector.clone(), target.clone());
            tokio::spawn(async move {
                let Ok(client) = acceptor.accept(tcp).await else {
                    return;
                };
                let upstream = TcpStream::connect(&target).await.unwrap();
                let name =
                    rustls::pki_types::ServerName::try_from(env("XMPP_INTEROP_DOMAIN")).unwrap();
                let Ok(server) = connector.connect(name, upstream).await else {
                    return;
                };
                let (mut cr, mut cw) = tokio::io::split(client);
                let (mut sr, mut sw) = tokio::io::split(server);
                let up = tokio::io::copy(&mut cr, &mut sw);
                let down = async {
                    let mut held = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = sr.read(&mut buf).await?;
                        if n == 0 {
                            return Ok::<_, std::io::Error>(());
                        }
                        held.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&held).into_owned();
                        if text.contains("</stream:features>") {
                            cw.write_all(edit(&text).as_bytes()).await?;
                            cw.flush().await?;
                            break;
                        }
                    }
                    tokio::io::copy(&mut sr, &mut cw).await.map(|_| ())
                };
                let _ = tokio::join!(up, down);
            });
        }
    });
    addr
}

/// Removes the XEP-0440 list (the server's own prefix for its namespace
/// may vary: match on the namespace).
fn strip_binding_types(features: &str) -> String {
    let Some(start) = features.find("<sasl-channel-binding") else {
        return features.to_owned();
    };
    let end = features[start..]
        .find("</sasl-channel-binding>")
        .map(|e| start + e + "</sasl-channel-binding>".len())
        .unwrap_or(start);
    format!("{}{}", &features[..start], &features[end..])
}

/// With the channel-binding list stripped in transit, our client cannot
/// bind: under `required` it stops; under `preferred` it goes on only with
/// SCRAM whose XEP-0474 hash must cover the list, and the server's hash
/// (over the list it sent) exposes the edit. Untouched, the middle is
/// still caught: the -PLUS binding differs and the server refuses it, and
/// the client never retries without binding.
#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn a_reader_of_the_tls_channel_cannot_downgrade_channel_binding() {
    for var in [EJABBERD_TLS, PROSODY_TLS] {
        let stripped = tls_mitm(env(var), strip_binding_types).await;
        let mut required = client(None);
        required.channel_binding = ChannelBindingPolicy::Required;
        match login(&stripped, Via::DirectTls, required).await {
            Err(ClientError::ChannelBinding(_)) => {}
            other => panic!("{var}, required: {:?}", other.map(|i| i.mechanism)),
        }
        match login(&stripped, Via::DirectTls, client(None)).await {
            Err(ClientError::Mechanism { source, .. }) => {
                assert_eq!(source.kind(), ErrorKind::Downgrade, "{var}: {source}")
            }
            other => panic!("{var}, preferred: {:?}", other.map(|i| i.mechanism)),
        }
        let relayed = tls_mitm(env(var), |s| s.to_owned()).await;
        match login(&relayed, Via::DirectTls, client(None)).await {
            Err(ClientError::Sasl { mechanism, .. }) => assert!(mechanism.is_plus(), "{var}"),
            other => panic!("{var}, relayed: {:?}", other.map(|i| i.mechanism)),
        }
    }
}
