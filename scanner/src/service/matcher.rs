//! Reading a service's answer to a probe against the database, as nmap does: the
//! probe's own match lines in order, then those of its `fallback` probes (of either
//! transport), then (for a
//! TCP probe) the NULL probe's, since a banner can arrive with any probe's answer. The
//! first hard match names service and version; a soft match names the service only
//! and is kept while later probes look for a hard match of that same service.
//!
//! A pattern that runs into PCRE2's match limit (a pathological pattern against a
//! hostile answer) is taken as not matching; the reading goes on with the next one.

use super::probes::{Match, Probe, ProbeDb, Transport};
use super::template::VersionInfo;

/// What one answer was recognised as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceMatch {
    pub service: String,
    /// Service known, version not: more probes may still find it.
    pub soft: bool,
    pub info: VersionInfo,
    /// The probe whose match line matched, and the line.
    pub probe: String,
    pub line: usize,
}

impl ProbeDb {
    /// The match lines consulted for answers to `probe`, in order.
    fn candidates<'a>(&'a self, probe: &'a Probe) -> Vec<&'a Probe> {
        let mut out = vec![probe];
        for name in &probe.fallback {
            if let Some(fallback) = self.fallback_of(probe, name) {
                if !out.iter().any(|p| std::ptr::eq(*p, fallback)) {
                    out.push(fallback);
                }
            }
        }
        if probe.transport == Transport::Tcp {
            if let Some(null) = self.probe(Transport::Tcp, "NULL") {
                if !out.iter().any(|p| std::ptr::eq(*p, null)) {
                    out.push(null);
                }
            }
        }
        out
    }

    /// Whether an answer to `probe` can name `service` (a soft match of it is known:
    /// probes that cannot are skipped, as nmap does).
    pub fn can_name(&self, probe: &Probe, service: &str) -> bool {
        self.candidates(probe)
            .iter()
            .any(|p| p.matches.iter().any(|m| m.service == service))
    }

    /// What `response` (the answer to `probe`) says. With `known_service` (from an
    /// earlier soft match), only that service's lines are considered.
    pub fn match_response(
        &self,
        probe: &Probe,
        response: &[u8],
        known_service: Option<&str>,
    ) -> Option<ServiceMatch> {
        let mut soft_hit = None;
        for candidate in self.candidates(probe) {
            for line in &candidate.matches {
                if known_service.is_some_and(|s| s != line.service) {
                    continue;
                }
                if line.soft && soft_hit.is_some() {
                    continue;
                }
                let Some(info) = try_match(line, response) else {
                    continue;
                };
                let hit = ServiceMatch {
                    service: line.service.clone(),
                    soft: line.soft,
                    info,
                    probe: candidate.name.clone(),
                    line: line.line,
                };
                if !line.soft {
                    return Some(hit);
                }
                soft_hit = Some(hit);
            }
        }
        soft_hit
    }
}

/// The version fields if `line` matches `response`; `None` if it does not, or if
/// PCRE2 gave up (match limit).
fn try_match(line: &Match, response: &[u8]) -> Option<VersionInfo> {
    let captures = line.pattern.captures(response).ok()??;
    let groups: Vec<Option<&[u8]>> = (0..captures.len())
        .map(|i| captures.get(i).map(|m| m.as_bytes()))
        .collect();
    Some(line.version.expand(&groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &[u8] = b"Probe TCP NULL q||\n\
match ftp m|^220 \\(vsFTPd ([\\d.]+)\\)| p/vsftpd/ v/$1/\n\
softmatch ftp m|^220[ -]|\n\
Probe TCP GetRequest q|GET / HTTP/1.0\\r\\n\\r\\n|\n\
fallback Helper\n\
match http m|^HTTP/1\\.[01] \\d+.*\\r\\nServer: nginx/([\\d.]+)|s p/nginx/ v/$1/\n\
softmatch http m|^HTTP/1\\.[01] \\d+|\n\
Probe TCP Helper q|x|\n\
match helper m|^helped|\n\
Probe TCP Hostile q|x|\n\
match slow m|^(a+)+$|\n\
match fine m|^a+b$|\n";

    fn db() -> ProbeDb {
        ProbeDb::parse(DB, "test").unwrap()
    }

    #[test]
    fn hard_matches_win_and_soft_ones_are_kept() {
        let db = db();
        let get = db.probe(Transport::Tcp, "GetRequest").unwrap();
        let nginx = db
            .match_response(
                get,
                b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n\r\n",
                None,
            )
            .unwrap();
        assert_eq!((nginx.service.as_str(), nginx.soft), ("http", false));
        assert_eq!(nginx.info.version.as_deref(), Some("1.22.1"));
        let other = db
            .match_response(get, b"HTTP/1.0 404 Not Found\r\n\r\n", None)
            .unwrap();
        assert_eq!((other.service.as_str(), other.soft), ("http", true));
        assert!(db.match_response(get, b"SSH-2.0-x\r\n", None).is_none());
    }

    #[test]
    fn fallbacks_and_the_null_probe_are_consulted_after_the_probe() {
        let db = db();
        let get = db.probe(Transport::Tcp, "GetRequest").unwrap();
        // A fallback probe's line.
        let helped = db.match_response(get, b"helped", None).unwrap();
        assert_eq!(
            (helped.service.as_str(), helped.probe.as_str()),
            ("helper", "Helper")
        );
        // A banner that arrived with the GET's answer: the NULL probe's lines.
        let ftp = db
            .match_response(get, b"220 (vsFTPd 3.0.3)\r\n", None)
            .unwrap();
        assert_eq!((ftp.service.as_str(), ftp.probe.as_str()), ("ftp", "NULL"));
        assert_eq!(ftp.info.product.as_deref(), Some("vsftpd"));
        // Once a soft match said "http", other services' lines are not considered.
        assert!(db.match_response(get, b"helped", Some("http")).is_none());
    }

    #[test]
    fn a_pathological_pattern_gives_up_instead_of_hanging() {
        let db = db();
        let hostile = db.probe(Transport::Tcp, "Hostile").unwrap();
        let mut answer = vec![b'a'; 5000];
        answer.push(b'b');
        let started = std::time::Instant::now();
        let hit = db.match_response(hostile, &answer, None).unwrap();
        assert_eq!(hit.service, "fine", "the next line still gets its turn");
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }
}
