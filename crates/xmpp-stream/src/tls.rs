//! STARTTLS (RFC 6120 §5) and direct TLS (XEP-0368) with rustls: policies,
//! client configurations, handshakes and the channel-binding data they
//! yield. Configurations that skip verification are in [`crate::danger`].

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::negotiation::ChannelBindings;
use crate::transport::{Rewind, Transport};

/// The rustls crate these types come from, for building configurations.
pub use rustls;

/// The TLS provider used everywhere (ring: no C toolchain beyond a C
/// compiler, no cmake), with the AES-128-GCM suites first, as browsers
/// order them: with them the handshake's transcript hash and key schedule
/// are SHA-256, which CPUs compute in hardware (SHA-NI, ARMv8), where the
/// default first choice, AES-256-GCM with SHA-384, hashes in software
/// (SHA-512): 5% of a server's CPU per STARTTLS login in our profile.
/// Every suite stays offered, in its relative order otherwise.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| !is_aes_128_gcm(s.suite()));
    Arc::new(provider)
}

fn is_aes_128_gcm(suite: rustls::CipherSuite) -> bool {
    use rustls::CipherSuite as C;
    matches!(
        suite,
        C::TLS13_AES_128_GCM_SHA256
            | C::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | C::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    )
}

/// The bindings every TLS connection has: `tls-exporter`, on TLS 1.3 only
/// (on TLS 1.2 it is safe only with the extended master secret, which we do
/// not check). `tls-server-end-point` is added by the side that knows the
/// certificate.
fn bindings_from_connection(
    conn: &rustls::CommonState,
    exporter: impl FnOnce() -> Option<Vec<u8>>,
) -> ChannelBindings {
    let tls13 = conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3);
    ChannelBindings {
        tls_exporter: if tls13 { exporter() } else { None },
        tls_server_end_point: None,
    }
}

const EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// The channel bindings of a client-side TLS connection.
pub(crate) fn client_bindings<S>(tls: &tokio_rustls::client::TlsStream<S>) -> ChannelBindings {
    let (_, conn) = tls.get_ref();
    let mut cb = bindings_from_connection(conn, || {
        conn.export_keying_material([0u8; 32], EXPORTER_LABEL, None)
            .ok()
            .map(|k| k.to_vec())
    });
    cb.tls_server_end_point = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| end_point_hash(c));
    cb
}

/// The channel bindings of a server-side TLS connection; `cert` is the
/// certificate we presented.
pub(crate) fn server_bindings<S>(
    tls: &tokio_rustls::server::TlsStream<S>,
    cert: Option<&CertificateDer<'_>>,
) -> ChannelBindings {
    let (_, conn) = tls.get_ref();
    let mut cb = bindings_from_connection(conn, || {
        conn.export_keying_material([0u8; 32], EXPORTER_LABEL, None)
            .ok()
            .map(|k| k.to_vec())
    });
    cb.tls_server_end_point = cert.and_then(end_point_hash);
    cb
}

/// RFC 5929 §4.1: hash the certificate with the hash of its signature
/// algorithm, using SHA-256 where that is MD5 or SHA-1.
pub(crate) fn end_point_hash(cert: &CertificateDer<'_>) -> Option<Vec<u8>> {
    use sha2::Digest as _;
    let der = cert.as_ref();
    Some(match signature_hash(der)? {
        SigHash::Sha384 => sha2::Sha384::digest(der).to_vec(),
        SigHash::Sha512 => sha2::Sha512::digest(der).to_vec(),
        SigHash::Sha256 => sha2::Sha256::digest(der).to_vec(),
    })
}

enum SigHash {
    Sha256,
    Sha384,
    Sha512,
}

/// Reads `Certificate.signatureAlgorithm` (RFC 5280 §4.1.1.2) from DER.
fn signature_hash(der: &[u8]) -> Option<SigHash> {
    let (cert, _) = der_seq(der)?;
    let (_, tbs_len, tbs_hdr) = der_header(cert)?;
    let after_tbs = cert.get(tbs_hdr + tbs_len..)?;
    let (alg, _) = der_seq(after_tbs)?;
    let (tag, oid_len, oid_hdr) = der_header(alg)?;
    if tag != 0x06 {
        return None;
    }
    let oid = alg.get(oid_hdr..oid_hdr + oid_len)?;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    Some(match oid {
        [rsa @ .., 12] if rsa == RSA => SigHash::Sha384,
        [rsa @ .., 13] if rsa == RSA => SigHash::Sha512,
        [ec @ .., 3] if ec == ECDSA => SigHash::Sha384,
        [ec @ .., 4] if ec == ECDSA => SigHash::Sha512,
        // SHA-256 and everything weaker (RFC 5929 §4.1), and Ed25519, whose
        // hash is not separate (draft usage: SHA-256).
        _ => SigHash::Sha256,
    })
}

/// A DER TLV header: (tag, content length, header length).
fn der_header(b: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    if first < 0x80 {
        return Some((tag, first, 2));
    }
    let n = first & 0x7f;
    if n == 0 || n > 4 {
        return None;
    }
    let len = b
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, &x| (acc << 8) | x as usize);
    Some((tag, len, 2 + n))
}

/// The contents of a DER SEQUENCE at the start of `b`, and what follows it.
fn der_seq(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, len, hdr) = der_header(b)?;
    if tag != 0x30 {
        return None;
    }
    Some((b.get(hdr..hdr + len)?, b.get(hdr + len..)?))
}

