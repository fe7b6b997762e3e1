//! XMPP over WebSocket (RFC 7395) end to end: `xmpp serve --websocket`
//! with `xmpp login --websocket/--discover`, the library's client, and a
//! raw WebSocket client checking the framing on the wire; XEP-0156
//! host-meta.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use xmpp_stream::client::{ClientConfig, TlsMode};
use xmpp_stream::websocket::WsUrl;
use xmpp_xml::{ns, Element};

use common::*;

const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";

fn ws_server(store: &Store, extra: &[&str]) -> Server {
    let mut args = vec!["--websocket", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Server::start(store.arg(), &args)
}

fn store() -> Store {
    let store = Store::new();
    store.add("juliet@example.com", "secret");
    store.add("romeo@example.com", "secret");
    store
}

#[test]
fn login_over_ws_uses_sasl2_and_bind2() {
    let store = store();
    let server = ws_server(&store, &["--allow-sasl2-without-tls"]);
    let url = server.websocket.clone().unwrap();
    assert!(url.starts_with("ws://127.0.0.1:") && url.ends_with("/xmpp-websocket"));
    let o = run(
        &[
            "login",
            "juliet@example.com",
            "--websocket",
            &url,
            "--tls",
            "off",
            "--password-stdin",
        ],
        "secret\n",
    );
    expect_code(&o, 0);
    assert!(
        stdout(&o).starts_with("juliet@example.com/"),
        "{}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("SASL2, Bind2"), "{}", stderr(&o));
}

#[test]
fn ws_url_needs_tls_off() {
    let store = store();
    let server = ws_server(&store, &[]);
    let url = server.websocket.clone().unwrap();
    let o = run(
        &[
            "login",
            "juliet@example.com",
            "--websocket",
            &url,
            "--password-stdin",
        ],
        "secret\n",
    );
    expect_failure(&o, 2, "wss://");
}

#[test]
fn login_over_wss_with_the_generated_certificate() {
    let store = store();
    let ca = store.dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap().to_owned();
    let server = ws_server(&store, &["--tls", "required", "--write-ca", &ca]);
    let url = server.websocket.clone().unwrap();
    assert!(url.starts_with("wss://"), "{url}");
    let o = run(
        &[
            "login",
            "juliet@example.com",
            "--websocket",
            &url,
            "--ca-file",
            &ca,
            "--tls-server-name",
            "example.com",
            "--password-stdin",
        ],
        "secret\n",
    );
    expect_code(&o, 0);
    assert!(stderr(&o).contains("SASL2"), "{}", stderr(&o));
    // The certificate is checked: without the CA, the login fails.
    let o = run(
        &[
            "login",
            "juliet@example.com",
            "--websocket",
            &url,
            "--password-stdin",
        ],
        "secret\n",
    );
    assert_ne!(o.status.code(), Some(0));
}

#[test]
fn login_discovers_the_endpoint_through_host_meta() {
    let store = store();
    let server = ws_server(&store, &[]);
    let url = server.websocket.clone().unwrap();
    let http = url
        .trim_start_matches("ws://")
        .trim_end_matches("/xmpp-websocket");
    let o = run(
        &[
            "login",
            "juliet@example.com",
            "--discover",
            "--server",
            http,
            "--tls",
            "off",
            "--password-stdin",
        ],
        "secret\n",
    );
    expect_code(&o, 0);
}

#[tokio::test]
async fn a_message_goes_from_a_websocket_session_to_a_tcp_one() {
    let store = store();
    let server = ws_server(&store, &[]);
    let url = WsUrl::parse(server.websocket.as_deref().unwrap()).unwrap();
    let mut romeo = common::held::client(&server.addr, "romeo@example.com/tcp", "secret").await;
    let config = ClientConfig::new("juliet@example.com/ws", "secret")
        .unwrap()
        .with_tls(TlsMode::Off);
    let mut juliet = xmpp_stream::websocket::connect(&url, config, None)
        .await
        .unwrap();
    juliet
        .send(chat("romeo@example.com/tcp", "over websocket"))
        .await
        .unwrap();
    let got = next_stanza(&mut romeo).await;
    assert_eq!(got.attr("from"), Some("juliet@example.com/ws"));
    assert_eq!(
        got.child("body", ns::CLIENT).unwrap().text(),
        "over websocket"
    );
    // And back.
    romeo
        .send(chat("juliet@example.com/ws", "over tcp"))
        .await
        .unwrap();
    let got = next_stanza(&mut juliet).await;
    assert_eq!(got.attr("from"), Some("romeo@example.com/tcp"));
}

/// The next stanza on `stream`, within 10 s.
async fn next_stanza<S>(stream: &mut xmpp_stream::XmppStream<S>) -> Element
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a stanza within 10 s")
        .expect("the stream goes on")
        .expect("no stream error")
}

/// `<message to='to' type='chat'><body>body</body></message>`
fn chat(to: &str, body: &str) -> Element {
    Element::builder("message", ns::CLIENT)
        .attr("to", to)
        .attr("type", "chat")
        .append(Element::builder("body", ns::CLIENT).text(body).build())
        .build()
}

type Raw = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A raw WebSocket to `url`, with these extra request headers.
async fn raw(
    url: &str,
    headers: &[(&'static str, &'static str)],
) -> Result<Raw, tungstenite::Error> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(*k, HeaderValue::from_static(v));
    }
    let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_tungstenite::client_async(req, tcp)
        .await
        .map(|(ws, _)| ws)
}

