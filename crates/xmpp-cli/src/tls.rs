//! TLS helpers for the commands: throwaway certificates, client trust
//! settings, and a passive probe that reads the negotiated TLS version and
//! cipher suite off the wire for the transcript.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use xmpp_stream::tls::rustls;
use xmpp_stream::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A throwaway CA and a certificate for some names, signed by it.
pub struct Generated {
    /// The CA certificate (what a client must trust).
    pub ca: CertificateDer<'static>,
    /// The CA certificate as PEM.
    pub ca_pem: String,
    /// The server's TLS setup.
    pub server: xmpp_stream::tls::ServerTls,
}

/// Generates a CA and a certificate for `names` (the served domains).
/// A separate CA rather than one self-signed leaf: it is what a client's
/// `--ca-file` expects, and what the certificate path checks of every TLS
/// library accept.
pub fn generate(names: &[String]) -> Result<Generated, String> {
    let err = |e: rcgen::Error| format!("cannot generate a certificate: {e}");
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "xmpp serve throwaway CA (not for production)",
    );
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err)?;
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(err)?;
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, first.as_str());
    }
    let cert = params.signed_by(&key, &ca).map_err(err)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let server = xmpp_stream::tls::ServerTls::from_der(vec![cert.der().clone()], key)
        .map_err(|e| format!("cannot use the generated certificate: {e}"))?;
    Ok(Generated {
        ca: ca.der().clone(),
        ca_pem: ca.pem(),
        server,
    })
}

/// A client configuration that trusts exactly `ca`.
pub fn trusting(ca: &CertificateDer<'static>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Adds advice to a TLS failure message, keeping rustls' reason.
pub fn advice(message: &str) -> Option<&'static str> {
    let m = message;
    if m.contains("UnknownIssuer") || m.contains("unknown issuer") {
        Some("the server's certificate is not signed by a CA we trust: give its CA with --ca-file PEM (or, for a throwaway test server only, --insecure)")
    } else if m.contains("NotValidForName") || m.contains("not valid for name") {
        Some("the certificate does not name this domain: if the server legitimately presents another name, pass it with --tls-server-name")
    } else if m.contains("Expired") || m.contains("expired") || m.contains("NotValidYet") {
        Some("the certificate is outside its validity period (check the clock)")
    } else if m.contains("does not offer STARTTLS") {
        Some("this server offers no TLS: to log in without it anyway, pass --tls opportunistic (or --tls off); the session is then readable on the network")
    } else if m.contains("requires TLS and our policy forbids it") {
        Some("drop --tls off (the server insists on STARTTLS)")
    } else if m.contains("invalid peer certificate") || m.contains("certificate") {
        Some("the server's certificate failed verification")
    } else {
        None
    }
}

/// What the probe has seen of a TLS handshake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// The client's first TLS record went out.
    pub started: bool,
    /// The negotiated version, e.g. "TLS1.3", once the ServerHello is read.
    pub version: Option<&'static str>,
    /// The negotiated cipher suite's name.
    pub cipher: Option<String>,
}

/// Shared between the [`Probe`] on the socket and whoever reports.
#[derive(Debug, Default)]
pub struct ProbeState {
    seen: Mutex<(Seen, Vec<u8>)>,
}

impl ProbeState {
    /// What has been seen so far.
    pub fn seen(&self) -> Seen {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }
}

/// Wraps the client's socket and reads the ServerHello as it passes (it
/// is sent in the clear in TLS 1.2 and 1.3): xmpp-stream runs the TLS
/// handshake inside `connect`, and this is how the transcript learns the
/// version and cipher suite without a hook there.
pub struct Probe<S> {
    io: S,
    state: Arc<ProbeState>,
}

impl<S> Probe<S> {
    /// Wraps `io`.
    pub fn new(io: S, state: Arc<ProbeState>) -> Self {
        Probe { io, state }
    }
}

/// The largest prefix of the server's TLS bytes kept to find the
/// ServerHello in (it comes first and is small).
const MAX_HELLO: usize = 16 * 1024;

