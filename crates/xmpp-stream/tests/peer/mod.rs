//! What the interop suites share: the harness's environment, our client's
//! configurations for the peers, our server on an ephemeral port with a
//! minimal stanza loop, and the drivers' result line.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpListener;
use xmpp_sasl::{Mechanism, MechanismSelector};
use xmpp_stream::client::{ClientConfig, Sasl2Mode, TlsMode};
use xmpp_stream::server::{accept, ServerConfig};
use xmpp_stream::{iq_error, iq_result, Security, StanzaCondition};
use xmpp_xml::ns;

/// A harness variable; a missing one fails the test (never skips it).
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the interop suite with `cargo xtask interop`")
    })
}

/// The harness's account, `user@domain`.
pub fn bare_jid() -> String {
    format!(
        "{}@{}",
        env("XMPP_INTEROP_USER"),
        env("XMPP_INTEROP_DOMAIN")
    )
}

/// A resource of `prefix` no other session of the suite uses.
pub fn unique_resource(prefix: &str) -> String {
    format!("{prefix}-{}", super::unique::unique())
}

/// Our client for the RFC 6120 servers: plaintext, a resource `interop-…`,
/// exactly `mechanism` (no fallback), PLAIN allowed without TLS.
pub fn client_config(mechanism: &str, password: &str) -> ClientConfig {
    let selector = MechanismSelector::with_preference([mechanism
        .parse::<Mechanism>()
        .expect("a known mechanism")])
    .allow_plain_insecure(true);
    let mut config = ClientConfig::new(&bare_jid(), password)
        .unwrap()
        .with_resource(&unique_resource("interop"))
        .with_selector(selector)
        .with_tls(TlsMode::Off);
    config.fallback = false;
    config
}

/// Our client for the modern servers: SASL2 required, STARTTLS required
/// and verified against the suite's CA, exactly `mechanism` when given.
#[cfg(feature = "tls")]
pub fn sasl2_client(mechanism: Option<&str>) -> ClientConfig {
    let mut config = ClientConfig::new(&bare_jid(), &env("XMPP_INTEROP_PASSWORD"))
        .unwrap()
        .with_tls(TlsMode::Required);
    if let Some(m) = mechanism {
        config.selector = MechanismSelector::with_preference([m.parse::<Mechanism>().unwrap()]);
        config.fallback = false;
    }
    config.sasl2 = Sasl2Mode::Required;
    config.tls_config = Some(
        xmpp_stream::tls::ca_file_config(std::path::Path::new(&env("XMPP_INTEROP_CA"))).unwrap(),
    );
    config
}

/// The session is usable: a ping to the server (XEP-0199) is answered.
pub async fn assert_ping<S>(stream: &mut xmpp_stream::XmppStream<S>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let ping = xmpp_xml::Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", "ping1")
        .attr("to", &env("XMPP_INTEROP_DOMAIN"))
        .append(xmpp_xml::Element::builder("ping", ns::PING).build())
        .build();
    stream.send(ping).await.unwrap();
    let reply = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let el = stream.next().await.expect("open").expect("no error");
            if el.attr("id") == Some("ping1") {
                return el;
            }
        }
    })
    .await
    .expect("ping answered");
    assert_eq!(reply.attr("type"), Some("result"));
}

/// A session our server established.
#[derive(Clone, Debug)]
pub struct Login {
    pub jid: String,
    pub mechanism: String,
    pub tls: bool,
    /// Authenticated with SASL2 (XEP-0388).
    pub sasl2: bool,
    /// The resource was bound inside the authentication (Bind2, XEP-0386).
    pub bound_inline: bool,
}

/// Our server on an ephemeral loopback port.
pub struct OurServer {
    pub port: u16,
    pub logins: Arc<Mutex<Vec<Login>>>,
}

impl OurServer {
    /// Whether a session `jid` was established with `mechanism` (on TLS if
    /// `tls`).
    pub fn saw(&self, jid: &str, mechanism: &str, tls: bool) -> bool {
        self.logins
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.jid == jid && l.mechanism == mechanism && l.tls == tls)
    }

    pub fn logins(&self) -> Vec<Login> {
        self.logins.lock().unwrap().clone()
    }
}

/// Serves `config` on 127.0.0.1, recording every session and answering
/// pings (other IQ requests get `service-unavailable`).
pub async fn start(config: ServerConfig) -> OurServer {
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let logins = Arc::new(Mutex::new(Vec::new()));
    let record = logins.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (config, record) = (config.clone(), record.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = accept(tcp, config, Security::Cleartext, None).await else {
                    return;
                };
                let info = stream.info().clone();
                record.lock().unwrap().push(Login {
                    jid: info.jid.to_string(),
                    mechanism: info.mechanism.to_string(),
                    tls: stream.get_ref().is_tls(),
                    sasl2: info.sasl2,
                    bound_inline: info.bound_inline,
                });
                while let Some(Ok(el)) = stream.next().await {
                    let is_request =
                        el.is("iq", ns::CLIENT) && matches!(el.attr("type"), Some("get" | "set"));
                    if !is_request {
                        continue;
                    }
                    let reply = if el.child("ping", ns::PING).is_some() {
                        iq_result(&el)
                    } else {
                        iq_error(&el, StanzaCondition::ServiceUnavailable)
                    };
                    if stream.send(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    OurServer { port, logins }
}

/// Asserts that a driver run succeeded and that our server established the
/// session the driver reports, with `mechanism` (on TLS if `tls`).
pub fn assert_driver_login(
    server: &OurServer,
    output: &std::process::Output,
    what: &str,
    mechanism: &str,
    tls: bool,
) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let jid = driver_jid(&stdout);
    assert!(
        server.saw(&jid, mechanism, tls),
        "{what}: our server saw {:?}, the client says {stdout}",
        server.logins()
    );
}

/// The JID in a driver's `LOGIN OK jid=... mechanism=...` line.
pub fn driver_jid(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("LOGIN OK"))
        .unwrap_or_else(|| panic!("no LOGIN OK line: {stdout}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("jid="))
        .expect("jid=")
        .to_owned()
}
