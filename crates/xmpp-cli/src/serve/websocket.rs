//! `xmpp serve --websocket`: one HTTP/1.1 listener (hyper) that upgrades
//! `/xmpp-websocket` to XMPP over WebSocket (RFC 7395) and answers the
//! XEP-0156 host-meta files announcing it. After the upgrade the
//! connection goes through [`connection`](super::session::connection)
//! like a TCP one: same limits, routing, stream management, SASL2.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::{Buf as _, Bytes, BytesMut};
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use xmpp_stream::websocket::{accept_key, HOST_META_REL, SUBPROTOCOL};
use xmpp_stream::{Security, Transport};

use super::admission::Admitted;
use super::replay::Replay;
use super::session::{connection as session, Negotiation, Shared};

/// The path of the WebSocket endpoint.
pub const PATH: &str = "/xmpp-websocket";

/// What every WebSocket connection shares.
#[derive(Debug)]
pub struct Http {
    /// `wss:`: TLS before HTTP, with serve's certificate.
    pub tls: Option<xmpp_stream::tls::ServerTls>,
    /// Browser origins allowed to connect; `*` allows any. A request
    /// without `Origin` (not a browser) is always allowed.
    pub origins: Vec<String>,
    /// How long the TLS handshake and the HTTP request may take.
    pub timeout: std::time::Duration,
    /// `--websocket-redirect`: where every client is sent instead.
    pub redirect: Option<String>,
}

/// The listener and its settings.
pub struct WsListener {
    /// Accepting TCP connections.
    pub listener: TcpListener,
    /// Shared by the connections.
    pub http: Arc<Http>,
}

type Body = Full<Bytes>;

/// What a WebSocket connection runs on: TLS or not, with what was read
/// of it before the upgrade replayed.
type Io = Replay<Transport<TcpStream>>;

/// The most of the first request head read before hyper is asked: an
/// upgrade request is a few hundred bytes; a larger head goes to hyper,
/// which has its own limits.
const FIRST_HEAD_MAX: usize = 4096;

/// One TCP connection of the WebSocket listener: TLS (for `wss:`), HTTP
/// requests until one is upgraded, then the XMPP session.
///
/// The first request is read here: when it is an upgrade that [`respond`]
/// would accept (what browsers and libraries send), it is answered here
/// too, without hyper's connection state, and the session reads the socket
/// directly rather than through hyper's boxed upgrade (five I/O layers per
/// read). Any other request, and every later one, is hyper's, with what
/// was read replayed.
// Written out (clippy's `manual_async_fn`): an async fn keeps each argument
// twice for its whole life (rust-lang/rust#62958), and this is the task.
#[allow(clippy::manual_async_fn)]
pub fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    http: Arc<Http>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    admitted: Admitted,
) -> impl std::future::Future<Output = ()> + Send {
    async move {
        let mut io = match &http.tls {
            Some(tls) => {
                let handshake = xmpp_stream::tls::accept(tcp, tls);
                match tokio::time::timeout(http.timeout, handshake).await {
                    Ok(Ok(t)) => t,
                    Ok(Err(e)) => return tracing::info!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => return tracing::info!(%peer, "TLS handshake timed out"),
                }
            }
            None => Transport::Plain(tcp),
        };
        let security = if http.tls.is_some() {
            Security::Tls
        } else {
            Security::Cleartext
        };
        let mut head = BytesMut::with_capacity(1024);
        match tokio::time::timeout(http.timeout, read_head(&mut io, &mut head)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "HTTP connection failed"),
            Err(_) => return tracing::debug!(%peer, "no HTTP request in time"),
        }
        let Some((head_len, accept)) = fast_upgrade(&head, &http.origins) else {
            // Boxed: rare here, so it does not size the task.
            return Box::pin(serve_http(
                Replay::new(head.freeze(), io),
                peer,
                http,
                shared,
                shutdown,
                admitted,
                security,
            ))
            .await;
        };
        let switching = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\
             sec-websocket-protocol: {SUBPROTOCOL}\r\nsec-websocket-accept: {accept}\r\n\r\n"
        );
        let answered = async {
            io.write_all(switching.as_bytes()).await?;
            io.flush().await
        };
        match tokio::time::timeout(http.timeout, answered).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "HTTP connection failed"),
            Err(_) => return tracing::debug!(%peer, "HTTP response timed out"),
        }
        // Whatever the client sent right after its request (its <open/>).
        head.advance(head_len);
        let io = Replay::new(head.freeze(), io);
        upgraded(io, peer, &http, shared, shutdown, admitted, security).await;
    }
}

/// Reads until `buf` holds a whole request head, [`FIRST_HEAD_MAX`] bytes,
/// or everything the client sent before it closed.
async fn read_head(io: &mut Transport<TcpStream>, buf: &mut BytesMut) -> std::io::Result<()> {
    // Only what each read added (and the 3 bytes before it) is searched:
    // a client sending a byte at a time costs linear time, not quadratic.
    let mut searched = 0;
    while buf.len() < FIRST_HEAD_MAX {
        if buf[searched..].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        searched = buf.len().saturating_sub(3);
        if io.read_buf(buf).await? == 0 {
            break;
        }
    }
    Ok(())
}