async fn text(ws: &mut Raw) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

const XMPP: (&str, &str) = ("Sec-WebSocket-Protocol", "xmpp");

#[tokio::test]
async fn the_framing_on_the_wire() {
    let store = store();
    let server = ws_server(&store, &[]);
    let url = server.websocket.clone().unwrap();
    let mut ws = raw(&url, &[XMPP]).await.unwrap();
    ws.send(Message::text(format!(
        "<open xmlns='{FRAMING}' to='example.com' version='1.0'/>"
    )))
    .await
    .unwrap();
    let open = text(&mut ws).await;
    assert!(
        open.starts_with(&format!("<open xmlns='{FRAMING}' from='example.com' id='")),
        "{open}"
    );
    assert!(
        open.contains("version='1.0'") && open.ends_with("/>"),
        "{open}"
    );
    let features = text(&mut ws).await;
    assert!(
        features.starts_with("<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"),
        "{features}"
    );
    // No STARTTLS over WebSocket, even where the server could.
    assert!(!features.contains("xmpp-tls"), "{features}");
    ws.send(Message::text(format!("<close xmlns='{FRAMING}'/>")))
        .await
        .unwrap();
    assert_eq!(text(&mut ws).await, format!("<close xmlns='{FRAMING}'/>"));
    // Then the WebSocket close.
    let end = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap();
    assert!(matches!(end, Some(Ok(Message::Close(_))) | None), "{end:?}");
}

