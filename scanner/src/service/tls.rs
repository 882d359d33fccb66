//! TLS for version detection: a client (rustls) that accepts any certificate, since a
//! scanner must talk to self-signed and expired servers alike, and the facts of the
//! certificate the server showed (subject, issuer, validity), kept for the output and
//! for scripts. Nothing is verified and nothing here is trusted.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a server's certificate says, as the output shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// The subject, as `CN=web.lab.test, O=…`.
    pub subject: String,
    pub issuer: String,
    /// Validity, as RFC 3339 UTC times.
    pub not_before: String,
    pub not_after: String,
    /// The TLS version the handshake settled on.
    pub protocol: String,
}

/// Accepts every certificate: the scanner reports what a server shows, it does not
/// judge it. The signatures are still checked to be well formed by rustls's provider.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The one client configuration, built on first use.
fn connector() -> TlsConnector {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth();
        Arc::new(config)
    });
    TlsConnector::from(config.clone())
}

/// Opens a TLS session over a new connection to `addr`; `None` if the connection or
/// the handshake fails or times out.
pub async fn connect(addr: SocketAddr, tcp: TcpStream) -> Option<TlsStream<TcpStream>> {
    let name = ServerName::IpAddress(addr.ip().into());
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connector().connect(name, tcp))
        .await
        .ok()?
        .ok()
}

/// The facts of the certificate `session`'s server showed, if it showed one that parses.
pub fn certificate_of(session: &TlsStream<TcpStream>) -> Option<CertificateInfo> {
    let (_, connection) = session.get_ref();
    let der = connection.peer_certificates()?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let validity = cert.validity();
    let time = |t: x509_parser::time::ASN1Time| match u64::try_from(t.timestamp()) {
        Ok(secs) => crate::report::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(secs)),
        Err(_) => t.to_string(),
    };
    Some(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: time(validity.not_before),
        not_after: time(validity.not_after),
        protocol: connection
            .protocol_version()
            // "TLSv1_3" as people write it: "TLSv1.3".
            .map(|v| format!("{v:?}").replace('_', "."))
            .unwrap_or_default(),
    })
}
