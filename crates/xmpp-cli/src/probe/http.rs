//! XEP-0156 host-meta (XRD and JSON) and the WebSocket endpoints it lists:
//! does each open an XMPP stream (RFC 7395)?

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use xmpp_stream::tls::rustls;
use xmpp_stream::websocket::{WsCodec, HOST_META_REL};
use xmpp_xml::{ns, Frame, StreamHeader};

use super::features;
use super::report::{Fetched, Http, WebSocket};
use super::wire::Io;

/// XEP-0206 BOSH's link relation.
const BOSH_REL: &str = "urn:xmpp:alt-connections:xbosh";

/// What the HTTP probe needs.
pub struct Context<'a> {
    /// The XMPP domain.
    pub domain: &'a str,
    /// Trusted roots for `https:` and `wss:`.
    pub roots: &'a Arc<rustls::RootCertStore>,
    /// Each step's limit.
    pub timeout: Duration,
    /// The name server that `--resolver` names, for the URLs' hosts (else
    /// the system's).
    pub resolver: Option<&'a xmpp_stream::dns::DnsResolver>,
}

/// Fetches host-meta from `base` (`https://DOMAIN` unless given) and opens
/// a stream on every WebSocket endpoint it lists, and on `extra`.
pub async fn probe(base: Option<&str>, extra: &[String], ctx: &Context<'_>) -> Http {
    let mut http = Http {
        host_meta: Vec::new(),
        websocket: Vec::new(),
        bosh: Vec::new(),
    };
    let mut ws_urls: Vec<String> = extra.to_vec();
    if let Some(base) = base {
        let base = base.trim_end_matches('/');
        for (path, json) in [("host-meta", false), ("host-meta.json", true)] {
            let url = format!("{base}/.well-known/{path}");
            let (fetched, body) = get(&url, ctx).await;
            http.host_meta.push(fetched);
            let Some(body) = body else { continue };
            let links = if json {
                jrd_links(&body)
            } else {
                xrd_links(&body)
            };
            for (rel, href) in links {
                let list = if rel == HOST_META_REL {
                    &mut ws_urls
                } else if rel == BOSH_REL {
                    &mut http.bosh
                } else {
                    continue;
                };
                if !list.contains(&href) {
                    list.push(href);
                }
            }
        }
    }
    for url in ws_urls {
        http.websocket.push(websocket(&url, ctx).await);
    }
    http
}

/// `(rel, href)` of each link of a JRD document.
fn jrd_links(body: &[u8]) -> Vec<(String, String)> {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(body) else {
        return Vec::new();
    };
    let Some(links) = doc.get("links").and_then(|l| l.as_array()) else {
        return Vec::new();
    };
    links
        .iter()
        .filter_map(|l| {
            let rel = l.get("rel")?.as_str()?;
            let href = l.get("href")?.as_str()?;
            Some((rel.to_owned(), href.to_owned()))
        })
        .collect()
}

/// `(rel, href)` of each `<Link/>` of an XRD document.
fn xrd_links(body: &[u8]) -> Vec<(String, String)> {
    // The XRD is a whole document, not a stream: wrap it in a stream so the
    // framer reads the root as one element.
    let text = String::from_utf8_lossy(body);
    let text = text.trim_start();
    let text = match text.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or("", |(_, r)| r),
        None => text,
    };
    let wrapped = format!(
        "<stream:stream xmlns:stream='{}' xmlns='jabber:client'>{text}",
        ns::STREAM
    );
    let mut framer = xmpp_xml::Framer::default();
    let mut buf = bytes::BytesMut::from(wrapped.as_bytes());
    let _ = framer.decode(&mut buf);
    let Ok(Some(Frame::Element(xrd))) = framer.decode(&mut buf) else {
        return Vec::new();
    };
    xrd.children()
        .filter(|c| c.name() == "Link")
        .filter_map(|c| Some((c.attr("rel")?.to_owned(), c.attr("href")?.to_owned())))
        .collect()
}

/// A connection to `host:port`, with TLS (verified for `host`) if `secure`.
async fn dial(host: &str, port: u16, secure: bool, ctx: &Context<'_>) -> Result<Io, String> {
    let tcp = match ctx.resolver {
        Some(resolver) if host.parse::<std::net::IpAddr>().is_err() => {
            use xmpp_stream::dns::Resolve as _;
            let ips = resolver.ips(host).await.map_err(|e| e.to_string())?;
            let addrs: Vec<std::net::SocketAddr> =
                ips.into_iter().map(|ip| (ip, port).into()).collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no address"));
            }
            tokio::time::timeout(ctx.timeout, TcpStream::connect(&addrs[..])).await
        }
        _ => tokio::time::timeout(ctx.timeout, TcpStream::connect((host, port))).await,
    };
    let tcp = tcp
        .map_err(|_| {
            format!(
                "no TCP connection to {host}:{port} within {:?}",
                ctx.timeout
            )
        })?
        .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    if !secure {
        return Ok(Box::new(tcp));
    }
    let config = super::tls_info::web_config(ctx.roots, ctx.domain)?;
    // SNI is the URL's host; an address gets none, and the certificate is
    // then checked for the XMPP domain.
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host:?}: {e}"))?;
    let tls = tokio::time::timeout(
        ctx.timeout,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| {
        format!(
            "no TLS handshake with {host}:{port} within {:?}",
            ctx.timeout
        )
    })?
    .map_err(|e| format!("TLS with {host}:{port}: {e}"))?;
    Ok(Box::new(tls))
}