/// Parses a ServerHello from the start of the server's TLS bytes:
/// `Ok(None)` = need more bytes, `Err(())` = not a ServerHello.
#[allow(clippy::result_unit_err)]
pub fn parse_server_hello(b: &[u8]) -> Result<Option<(&'static str, u16)>, ()> {
    // Record header: type 22 (handshake), version, length.
    if b.len() < 5 {
        return Ok(None);
    }
    if b[0] != 0x16 {
        return Err(());
    }
    let rec_len = usize::from(u16::from_be_bytes([b[3], b[4]]));
    let Some(rec) = b.get(5..5 + rec_len) else {
        return Ok(None);
    };
    // Handshake header: type 2 (ServerHello), 24-bit length.
    if rec.len() < 4 || rec[0] != 0x02 {
        return Err(());
    }
    let body = &rec[4..];
    let get = |at: usize, n: usize| body.get(at..at + n).ok_or(());
    let legacy = u16::from_be_bytes([get(0, 2)?[0], get(0, 2)?[1]]);
    let sid_len = usize::from(get(34, 1)?[0]);
    let at = 35 + sid_len;
    let suite = get(at, 2)?;
    let suite = u16::from_be_bytes([suite[0], suite[1]]);
    let mut version = legacy;
    // Extensions after the compression method: supported_versions (43)
    // carries the real version in TLS 1.3.
    if let Ok(len) = get(at + 3, 2) {
        let end = at + 5 + usize::from(u16::from_be_bytes([len[0], len[1]]));
        let mut p = at + 5;
        while p + 4 <= end {
            let t = get(p, 2)?;
            let l = get(p + 2, 2)?;
            let (t, l) = (
                u16::from_be_bytes([t[0], t[1]]),
                usize::from(u16::from_be_bytes([l[0], l[1]])),
            );
            if t == 43 && l == 2 {
                let v = get(p + 4, 2)?;
                version = u16::from_be_bytes([v[0], v[1]]);
            }
            p += 4 + l;
        }
    }
    let name = match version {
        0x0304 => "TLS1.3",
        0x0303 => "TLS1.2",
        _ => "TLS (an old version)",
    };
    Ok(Some((name, suite)))
}

impl<S: AsyncRead + Unpin> AsyncRead for Probe<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let mut guard = this
                .state
                .seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (seen, hello) = &mut *guard;
            if seen.started && seen.version.is_none() && hello.len() < MAX_HELLO {
                hello.extend_from_slice(&buf.filled()[before..]);
                match parse_server_hello(hello) {
                    Ok(Some((version, suite))) => {
                        seen.version = Some(version);
                        seen.cipher = Some(format!("{:?}", rustls::CipherSuite::from(suite)));
                        hello.clear();
                    }
                    Ok(None) => {}
                    Err(()) => {
                        seen.version = Some("TLS");
                        hello.clear();
                    }
                }
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Probe<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // XML never starts with 0x16: this is the ClientHello.
        if buf.first() == Some(&0x16) {
            let mut guard = self
                .state
                .seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            guard.0.started = true;
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_tls13_server_hello() {
        // A ServerHello as rustls sends it: TLS_AES_256_GCM_SHA384 and
        // supported_versions = TLS 1.3 (RFC 8446 §4.1.3, §4.2.1).
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]);
        body.push(0); // no session id
        body.extend([0x13, 0x02, 0x00]);
        let ext = [0x00, 0x2b, 0x00, 0x02, 0x03, 0x04];
        body.extend((ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut hs = vec![0x02, 0, 0, body.len() as u8];
        hs.extend(&body);
        let mut rec = vec![0x16, 0x03, 0x03];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(&hs);
        assert_eq!(parse_server_hello(&rec[..10]), Ok(None));
        assert_eq!(parse_server_hello(&rec), Ok(Some(("TLS1.3", 0x1302))));
        assert_eq!(
            format!("{:?}", rustls::CipherSuite::from(0x1302)),
            "TLS13_AES_256_GCM_SHA384"
        );
        assert!(parse_server_hello(b"<stream:stream>").is_err());
    }
}
