//! Sessions held open by real clients (`xmpp_stream::client`), for tests
//! of what a running server does to them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use xmpp_stream::client::{connect, ClientConfig, TlsMode};
use xmpp_stream::{SessionError, StreamCondition, XmppStream};
use xmpp_xml::{ns, Element};

/// A session of `jid` on `addr` (no TLS).
pub async fn client(addr: &str, jid: &str, password: &str) -> XmppStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let config = ClientConfig::new(jid, password)
        .unwrap()
        .with_tls(TlsMode::Off);
    connect(tcp, config, None).await.unwrap()
}

/// `xmpp args...` without blocking the runtime.
pub async fn xmpp(args: &[&str], stdin: &str) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        super::run(&args, &stdin)
    })
    .await
    .unwrap()
}

/// Asserts that the server ends `s` with `<not-authorized/>` (within a
/// bound that only a missing check exceeds).
pub async fn expect_not_authorized(s: &mut XmppStream<TcpStream>, who: &str) {
    let item = tokio::time::timeout(Duration::from_secs(15), s.next())
        .await
        .unwrap_or_else(|_| panic!("{who}: the session was not ended"));
    match item {
        Some(Err(SessionError::Received { condition, .. })) => {
            assert_eq!(condition, StreamCondition::NotAuthorized, "{who}")
        }
        other => panic!("{who}: expected <not-authorized/>, got {other:?}"),
    }
}

/// Asserts that `s` is still served: a ping is answered.
pub async fn expect_alive(s: &mut XmppStream<TcpStream>, id: &str) {
    let ping = Element::builder("iq", ns::CLIENT)
        .attr("type", "get")
        .attr("id", id)
        .attr("to", "example.com")
        .append(Element::builder("ping", ns::PING).build())
        .build();
    s.send(ping).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(10), s.next())
        .await
        .expect("a reply in time")
        .expect("stream open")
        .expect("no stream error");
    assert_eq!((r.attr("type"), r.attr("id")), (Some("result"), Some(id)));
}
