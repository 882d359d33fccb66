//! Version detection (`-sV`), being built: the probe database in nmap's
//! `nmap-service-probes` format ([`probes`]), its version templates ([`template`]), and
//! reading an answer against it ([`matcher`]), and naming the service of one open TCP
//! port with them ([`identify`]). The project's own database is
//! `fingerprints/service-probes`. Still to come (issue 5): the `-sV` flag and engine
//! running many ports at once as the port scan finds them, TLS, UDP, intensity, and
//! the output columns.

pub mod identify;
pub mod matcher;
pub mod probes;
pub mod template;

/// The project's own probe database (`fingerprints/service-probes`), built in.
pub const OWN_DATABASE: &[u8] = include_bytes!("../../../fingerprints/service-probes");

#[cfg(test)]
mod tests {
    use super::probes::ProbeDb;

    #[test]
    fn the_own_database_parses() {
        let db = ProbeDb::parse(super::OWN_DATABASE, "fingerprints/service-probes").unwrap();
        assert!(
            db.probes.len() >= 6 && db.match_count() >= 30,
            "{} {}",
            db.probes.len(),
            db.match_count()
        );
    }
}
