//! Recorded answers: what servers of each kind answer a probe, and what the database
//! must name each answer as. The project's own are in `fingerprints/service-answers`
//! ([`OWN_ANSWERS_FILE`]; its format is described at its top), which the database's
//! test and `cargo xtask lint-db` both read.
//!
//! This module reads such a file and matches one answer against a database; which
//! lines of a database the answers must reach is the linter's business.

use super::matcher::ServiceMatch;
use super::probes::{
    delimited, numbered_lines, split_word, text, trim, unescape, LineError, ProbeDb, Transport,
};
use anyhow::{bail, Context, Result};

/// The project's recorded answers, relative to the workspace root.
pub const OWN_ANSWERS_FILE: &str = "fingerprints/service-answers";

/// One recorded answer and what it must be named as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedAnswer {
    /// The probe it answers.
    pub transport: Transport,
    pub probe: String,
    /// The service it must be named as.
    pub service: String,
    /// The product and version it must be named as; `None`: not checked.
    pub product: Option<String>,
    pub version: Option<String>,
    /// The answer's bytes.
    pub answer: Vec<u8>,
    /// Line number in its file.
    pub line: usize,
}

/// Reads a file of recorded answers (`text`, the bytes of a file named `file`, for
/// messages): `TRANSPORT PROBE SERVICE [p/PRODUCT/] [v/VERSION/] q|ANSWER|` a line.
/// The first bad line is the error, with its file and line.
pub fn parse(text: &[u8], file: &str) -> Result<Vec<RecordedAnswer>> {
    let (answers, errors) = parse_past_errors(text);
    match errors.into_iter().next() {
        Some(error) => Err(error.in_file(file)),
        None => Ok(answers),
    }
}

/// Reads what it can of a file of recorded answers: the good lines' answers, and the
/// error of each bad line.
pub fn parse_past_errors(text: &[u8]) -> (Vec<RecordedAnswer>, Vec<LineError>) {
    let mut answers = Vec::new();
    let mut errors = Vec::new();
    for (line, raw) in numbered_lines(text) {
        let raw = trim(raw);
        if raw.is_empty() || raw[0] == b'#' {
            continue;
        }
        match parse_answer(raw, line) {
            Ok(answer) => answers.push(answer),
            Err(error) => errors.push(LineError { line, error }),
        }
    }
    (answers, errors)
}

fn parse_answer(raw: &[u8], line: usize) -> Result<RecordedAnswer> {
    let (transport, rest) = split_word(raw);
    let Some(transport) = Transport::from_name(transport) else {
        bail!(
            "an answer starts with TCP or UDP, not {:?}",
            String::from_utf8_lossy(transport)
        );
    };
    let (probe, rest) = split_word(rest);
    let (service, mut rest) = split_word(rest);
    if probe.is_empty() || service.is_empty() {
        bail!("an answer wants TRANSPORT PROBE SERVICE, then q|ANSWER|");
    }
    let (mut product, mut version, mut answer) = (None, None, None);
    while let Some((&letter, after)) = rest.split_first() {
        let (body, after) =
            delimited(after).with_context(|| format!("in the {:?} field", letter as char))?;
        let slot = match letter {
            b'p' => &mut product,
            b'v' => &mut version,
            b'q' => &mut answer,
            other => bail!("unknown field {:?} (p, v and q are known)", other as char),
        };
        if slot.is_some() {
            bail!("two {:?} fields", letter as char);
        }
        *slot = Some(body);
        rest = trim(after);
    }
    let answer = answer.context("an answer without its bytes (q|...|)")?;
    let field_text = |field: Option<&[u8]>| -> Result<Option<String>> {
        field.map(|f| Ok(text(f)?.to_string())).transpose()
    };
    Ok(RecordedAnswer {
        transport,
        probe: text(probe)?.to_string(),
        service: text(service)?.to_string(),
        product: field_text(product)?,
        version: field_text(version)?,
        answer: unescape(answer).context("in the answer (q|...|)")?,
        line,
    })
}

impl RecordedAnswer {
    /// What `db` names this answer as, reading it as a scan reads an answer to its
    /// probe; an error if `db` has no such probe.
    pub fn identify(&self, db: &ProbeDb) -> Result<Option<ServiceMatch>> {
        let probe = db.probe(self.transport, &self.probe).with_context(|| {
            format!(
                "the database has no {} probe {}",
                self.transport.name(),
                self.probe
            )
        })?;
        Ok(db.match_response(probe, &self.answer, None))
    }

