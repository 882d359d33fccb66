//! The `nmap-service-probes` format, read completely: `Exclude`, `Probe` (TCP/UDP,
//! `q|…|` payloads with escapes, `no-payload`), `match` and `softmatch` with
//! `m|…|flags` patterns and version templates (see [`super::template`]), and the
//! directives `ports`, `sslports`, `rarity`, `fallback`, `totalwaitms`,
//! `tcpwrappedms`. The project's own database and a user's file (nmap's own, with
//! `--versiondb`) go through the same parser. Errors name the file and line; a
//! linter can read past them ([`ProbeDb::parse_past_errors`]) to hear of every bad line.
//!
//! Patterns are Perl-compatible (lookaround and back-references occur in real files),
//! so they are compiled by PCRE2 for matching on raw bytes, with PCRE2's match limit
//! so that no pattern can hang a scan. This module only reads; choosing probes and
//! running them is the engine's business.

use super::template::VersionTemplate;
use anyhow::{bail, Context, Result};
use pcre2::bytes::{Regex, RegexBuilder};

/// The transport a probe is sent over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    /// The transport named as the file names it (`TCP`, `UDP`).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"TCP" => Some(Transport::Tcp),
            b"UDP" => Some(Transport::Udp),
            _ => None,
        }
    }

    /// The name the file gives the transport.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "TCP",
            Transport::Udp => "UDP",
        }
    }
}

/// An inclusive port range.
pub type PortRange = (u16, u16);

/// One `match` or `softmatch` line.
#[derive(Debug)]
pub struct Match {
    pub service: String,
    /// A soft match names the service but not the version: probing goes on.
    pub soft: bool,
    pub pattern: Regex,
    /// The pattern as written, for messages.
    pub source: String,
    pub version: VersionTemplate,
    /// Line number in its file.
    pub line: usize,
}

/// One `Probe` with its directives and matches.
#[derive(Debug)]
pub struct Probe {
    pub transport: Transport,
    pub name: String,
    /// What is sent (empty for the NULL probe, which only listens).
    pub payload: Vec<u8>,
    /// `no-payload`: a UDP probe sent empty on purpose.
    pub no_payload: bool,
    pub ports: Vec<PortRange>,
    pub ssl_ports: Vec<PortRange>,
    /// 1 (common) to 9 (rare); probes with none are always sent.
    pub rarity: Option<u8>,
    /// Probes whose matches are tried too when this one's fail to match.
    pub fallback: Vec<String>,
    pub total_wait_ms: Option<u32>,
    pub tcpwrapped_ms: Option<u32>,
    pub matches: Vec<Match>,
    pub line: usize,
}

/// Why one line of a database could not be read.
#[derive(Debug)]
pub struct LineError {
    /// Line number in its file.
    pub line: usize,
    pub error: anyhow::Error,
}

impl LineError {
    /// The error as `parse` gives it: after the file's name and the line's number.
    pub fn in_file(self, file: &str) -> anyhow::Error {
        self.error.context(format!("{file}:{}", self.line))
    }
}

/// The lines of `text` (LF or CRLF) with their numbers, from 1.
pub fn numbered_lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    text.split(|&b| b == b'\n')
        .map(|raw| raw.strip_suffix(b"\r").unwrap_or(raw))
        .enumerate()
        .map(|(index, raw)| (index + 1, raw))
}

/// A whole database.
#[derive(Debug, Default)]
pub struct ProbeDb {
    pub probes: Vec<Probe>,
    /// `Exclude`: ports never probed, per transport.
    pub exclude: Vec<(Transport, PortRange)>,
}

impl ProbeDb {
    /// Parses `text` (the bytes of a file named `file`, for messages).
    pub fn parse(text: &[u8], file: &str) -> Result<Self> {
        let (db, errors) = Self::parse_past_errors(text);
        match errors.into_iter().next() {
            Some(error) => Err(error.in_file(file)),
            None => Ok(db),
        }
    }

    /// Parses `text` as far as it goes: what the good lines say, and the error of each
    /// bad line, in file order. The lines that follow a bad `Probe` line, up to the
    /// next `Probe`, are left out without errors of their own (their probe is unknown).
    pub fn parse_past_errors(text: &[u8]) -> (Self, Vec<LineError>) {
        let mut db = ProbeDb::default();
        let mut errors = Vec::new();
        let mut in_broken_probe = false;
        for (line, raw) in numbered_lines(text) {
            let starts_probe = split_word(trim(raw)).0 == b"Probe";
            if in_broken_probe && !starts_probe {
                continue;
            }
            let parsed = parse_line(&mut db, raw, line);
            if starts_probe {
                in_broken_probe = parsed.is_err();
            }
            if let Err(error) = parsed {
                errors.push(LineError { line, error });
            }
        }
        (db, errors)
    }