fn status(e: tungstenite::Error) -> u16 {
    match e {
        tungstenite::Error::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

#[tokio::test]
async fn a_missing_subprotocol_and_a_foreign_origin_are_refused() {
    let store = store();
    let server = ws_server(&store, &["--websocket-origin", "https://chat.example.com"]);
    let url = server.websocket.clone().unwrap();
    let refused = raw(&url, &[]).await.expect_err("no subprotocol: refused");
    assert_eq!(status(refused), 400);
    let wrong = raw(&url, &[("Sec-WebSocket-Protocol", "mqtt")])
        .await
        .err()
        .unwrap();
    assert_eq!(status(wrong), 400);
    let evil = raw(&url, &[XMPP, ("Origin", "https://evil.example")])
        .await
        .err()
        .unwrap();
    assert_eq!(status(evil), 403);
    // The listed origin, and a client without Origin (not a browser), get in.
    raw(&url, &[XMPP, ("Origin", "https://chat.example.com")])
        .await
        .unwrap();
    raw(&url, &[XMPP]).await.unwrap();
}

#[tokio::test]
async fn a_tcp_stream_header_over_websocket_is_refused() {
    let store = store();
    let server = ws_server(&store, &[]);
    let mut ws = raw(server.websocket.as_deref().unwrap(), &[XMPP])
        .await
        .unwrap();
    ws.send(Message::text(
        "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
         to='example.com' version='1.0'>",
    ))
    .await
    .unwrap();
    let mut seen = String::new();
    while let Some(Ok(m)) = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap()
    {
        if let Message::Text(t) = m {
            seen.push_str(&t);
        }
    }
    assert!(seen.contains("not-well-formed"), "{seen}");
    assert!(!seen.contains("features"), "{seen}");
}

#[tokio::test]
async fn an_oversize_message_is_a_policy_violation() {
    let store = store();
    let server = ws_server(&store, &[]);
    let mut ws = raw(server.websocket.as_deref().unwrap(), &[XMPP])
        .await
        .unwrap();
    ws.send(Message::text(format!(
        "<open xmlns='{FRAMING}' to='example.com' version='1.0'/>"
    )))
    .await
    .unwrap();
    text(&mut ws).await;
    text(&mut ws).await;
    // Over the 16 KiB pre-authentication limit.
    let big = format!(
        "<iq type='get' id='x'><query xmlns='jabber:iq:version'>{}</query></iq>",
        "x".repeat(20_000)
    );
    ws.send(Message::text(big)).await.unwrap();
    let error = text(&mut ws).await;
    assert!(error.contains("<policy-violation"), "{error}");
    assert_eq!(text(&mut ws).await, format!("<close xmlns='{FRAMING}'/>"));
}

#[tokio::test]
async fn host_meta_announces_the_endpoint_to_any_origin() {
    let store = store();
    let server = ws_server(&store, &[]);
    let url = server.websocket.clone().unwrap();
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    for (path, needle) in [
        (
            "/.well-known/host-meta",
            format!("<Link rel='urn:xmpp:alt-connections:websocket' href='{url}'/>"),
        ),
        (
            "/.well-known/host-meta.json",
            format!("{{\"href\":\"{url}\",\"rel\":\"urn:xmpp:alt-connections:websocket\"}}"),
        ),
    ] {
        let response = get(&addr, path).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains("access-control-allow-origin: *"),
            "{response}"
        );
        assert!(response.contains(&needle), "{path}: {response}");
    }
    assert!(get(&addr, "/.well-known/host-meta")
        .await
        .contains("http://docs.oasis-open.org/ns/xri/xrd-1.0"));
    assert!(get(&addr, "/elsewhere").await.starts_with("HTTP/1.1 404"));
}

/// A bare HTTP/1.1 GET (the server's answer, headers and body).
async fn get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    out
}

#[tokio::test]
async fn a_redirect_answers_the_first_open() {
    let store = store();
    let to = "wss://chat.example.com/xmpp-websocket";
    let server = ws_server(&store, &["--websocket-redirect", to]);
    let mut ws = raw(server.websocket.as_deref().unwrap(), &[XMPP])
        .await
        .unwrap();
    ws.send(Message::text(format!(
        "<open xmlns='{FRAMING}' to='example.com' version='1.0'/>"
    )))
    .await
    .unwrap();
    assert_eq!(
        text(&mut ws).await,
        format!("<close xmlns='{FRAMING}' see-other-uri='{to}'/>")
    );
    let end = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap();
    assert!(matches!(end, Some(Ok(Message::Close(_))) | None), "{end:?}");
}

