//! Test helpers: an in-memory server and a raw peer that writes exact bytes
//! and reads what comes back.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;
use xmpp_sasl::MemoryStore;
use xmpp_stream::server::{accept, ServerConfig};
use xmpp_stream::{Direction, Observed, Observer, Security, ServerError, XmppStream};
use xmpp_xml::Frame;

pub const DOMAIN: &str = "example.com";
pub const USER: &str = "juliet";
pub const PASSWORD: &str = "r0m30myr0m30";

pub fn store() -> Arc<MemoryStore> {
    let store = MemoryStore::default();
    store.add(USER, PASSWORD, &[DOMAIN]).unwrap();
    Arc::new(store)
}

/// The seed's server: DIGEST-MD5 and PLAIN offered on a plain stream.
pub fn seed_config() -> ServerConfig {
    let mut config = ServerConfig::new(DOMAIN, store());
    config.mechanisms = vec![xmpp_sasl::Mechanism::DigestMd5, xmpp_sasl::Mechanism::Plain];
    config.allow_plain_insecure = true;
    config
}

pub type ServerTask = JoinHandle<Result<XmppStream<DuplexStream>, ServerError>>;

pub fn spawn_server(config: ServerConfig) -> (DuplexStream, ServerTask) {
    spawn_server_shared(Arc::new(config))
}

pub fn spawn_server_shared(config: Arc<ServerConfig>) -> (DuplexStream, ServerTask) {
    let (a, b) = tokio::io::duplex(1 << 16);
    (
        b,
        tokio::spawn(accept(a, config, Security::Cleartext, None)),
    )
}

/// A peer that speaks raw bytes.
pub struct Raw {
    pub io: DuplexStream,
    pub seen: String,
    /// Where the next search starts: just after the previous match.
    pos: usize,
}

impl Raw {
    pub fn new(io: DuplexStream) -> Self {
        Raw {
            io,
            seen: String::new(),
            pos: 0,
        }
    }

    pub async fn send(&mut self, s: &str) {
        self.io.write_all(s.as_bytes()).await.unwrap();
    }

    /// Reads until `needle` has been seen after the previous match; returns
    /// the text from there through the match. Panics after 5 s or at EOF.
    pub async fn until(&mut self, needle: &str) -> String {
        let start = self.pos;
        let fut = async {
            let mut buf = [0u8; 4096];
            loop {
                if let Some(i) = self.seen[start..].find(needle) {
                    return Some(start + i + needle.len());
                }
                let n = self.io.read(&mut buf).await.unwrap();
                if n == 0 {
                    return None;
                }
                self.seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), fut).await {
            Ok(Some(end)) => {
                self.pos = end;
                self.seen[start..end].to_owned()
            }
            Ok(None) => panic!("EOF before {needle:?}; got {:?}", &self.seen[start..]),
            Err(_) => panic!(
                "timeout waiting for {needle:?}; got {:?}",
                &self.seen[start..]
            ),
        }
    }

    /// Reads everything until the peer closes the connection.
    pub async fn until_eof(&mut self) -> String {
        let start = self.pos;
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), self.io.read_to_end(&mut rest))
            .await
            .expect("timeout waiting for EOF")
            .unwrap();
        self.seen.push_str(std::str::from_utf8(&rest).unwrap());
        self.pos = self.seen.len();
        self.seen[start..].to_owned()
    }
}

pub const CLIENT_HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
     xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

pub fn b64(s: &[u8]) -> String {
    STANDARD.encode(s)
}

pub fn plain_auth(user: &str, password: &str) -> String {
    let msg = format!("\0{user}\0{password}");
    format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{}</auth>",
        b64(msg.as_bytes())
    )
}

/// Records what an observer saw: direction, the frame, the decoded SASL text.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<(Direction, Frame, Option<String>)>>);

impl Observer for Recorder {
    fn observe(&self, e: &Observed<'_>) {
        self.0
            .lock()
            .unwrap()
            .push((e.direction, e.frame.clone(), e.sasl.clone()));
    }
}