    /// The probe named `name` over `transport`.
    pub fn probe(&self, transport: Transport, name: &str) -> Option<&Probe> {
        self.probes
            .iter()
            .find(|p| p.transport == transport && p.name == name)
    }

    /// The probe whose lines `probe`'s `fallback NAME` reads: the one of that name on the
    /// same transport, else any of that name (nmap's DNS over TCP reads the UDP probe's
    /// answers, past the length prefix).
    pub fn fallback_of(&self, probe: &Probe, name: &str) -> Option<&Probe> {
        self.probe(probe.transport, name)
            .or_else(|| self.probes.iter().find(|p| p.name == name))
    }

    /// How many match and softmatch lines the database holds.
    pub fn match_count(&self) -> usize {
        self.probes.iter().map(|p| p.matches.len()).sum()
    }
}

fn parse_line(db: &mut ProbeDb, raw: &[u8], line: usize) -> Result<()> {
    let trimmed = trim(raw);
    if trimmed.is_empty() || trimmed[0] == b'#' {
        return Ok(());
    }
    let (keyword, rest) = split_word(trimmed);
    let keyword = std::str::from_utf8(keyword).unwrap_or("");
    if keyword == "Exclude" {
        db.exclude = parse_exclude(text(rest)?)?;
        return Ok(());
    }
    if keyword == "Probe" {
        db.probes.push(parse_probe(rest, line)?);
        return Ok(());
    }
    let Some(probe) = db.probes.last_mut() else {
        bail!("{keyword:?} before the first Probe line");
    };
    match keyword {
        "match" | "softmatch" => {
            probe
                .matches
                .push(parse_match(rest, keyword == "softmatch", line)?)
        }
        "ports" => probe.ports = parse_ranges(text(rest)?)?,
        "sslports" => probe.ssl_ports = parse_ranges(text(rest)?)?,
        "rarity" => {
            let rarity: u8 = text(rest)?
                .trim()
                .parse()
                .context("rarity wants a number from 1 to 9")?;
            if !(1..=9).contains(&rarity) {
                bail!("rarity {rarity}: from 1 to 9");
            }
            probe.rarity = Some(rarity);
        }
        "fallback" => {
            probe.fallback = text(rest)?
                .split(',')
                .map(|name| name.trim().to_string())
                .filter(|name| !name.is_empty())
                .collect();
        }
        "totalwaitms" => {
            probe.total_wait_ms = Some(
                text(rest)?
                    .trim()
                    .parse()
                    .context("totalwaitms wants milliseconds")?,
            )
        }
        "tcpwrappedms" => {
            probe.tcpwrapped_ms = Some(
                text(rest)?
                    .trim()
                    .parse()
                    .context("tcpwrappedms wants milliseconds")?,
            )
        }
        other => bail!("unknown directive {other:?}"),
    }
    Ok(())
}

/// `bytes` without leading and trailing ASCII whitespace.
pub(super) fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The first whitespace-separated word and the rest (trimmed).
pub(super) fn split_word(bytes: &[u8]) -> (&[u8], &[u8]) {
    match bytes.iter().position(|b| b.is_ascii_whitespace()) {
        Some(at) => (&bytes[..at], trim(&bytes[at..])),
        None => (bytes, &[]),
    }
}

pub(super) fn text(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).context("not text")
}

/// `Probe TCP|UDP NAME q|PAYLOAD| [no-payload]`
fn parse_probe(rest: &[u8], line: usize) -> Result<Probe> {
    let (transport, rest) = split_word(rest);
    let Some(transport) = Transport::from_name(transport) else {
        bail!(
            "Probe wants TCP or UDP, not {:?}",
            String::from_utf8_lossy(transport)
        );
    };
    let (name, rest) = split_word(rest);
    if name.is_empty() {
        bail!("Probe without a name");
    }
    let Some(rest) = rest.strip_prefix(b"q") else {
        bail!("Probe wants its payload as q|...|");
    };
    let (payload, after) = delimited(rest).context("in the probe's q|...| string")?;
    let flags = trim(after);
    let no_payload = match flags {
        b"" => false,
        b"no-payload" => true,
        other => bail!(
            "unexpected {:?} after the probe string",
            String::from_utf8_lossy(other)
        ),
    };
    Ok(Probe {
        transport,
        name: text(name)?.to_string(),
        payload: unescape(payload)?,
        no_payload,
        ports: Vec::new(),
        ssl_ports: Vec::new(),
        rarity: None,
        fallback: Vec::new(),
        total_wait_ms: None,
        tcpwrapped_ms: None,
        matches: Vec::new(),
        line,
    })
}

