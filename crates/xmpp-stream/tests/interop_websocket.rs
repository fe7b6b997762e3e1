//! Interop over WebSocket (RFC 7395), started by `cargo xtask interop`:
//! our client against Prosody 13 (`mod_websocket`, /xmpp-websocket) and
//! ejabberd 24.12 (`ejabberd_http_ws`, /ws), both on ws:// (see
//! interop/README.md). Each test fails, never skips, when its peer is
//! missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use xmpp_stream::client::{Sasl2Mode, TlsMode};
use xmpp_stream::websocket::{connect, WsUrl};

mod peer;
mod unique;

use peer::{env, sasl2_client};

/// Logs in over `var`'s WebSocket URL with SASL2 and Bind2, pings, closes.
async fn login(var: &str) -> xmpp_stream::StreamInfo {
    let url = WsUrl::parse(&env(var)).unwrap_or_else(|| panic!("{var} is not a ws:// URL"));
    let mut config = sasl2_client(None).with_tls(TlsMode::Off);
    config.sasl2 = Sasl2Mode::Required;
    let mut stream = connect(&url, config, None)
        .await
        .unwrap_or_else(|e| panic!("login over {}: {e}", url.url));
    peer::assert_ping(&mut stream).await;
    let info = stream.info().clone();
    futures_util::SinkExt::close(&mut stream).await.unwrap();
    info
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn prosody13_websocket_sasl2_login() {
    let info = login("XMPP_INTEROP_PROSODY13_WS").await;
    assert!(info.sasl2 && info.bound_inline, "{info:?}");
}

#[tokio::test]
#[ignore = "interop: run by cargo xtask interop"]
async fn ejabberd24_websocket_sasl2_login() {
    let info = login("XMPP_INTEROP_EJABBERD24_WS").await;
    assert!(info.sasl2 && info.bound_inline, "{info:?}");
}
