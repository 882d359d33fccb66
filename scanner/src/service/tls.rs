//! TLS for version detection: a client (rustls) that accepts any certificate, since a
//! scanner must talk to self-signed and expired servers alike, and the facts of the
//! certificate the server showed (subject, issuer, validity), kept for the output and
//! for scripts. Nothing is verified and nothing here is trusted.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How long a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

pub use crate::model::service::CertificateInfo;

/// OpenSSL's long name of an X.509 attribute.
fn attribute_name(oid: &x509_parser::der_parser::oid::Oid) -> String {
    match oid.to_id_string().as_str() {
        "2.5.4.3" => "commonName".into(),
        "2.5.4.6" => "countryName".into(),
        "2.5.4.7" => "localityName".into(),
        "2.5.4.8" => "stateOrProvinceName".into(),
        "2.5.4.10" => "organizationName".into(),
        "2.5.4.11" => "organizationalUnitName".into(),
        "1.2.840.113549.1.9.1" => "emailAddress".into(),
        other => x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
            .map(str::to_string)
            .unwrap_or_else(|_| other.to_string()),
    }
}

/// A name's attributes, the four nmap puts first in its order, then the rest by name.
fn name_fields(name: &x509_parser::x509::X509Name) -> Vec<(String, String)> {
    const FIRST: [&str; 4] = [
        "commonName",
        "organizationName",
        "stateOrProvinceName",
        "countryName",
    ];
    let mut fields: Vec<(String, String)> = name
        .iter_attributes()
        .map(|a| {
            let value = a.as_str().map(str::to_string).unwrap_or_else(|_| {
                a.attr_value()
                    .data
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            });
            (attribute_name(a.attr_type()), value)
        })
        .collect();
    fields.sort_by_key(|(name, _)| match FIRST.iter().position(|f| f == name) {
        Some(rank) => (rank, String::new()),
        None => (FIRST.len(), name.clone()),
    });
    fields
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
        Ok(secs) => crate::text::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(secs)),
        Err(_) => t.to_string(),
    };
    use md5::Digest as _;
    use x509_parser::extensions::GeneralName;
    use x509_parser::public_key::PublicKey;
    let (key_type, key_bits) = match cert.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => ("rsa", Some(rsa.key_size())),
        Ok(PublicKey::EC(ec)) => ("ec", Some(ec.key_size())),
        Ok(PublicKey::DSA(_)) => ("dsa", None),
        Ok(PublicKey::GostR3410(_)) | Ok(PublicKey::GostR3410_2012(_)) => ("gost", None),
        Ok(PublicKey::Unknown(_)) | Err(_) => {
            match cert
                .public_key()
                .algorithm
                .algorithm
                .to_id_string()
                .as_str()
            {
                "1.3.101.112" => ("ed25519", Some(256)),
                "1.3.101.113" => ("ed448", Some(456)),
                _ => ("unknown", None),
            }
        }
    };
    let alt_names = match cert.subject_alternative_name() {
        Ok(Some(san)) => san
            .value
            .general_names
            .iter()
            .map(|name| match name {
                GeneralName::DNSName(dns) => format!("DNS:{dns}"),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => format!(
                        "IP Address:{}",
                        std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*ip).unwrap_or_default())
                    ),
                    _ => format!("IP Address:{}", hex(ip)),
                },
                GeneralName::RFC822Name(mail) => format!("email:{mail}"),
                GeneralName::URI(uri) => format!("URI:{uri}"),
                other => format!("{other:?}"),
            })
            .collect(),
        _ => Vec::new(),
    };
    let signature_algorithm = x509_parser::objects::oid2sn(
        &cert.signature_algorithm.algorithm,
        x509_parser::objects::oid_registry(),
    )
    .map(str::to_string)
    .unwrap_or_else(|_| cert.signature_algorithm.algorithm.to_id_string());
    Some(CertificateInfo {
        subject_fields: name_fields(cert.subject()),
        issuer_fields: name_fields(cert.issuer()),
        alt_names,
        key_type: key_type.to_string(),
        key_bits,
        signature_algorithm,
        md5: hex(&md5::Md5::digest(der.as_ref())),
        sha1: hex(&sha1::Sha1::digest(der.as_ref())),
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