    /// How `found` differs from what this answer must be named as; `None` when it is
    /// named as expected.
    pub fn misnamed(&self, found: Option<&ServiceMatch>) -> Option<String> {
        let named_right = found.is_some_and(|hit| {
            hit.service == self.service
                && (self.product.is_none() || hit.info.product == self.product)
                && (self.version.is_none() || hit.info.version == self.version)
        });
        if named_right {
            return None;
        }
        let got = match found {
            None => "no line of the database names it".to_string(),
            Some(hit) => format!(
                "the database's line {} names it {}",
                hit.line,
                as_written(&hit.service, &hit.info.product, &hit.info.version),
            ),
        };
        Some(format!(
            "the {} {} answer should be named {}, but {got}",
            self.transport.name(),
            self.probe,
            as_written(&self.service, &self.product, &self.version),
        ))
    }
}

/// A service, product and version as an answer's line writes them.
fn as_written(service: &str, product: &Option<String>, version: &Option<String>) -> String {
    let mut out = service.to_string();
    for (letter, field) in [('p', product), ('v', version)] {
        if let Some(field) = field {
            out.push_str(&format!(" {letter}/{field}/"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWERS: &[u8] = b"# a comment\n\
\n\
TCP NULL ssh p/OpenSSH/ v/8.9/ q|SSH-2.0-OpenSSH_8.9\\r\\n|\n\
UDP Echo echo q%\\x00a|b\\\\%\n";

    #[test]
    fn reads_answers_and_their_names() {
        let answers = parse(ANSWERS, "answers").unwrap();
        assert_eq!(
            answers,
            vec![
                RecordedAnswer {
                    transport: Transport::Tcp,
                    probe: "NULL".into(),
                    service: "ssh".into(),
                    product: Some("OpenSSH".into()),
                    version: Some("8.9".into()),
                    answer: b"SSH-2.0-OpenSSH_8.9\r\n".to_vec(),
                    line: 3,
                },
                RecordedAnswer {
                    transport: Transport::Udp,
                    probe: "Echo".into(),
                    service: "echo".into(),
                    product: None,
                    version: None,
                    answer: b"\x00a|b\\".to_vec(),
                    line: 4,
                },
            ]
        );
    }

    #[test]
    fn reading_past_errors_keeps_the_good_lines() {
        let text = b"TCP NULL ssh q|x|\nTCP NULL\nUDP Echo echo q|y|\nTCP X y p/z\n";
        let (answers, errors) = parse_past_errors(text);
        let answer_lines: Vec<usize> = answers.iter().map(|a| a.line).collect();
        let error_lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!((answer_lines, error_lines), (vec![1, 3], vec![2, 4]));
    }

    #[test]
    fn errors_name_the_file_and_line() {
        for (text, what) in [
            (&b"SCTP NULL ssh q|x|\n"[..], "TCP or UDP"),
            (b"TCP NULL\n", "TRANSPORT PROBE SERVICE"),
            (b"TCP NULL ssh p/OpenSSH/\n", "without its bytes"),
            (b"TCP NULL ssh q|x\n", "no closing"),
            (b"TCP NULL ssh i/x/ q|x|\n", "unknown field 'i'"),
            (b"TCP NULL ssh p/a/ p/b/ q|x|\n", "two 'p' fields"),
            (b"TCP NULL ssh q|\\x4|\n", "two hex digits"),
        ] {
            let mut with_comment = b"# first\n".to_vec();
            with_comment.extend_from_slice(text);
            let err = format!("{:#}", parse(&with_comment, "f").unwrap_err());
            assert!(err.starts_with("f:2: "), "{err}");
            assert!(err.contains(what), "{err}");
        }
    }

    #[test]
    fn an_answer_is_named_by_the_database() {
        let db = ProbeDb::parse(
            b"Probe TCP NULL q||\n\
match ssh m|^SSH-[\\d.]+-OpenSSH_([\\w.]+)| p/OpenSSH/ v/$1/\n\
softmatch ssh m|^SSH-|\n",
            "db",
        )
        .unwrap();
        let answers = parse(ANSWERS, "answers").unwrap();
        let found = answers[0].identify(&db).unwrap();
        assert_eq!(found.as_ref().map(|hit| hit.line), Some(2));
        assert_eq!(answers[0].misnamed(found.as_ref()), None);
        let other_version = RecordedAnswer {
            version: Some("9.0".into()),
            ..answers[0].clone()
        };
        assert_eq!(
            other_version.misnamed(found.as_ref()).unwrap(),
            "the TCP NULL answer should be named ssh p/OpenSSH/ v/9.0/, \
             but the database's line 2 names it ssh p/OpenSSH/ v/8.9/"
        );
        let nothing = RecordedAnswer {
            answer: b"HTTP/1.0 200 OK\r\n".to_vec(),
            ..answers[0].clone()
        };
        let found = nothing.identify(&db).unwrap();
        assert!(nothing
            .misnamed(found.as_ref())
            .unwrap()
            .ends_with("but no line of the database names it"));
        let err = answers[1].identify(&db).unwrap_err();
        assert_eq!(err.to_string(), "the database has no UDP probe Echo");
    }
}