/// GETs `url`: what happened, and the body of a 2xx answer.
async fn get(url: &str, ctx: &Context<'_>) -> (Fetched, Option<Vec<u8>>) {
    let mut fetched = Fetched {
        url: url.to_owned(),
        status: None,
        error: None,
    };
    match fetch(url, ctx).await {
        Ok((status, body)) => {
            fetched.status = Some(status);
            if (200..300).contains(&status) {
                return (fetched, Some(body));
            }
            fetched.error = Some(format!("HTTP {status}"));
        }
        Err(e) => fetched.error = Some(e),
    }
    (fetched, None)
}

async fn fetch(url: &str, ctx: &Context<'_>) -> Result<(u16, Vec<u8>), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let secure = match parsed.scheme() {
        "https" => true,
        "http" => false,
        other => return Err(format!("{url}: not an http(s) URL ({other})")),
    };
    let host = parsed.host_str().ok_or(format!("{url}: no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = parsed.port_or_known_default().unwrap_or(443);
    let io = dial(host, port, secure, ctx).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let authority = parsed.authority().to_owned();
    let req = hyper::Request::get(parsed.path())
        .header(hyper::header::HOST, authority)
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(ctx.timeout, sender.send_request(req))
        .await
        .map_err(|_| format!("no answer within {:?}", ctx.timeout))?
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = tokio::time::timeout(ctx.timeout, response.into_body().collect())
        .await
        .map_err(|_| format!("no body within {:?}", ctx.timeout))?
        .map_err(|e| e.to_string())?;
    Ok((status, body.to_bytes().to_vec()))
}

/// Opens an XMPP stream on the WebSocket endpoint `url` and reads its
/// features.
async fn websocket(url: &str, ctx: &Context<'_>) -> WebSocket {
    let mut ws = WebSocket {
        url: url.to_owned(),
        opens_stream: false,
        ms: None,
        error: None,
        features: None,
    };
    let started = Instant::now();
    match open(url, ctx).await {
        Ok(features) => {
            ws.opens_stream = true;
            ws.ms = Some(super::ms(started.elapsed()));
            ws.features = Some(features);
        }
        Err(e) => ws.error = Some(e),
    }
    ws
}

async fn open(url: &str, ctx: &Context<'_>) -> Result<super::report::Features, String> {
    let parsed =
        xmpp_stream::websocket::WsUrl::parse(url).ok_or("not a ws: or wss: URL".to_owned())?;
    let io = dial(&parsed.host, parsed.port, parsed.secure, ctx).await?;
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("xmpp"));
    let (mut socket, response) =
        tokio::time::timeout(ctx.timeout, tokio_tungstenite::client_async(request, io))
            .await
            .map_err(|_| format!("no WebSocket upgrade within {:?}", ctx.timeout))?
            .map_err(|e| format!("WebSocket upgrade: {e}"))?;
    if response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .map(HeaderValue::as_bytes)
        != Some(b"xmpp")
    {
        return Err("the server did not agree to the xmpp subprotocol (RFC 7395 §3.2)".into());
    }
    let codec = WsCodec::new(xmpp_xml::Limits::default());
    let open = codec.encode(&Frame::Header(StreamHeader::client(ctx.domain)));
    socket
        .send(Message::text(open))
        .await
        .map_err(|e| format!("sending <open/>: {e}"))?;
    let mut codec = codec;
    let mut opened = false;
    loop {
        let message = tokio::time::timeout(ctx.timeout, socket.next())
            .await
            .map_err(|_| format!("no answer to <open/> within {:?}", ctx.timeout))?
            .ok_or("the server closed the WebSocket")?
            .map_err(|e| format!("WebSocket: {e}"))?;
        let text = match message {
            Message::Text(t) => t,
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return Err(format!("unexpected WebSocket message: {other:?}")),
        };
        match codec.decode(text.as_bytes()).map_err(|e| e.to_string())? {
            Frame::Header(_) => opened = true,
            Frame::Element(el) if el.is("error", ns::STREAM) => {
                return Err(super::wire::stream_error(&el));
            }
            Frame::Element(el) if opened && el.is("features", ns::STREAM) => {
                let _ = socket
                    .send(Message::text(xmpp_stream::websocket::close(None)))
                    .await;
                let _ = socket.close(None).await;
                return Ok(features::parse(&el));
            }
            Frame::Element(el) => {
                return Err(format!(
                    "expected <open/> and features, got <{}/>",
                    el.name()
                ));
            }
            Frame::Close => return Err("the server closed the stream".into()),
            _ => return Err("unexpected frame".into()),
        }
    }
}
