//! Version detection (`-sV`): naming the service behind each open port, with product,
//! version and the rest, from a probe database in nmap's `nmap-service-probes` format.
//!
//! - [`probes`]: the database and its parser; [`template`]: version templates;
//!   [`matcher`]: reading one answer against the database;
//! - [`exchange`]: one probe's exchange (TCP, TLS or UDP), bounded in time and size;
//!   [`tls`]: the TLS client and the certificate's facts;
//! - [`engine`]: the probes of one port, in nmap's order, several at once;
//! - [`scan`]: many ports at once, started as the port scan finds them.
//!
//! The project's own database is `fingerprints/service-probes`; `--versiondb FILE`
//! loads another.

pub mod engine;
pub mod exchange;
pub mod matcher;
pub mod probes;
pub mod scan;
pub mod template;
pub mod tls;

use anyhow::{Context, Result};
use engine::Identified;
use probes::ProbeDb;
use serde::Serialize;
use template::VersionInfo;
use tls::CertificateInfo;

/// The project's own probe database (`fingerprints/service-probes`), built in.
pub const OWN_DATABASE: &[u8] = include_bytes!("../../../fingerprints/service-probes");

/// The probe database `--versiondb` names, or the built-in one.
pub fn load_database(path: Option<&std::path::Path>) -> Result<ProbeDb> {
    match path {
        None => ProbeDb::parse(OWN_DATABASE, "fingerprints/service-probes (built in)"),
        Some(path) => {
            let text = std::fs::read(path).with_context(|| {
                format!(
                    "cannot read the probe database {} (--versiondb)",
                    path.display()
                )
            })?;
            ProbeDb::parse(&text, &path.display().to_string())
        }
    }
}

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
    /// The port's usual name, for a port no probe could name.
    pub fn from_table(port: u16, proto: &str) -> Self {
        ServiceInfo {
            name: crate::report::services::name(port, proto).to_string(),
            version: VersionInfo::default(),
            tunnel: None,
            method: "table",
            conf: 3,
            certificate: None,
        }
    }

    /// What probing found, or the table's name when it found nothing.
    pub fn from_identified(found: Identified, port: u16, proto: &str) -> Self {
        let tunnel = found.over_tls.then_some("ssl");
        let probed = |name: &str, version: VersionInfo, conf: u8| ServiceInfo {
            name: name.to_string(),
            version,
            tunnel,
            method: "probed",
            conf,
            certificate: found.certificate.clone(),
        };
        if found.tcpwrapped {
            return probed("tcpwrapped", VersionInfo::default(), 8);
        }
        match &found.found {
            Some(hit) => {
                // "ssl/http": HTTP inside TLS, whether or not a session was made.
                let (tunnel_named, name) = match hit.service.strip_prefix("ssl/") {
                    Some(inner) => (true, inner),
                    None => (false, hit.service.as_str()),
                };
                let mut info = probed(name, hit.info.clone(), 10);
                if tunnel_named {
                    info.tunnel = Some("ssl");
                }
                info
            }
            None => ServiceInfo {
                tunnel,
                certificate: found.certificate.clone(),
                ..Self::from_table(port, proto)
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_own_database_parses() {
        let db = load_database(None).unwrap();
        assert!(
            db.probes.len() >= 6 && db.match_count() >= 30,
            "{} {}",
            db.probes.len(),
            db.match_count()
        );
    }

    #[test]
    fn columns_read_as_nmap_writes_them() {
        let mut info = ServiceInfo::from_table(22, "tcp");
        assert_eq!((info.method, info.conf), ("table", 3));
        info.name = "http".into();
        info.tunnel = Some("ssl");
        info.version.product = Some("OpenSSH".into());
        info.version.version = Some("9.2p1".into());
        info.version.info = Some("protocol 2.0".into());
        assert_eq!(info.display_name(), "ssl/http");
        assert_eq!(info.version_column(), "OpenSSH 9.2p1 (protocol 2.0)");
        info.version = VersionInfo {
            info: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(info.version_column(), "(x)");
    }

    fn identified(service: &str, soft: bool) -> Identified {
        Identified {
            found: Some(matcher::ServiceMatch {
                service: service.into(),
                soft,
                info: VersionInfo {
                    product: Some("nginx".into()),
                    ..Default::default()
                },
                probe: "GetRequest".into(),
                line: 1,
            }),
            reachable: true,
            answered: true,
            ..Default::default()
        }
    }

    #[test]
    fn what_probing_found_becomes_the_ports_service() {
        let plain = ServiceInfo::from_identified(identified("http", false), 80, "tcp");
        assert_eq!(
            (plain.display_name().as_str(), plain.method, plain.conf),
            ("http", "probed", 10)
        );
        // "ssl/http" from a plain answer, and "http" found inside TLS, read the same.
        let named = ServiceInfo::from_identified(identified("ssl/http", false), 443, "tcp");
        let inside = ServiceInfo::from_identified(
            Identified {
                over_tls: true,
                ..identified("http", false)
            },
            443,
            "tcp",
        );
        assert_eq!(named.display_name(), "ssl/http");
        assert_eq!(inside.display_name(), "ssl/http");
        let wrapped = ServiceInfo::from_identified(
            Identified {
                tcpwrapped: true,
                ..Default::default()
            },
            22,
            "tcp",
        );
        assert_eq!((wrapped.name.as_str(), wrapped.conf), ("tcpwrapped", 8));
        let nothing = ServiceInfo::from_identified(Identified::default(), 22, "tcp");
        assert_eq!((nothing.name.as_str(), nothing.method), ("ssh", "table"));
    }

    #[test]
    fn a_missing_versiondb_says_which_file() {
        let err = load_database(Some(std::path::Path::new("/nonexistent/probes"))).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/probes (--versiondb)"));
    }
}