/// The text between a delimiter (the first byte) and its next occurrence, and what
/// follows.
pub(super) fn delimited(bytes: &[u8]) -> Result<(&[u8], &[u8])> {
    let (&delimiter, rest) = bytes.split_first().context("missing delimiter")?;
    let end = rest
        .iter()
        .position(|&b| b == delimiter)
        .with_context(|| format!("no closing {:?}", delimiter as char))?;
    Ok((&rest[..end], &rest[end + 1..]))
}

/// `match SERVICE m|PATTERN|FLAGS [TEMPLATE...]`
fn parse_match(rest: &[u8], soft: bool, line: usize) -> Result<Match> {
    let (service, rest) = split_word(rest);
    if service.is_empty() {
        bail!("match without a service name");
    }
    let Some(rest) = rest.strip_prefix(b"m") else {
        bail!("match wants its pattern as m|...|");
    };
    let (pattern, after) = delimited(rest).context("in the pattern")?;
    let flags_end = after
        .iter()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(after.len());
    let (flags, template) = after.split_at(flags_end);
    let mut builder = RegexBuilder::new();
    for &flag in flags {
        match flag {
            b'i' => builder.caseless(true),
            b's' => builder.dotall(true),
            other => bail!(
                "unknown pattern flag {:?} (i and s are known)",
                other as char
            ),
        };
    }
    let source = pattern_source(pattern);
    let pattern = builder
        .build(&source)
        .with_context(|| format!("pattern {source:?} does not compile"))?;
    Ok(Match {
        service: text(service)?.to_string(),
        soft,
        pattern,
        source,
        version: VersionTemplate::parse(trim(template))?,
        line,
    })
}

/// A pattern as PCRE2 text: bytes outside ASCII become `\xHH` escapes (files may hold
/// them raw; they match the same bytes).
fn pattern_source(pattern: &[u8]) -> String {
    let mut out = String::with_capacity(pattern.len());
    for &b in pattern {
        if b.is_ascii() {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The escapes of probe strings: `\\ \0 \a \b \f \n \r \t \v \xHH`, and any other
/// escaped character as itself.
pub fn unescape(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied();
    while let Some(b) = iter.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let escaped = iter.next().context("a lone backslash at the end")?;
        out.push(match escaped {
            b'0' => 0,
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 11,
            b'x' => {
                let hex = [iter.next(), iter.next()];
                let [Some(hi), Some(lo)] = hex else {
                    bail!("\\x wants two hex digits");
                };
                u8::from_str_radix(std::str::from_utf8(&[hi, lo])?, 16)
                    .context("\\x wants two hex digits")?
            }
            other => other,
        });
    }
    Ok(out)
}

/// `80,443,8000-8100`
fn parse_ranges(text: &str) -> Result<Vec<PortRange>> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (lo, hi) = item.split_once('-').unwrap_or((item, item));
            let lo: u16 = lo
                .trim()
                .parse()
                .with_context(|| format!("bad port {item:?}"))?;
            let hi: u16 = hi
                .trim()
                .parse()
                .with_context(|| format!("bad port {item:?}"))?;
            if lo > hi {
                bail!("port range {item:?} runs backwards");
            }
            Ok((lo, hi))
        })
        .collect()
}

