//! The probe's TLS: a verifier that records the chain, the OCSP staple and
//! its verdict instead of aborting (so the probe sees what comes after an
//! untrusted certificate), and the certificates read for the report.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_rustls::TlsConnector;
use xmpp_stream::tls::rustls;
use xmpp_stream::tls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use xmpp_stream::tls::rustls::client::WebPkiServerVerifier;
use xmpp_stream::tls::rustls::pki_types::pem::PemObject as _;
use xmpp_stream::tls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use xmpp_stream::tls::rustls::{DigitallySignedStruct, SignatureScheme};

use super::report::{Certificate, Tls};
use super::wire::Io;

/// XMPP addresses in a certificate (RFC 6120 §13.7.1.4, id-on-xmppAddr).
const OID_XMPP_ADDR: &str = "1.3.6.1.5.5.7.8.5";

/// The roots to verify against: `--ca-file`, else the system's.
pub fn roots(ca_file: Option<&std::path::Path>) -> io::Result<Arc<rustls::RootCertStore>> {
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let bad = |e: rustls::pki_types::pem::Error| {
                io::Error::new(io::ErrorKind::InvalidData, e.to_string())
            };
            for cert in CertificateDer::pem_file_iter(path).map_err(bad)? {
                roots
                    .add(cert.map_err(bad)?)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // An unparsable system certificate is skipped, as login does.
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no trusted root certificates",
        ));
    }
    Ok(Arc::new(roots))
}

/// What the verifier saw.
#[derive(Debug, Default)]
struct Seen {
    chain: Vec<CertificateDer<'static>>,
    ocsp: bool,
    verdict: Option<Result<(), String>>,
}

/// Verifies with rustls' WebPKI verifier for the name connected to or, if
/// given, `alt` (an HTTPS or WebSocket endpoint in host-meta may carry the
/// XMPP domain instead: XEP-0156). A `lenient` one records the chain and
/// the verdict and lets the handshake go on (the probe reports a bad
/// certificate and still sees what is behind it). Handshake signatures are
/// always checked: the probe talks to whoever holds the certificate's key.
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    alt: Option<ServerName<'static>>,
    lenient: bool,
    seen: Mutex<Seen>,
}

impl Verifier {
    fn new(
        roots: &Arc<rustls::RootCertStore>,
        alt: Option<ServerName<'static>>,
        lenient: bool,
    ) -> Result<(Arc<Verifier>, Arc<rustls::crypto::CryptoProvider>), String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let inner = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| e.to_string())?;
        let verifier = Verifier {
            inner,
            alt,
            lenient,
            seen: Mutex::new(Seen::default()),
        };
        Ok((Arc::new(verifier), provider))
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verify = |name: &ServerName<'_>| {
            self.inner
                .verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
        };
        let verdict = verify(server_name).or_else(|first| match &self.alt {
            Some(alt) => verify(alt).map_err(|_| first),
            None => Err(first),
        });
        if !self.lenient {
            return verdict;
        }
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        seen.ocsp = !ocsp_response.is_empty();
        seen.verdict = Some(verdict.map(|_| ()).map_err(|e| e.to_string()));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A client configuration whose certificates must verify for the name
