//! Both shells over an in-memory WebSocket (the HTTP upgrade is the
//! caller's, so it is left out here).

use std::sync::Arc;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use xmpp_sasl::MemoryStore;
use xmpp_xml::{ns, Element};

use crate::client::{self, ClientConfig, TlsMode};
use crate::server::{self, ServerConfig};
use crate::transport::Transport;
use crate::Security;

fn config() -> Arc<ServerConfig> {
    let store = MemoryStore::default();
    store
        .add("juliet", "r0m30myr0m30", &["example.com"])
        .expect("user");
    Arc::new(ServerConfig::new("example.com", Arc::new(store)))
}

#[tokio::test]
async fn client_and_server_negotiate_and_exchange_stanzas() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let server = tokio::spawn(server::accept_websocket(
        a,
        config(),
        Security::Cleartext,
        None,
    ));
    let ws = WebSocketStream::from_raw_socket(Transport::Plain(b), Role::Client, None).await;
    let cfg = ClientConfig::new("juliet@example.com/balcony", "r0m30myr0m30")
        .expect("jid")
        .with_tls(TlsMode::Off);
    let mut client = client::connect_websocket(ws, cfg, None, None)
        .await
        .expect("client negotiated");
    let mut server = server.await.expect("task").expect("server negotiated");
    assert_eq!(client.jid(), server.jid());
    let msg = Element::builder("message", ns::CLIENT)
        .attr("to", "romeo@example.com")
        .append(Element::builder("body", ns::CLIENT).text("hi").build())
        .build();
    client.send(msg).await.expect("sent");
    let got = server.next().await.expect("a stanza").expect("no error");
    assert!(got.is("message", ns::CLIENT));
    assert_eq!(got.attr("to"), Some("romeo@example.com"));
    client.close().await.expect("closed");
    assert!(server.next().await.is_none(), "the close ends the stream");
}
