//! STARTTLS and direct TLS: every server × client policy, certificate
//! verification, and bytes pipelined behind `<starttls/>`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use common::*;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use xmpp_sasl::MechanismSelector;
use xmpp_stream::client::{connect, connect_direct_tls, ClientConfig, TlsMode};
use xmpp_stream::server::{accept, accept_direct_tls, ServerConfig, TlsPolicy};
use xmpp_stream::tls::ServerTls;
use xmpp_stream::{ClientError, Security};

/// A test CA and a certificate for `name` signed by it.
struct Pki {
    ca: CertificateDer<'static>,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn pki(name: &str) -> Pki {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca: ca.der().clone(),
        cert: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

fn trusting(ca: &CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

fn server_config(pki: &Pki, policy: TlsPolicy) -> ServerConfig {
    let mut config = ServerConfig::new(DOMAIN, store());
    config.tls = Some(ServerTls::from_der(vec![pki.cert.clone()], pki.key.clone_key()).unwrap());
    config.tls_policy = policy;
    config
}

/// A client that insists on PLAIN: it only succeeds where PLAIN is offered,
/// i.e. on a protected stream.
fn client_config(pki: &Pki, mode: TlsMode, plain: bool) -> ClientConfig {
    let selector = if plain {
        MechanismSelector::with_preference([xmpp_sasl::Mechanism::Plain])
    } else {
        MechanismSelector::with_preference([xmpp_sasl::Mechanism::ScramSha256])
    };
    let mut config = ClientConfig::new("juliet@example.com/tls", PASSWORD)
        .unwrap()
        .with_selector(selector)
        .with_tls(mode);
    config.tls_config = Some(trusting(&pki.ca));
    config
}

async fn run(policy: TlsPolicy, mode: TlsMode) -> (Result<bool, ClientError>, Option<bool>) {
    let pki = pki(DOMAIN);
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(accept(
        a,
        Arc::new(server_config(&pki, policy)),
        Security::Cleartext,
        None,
    ));
    // PLAIN works only over TLS; without TLS use SCRAM.
    let tls_expected = matches!(
        (policy, mode),
        (
            TlsPolicy::Optional | TlsPolicy::Required,
            TlsMode::Required | TlsMode::Opportunistic
        )
    );
    let client = connect(b, client_config(&pki, mode, tls_expected), None).await;
    let server_tls = server.await.unwrap().ok().map(|s| s.get_ref().is_tls());
    (client.map(|s| s.get_ref().is_tls()), server_tls)
}

#[tokio::test]
async fn every_policy_combination() {
    use TlsMode::{Off as COff, Opportunistic, Required as CReq};
    use TlsPolicy::{Off as SOff, Optional, Required as SReq};
    for (policy, mode, outcome) in [
        (SOff, CReq, None),
        (SOff, Opportunistic, Some(false)),
        (SOff, COff, Some(false)),
        (Optional, CReq, Some(true)),
        (Optional, Opportunistic, Some(true)),
        (Optional, COff, Some(false)),
        (SReq, CReq, Some(true)),
        (SReq, Opportunistic, Some(true)),
        (SReq, COff, None),
    ] {
        let (client, server) = run(policy, mode).await;
        match outcome {
            Some(tls) => {
                assert_eq!(
                    client.as_ref().ok(),
                    Some(&tls),
                    "{policy:?}/{mode:?}: {client:?}"
                );
                assert_eq!(server, Some(tls), "{policy:?}/{mode:?}");
            }
            None => {
                assert!(
                    matches!(client, Err(ClientError::Tls(_))),
                    "{policy:?}/{mode:?}: {client:?}"
                );
                assert_eq!(server, None);
            }
        }
    }
}

#[tokio::test]
async fn required_tls_offers_nothing_else_and_refuses_auth_before_it() {
    let pki = pki(DOMAIN);
    let (io, _server) = spawn_server(server_config(&pki, TlsPolicy::Required));
    let mut raw = Raw::new(io);
    raw.send(CLIENT_HEADER).await;
    let features = raw.until("</stream:features>").await;
    assert!(features.contains("<required"), "{features}");
    assert!(!features.contains("<mechanisms"), "{features}");
    raw.send(&plain_auth(USER, PASSWORD)).await;
    let out = raw.until("</failure>").await;
    assert!(out.contains("<encryption-required"), "{out}");
}

#[tokio::test]
async fn starttls_without_a_certificate_is_refused_with_failure() {
    let (io, server) = spawn_server(seed_config());
    let mut raw = Raw::new(io);
    raw.send(CLIENT_HEADER).await;
    raw.until("</stream:features>").await;
    raw.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await;
    let out = raw.until_eof().await;
    assert!(
        out.contains("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("</stream:stream>"), "{out}");
    assert!(server.await.unwrap().is_err());
}

#[tokio::test]
async fn an_untrusted_certificate_fails_with_a_reason() {
    let server_pki = pki(DOMAIN);
    let other_ca = pki(DOMAIN);
    let (a, b) = tokio::io::duplex(1 << 16);
    let _server = tokio::spawn(accept(
        a,
        Arc::new(server_config(&server_pki, TlsPolicy::Required)),
        Security::Cleartext,
        None,
    ));
    let err = connect(b, client_config(&other_ca, TlsMode::Required, true), None)
        .await
        .err()
        .expect("must not verify");
    match err {
        ClientError::Tls(reason) => assert!(reason.contains("certificate"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_certificate_for_another_name_fails() {
    let pki = pki("other.example");
    let (a, b) = tokio::io::duplex(1 << 16);
    let _server = tokio::spawn(accept(
        a,
        Arc::new(server_config(&pki, TlsPolicy::Required)),
        Security::Cleartext,
        None,
    ));
    let err = connect(b, client_config(&pki, TlsMode::Required, true), None)
        .await
        .err()
        .expect("name mismatch");
    assert!(matches!(err, ClientError::Tls(_)), "{err:?}");
}

#[tokio::test]
async fn direct_tls_both_sides() {
    let pki = pki(DOMAIN);
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(accept_direct_tls(
        a,
        Arc::new(server_config(&pki, TlsPolicy::Off)),
        None,
    ));
    // Off: no STARTTLS offered on a stream that is TLS from the first byte.
    let stream = connect_direct_tls(b, client_config(&pki, TlsMode::Required, true), None)
        .await
        .expect("login over direct TLS with PLAIN");
    assert!(stream.get_ref().is_tls());
    assert_eq!(stream.jid().as_str(), "juliet@example.com/tls");
    assert!(server.await.unwrap().unwrap().get_ref().is_tls());
}

/// After our `</stream:stream>`, a server that drops the connection without
/// a TLS close_notify (and without its own close; ejabberd 24.12 does)
/// ends the stream cleanly, as a FIN does without TLS: not an error.
#[tokio::test]
async fn a_peer_that_drops_tls_after_our_close_ends_the_stream() {
    use futures_util::{SinkExt as _, StreamExt as _};
    let pki = pki(DOMAIN);
    let (a, b) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(accept_direct_tls(
        a,
        Arc::new(server_config(&pki, TlsPolicy::Off)),
        None,
    ));
    let mut client = connect_direct_tls(b, client_config(&pki, TlsMode::Required, true), None)
        .await
        .unwrap();
    let server = server.await.unwrap().unwrap();
    client.close().await.unwrap();
    // Gone without reading: no close_notify, no </stream:stream>.
    drop(server);
    let end = tokio::time::timeout(std::time::Duration::from_secs(5), client.next())
        .await
        .expect("the stream ends");
    assert!(end.is_none(), "{end:?}");
    assert!(client.ended_cleanly());
}

#[tokio::test]
async fn starttls_over_tcp() {
    let pki = pki(DOMAIN);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Arc::new(server_config(&pki, TlsPolicy::Required));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        accept(tcp, config, Security::Cleartext, None).await
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let stream = connect(tcp, client_config(&pki, TlsMode::Required, true), None)
        .await
        .expect("login");
    assert!(stream.get_ref().is_tls());
    assert_eq!(server.await.unwrap().unwrap().jid(), stream.jid());
}

/// Writes `prefix` in the same write as the first bytes written through it,
/// and drops everything read up to and including the first `/>`.
struct Pipelined<S> {
    prefix: Option<Vec<u8>>,
    skipping: bool,
    inner: S,
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Pipelined<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(prefix) = self.prefix.take() {
            let mut joined = prefix.clone();
            joined.extend_from_slice(buf);
            // The duplex takes the whole buffer at once (it has room).
            return match Pin::new(&mut self.inner).poll_write(cx, &joined) {
                Poll::Ready(Ok(n)) => {
                    assert_eq!(n, joined.len(), "one write");
                    Poll::Ready(Ok(buf.len()))
                }
                other => {
                    self.prefix = Some(prefix);
                    other
                }
            };
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Pipelined<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.skipping {
            let mut byte = [0u8; 1];
            let mut one = ReadBuf::new(&mut byte);
            std::task::ready!(Pin::new(&mut self.inner).poll_read(cx, &mut one))?;
            if one.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            if byte[0] == b'>' {
                self.skipping = false;
            }
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

#[tokio::test]
async fn starttls_and_the_client_hello_in_one_read() {
    let pki = pki(DOMAIN);
    let (io, server) = spawn_server(server_config(&pki, TlsPolicy::Required));
    let mut raw = Raw::new(io);
    raw.send(CLIENT_HEADER).await;
    raw.until("</stream:features>").await;
    // `<starttls/>` and the ClientHello leave in one write, so the server
    // reads them together: the TLS layer must get the bytes the XML codec
    // read ahead.
    let pipelined = Pipelined {
        prefix: Some(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>".to_vec()),
        skipping: true,
        inner: raw.io,
    };
    let name = rustls::pki_types::ServerName::try_from(DOMAIN).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(trusting(&pki.ca))
        .connect(name, pipelined)
        .await
        .expect("handshake with pipelined bytes");
    tls.write_all(CLIENT_HEADER.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut seen = String::new();
    while !seen.contains("</stream:features>") {
        let n = tokio::io::AsyncReadExt::read(&mut tls, &mut buf)
            .await
            .unwrap();
        assert!(n > 0, "EOF: {seen}");
        seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    // After TLS, PLAIN is offered and STARTTLS no longer.
    assert!(seen.contains("<mechanism>PLAIN</mechanism>"), "{seen}");
    assert!(!seen.contains("starttls"), "{seen}");
    drop(tls);
    let _ = server.await;
}

/// Whitespace after `<starttls/>` (go-sendxmpp writes `<starttls/>\n`) is
/// XML, not the start of the TLS handshake: with the ClientHello in the same
/// read, or after the server's `<proceed/>`.
#[tokio::test]
async fn whitespace_after_starttls_is_not_taken_for_tls() {
    for pipelined_hello in [true, false] {
        let pki = pki(DOMAIN);
        let (io, server) = spawn_server(server_config(&pki, TlsPolicy::Required));
        let mut raw = Raw::new(io);
        raw.send(CLIENT_HEADER).await;
        raw.until("</stream:features>").await;
        let starttls = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\n \r\n".to_vec();
        let transport = if pipelined_hello {
            Pipelined {
                prefix: Some(starttls),
                skipping: true,
                inner: raw.io,
            }
        } else {
            raw.send(std::str::from_utf8(&starttls).unwrap()).await;
            raw.until("<proceed").await;
            Pipelined {
                prefix: None,
                skipping: false,
                inner: raw.io,
            }
        };
        let name = rustls::pki_types::ServerName::try_from(DOMAIN).unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(trusting(&pki.ca))
            .connect(name, transport)
            .await
            .unwrap_or_else(|e| panic!("handshake (pipelined: {pipelined_hello}): {e}"));
        tls.write_all(CLIENT_HEADER.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 4096];
        let mut seen = String::new();
        while !seen.contains("</stream:features>") {
            let n = tokio::io::AsyncReadExt::read(&mut tls, &mut buf)
                .await
                .unwrap();
            assert!(n > 0, "EOF: {seen}");
            seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        assert!(seen.contains("<mechanism>PLAIN</mechanism>"), "{seen}");
        drop(tls);
        let _ = server.await;
    }
}

#[tokio::test]
async fn scram_plus_is_preferred_over_tls_with_tls_exporter() {
    let pki = pki(DOMAIN);
    let (io, server) = spawn_server(server_config(&pki, TlsPolicy::Required));
    let mut config = ClientConfig::new("juliet@example.com/plus", PASSWORD).unwrap();
    config.tls_config = Some(trusting(&pki.ca));
    let stream = connect(io, config, None).await.expect("login");
    assert_eq!(stream.info().mechanism, "SCRAM-SHA-256-PLUS");
    let server = server.await.unwrap().unwrap();
    assert_eq!(server.info().mechanism, "SCRAM-SHA-256-PLUS");
}

#[tokio::test]
async fn scram_plus_with_tls_server_end_point_on_tls_1_2() {
    let pki = pki(DOMAIN);
    let mut config = server_config(&pki, TlsPolicy::Required);
    // TLS 1.2 has no safe tls-exporter here, so only the certificate hash
    // (computed by each side on its own) can bind.
    let tls12 = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![pki.cert.clone()], pki.key.clone_key())
    .unwrap();
    config.tls = Some(ServerTls {
        config: Arc::new(tls12),
        certificate: Some(pki.cert.clone()),
    });
    config.mechanisms = vec![
        xmpp_sasl::Mechanism::ScramSha1Plus,
        xmpp_sasl::Mechanism::ScramSha1,
    ];
    let (io, server) = spawn_server(config);
    let mut client = ClientConfig::new("juliet@example.com/plus", PASSWORD).unwrap();
    client.tls_config = Some(trusting(&pki.ca));
    let recorder = Arc::new(Recorder::default());
    let stream = connect(io, client, Some(recorder.clone()))
        .await
        .expect("login");
    assert_eq!(stream.info().mechanism, "SCRAM-SHA-1-PLUS");
    server.await.unwrap().unwrap();
    // The server advertised exactly the type it can bind to (XEP-0440).
    let log = recorder.0.lock().unwrap();
    let features = log
        .iter()
        .filter_map(|(_, f, _)| match f {
            xmpp_xml::Frame::Element(e) if e.name() == "features" => Some(e.clone()),
            _ => None,
        })
        .find(|e| {
            e.child("mechanisms", "urn:ietf:params:xml:ns:xmpp-sasl")
                .is_some()
        })
        .expect("features with mechanisms");
    let types: Vec<String> = features
        .child("sasl-channel-binding", "urn:xmpp:sasl-cb:0")
        .expect("XEP-0440 advertisement")
        .children()
        .filter_map(|c| c.attr("type").map(str::to_owned))
        .collect();
    assert_eq!(types, ["tls-server-end-point"]);
}

#[tokio::test]
async fn without_tls_no_plus_is_offered_and_scram_binds_nothing() {
    let (io, server) = spawn_server(seed_config());
    let mut raw = Raw::new(io);
    raw.send(CLIENT_HEADER).await;
    let features = raw.until("</stream:features>").await;
    assert!(!features.contains("-PLUS"), "{features}");
    assert!(!features.contains("sasl-channel-binding"), "{features}");
    drop(raw);
    let _ = server.await;
}

/// A raw client that negotiates STARTTLS and then speaks raw XML over TLS.
async fn raw_tls(
    pki: &Pki,
    config: ServerConfig,
) -> tokio_rustls::client::TlsStream<tokio::io::DuplexStream> {
    let (io, _server) = spawn_server(config);
    let mut raw = Raw::new(io);
    raw.send(CLIENT_HEADER).await;
    raw.until("</stream:features>").await;
    raw.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .await;
    raw.until("<proceed").await;
    raw.until(">").await;
    let name = rustls::pki_types::ServerName::try_from(DOMAIN).unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(trusting(&pki.ca))
        .connect(name, raw.io)
        .await
        .expect("handshake");
    tls.write_all(CLIENT_HEADER.as_bytes()).await.unwrap();
    read_until(&mut tls, "</stream:features>").await;
    tls
}

async fn read_until(
    tls: &mut tokio_rustls::client::TlsStream<tokio::io::DuplexStream>,
    needle: &str,
) -> String {
    let mut buf = vec![0u8; 4096];
    let mut seen = String::new();
    while !seen.contains(needle) {
        let n = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(tls, &mut buf),
        )
        .await
        .expect("in time")
        .unwrap();
        assert!(n > 0, "EOF before {needle}: {seen}");
        seen.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    seen
}

/// Sends SCRAM-SHA-1's client-first message with this GS2 header.
async fn scram_sha1_first(
    tls: &mut tokio_rustls::client::TlsStream<tokio::io::DuplexStream>,
    gs2: &str,
) {
    let first = b64(format!("{gs2}n=juliet,r=fyko+d2lbbFgONRv9qkxdawL").as_bytes());
    let auth = format!(
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>{first}</auth>"
    );
    tls.write_all(auth.as_bytes()).await.unwrap();
}

#[tokio::test]
async fn a_y_flag_where_plus_was_offered_is_a_downgrade() {
    let pki = pki(DOMAIN);
    let mut tls = raw_tls(&pki, server_config(&pki, TlsPolicy::Required)).await;
    // "y": the client could bind but saw no -PLUS offer. We offered it, so
    // someone stripped it on the way (RFC 5802 §6).
    scram_sha1_first(&mut tls, "y,,").await;
    let out = read_until(&mut tls, "</failure>").await;
    assert!(!out.contains("<challenge"), "{out}");
}

#[tokio::test]
async fn an_n_flag_with_plain_scram_over_tls_still_works() {
    let pki = pki(DOMAIN);
    let mut tls = raw_tls(&pki, server_config(&pki, TlsPolicy::Required)).await;
    scram_sha1_first(&mut tls, "n,,").await;
    read_until(&mut tls, "</challenge>").await;
}

/// The first TLS record the client sends (its ClientHello, in the clear).
async fn client_hello(direct: bool) -> Vec<u8> {
    use tokio::io::AsyncReadExt as _;
    let pki = pki(DOMAIN);
    let (a, mut server) = tokio::io::duplex(1 << 16);
    let config = client_config(&pki, TlsMode::Required, true);
    let client = tokio::spawn(async move {
        if direct {
            connect_direct_tls(a, config, None).await.map(|_| ())
        } else {
            connect(a, config, None).await.map(|_| ())
        }
    });
    let mut header = [0u8; 5];
    server.read_exact(&mut header).await.unwrap();
    let mut hello = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
    server.read_exact(&mut hello).await.unwrap();
    client.abort();
    assert_eq!(header[0], 22, "a TLS handshake record first");
    hello
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn direct_tls_offers_alpn_xmpp_client_and_sni_of_the_domain() {
    let hello = client_hello(true).await;
    // ALPN (RFC 7301): a protocol name is a length byte, then the name.
    assert!(contains(&hello, b"\x0bxmpp-client"), "no ALPN xmpp-client");
    // SNI (RFC 6066): the XMPP domain, length-prefixed.
    let mut sni = (DOMAIN.len() as u16).to_be_bytes().to_vec();
    sni.extend_from_slice(DOMAIN.as_bytes());
    assert!(contains(&hello, &sni), "no SNI {DOMAIN}");
}

/// A client that reconnects with the same rustls configuration resumes its
/// TLS 1.3 session from the server's ticket (stateless, so any number of
/// clients can), on STARTTLS and direct TLS alike: the same server
/// configuration serves both.
#[tokio::test]
async fn a_reconnecting_client_resumes_its_tls_session() {
    use rustls::HandshakeKind;
    use tokio::io::AsyncReadExt as _;
    let pki = pki(DOMAIN);
    let server = ServerTls::from_der(vec![pki.cert.clone()], pki.key.clone_key()).unwrap();
    let client = trusting(&pki.ca);
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let (c, s) = tokio::io::duplex(1 << 16);
        let acceptor = tokio_rustls::TlsAcceptor::from(server.config.clone());
        let connector = tokio_rustls::TlsConnector::from(client.clone());
        let name = rustls::pki_types::ServerName::try_from(DOMAIN).unwrap();
        let (s, c) = tokio::join!(acceptor.accept(s), connector.connect(name, c));
        let (mut s, mut c) = (s.unwrap(), c.unwrap());
        // The ticket comes after the handshake, before this byte.
        s.write_all(b"x").await.unwrap();
        s.flush().await.unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).await.unwrap();
        kinds.push(c.get_ref().1.handshake_kind());
    }
    assert_eq!(
        kinds,
        [
            Some(HandshakeKind::Full),
            Some(HandshakeKind::Resumed),
            Some(HandshakeKind::Resumed)
        ]
    );
}