/// connected to or for `domain`.
pub fn web_config(
    roots: &Arc<rustls::RootCertStore>,
    domain: &str,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let domain = ServerName::try_from(domain.to_owned()).map_err(|e| e.to_string())?;
    let (verifier, provider) = Verifier::new(roots, Some(domain), false)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Which TLS versions a handshake may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Versions {
    /// Both that rustls speaks (1.2 and 1.3).
    Any,
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Runs a TLS handshake over `io` for `domain` (SNI and the name checked),
/// offering `alpn` if given. The report is filled in whether or not it
/// succeeds; the stream is returned when it does.
pub async fn handshake(
    io: Io,
    domain: &str,
    roots: &Arc<rustls::RootCertStore>,
    versions: Versions,
    alpn: Option<&[u8]>,
    timeout: Duration,
) -> (Tls, Option<Io>) {
    let mut report = Tls {
        ok: false,
        error: None,
        version: None,
        cipher: None,
        alpn: None,
        ms: None,
        versions: Vec::new(),
        certificates: Vec::new(),
        verified: false,
        verify_error: None,
        ocsp_stapled: false,
    };
    let recorder = match config(roots, versions, alpn) {
        Ok(r) => r,
        Err(e) => {
            report.error = Some(e);
            return (report, None);
        }
    };
    let (config, recorder) = recorder;
    let name = match ServerName::try_from(domain.to_owned()) {
        Ok(n) => n,
        Err(e) => {
            report.error = Some(format!("{domain:?} is not a valid TLS server name: {e}"));
            return (report, None);
        }
    };
    let started = std::time::Instant::now();
    let connected =
        tokio::time::timeout(timeout, TlsConnector::from(config).connect(name, io)).await;
    let seen = std::mem::take(&mut *recorder.seen.lock().unwrap_or_else(PoisonError::into_inner));
    report.certificates = seen.chain.iter().filter_map(|c| certificate(c)).collect();
    report.ocsp_stapled = seen.ocsp;
    match seen.verdict {
        Some(Ok(())) => report.verified = true,
        Some(Err(e)) => report.verify_error = Some(e),
        None => {}
    }
    let tls = match connected {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            report.error = Some(e.to_string());
            return (report, None);
        }
        Err(_) => {
            report.error = Some(format!("no TLS handshake within {timeout:?}"));
            return (report, None);
        }
    };
    report.ms = Some(super::ms(started.elapsed()));
    let conn = tls.get_ref().1;
    report.ok = true;
    report.version = conn.protocol_version().map(|v| match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLS1.3".to_owned(),
        rustls::ProtocolVersion::TLSv1_2 => "TLS1.2".to_owned(),
        other => format!("{other:?}"),
    });
    report.cipher = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()));
    report.alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    (report, Some(Box::new(tls)))
}

type Configured = (Arc<rustls::ClientConfig>, Arc<Verifier>);

fn config(
    roots: &Arc<rustls::RootCertStore>,
    versions: Versions,
    alpn: Option<&[u8]>,
) -> Result<Configured, String> {
    let (recorder, provider) = Verifier::new(roots, None, true)?;
    let versions: &[&rustls::SupportedProtocolVersion] = match versions {
        Versions::Any => rustls::DEFAULT_VERSIONS,
        Versions::Tls12 => &[&rustls::version::TLS12],
        Versions::Tls13 => &[&rustls::version::TLS13],
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    if let Some(p) = alpn {
        config.alpn_protocols = vec![p.to_vec()];
    }
    Ok((Arc::new(config), recorder))
}

/// One certificate for the report; `None` if it does not parse (the
/// verifier has said so already).
fn certificate(der: &CertificateDer<'_>) -> Option<Certificate> {
    use x509_parser::prelude::{FromDer as _, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => names.push((*n).to_owned()),
                GeneralName::OtherName(oid, value) if oid.to_id_string() == OID_XMPP_ADDR => {
                    names.push(format!("xmpp:{}", utf8_string(value)));
                }
                _ => {}
            }
        }
    }
    let validity = cert.validity();
    let not_before = validity.not_before.timestamp();
    let not_after = validity.not_after.timestamp();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Some(Certificate {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        names,
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_left: (not_after - now).div_euclid(86_400),
    })
}

/// The text of an `[0] EXPLICIT UTF8String` (how xmppAddr is encoded),
/// or the bytes as they are if it is not one.
fn utf8_string(value: &[u8]) -> String {
    // Skip the explicit tag's and the UTF8String's headers (short lengths).
    let inner = match value {
        [0xa0, _, 0x0c, _, rest @ ..] => rest,
        [0x0c, _, rest @ ..] => rest,
        other => other,
    };
    String::from_utf8_lossy(inner).into_owned()
}

fn rfc3339(secs: i64) -> String {
    let t = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    humantime::format_rfc3339_seconds(t).to_string()
}
