//! The project's own probe database (`fingerprints/service-probes`) against the
//! recorded answers of `fingerprints/service-answers` (written from each protocol's
//! specification and the usual servers' greetings): for every service the database
//! covers, the answer a server gives to the probe meant for it names the right service
//! and product. The lab's daemons are checked live by the lab tests; these cover the
//! services the lab does not run.

use scanner::service::load_database;
use scanner::service::recorded::{self, OWN_ANSWERS_FILE};

#[test]
fn every_covered_service_is_named_from_its_answer() {
    let db = load_database(None).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(OWN_ANSWERS_FILE);
    let text = std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let answers = recorded::parse(&text, OWN_ANSWERS_FILE).unwrap();
    assert!(answers.len() >= 39, "{}", answers.len());
    let mut wrong = Vec::new();
    for answer in &answers {
        let found = answer
            .identify(&db)
            .unwrap_or_else(|err| panic!("{OWN_ANSWERS_FILE}:{}: {err}", answer.line));
        if let Some(difference) = answer.misnamed(found.as_ref()) {
            wrong.push(format!("{OWN_ANSWERS_FILE}:{}: {difference}", answer.line));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_issue_s_services_all_have_lines() {
    let db = load_database(None).unwrap();
    let named = |service: &str| {
        db.probes
            .iter()
            .any(|p| p.matches.iter().any(|m| m.service == service))
    };
    for service in [
        "ssh",
        "http",
        "ssl/http",
        "ftp",
        "smtp",
        "pop3",
        "imap",
        "telnet",
        "domain",
        "snmp",
        "ntp",
        "redis",
        "memcached",
        "mysql",
        "postgresql",
        "mongodb",
        "ldap",
        "microsoft-ds",
        "ms-wbt-server",
        "vnc",
        "sip",
        "mqtt",
        "rtsp",
        "ssl",
    ] {
        assert!(named(service), "no match line names {service}");
    }
}