/// The request head at the start of `buf`, when it is a WebSocket upgrade
/// of [`PATH`] that [`respond`] would accept and nothing hyper should see:
/// its length and the `Sec-WebSocket-Accept` value.
fn fast_upgrade(buf: &[u8], origins: &[String]) -> Option<(usize, String)> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(len) = req.parse(buf).ok()? else {
        return None;
    };
    if req.version != Some(1) || req.path != Some(PATH) {
        return None;
    }
    let is_get = req.method == Some("GET");
    let headers: &[httparse::Header<'_>] = req.headers;
    // A body (which an upgrade never has) is hyper's to read.
    if headers.any("content-length", |v| v.trim() != "0")
        || headers.any("transfer-encoding", |_| true)
    {
        return None;
    }
    check_upgrade(is_get, headers, origins).ok()?;
    let mut keys = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"));
    let key = keys.next()?;
    if keys.next().is_some() {
        return None;
    }
    Some((len, accept_key(key.value)))
}

/// The connection's requests, served by hyper (`io` replays what was read
/// of the first one); an upgrade goes on as the one [`connection`] answers.
async fn serve_http(
    io: Io,
    peer: SocketAddr,
    http: Arc<Http>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    admitted: Admitted,
    security: Security,
) {
    let upgrade = Arc::new(Mutex::new(None));
    let slot = upgrade.clone();
    let settings = http.clone();
    let service = hyper::service::service_fn(move |req| {
        let response = respond(req, &settings, security, &slot);
        async move { Ok::<_, Infallible>(response) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Some(http.timeout))
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    // A connection that never upgrades (host-meta, refusals) ends here.
    if let Err(e) = tokio::time::timeout(http.timeout, served)
        .await
        .unwrap_or(Ok(()))
    {
        tracing::debug!(%peer, error = %e, "HTTP connection failed");
    }
    let pending = upgrade.lock().map(|mut u| u.take()).ok().flatten();
    let Some(pending) = pending else { return };
    let parts = match pending.await.map(|u| u.downcast::<TokioIo<Io>>()) {
        Ok(Ok(parts)) => parts,
        Ok(Err(_)) => return tracing::warn!(%peer, "WebSocket upgrade of an unknown connection"),
        Err(e) => return tracing::info!(%peer, error = %e, "WebSocket upgrade failed"),
    };
    let mut io = parts.io.into_inner();
    // What hyper read past the request.
    io.prepend(parts.read_buf);
    upgraded(io, peer, &http, shared, shutdown, admitted, security).await;
}

/// An upgraded connection: the XMPP session, or the redirect (boxed:
/// rare). Not an async fn, which would hold `io` twice.
fn upgraded(
    io: Io,
    peer: SocketAddr,
    http: &Http,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    admitted: Admitted,
    security: Security,
) -> impl std::future::Future<Output = ()> + Send {
    use futures_util::future::Either;
    let Some(to) = http.redirect.clone() else {
        let how = Negotiation::WebSocket(security);
        return Either::Left(session(io, peer, shared, shutdown, admitted, how));
    };
    let timeout = http.timeout;
    Either::Right(Box::pin(async move {
        let limits = &shared.config.pre_auth_limits;
        match xmpp_stream::websocket::redirect(io, &to, limits, timeout).await {
            Ok(()) => tracing::info!(%peer, to, "WebSocket client sent elsewhere"),
            Err(e) => tracing::info!(%peer, error = %e, "WebSocket redirect failed"),
        }
        drop(admitted);
    }))
}

fn respond(
    mut req: Request<hyper::body::Incoming>,
    http: &Http,
    security: Security,
    slot: &Mutex<Option<hyper::upgrade::OnUpgrade>>,
) -> Response<Body> {
    let path = req.uri().path();
    if req.method() == Method::GET && path.starts_with("/.well-known/host-meta") {
        let json = path == "/.well-known/host-meta.json";
        if !json && path != "/.well-known/host-meta" {
            return plain(StatusCode::NOT_FOUND, "not found");
        }
        return host_meta(&req, security, json);
    }
    if path != PATH {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    if let Err(refused) = check_upgrade(req.method() == Method::GET, req.headers(), &http.origins) {
        if refused.status == StatusCode::FORBIDDEN {
            let origin = req
                .headers()
                .get(header::ORIGIN)
                .and_then(|o| o.to_str().ok());
            tracing::info!(origin, "WebSocket origin refused (see --websocket-origin)");
        }
        return refused.response();
    }
    let Some(key) = req.headers().get("sec-websocket-key") else {
        return plain(StatusCode::BAD_REQUEST, "no Sec-WebSocket-Key");
    };
    let accept = accept_key(key.as_bytes());
    if let Ok(mut s) = slot.lock() {
        *s = Some(hyper::upgrade::on(&mut req));
    }
    let mut response = Response::new(Body::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    response
}

/// Why an upgrade request is refused.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    text: &'static str,
}

impl Refusal {
    fn response(&self) -> Response<Body> {
        let mut r = plain(self.status, self.text);
        if self.status == StatusCode::UPGRADE_REQUIRED {
            r.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
        }
        r
    }
}

/// A request's headers, as hyper or httparse holds them.
trait Headers {
    /// Whether any value of `name` (lowercase) is text that satisfies `f`.
    fn any(&self, name: &str, f: impl FnMut(&str) -> bool) -> bool;
    /// The first value of `name` (lowercase).
    fn first(&self, name: &str) -> Option<&[u8]>;
}

impl Headers for hyper::HeaderMap {
    fn any(&self, name: &str, mut f: impl FnMut(&str) -> bool) -> bool {
        self.get_all(name)
            .iter()
            .any(|v| v.to_str().is_ok_and(&mut f))
    }

    fn first(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(HeaderValue::as_bytes)
    }
}

impl Headers for [httparse::Header<'_>] {
    fn any(&self, name: &str, mut f: impl FnMut(&str) -> bool) -> bool {
        self.iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .any(|h| std::str::from_utf8(h.value).is_ok_and(&mut f))
    }

    fn first(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// The checks an upgrade request must pass: a WebSocket upgrade, version
/// 13, the `xmpp` subprotocol offered (400 otherwise), and an allowed
/// origin (403 otherwise).
fn check_upgrade<H: Headers + ?Sized>(
    is_get: bool,
    headers: &H,
    origins: &[String],
) -> Result<(), Refusal> {
    let has_token = |name: &str, token: &str| {
        headers.any(name, |v| {
            v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    let refuse = |status, text| Err(Refusal { status, text });
    if !is_get || !has_token("upgrade", "websocket") || !has_token("connection", "upgrade") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "this is an XMPP WebSocket endpoint: upgrade to websocket",
        );
    }
    if !has_token("sec-websocket-version", "13") {
        return refuse(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only");
    }
    if !has_token("sec-websocket-protocol", SUBPROTOCOL) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the xmpp subprotocol must be offered (RFC 7395 §3.2)",
        );
    }
    if let Some(origin) = headers.first("origin") {
        let origin = std::str::from_utf8(origin).unwrap_or("");
        let allowed = origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin));
        if !allowed {
            return refuse(StatusCode::FORBIDDEN, "origin not allowed");
        }
    }
    Ok(())
}

/// XEP-0156: the WebSocket endpoint, named as the client reached us (its
/// `Host`), as XRD or JRD; readable from any origin.
fn host_meta(
    req: &Request<hyper::body::Incoming>,
    security: Security,
    json: bool,
) -> Response<Body> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && !h.contains(['<', '>', '"', '\'', '&', '/', ' ']));
    let Some(host) = host else {
        return plain(StatusCode::BAD_REQUEST, "no usable Host header");
    };
    let scheme = if security.is_tls() { "wss" } else { "ws" };
    let href = format!("{scheme}://{host}{PATH}");
    let (body, kind) = if json {
        let doc = serde_json::json!({ "links": [{ "rel": HOST_META_REL, "href": href }] });
        (doc.to_string(), "application/json")
    } else {
        (
            format!(
                "<?xml version='1.0' encoding='utf-8'?>\n\
                 <XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n  \
                 <Link rel='{HOST_META_REL}' href='{href}'/>\n</XRD>\n"
            ),
            "application/xrd+xml",
        )
    };
    let mut r = Response::new(Body::from(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::from(format!("{text}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WebSocket connection's task is as large as its largest state,
    /// which must be the session's (hyper's connection, rare since the
    /// upgrade is answered here, is boxed): what an idle WebSocket session
    /// holds inline.
    #[tokio::test]
    async fn the_connection_task_is_no_larger_than_its_session() {
        let (io, client, addr, shared, admission) = super::super::session::test_connection(2).await;
        let (_tx, shutdown) = watch::channel(false);
        let http = Arc::new(Http {
            tls: None,
            origins: Vec::new(),
            timeout: std::time::Duration::from_secs(1),
            redirect: None,
        });
        let admitted = admission.admit(addr.ip()).unwrap();
        let session_bytes = std::mem::size_of_val(&session(
            Replay::new(Bytes::new(), Transport::Plain(io)),
            addr,
            shared.clone(),
            shutdown.clone(),
            admitted,
            Negotiation::WebSocket(Security::Cleartext),
        ));
        let admitted = admission.admit(addr.ip()).unwrap();
        let task = connection(client, addr, http, shared, shutdown, admitted);
        let task_bytes = std::mem::size_of_val(&task);
        // Besides the session: the arguments and the TLS configuration.
        assert!(
            task_bytes <= session_bytes + 512,
            "task {task_bytes}, session {session_bytes}"
        );
    }
}
