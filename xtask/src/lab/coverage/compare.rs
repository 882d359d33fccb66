//! How the own service database's answers on the coverage lab are compared with those
//! of nmap's database: the rule (service always; product where nmap's names one;
//! version where nmap's gives an exact one), what it leaves out (timing verdicts,
//! version ranges, and nmap's database's known errors, each with its reason), and the
//! counts the `coverage` test and `cargo xtask bench version --coverage` print.

use super::{machine, unusual_port, SERVICES};
use crate::nmap_xml::{PortKey, ServiceFacts};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// Every (address, port, protocol) of the coverage lab, with its daemon's name: each
/// daemon's usual ports and their unusual twins.
pub fn ports() -> Vec<(PortKey, &'static str)> {
    let mut keys = Vec::new();
    for (index, service) in SERVICES.iter().enumerate() {
        let (_, _, addr) = machine(index);
        for (proto, ports) in [("tcp", service.tcp), ("udp", service.udp)] {
            for &port in ports {
                keys.push(((addr, port, proto.to_string()), service.name));
                keys.push(((addr, unusual_port(port), proto.to_string()), service.name));
            }
        }
    }
    keys
}

/// The arguments of one `-sV` scan of those of `keys` whose protocol is `proto` ("tcp"
/// or "udp"): the scan flag, `-n -Pn`, the ports and the addresses; `None` if none is.
pub fn scan_args(keys: &[PortKey], proto: &str) -> Option<Vec<String>> {
    let mine: Vec<&PortKey> = keys.iter().filter(|k| k.2 == proto).collect();
    if mine.is_empty() {
        return None;
    }
    let ports: BTreeSet<u16> = mine.iter().map(|k| k.1).collect();
    let addrs: BTreeSet<Ipv4Addr> = mine.iter().map(|k| k.0).collect();
    let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
    let scan = if proto == "udp" { "-sUV" } else { "-sSV" };
    let mut args: Vec<String> = [scan, "-n", "-Pn", "-p"].map(String::from).to_vec();
    args.push(ports.join(","));
    args.extend(addrs.iter().map(Ipv4Addr::to_string));
    Some(args)
}

/// What of nmap's answer the comparison leaves out where nmap's database is known to
/// be wrong about a daemon.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Wrong {
    /// Its product (and so its version): only the service is compared.
    Product,
    /// Its version: the service and product are compared.
    Version,
}

/// The daemons whose answers nmap's database (7.93, Debian 12's) names wrongly or not
/// reproducibly, and why.
/// The own database's answers for them are checked exactly by its recorded answers.
pub const NMAPS_KNOWN_ERRORS: &[(&str, Wrong, &str)] = &[
    ("samba", Wrong::Version, "its line for Samba's SMB1 refusal names version 4.6.2 for every Samba since (Debian 12 runs 4.17)"),
    ("slapd", Wrong::Version, "its line for OpenLDAP's LDAPv2 refusal names 2.2.X - 2.3.X (Debian 12 runs 2.5)"),
    ("mariadb", Wrong::Product, "it names MariaDB \"MySQL\", version \"5.5.5-10.11.x-MariaDB-...\" (the compatibility prefix); ours names MariaDB 10.11.x"),
    ("kamailio", Wrong::Product, "its Kamailio lines read a 403 and a 478 only; the 200 Kamailio answers OPTIONS with falls to its generic line, which takes the whole Server header (\"kamailio (5.6.3 (x86_64/linux))\") for the product; ours names Kamailio 5.6.3, as its own lines for 403 and 478 would"),
    ("prosody", Wrong::Product, "Prosody's stream attributes come in an order chosen at each start, and one order matches its ejabberd line"),
];

/// What of nmap's answer on `daemon`'s ports is known wrong, if anything.
fn nmaps_known_error(daemon: &str) -> Option<Wrong> {
    NMAPS_KNOWN_ERRORS
        .iter()
        .find(|(name, _, _)| *name == daemon)
        .map(|(_, wrong, _)| *wrong)
}

/// Whether nmap's answer `theirs` is one the comparison holds ours to: named from the
/// answers ("probed"), and not "tcpwrapped", which is a verdict on timing (closed
/// before the NULL probe's tcpwrappedms, which differs between the databases).
fn compared(theirs: &ServiceFacts) -> bool {
    theirs.method == "probed" && theirs.name != "tcpwrapped"
}

/// Whether nmap's version `v` is exact (not a range such as "2.2.X - 2.3.X" or "9.6.0
/// or later").
fn exact_version(v: &str) -> bool {
    !v.contains(" - ") && !v.contains("or later") && !v.contains(".X")
}

/// How `ours` differs from nmap's answer `theirs` on one port of `daemon`: the service
/// must be the same, the product too where nmap's names one, and the version where
/// nmap's gives an exact one, but for [`NMAPS_KNOWN_ERRORS`]. Where nmap's database
/// names nothing from the answers (the port table's guess, no service, or
/// "tcpwrapped"), ours may name more.
pub fn difference(
    daemon: &str,
    ours: Option<&ServiceFacts>,
    theirs: Option<&ServiceFacts>,
) -> Option<String> {
    if !theirs.is_some_and(compared) {
        return None;
    }
    let (Some(ours), Some(theirs)) = (ours, theirs) else {
        return Some(format!("ours {ours:?}, nmap's {theirs:?}"));
    };
    let wrong = nmaps_known_error(daemon);
    let same_product =
        wrong == Some(Wrong::Product) || theirs.product.is_none() || ours.product == theirs.product;
    let same_version = wrong.is_some()
        || theirs.version.as_deref().is_none_or(|v| !exact_version(v))
        || ours.version == theirs.version;
    let same = ours.name == theirs.name && same_product && same_version;
    (!same).then(|| format!("ours {}; nmap's {}", ours.summary(), theirs.summary()))
}

