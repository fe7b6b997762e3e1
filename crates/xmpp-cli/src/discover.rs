//! The WebSocket endpoint of `xmpp login/send/shell`: `--websocket URL`,
//! or `--discover` through the domain's XEP-0156 host-meta.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use xmpp_stream::websocket::{WsUrl, HOST_META_REL};

use crate::cli::{ClientTls, ConnectArgs};
use crate::exit::{Code, Failure};

/// Where to connect over WebSocket, if the options say so.
pub async fn endpoint(domain: &str, args: &ConnectArgs) -> Result<Option<WsUrl>, Failure> {
    let cleartext_ok = matches!(args.tls, ClientTls::Off);
    if let Some(url) = &args.websocket {
        let parsed = WsUrl::parse(url).ok_or_else(|| {
            Failure::usage(format!("--websocket {url}: not a ws:// or wss:// URL"))
        })?;
        return Ok(Some(parsed));
    }
    if !args.discover {
        return Ok(None);
    }
    let failed = |why: String| Failure::new(Code::Network, format!("--discover: {why}"));
    // HTTPS only, but for tests with --tls off (then --server may name the
    // HTTP server to ask).
    let (https, host) = if cleartext_ok {
        (
            false,
            args.server
                .clone()
                .unwrap_or_else(|| format!("{domain}:80")),
        )
    } else {
        (true, format!("{domain}:443"))
    };
    let body = fetch(&host, domain, https, args)
        .await
        .map_err(|e| failed(format!("fetching host-meta from {host}: {e}")))?;
    let href = pick(&body, cleartext_ok).ok_or_else(|| {
        failed(format!(
            "{domain}'s host-meta announces no {} WebSocket endpoint",
            if cleartext_ok { "ws: or wss:" } else { "wss:" }
        ))
    })?;
    tracing::info!(%href, "WebSocket endpoint from host-meta");
    WsUrl::parse(&href)
        .map(Some)
        .ok_or_else(|| failed(format!("bad WebSocket URL {href:?} in host-meta")))
}

/// The first WebSocket link of a JRD document (`host-meta.json`): `wss:`
/// only unless `cleartext_ok`.
pub fn pick(jrd: &[u8], cleartext_ok: bool) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(jrd).ok()?;
    doc.get("links")?.as_array()?.iter().find_map(|l| {
        let href = l.get("href")?.as_str()?;
        let ok = href.starts_with("wss://") || (cleartext_ok && href.starts_with("ws://"));
        (l.get("rel")?.as_str()? == HOST_META_REL && ok).then(|| href.to_owned())
    })
}

/// GETs `/.well-known/host-meta.json` from `host` (HOST:PORT). Redirects
/// are not followed: one could only lead to an endpoint not announced by
/// the domain itself (or over plain HTTP).
async fn fetch(
    host: &str,
    domain: &str,
    https: bool,
    args: &ConnectArgs,
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let tcp = crate::login::dial(host, args.timeout)
        .await
        .map_err(|f| f.message)?;
    let io = if https {
        let config = match &args.ca_file {
            Some(path) => xmpp_stream::tls::ca_file_config(path)?,
            None => xmpp_stream::tls::system_roots_config()?,
        };
        xmpp_stream::tls::connect(tcp, config, domain).await?
    } else {
        xmpp_stream::Transport::Plain(tcp)
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(conn);
    // The authority asked: the domain, or the --server of a test.
    let authority = if https { domain } else { host };
    let req = hyper::Request::get("/.well-known/host-meta.json")
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())?;
    let response = tokio::time::timeout(args.timeout, sender.send_request(req)).await??;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()).into());
    }
    let body = tokio::time::timeout(args.timeout, response.into_body().collect()).await??;
    Ok(body.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::pick;

    #[test]
    fn only_wss_links_unless_cleartext_is_allowed() {
        let doc = br#"{"links":[
            {"rel":"urn:xmpp:alt-connections:xbosh","href":"https://a/bosh"},
            {"rel":"urn:xmpp:alt-connections:websocket","href":"ws://a/ws"},
            {"rel":"urn:xmpp:alt-connections:websocket","href":"wss://a/ws"}]}"#;
        assert_eq!(pick(doc, false).as_deref(), Some("wss://a/ws"));
        assert_eq!(pick(doc, true).as_deref(), Some("ws://a/ws"));
        let plain_only =
            br#"{"links":[{"rel":"urn:xmpp:alt-connections:websocket","href":"ws://a/ws"}]}"#;
        assert_eq!(pick(plain_only, false), None);
    }
}