#[tokio::test]
async fn redirects_are_followed_by_the_library_and_named_by_the_cli() {
    let accounts = store();
    let target = ws_server(&accounts, &["--allow-sasl2-without-tls"]);
    let to = target.websocket.clone().unwrap();
    let mover = ws_server(&accounts, &["--websocket-redirect", &to]);
    let from = mover.websocket.clone().unwrap();
    let config = || {
        ClientConfig::new("juliet@example.com", "secret")
            .unwrap()
            .with_tls(TlsMode::Off)
    };
    let stream = xmpp_stream::websocket::connect(&WsUrl::parse(&from).unwrap(), config(), None)
        .await
        .expect("the redirect is followed");
    assert!(stream.jid().as_str().starts_with("juliet@example.com/"));

    // The CLI, with its connection already open, names the new endpoint.
    let o = tokio::task::spawn_blocking(move || {
        run(
            &[
                "login",
                "juliet@example.com",
                "--websocket",
                &from,
                "--tls",
                "off",
                "--password-stdin",
            ],
            "secret\n",
        )
    })
    .await
    .unwrap();
    expect_failure(&o, 4, &format!("log in with --websocket {to}"));

    // A server that sends clients to itself: given up after a few hops,
    // with the redirect as the error.
    let port = free_port();
    let own = format!("ws://127.0.0.1:{port}/xmpp-websocket");
    let listen = format!("127.0.0.1:{port}");
    let circle = Server::start(
        accounts.arg(),
        &["--websocket", &listen, "--websocket-redirect", &own],
    );
    assert_eq!(circle.websocket.as_deref(), Some(own.as_str()));
    let Err(e) =
        xmpp_stream::websocket::connect(&WsUrl::parse(&own).unwrap(), config(), None).await
    else {
        panic!("a circle of redirects logged in")
    };
    assert!(
        matches!(&e, xmpp_stream::ClientError::Stream { text: Some(t), .. } if *t == own),
        "{e:?}"
    );
}

/// The upgrade request as an HTTP client may send it: on a connection that
/// fetched host-meta first (keep-alive), cut in pieces, with the first
/// WebSocket message in the same packet as the request's end, or asking
/// a version other than 13 (426, naming 13).
#[tokio::test]
async fn upgrades_after_a_request_in_pieces_and_pipelined() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::Role;

    let store = store();
    let server = ws_server(&store, &[]);
    let url = server.websocket.clone().unwrap();
    let addr = url.trim_start_matches("ws://").split('/').next().unwrap();
    let upgrade = |version: &str| {
        format!(
            "GET /xmpp-websocket HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: {version}\r\nSec-WebSocket-Protocol: xmpp\r\n\r\n"
        )
    };
    // One response head (and, for host-meta, its body up to `until`).
    async fn response(tcp: &mut tokio::net::TcpStream, until: &str) -> String {
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains(until) {
            let mut byte = [0u8];
            let read = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut byte));
            assert_eq!(read.await.unwrap().unwrap(), 1, "closed: {got:?}");
            got.push(byte[0]);
        }
        String::from_utf8(got).unwrap()
    }
    let open = format!("<open xmlns='{FRAMING}' to='example.com' version='1.0'/>");
    let mut masked = Vec::new();
    let mut frame = Frame::message(open.clone().into_bytes(), OpCode::Data(Data::Text), true);
    frame.header_mut().mask = Some([7, 1, 8, 2]);
    frame.format(&mut masked).unwrap();

    for case in ["after host-meta", "in pieces, open pipelined"] {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        if case == "after host-meta" {
            let get = format!("GET /.well-known/host-meta HTTP/1.1\r\nHost: {addr}\r\n\r\n");
            tcp.write_all(get.as_bytes()).await.unwrap();
            let meta = response(&mut tcp, "</XRD>\n").await;
            assert!(meta.starts_with("HTTP/1.1 200"), "{meta}");
            tcp.write_all(upgrade("13").as_bytes()).await.unwrap();
        } else {
            // Cut inside a line, then inside the blank line that ends the
            // head; the first message comes with the head's last bytes.
            let request = upgrade("13");
            let end = request.len() - 2;
            for piece in [&request[..40], &request[40..end]] {
                tcp.write_all(piece.as_bytes()).await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut rest = request.as_bytes()[end..].to_vec();
            rest.extend_from_slice(&masked);
            tcp.write_all(&rest).await.unwrap();
        }
        let head = response(&mut tcp, "\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 101"), "{case}: {head}");
        // RFC 6455 §1.3's example key and answer.
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
            "{case}: {head}"
        );
        let mut ws = Raw::from_raw_socket(tcp, Role::Client, None).await;
        if case == "after host-meta" {
            ws.send(Message::text(open.clone())).await.unwrap();
        }
        let answer = text(&mut ws).await;
        assert!(
            answer.starts_with(&format!("<open xmlns='{FRAMING}'")),
            "{case}: {answer}"
        );
    }

    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(upgrade("8").as_bytes()).await.unwrap();
    let head = response(&mut tcp, "\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{head}"
    );
}