/// `Exclude T:9100-9107,U:30000-40000,53` (no prefix: both transports).
fn parse_exclude(text: &str) -> Result<Vec<(Transport, PortRange)>> {
    let mut out = Vec::new();
    let mut current: Option<Transport> = None;
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let item = if let Some(rest) = item.strip_prefix("T:") {
            current = Some(Transport::Tcp);
            rest
        } else if let Some(rest) = item.strip_prefix("U:") {
            current = Some(Transport::Udp);
            rest
        } else {
            item
        };
        for range in parse_ranges(item)? {
            match current {
                Some(transport) => out.push((transport, range)),
                None => {
                    out.push((Transport::Tcp, range));
                    out.push((Transport::Udp, range));
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"# a comment\n\
Exclude T:9100-9107,U:53\n\
Probe TCP NULL q||\n\
totalwaitms 6000\n\
tcpwrappedms 3000\n\
match ssh m|^SSH-([\\d.]+)-OpenSSH[_-]([\\w.]+)\\r?\\n|i p/OpenSSH/ v/$2/ i/protocol $1/ cpe:/a:openbsd:openssh:$2/a\n\
softmatch ftp m|^220[ -]|\n\
\n\
Probe UDP DNSVersionBindReq q|\\0\\x06\\x01\\0\\0\\x01\\0\\0\\0\\0\\0\\0\\x07version\\x04bind\\0\\0\\x10\\0\\x03|\n\
rarity 1\n\
ports 53,1053-1054\n\
sslports 853\n\
fallback GetRequest, NULL\n\
match domain m|^\\0\\x06\\x81|s p|dnsmasq| v/$P(1)/\n";

    #[test]
    fn reads_every_directive() {
        let db = ProbeDb::parse(SAMPLE, "sample").unwrap();
        assert_eq!(db.probes.len(), 2);
        assert_eq!(
            db.exclude,
            vec![(Transport::Tcp, (9100, 9107)), (Transport::Udp, (53, 53))]
        );
        let null = db.probe(Transport::Tcp, "NULL").unwrap();
        assert!(null.payload.is_empty());
        assert_eq!(
            (null.total_wait_ms, null.tcpwrapped_ms),
            (Some(6000), Some(3000))
        );
        assert_eq!(null.matches.len(), 2);
        assert!(null.matches[1].soft);
        let ssh = &null.matches[0];
        assert_eq!(ssh.service, "ssh");
        assert_eq!(ssh.line, 6);
        let caps = ssh
            .pattern
            .captures(b"ssh-2.0-openssh_9.2p1\r\n")
            .unwrap()
            .expect("case-insensitive match");
        assert_eq!(&caps[2], b"9.2p1");
        let dns = db.probe(Transport::Udp, "DNSVersionBindReq").unwrap();
        assert_eq!(&dns.payload[..4], &[0, 6, 1, 0]);
        assert_eq!(dns.payload.len(), 30);
        assert_eq!(
            (dns.rarity, dns.ports.clone()),
            (Some(1), vec![(53, 53), (1053, 1054)])
        );
        assert_eq!(
            (dns.ssl_ports.clone(), dns.fallback.clone()),
            (
                vec![(853, 853)],
                vec!["GetRequest".to_string(), "NULL".into()]
            )
        );
        assert!(dns.matches[0]
            .pattern
            .is_match(b"\x00\x06\x81\x80")
            .unwrap());
        assert_eq!(db.match_count(), 3);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        for (text, line, what) in [
            (
                &b"Probe TCP NULL q||\nmatch x m|(|\n"[..],
                2,
                "does not compile",
            ),
            (b"match x m|a|\n", 1, "before the first Probe"),
            (b"Probe SCTP X q||\n", 1, "TCP or UDP"),
            (b"Probe TCP X q|abc\n", 1, "no closing"),
            (b"Probe TCP X q||\nrarity 12\n", 2, "from 1 to 9"),
            (b"Probe TCP X q||\nports 90-80\n", 2, "backwards"),
            (
                b"Probe TCP X q||\nmatch x m|a|z\n",
                2,
                "unknown pattern flag",
            ),
            (b"Probe TCP X q||\nfrobnicate 1\n", 2, "unknown directive"),
            (b"Probe TCP X q|\\x4|\n", 1, "two hex digits"),
        ] {
            let err = format!("{:#}", ProbeDb::parse(text, "f.txt").unwrap_err());
            assert!(err.starts_with(&format!("f.txt:{line}")), "{err}");
            assert!(err.contains(what), "{err}");
        }
    }

    #[test]
    fn reading_past_errors_hears_of_every_bad_line() {
        let text = b"Probe TCP A q||\n\
match x m|(|\n\
match y m|y|\n\
Probe SCTP B q||\n\
match z m|(|\n\
Probe UDP C q||\n\
rarity 0\n\
match w m|w|\n";
        let (db, errors) = ProbeDb::parse_past_errors(text);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        // Line 5 belongs to the unreadable probe B: no error of its own.
        assert_eq!(lines, vec![2, 4, 7]);
        let names: Vec<&str> = db.probes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, vec!["A", "C"]);
        assert_eq!(
            (db.probes[0].matches.len(), db.probes[1].matches.len()),
            (1, 1)
        );
        // `parse` gives the first error, with its file and line.
        let err = format!("{:#}", ProbeDb::parse(text, "f").unwrap_err());
        assert!(err.starts_with("f:2: pattern"), "{err}");
    }

    #[test]
    fn transports_by_name() {
        for transport in [Transport::Tcp, Transport::Udp] {
            assert_eq!(
                Transport::from_name(transport.name().as_bytes()),
                Some(transport)
            );
        }
        assert_eq!(Transport::from_name(b"tcp"), None);
    }

    #[test]
    fn raw_bytes_in_patterns_match_themselves() {
        let db = ProbeDb::parse(b"Probe TCP NULL q||\nmatch x m|^\xe9t\xe9|\n", "f").unwrap();
        assert!(db.probes[0].matches[0]
            .pattern
            .is_match(b"\xe9t\xe9!")
            .unwrap());
    }

    #[test]
    fn escapes_in_probe_strings() {
        assert_eq!(unescape(b"a\\r\\n\\0\\x41\\\\\\|").unwrap(), b"a\r\n\0A\\|");
    }
}