/// The ALPN protocol of direct TLS client connections (XEP-0368).
pub const ALPN_XMPP_CLIENT: &[u8] = b"xmpp-client";

/// `config` offering ALPN `protocol` and nothing else (a copy, unless it
/// does already).
pub(crate) fn with_alpn(
    config: &Arc<rustls::ClientConfig>,
    protocol: &[u8],
) -> Arc<rustls::ClientConfig> {
    if config.alpn_protocols == [protocol] {
        return config.clone();
    }
    let mut c = (**config).clone();
    c.alpn_protocols = vec![protocol.to_vec()];
    Arc::new(c)
}

/// A rustls client configuration that trusts the system's root
/// certificates.
pub fn system_roots_config() -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // Skip the odd unparsable system certificate rather than failing.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no system root certificates found",
        ));
    }
    client_config_with_roots(roots)
}

/// A rustls client configuration that trusts the CA certificates in a PEM
/// file.
pub fn ca_file_config(path: &std::path::Path) -> io::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(pem_error)? {
        roots
            .add(cert.map_err(pem_error)?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    }
    if roots.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no certificates in {}", path.display()),
        ));
    }
    client_config_with_roots(roots)
}

fn pem_error(e: rustls::pki_types::pem::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn client_config_with_roots(roots: rustls::RootCertStore) -> io::Result<Arc<rustls::ClientConfig>> {
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A server's TLS setup: the rustls configuration and the certificate it
/// presents (for `tls-server-end-point` channel binding).
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// The rustls configuration.
    pub config: Arc<rustls::ServerConfig>,
    /// The end-entity certificate the configuration presents, if known.
    pub certificate: Option<CertificateDer<'static>>,
}

impl ServerTls {
    /// From a PEM certificate chain (end-entity first) and private key.
    pub fn from_pem_files(cert_chain: &std::path::Path, key: &std::path::Path) -> io::Result<Self> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::PrivateKeyDer;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_chain)
            .map_err(pem_error)?
            .collect::<Result<_, _>>()
            .map_err(pem_error)?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(pem_error)?;
        Self::from_der(certs, key)
    }

    /// From DER certificates (end-entity first) and key.
    pub fn from_der(
        certs: Vec<CertificateDer<'static>>,
        key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> io::Result<Self> {
        let certificate = certs.first().cloned();
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        resumable(&mut config)?;
        Ok(ServerTls {
            config: Arc::new(config),
            certificate,
        })
    }
}

/// Session resumption for clients that reconnect (STARTTLS and direct TLS
/// alike): stateless tickets (RFC 8446 §4.6.1, encrypted under a key that
/// rustls' [`Ticketer`](rustls::crypto::ring::Ticketer) rotates every six
/// hours, so the server keeps nothing per ticket and any number of clients
/// can resume), one per full handshake, which the client spends on its next
/// connection and replaces with the fresh ticket it gets there; and a larger
/// session-id cache for TLS 1.2 clients. A resumed handshake skips the
/// certificate, its signature and the key exchange's share of the server's
/// CPU; channel binding is unchanged (`tls-exporter` is per connection).
fn resumable(config: &mut rustls::ServerConfig) -> io::Result<()> {
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(io::Error::other)?;
    config.send_tls13_tickets = 1;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    Ok(())
}

/// TLS 1.2 sessions kept for resumption by session id (TLS 1.3 and TLS 1.2
/// clients that take tickets need none).
const SESSION_CACHE: usize = 4096;

/// Upgrades a plain transport to TLS as the client; `buffered` are bytes the
/// XML codec read but did not consume.
pub(crate) async fn upgrade_client<S>(
    transport: Transport<S>,
    buffered: BytesMut,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> io::Result<(Transport<S>, ChannelBindings)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Transport::Plain(io) = transport else {
        return Err(io::Error::other("TLS is already active"));
    };
    let name = ServerName::try_from(server_name.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, Rewind::after_xml(buffered, io))
        .await?;
    let cb = client_bindings(&tls);
    Ok((Transport::TlsClient(Box::new(tls)), cb))
}

/// Upgrades a plain transport to TLS as the server.
pub(crate) async fn upgrade_server<S>(
    transport: Transport<S>,
    buffered: BytesMut,
    setup: &ServerTls,
) -> io::Result<(Transport<S>, ChannelBindings)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Transport::Plain(io) = transport else {
        return Err(io::Error::other("TLS is already active"));
    };
    let tls = tokio_rustls::TlsAcceptor::from(setup.config.clone())
        .accept(Rewind::after_xml(buffered, io))
        .await?;
    let cb = server_bindings(&tls, setup.certificate.as_ref());
    Ok((Transport::TlsServer(Box::new(tls)), cb))
}

/// The server's TLS handshake on a fresh connection, for transports that
/// run TLS themselves before any XMPP (WebSocket's `wss:`, behind an HTTP
/// server).
pub async fn accept<S>(io: S, setup: &ServerTls) -> io::Result<Transport<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let tls = tokio_rustls::TlsAcceptor::from(setup.config.clone())
        .accept(Rewind::new(BytesMut::new(), io))
        .await?;
    Ok(Transport::TlsServer(Box::new(tls)))
}

/// The client's TLS handshake on a fresh connection, checking the
/// certificate against `server_name` (for HTTPS before a WebSocket, say).
pub async fn connect<S>(
    io: S,
    config: Arc<rustls::ClientConfig>,
    server_name: &str,
) -> io::Result<Transport<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (t, _) = upgrade_client(Transport::Plain(io), BytesMut::new(), config, server_name).await?;
    Ok(t)
}
