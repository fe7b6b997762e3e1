//! Configurations that switch off TLS's protection against an active
//! attacker. Every item here says so in its name; none is used unless a
//! caller asks for it.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};

use crate::tls::provider;

/// A client configuration that accepts any certificate for any name. The
/// server is not authenticated: anyone on the path can impersonate it and
/// see what the client sends (with PLAIN, the password). Only passive
/// listeners are kept out.
///
/// For tests against throwaway certificates; the CLI's `--insecure`.
///
/// ```
/// use xmpp_stream::client::ClientConfig;
///
/// let mut config = ClientConfig::new("juliet@example.com", "r0m30myr0m30")?;
/// config.tls_config = Some(xmpp_stream::danger::unverified_client_config());
/// # Ok::<(), xmpp_stream::client::InvalidJid>(())
/// ```
pub fn unverified_client_config() -> Arc<rustls::ClientConfig> {
    let provider = provider();
    let verifier = Arc::new(AcceptAnything(provider.clone()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        });
    // The ring provider supports the default versions; this cannot fail.
    #[allow(clippy::expect_used)]
    Arc::new(config.expect("ring supports the safe default protocol versions"))
}

#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
