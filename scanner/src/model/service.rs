//! What version detection says about a port, as the output shows it: the service's
//! name and version fields, how it was found, and the TLS certificate it showed.

use serde::Serialize;

/// What version detection says about one port, as the output shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServiceInfo {
    /// The service's name: from a probe's match, `tcpwrapped`, or the services table.
    pub name: String,
    #[serde(flatten)]
    pub version: VersionInfo,
    /// `ssl` when the service was found inside TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<&'static str>,
    /// `probed` (an answer said so) or `table` (only the port's usual name).
    pub method: &'static str,
    /// nmap's confidence, 0 to 10: 10 for a match, 3 for the table's guess.
    pub conf: u8,
    /// The TLS server's certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateInfo>,
}

impl ServiceInfo {
    /// The services table's `name` for a port no probe named: a guess, conf 3.
    pub fn table_guess(name: &str) -> Self {
        ServiceInfo {
            name: name.to_string(),
            version: VersionInfo::default(),
            tunnel: None,
            method: "table",
            conf: 3,
            certificate: None,
        }
    }

    /// The SERVICE column: `ssl/http`, `ssh`.
    pub fn display_name(&self) -> String {
        match self.tunnel {
            Some(tunnel) => format!("{tunnel}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The VERSION column: product, version, and the extra information in parentheses.
    pub fn version_column(&self) -> String {
        let v = &self.version;
        let mut text = [v.product.as_deref(), v.version.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(info) = &v.info {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&format!("({info})"));
        }
        text
    }
}

/// The version fields a probe's match gave (absent ones are `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ostype: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devicetype: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpes: Vec<String>,
}

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
    /// The subject's and issuer's attributes by OpenSSL's long names (`commonName`),
    /// in the order nmap writes them.
    pub subject_fields: Vec<(String, String)>,
    pub issuer_fields: Vec<(String, String)>,
    /// Subject alternative names as nmap writes them (`DNS:web.lab.test`).
    pub alt_names: Vec<String>,
    /// `rsa`, `ec`, `ed25519`, …, and the key's size in bits.
    pub key_type: String,
    pub key_bits: Option<usize>,
    /// The signature algorithm's long name (`sha256WithRSAEncryption`).
    pub signature_algorithm: String,
    /// Digests of the whole certificate, in hex.
    pub md5: String,
    pub sha1: String,
}
