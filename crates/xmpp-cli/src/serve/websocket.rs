//! `xmpp serve --websocket`: one HTTP/1.1 listener (hyper) that upgrades
//! `/xmpp-websocket` to XMPP over WebSocket (RFC 7395) and answers the
//! XEP-0156 host-meta files announcing it. After the upgrade the
//! connection goes through [`connection`](super::session::connection)
//! like a TCP one: same limits, routing, stream management, SASL2.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use xmpp_stream::websocket::{accept_key, HOST_META_REL, SUBPROTOCOL};
use xmpp_stream::Security;

use super::admission::Admitted;
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

/// One TCP connection of the WebSocket listener: TLS (for `wss:`), HTTP
/// requests until one is upgraded, then the XMPP session.
pub async fn connection(
    tcp: TcpStream,
    peer: SocketAddr,
    http: Arc<Http>,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    admitted: Admitted,
) {
    let io = match &http.tls {
        Some(tls) => {
            let handshake = xmpp_stream::tls::accept(tcp, tls);
            match tokio::time::timeout(http.timeout, handshake).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => return tracing::info!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::info!(%peer, "TLS handshake timed out"),
            }
        }
        None => xmpp_stream::Transport::Plain(tcp),
    };
    let security = if http.tls.is_some() {
        Security::Tls
    } else {
        Security::Cleartext
    };
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
    match pending.await {
        Ok(upgraded) if http.redirect.is_some() => {
            let to = http.redirect.as_deref().unwrap_or_default();
            let limits = &shared.config.pre_auth_limits;
            match xmpp_stream::websocket::redirect(TokioIo::new(upgraded), to, limits, http.timeout)
                .await
            {
                Ok(()) => tracing::info!(%peer, to, "WebSocket client sent elsewhere"),
                Err(e) => tracing::info!(%peer, error = %e, "WebSocket redirect failed"),
            }
        }
        Ok(upgraded) => {
            let io = TokioIo::new(upgraded);
            session(
                io,
                peer,
                shared,
                shutdown,
                admitted,
                Negotiation::WebSocket(security),
            )
            .await;
        }
        Err(e) => tracing::info!(%peer, error = %e, "WebSocket upgrade failed"),
    }
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
    if let Err(why) = check_upgrade(&req, &http.origins) {
        return why;
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

/// The checks an upgrade request must pass: a WebSocket upgrade, version
/// 13, the `xmpp` subprotocol offered (400 otherwise), and an allowed
/// origin (403 otherwise).
#[allow(clippy::result_large_err)]
fn check_upgrade(
    req: &Request<hyper::body::Incoming>,
    origins: &[String],
) -> Result<(), Response<Body>> {
    let has_token = |name: header::HeaderName, token: &str| {
        req.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if req.method() != Method::GET
        || !has_token(header::UPGRADE, "websocket")
        || !has_token(header::CONNECTION, "upgrade")
    {
        return Err(plain(
            StatusCode::BAD_REQUEST,
            "this is an XMPP WebSocket endpoint: upgrade to websocket",
        ));
    }
    if !has_token(header::SEC_WEBSOCKET_VERSION, "13") {
        let mut r = plain(StatusCode::UPGRADE_REQUIRED, "WebSocket version 13 only");
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Err(r);
    }
    if !has_token(header::SEC_WEBSOCKET_PROTOCOL, SUBPROTOCOL) {
        return Err(plain(
            StatusCode::BAD_REQUEST,
            "the xmpp subprotocol must be offered (RFC 7395 §3.2)",
        ));
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let allowed = origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin));
        if !allowed {
            tracing::info!(origin, "WebSocket origin refused (see --websocket-origin)");
            return Err(plain(StatusCode::FORBIDDEN, "origin not allowed"));
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