/// Raw agreement of `ours` with `theirs` (nmap's database) over `ports`, before any
/// exception: of the ports where nmap's names a service from the answers, how many
/// services agree; where it names a product, how many products; where it gives a
/// version, how many versions.
#[derive(Debug, Default, PartialEq)]
pub struct Agreement {
    pub services: (usize, usize),
    pub products: (usize, usize),
    pub versions: (usize, usize),
    /// Products again, leaving out the daemons whose product nmap's database is
    /// known to name wrongly ([`NMAPS_KNOWN_ERRORS`]).
    pub products_where_nmaps_is_right: (usize, usize),
}

impl Agreement {
    pub fn of(
        ports: &[(PortKey, &str)],
        ours: &BTreeMap<PortKey, ServiceFacts>,
        theirs: &BTreeMap<PortKey, ServiceFacts>,
    ) -> Self {
        let mut agreement = Agreement::default();
        for (key, daemon) in ports {
            let Some(theirs) = theirs.get(key).filter(|t| compared(t)) else {
                continue;
            };
            let ours = ours.get(key);
            let count = |(same, of): &mut (usize, usize), agree: bool| {
                *of += 1;
                *same += usize::from(agree);
            };
            count(
                &mut agreement.services,
                ours.is_some_and(|o| o.name == theirs.name),
            );
            if theirs.product.is_some() {
                let same = ours.is_some_and(|o| o.product == theirs.product);
                count(&mut agreement.products, same);
                if nmaps_known_error(daemon) != Some(Wrong::Product) {
                    count(&mut agreement.products_where_nmaps_is_right, same);
                }
            }
            if theirs.version.is_some() {
                count(
                    &mut agreement.versions,
                    ours.is_some_and(|o| o.version == theirs.version),
                );
            }
        }
        agreement
    }
}

impl std::fmt::Display for Agreement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let share = |(same, of): (usize, usize)| {
            format!(
                "{same} of {of} ({:.0}%)",
                100.0 * same as f64 / of.max(1) as f64
            )
        };
        write!(
            f,
            "service {}, product {}, version {} (of the ports where nmap's database names one, before exceptions); product {} where nmap's is not known wrong",
            share(self.services),
            share(self.products),
            share(self.versions),
            share(self.products_where_nmaps_is_right)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str, product: Option<&str>, version: Option<&str>) -> ServiceFacts {
        ServiceFacts {
            name: name.to_string(),
            product: product.map(str::to_string),
            version: version.map(str::to_string),
            extrainfo: None,
            method: "probed".to_string(),
        }
    }

    #[test]
    fn nmaps_ranges_timing_and_known_errors_are_left_out_and_the_rest_compared() {
        let openldap = facts("ldap", Some("OpenLDAP"), None);
        let range = facts("ldap", Some("OpenLDAP"), Some("2.2.X - 2.3.X"));
        assert_eq!(difference("anyldap", Some(&openldap), Some(&range)), None);
        let exact = facts("ldap", Some("OpenLDAP"), Some("2.5.13"));
        assert!(difference("anyldap", Some(&openldap), Some(&exact)).is_some());
        let mariadb = facts("mysql", Some("MariaDB"), Some("10.11.19"));
        let as_mysql = facts(
            "mysql",
            Some("MySQL"),
            Some("5.5.5-10.11.19-MariaDB-0+deb12u1"),
        );
        assert_eq!(difference("mariadb", Some(&mariadb), Some(&as_mysql)), None);
        assert!(difference("mysql", Some(&mariadb), Some(&as_mysql)).is_some());
        let other_service = facts("http", Some("MySQL"), None);
        assert!(difference("mariadb", Some(&other_service), Some(&as_mysql)).is_some());
        let table = ServiceFacts {
            method: "table".to_string(),
            ..facts("git", None, None)
        };
        assert_eq!(difference("gitdaemon", None, Some(&table)), None);
        assert!(difference("gitdaemon", None, Some(&exact)).is_some());
        let wrapped = facts("tcpwrapped", None, None);
        assert_eq!(difference("zabbix", None, Some(&wrapped)), None);
    }

    #[test]
    fn agreement_counts_each_field_where_nmaps_names_it() {
        let key = |port: u16| {
            (
                std::net::Ipv4Addr::new(198, 18, 0, 100),
                port,
                "tcp".to_string(),
            )
        };
        let ports = [
            (key(1), "a"),
            (key(2), "b"),
            (key(3), "c"),
            (key(4), "mariadb"),
        ];
        let theirs = BTreeMap::from([
            (key(1), facts("http", Some("Apache httpd"), Some("2.4.62"))),
            (key(2), facts("ssh", None, None)),
            (key(3), facts("tcpwrapped", None, None)),
            (key(4), facts("mysql", Some("MySQL"), None)),
        ]);
        let ours = BTreeMap::from([
            (key(1), facts("http", Some("Apache httpd"), None)),
            (key(2), facts("ftp", None, None)),
            (key(4), facts("mysql", Some("MariaDB"), None)),
        ]);
        let agreement = Agreement::of(&ports, &ours, &theirs);
        assert_eq!(
            agreement,
            Agreement {
                services: (2, 3),
                products: (1, 2),
                versions: (0, 1),
                products_where_nmaps_is_right: (1, 1),
            }
        );
    }
}
