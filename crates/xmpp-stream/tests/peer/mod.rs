//! What both interop suites share: the harness's environment, our server on
//! an ephemeral port with a minimal stanza loop, and the drivers' result
//! line.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpListener;
use xmpp_stream::server::{accept, ServerConfig};
use xmpp_stream::{iq_error, iq_result, Security, StanzaCondition};
use xmpp_xml::ns;

/// A harness variable; a missing one fails the test (never skips it).
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the interop suite with `cargo xtask interop`")
    })
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
