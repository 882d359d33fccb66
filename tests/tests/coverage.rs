//! The project's own service database on the coverage lab (common Debian daemons the
//! main lab does not run, each on its usual port and on an unusual one): it must name
//! each port as nmap's database does (read by the scanner through `--versiondb`; the
//! version-detection tests check that this gives nmap's own answers). Run by `cargo
//! xtask test`, which brings the lab up; this test starts and stops the coverage lab.

use lab_tests::*;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Instant;
use xtask::lab::coverage::{self, machine, unusual_port, SERVICES};
use xtask::nmap_xml::{services, PortKey, ServiceFacts};

/// nmap's own probe database, as Debian installs it (with nmap, by `cargo xtask setup`).
const NMAP_PROBES: &str = "/usr/share/nmap/nmap-service-probes";

/// Every (address, port, protocol) of the coverage lab, with the daemon's name: each
/// daemon's usual ports and their unusual twins.
fn coverage_ports() -> Vec<(PortKey, &'static str)> {
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

/// `-sV` of `keys` (one scan per protocol, of the hosts that have it) with `extra`.
fn named(keys: &[PortKey], extra: &[&str]) -> (BTreeMap<PortKey, ServiceFacts>, f64) {
    let started = Instant::now();
    let mut all = BTreeMap::new();
    for (proto, scan) in [("tcp", "-sSV"), ("udp", "-sUV")] {
        let mine: Vec<&PortKey> = keys.iter().filter(|k| k.2 == proto).collect();
        if mine.is_empty() {
            continue;
        }
        let ports: BTreeSet<u16> = mine.iter().map(|k| k.1).collect();
        let addrs: BTreeSet<Ipv4Addr> = mine.iter().map(|k| k.0).collect();
        let ports = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let addrs: Vec<String> = addrs.iter().map(Ipv4Addr::to_string).collect();
        let mut args = vec![scan, "-n", "-Pn", "-p", &ports, "-oX", "-"];
        args.extend_from_slice(extra);
        args.extend(addrs.iter().map(String::as_str));
        all.extend(services(&scan_output(&args).unwrap()).unwrap());
    }
    (all, started.elapsed().as_secs_f64())
}

/// What of nmap's answer the comparison leaves out where nmap's database is known to
/// be wrong about a daemon.
#[derive(Clone, Copy, PartialEq)]
enum Wrong {
    /// Its product (and so its version): only the service is compared.
    Product,
    /// Its version: the service and product are compared.
    Version,
}

/// The daemons whose answers nmap's database (7.93, Debian 12's) names wrongly, and why.
/// The own database's answers for them are checked exactly in `own_database`.
const NMAPS_KNOWN_ERRORS: &[(&str, Wrong, &str)] = &[
    ("samba", Wrong::Version, "its line for Samba's SMB1 refusal names version 4.6.2 for every Samba since (Debian 12 runs 4.17)"),
    ("slapd", Wrong::Version, "its line for OpenLDAP's LDAPv2 refusal names 2.2.X - 2.3.X (Debian 12 runs 2.5)"),
    ("mariadb", Wrong::Product, "it names MariaDB \"MySQL\", version \"5.5.5-10.11.x-MariaDB-...\" (the compatibility prefix); ours names MariaDB 10.11.x"),
    ("xrdp", Wrong::Product, "it names any 11-byte X.224 confirm Microsoft Terminal Service on Windows, xrdp's too"),
    ("prosody", Wrong::Product, "Prosody's stream attributes come in an order chosen at each start, and one order matches its ejabberd line"),
];

/// How `ours` differs from nmap's answer `theirs` on one port of `daemon`: the service
/// must be the same, the product too where nmap's names one, and the version where
/// nmap's gives one (an exact one: not a range such as "2.2.X - 2.3.X" or "9.6.0 or
/// later"), but for [`NMAPS_KNOWN_ERRORS`]. Where nmap's database names nothing from the
/// answers (the port table's guess, no service, or "tcpwrapped"), ours may name more.
fn difference(
    daemon: &str,
    ours: Option<&ServiceFacts>,
    theirs: Option<&ServiceFacts>,
) -> Option<String> {
    // "tcpwrapped" is a verdict on timing (closed before the NULL probe's
    // tcpwrappedms, which differs between the databases), not a database's name.
    if theirs.is_none_or(|t| t.method != "probed" || t.name == "tcpwrapped") {
        return None;
    }
    let (Some(ours), Some(theirs)) = (ours, theirs) else {
        return Some(format!("ours {ours:?}, nmap's {theirs:?}"));
    };
    let wrong = NMAPS_KNOWN_ERRORS
        .iter()
        .find(|(name, _, _)| *name == daemon)
        .map(|(_, wrong, _)| *wrong);
    let exact_version =
        |v: &str| !v.contains(" - ") && !v.contains("or later") && !v.contains(".X");
    let same_product =
        wrong == Some(Wrong::Product) || theirs.product.is_none() || ours.product == theirs.product;
    let same_version = wrong.is_some()
        || theirs.version.as_deref().is_none_or(|v| !exact_version(v))
        || ours.version == theirs.version;
    let same = ours.name == theirs.name && same_product && same_version;
    (!same).then(|| format!("ours {}; nmap's {}", ours.summary(), theirs.summary()))
}

#[test]
#[ignore = "needs the lab: run with `cargo xtask test`"]
fn own_database_names_the_coverage_daemons_as_nmaps_does() {
    require_lab();
    coverage::up().expect("bringing the coverage lab up");
    let ports = coverage_ports();
    let keys: Vec<PortKey> = ports.iter().map(|(key, _)| key.clone()).collect();
    let (ours, our_seconds) = named(&keys, &[]);
    let (theirs, their_seconds) = named(&keys, &["--versiondb", NMAP_PROBES]);
    coverage::down().expect("taking the coverage lab down");

    let mut differences = Vec::new();
    let (mut services_agree, mut products_agree) = (0, 0);
    for (key, daemon) in &ports {
        let (a, b) = (ours.get(key), theirs.get(key));
        if let (Some(a), Some(b)) = (a, b) {
            services_agree += usize::from(a.name == b.name);
            products_agree += usize::from(a.product == b.product);
        }
        if let Some(how) = difference(daemon, a, b) {
            differences.push(format!("{daemon} {}:{}/{}: {how}", key.0, key.1, key.2));
        }
    }
    println!(
        "coverage lab: {} ports; own database agrees on the service of {services_agree}, \
         the product of {products_agree}; own database {our_seconds:.1} s, nmap's {their_seconds:.1} s",
        keys.len()
    );
    assert!(
        differences.is_empty(),
        "the own database differs from nmap's on {} of {} ports:\n{}",
        differences.len(),
        keys.len(),
        differences.join("\n")
    );
}

#[test]
fn nmaps_ranges_and_known_errors_are_left_out_and_the_rest_compared() {
    let facts = |name: &str, product: Option<&str>, version: Option<&str>| ServiceFacts {
        name: name.to_string(),
        product: product.map(str::to_string),
        version: version.map(str::to_string),
        extrainfo: None,
        method: "probed".to_string(),
    };
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
}
