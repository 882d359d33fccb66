//! Version detection (`-sV`): naming the service behind each open port, with product,
//! version and the rest, from a probe database in nmap's `nmap-service-probes` format.
//!
//! - [`probes`]: the database and its parser; [`template`]: version templates;
//!   [`matcher`]: reading one answer against the database; [`recorded`]: answers
//!   recorded for the database's tests and linter, with what they must be named as;
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
pub mod recorded;
pub mod scan;
pub mod template;
pub mod tls;

use crate::model::Proto;
use crate::target::services::ServicesTable;
use anyhow::{Context, Result};
use engine::Identified;
use probes::ProbeDb;
use template::VersionInfo;

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

pub use crate::model::service::ServiceInfo;

impl ServiceInfo {
    /// The port's usual name, for a port no probe could name.
    pub fn from_table(port: u16, proto: Proto, services: &ServicesTable) -> Self {
        ServiceInfo::table_guess(services.name(port, proto.as_str()))
    }

    /// What probing found, or the table's name when it found nothing.
    pub fn from_identified(
        found: Identified,
        port: u16,
        proto: Proto,
        services: &ServicesTable,
    ) -> Self {
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
                ..Self::from_table(port, proto, services)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> ServicesTable {
        ServicesTable::built_in().unwrap()
    }

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
        let mut info = ServiceInfo::from_table(22, Proto::Tcp, &table());
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
        let plain =
            ServiceInfo::from_identified(identified("http", false), 80, Proto::Tcp, &table());
        assert_eq!(
            (plain.display_name().as_str(), plain.method, plain.conf),
            ("http", "probed", 10)
        );
        // "ssl/http" from a plain answer, and "http" found inside TLS, read the same.
        let named =
            ServiceInfo::from_identified(identified("ssl/http", false), 443, Proto::Tcp, &table());
        let inside = ServiceInfo::from_identified(
            Identified {
                over_tls: true,
                ..identified("http", false)
            },
            443,
            Proto::Tcp,
            &table(),
        );
        assert_eq!(named.display_name(), "ssl/http");
        assert_eq!(inside.display_name(), "ssl/http");
        let wrapped = ServiceInfo::from_identified(
            Identified {
                tcpwrapped: true,
                ..Default::default()
            },
            22,
            Proto::Tcp,
            &table(),
        );
        assert_eq!((wrapped.name.as_str(), wrapped.conf), ("tcpwrapped", 8));
        let nothing = ServiceInfo::from_identified(Identified::default(), 22, Proto::Tcp, &table());
        assert_eq!((nothing.name.as_str(), nothing.method), ("ssh", "table"));
    }

    #[test]
    fn a_missing_versiondb_says_which_file() {
        let err = load_database(Some(std::path::Path::new("/nonexistent/probes"))).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/probes (--versiondb)"));
    }
}
