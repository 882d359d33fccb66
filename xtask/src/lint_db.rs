//! `cargo xtask lint-db [PATH]`: checks a service probe database in nmap's
//! `nmap-service-probes` format (by default the project's own,
//! `fingerprints/service-probes`) against its recorded answers (by default
//! `fingerprints/service-answers`), and reports each problem with its file and line.
//!
//! Errors (the command fails):
//! - a line the scanner's parser refuses: a pattern that does not compile, an unknown
//!   template field or `$` helper, a rarity outside 1-9, a port beyond 65535, ...
//!   (the scanner would refuse the whole file);
//! - a version template that uses a capture group its pattern does not have;
//! - a recorded answer that cannot be read, that names no probe of the database, or
//!   that the database names otherwise than the answer says;
//! - a `match` or `softmatch` line that names no recorded answer: no answer for which
//!   it is the line the scanner's matcher picks.
//!
//! Warnings: a probe without match lines of its own, a probe name used twice for one
//! transport, a `fallback` to a probe that does not exist, port 0 in `ports` or
//! `sslports`.
//!
//! The database is read with the scanner's own parser and matcher, so the linter judges
//! a file as a scan would. It only reads; it fixes nothing.

use crate::workspace_root;
use anyhow::{bail, Context, Result};
use scanner::service::probes::{numbered_lines, LineError, ProbeDb};
use scanner::service::recorded::{self, RecordedAnswer, OWN_ANSWERS_FILE};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The project's own database, relative to the workspace root.
const OWN_DATABASE_FILE: &str = "fingerprints/service-probes";

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The database is wrong: the command fails.
    Error,
    /// Likely a mistake, but the database works.
    Warning,
}

/// One problem, at a line of one of the two files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {severity}: {}",
            self.file, self.line, self.message
        )
    }
}

/// A file to lint: its name (for messages) and its bytes.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    pub name: &'a str,
    pub text: &'a [u8],
}

/// What a lint found, and how much of the database the answers reach.
#[derive(Debug)]
pub struct Lint {
    /// The database's findings by line, then the answers'.
    pub findings: Vec<Finding>,
    pub probes: usize,
    pub match_lines: usize,
    pub answers: usize,
    /// Match lines that name at least one answer.
    pub reached_lines: usize,
}

impl Lint {
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }
}

/// Lints the database `db` against the recorded answers `answers`.
pub fn lint(db: Source, answers: Source) -> Lint {
    let (probe_db, parse_errors) = ProbeDb::parse_past_errors(db.text);
    let (recorded, answer_errors) = recorded::parse_past_errors(answers.text);
    let mut findings = unreadable_lines(db.name, parse_errors);
    findings.extend(unreadable_lines(answers.name, answer_errors));
    findings.extend(missing_groups(&probe_db, db.name));
    let (answer_findings, reached) = answers_named(&probe_db, &recorded, answers.name);
    findings.extend(answer_findings);
    findings.extend(unreached_lines(&probe_db, db.name, &reached, answers.name));
    findings.extend(shape_warnings(&probe_db, db));
    findings.sort_by_key(|f| (f.file != db.name, f.line));
    Lint {
        findings,
        probes: probe_db.probes.len(),
        match_lines: probe_db.match_count(),
        answers: recorded.len(),
        reached_lines: reached.len(),
    }
}

fn error(file: &str, line: usize, message: String) -> Finding {
    Finding {
        severity: Severity::Error,
        file: file.to_string(),
        line,
        message,
    }
}

fn warning(file: &str, line: usize, message: String) -> Finding {
    Finding {
        severity: Severity::Warning,
        ..error(file, line, message)
    }
}

fn unreadable_lines(file: &str, errors: Vec<LineError>) -> Vec<Finding> {
    errors
        .into_iter()
        .map(|e| error(file, e.line, format!("{:#}", e.error)))
        .collect()
}

/// Templates that use a capture group (`$N`, `$P(N)`, `$SUBST(N,..)`, `$I(N,..)`)
/// beyond their pattern's: it would always expand to nothing.
fn missing_groups(db: &ProbeDb, file: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for match_line in db.probes.iter().flat_map(|p| &p.matches) {
        // captures_len counts group 0, the whole match.
        let groups = match_line.pattern.captures_len() - 1;
        let mut reported = HashSet::new();
        for (field, group) in match_line.version.group_references() {
            if group > groups && reported.insert((field, group)) {
                out.push(error(
                    file,
                    match_line.line,
                    format!(
                        "{field}/ uses group {group}, but the pattern has {}",
                        groups_named(groups)
                    ),
                ));
            }
        }
    }
    out
}

fn groups_named(groups: usize) -> String {
    match groups {
        0 => "no capture groups".into(),
        1 => "only 1 capture group".into(),
        n => format!("only {n} capture groups"),
    }
}

/// Each answer read against the database: answers that cannot be, or that are named
/// otherwise than they say; and the lines that named answers.
fn answers_named(
    db: &ProbeDb,
    answers: &[RecordedAnswer],
    file: &str,
) -> (Vec<Finding>, HashSet<usize>) {
    let mut findings = Vec::new();
    let mut reached = HashSet::new();
    for answer in answers {
        let found = match answer.identify(db) {
            Ok(found) => found,
            Err(err) => {
                findings.push(error(file, answer.line, format!("{err:#}")));
                continue;
            }
        };
        if let Some(hit) = &found {
            reached.insert(hit.line);
        }
        if let Some(difference) = answer.misnamed(found.as_ref()) {
            findings.push(error(file, answer.line, difference));
        }
    }
    (findings, reached)
}

/// Match lines that no answer reaches.
fn unreached_lines(
    db: &ProbeDb,
    file: &str,
    reached: &HashSet<usize>,
    answers_file: &str,
) -> Vec<Finding> {
    db.probes
        .iter()
        .flat_map(|p| &p.matches)
        .filter(|match_line| !reached.contains(&match_line.line))
        .map(|match_line| {
            let kind = if match_line.soft {
                "softmatch"
            } else {
                "match"
            };
            let product = match_line
                .version
                .expand(&[])
                .product
                .map(|p| format!(" ({p})"))
                .unwrap_or_default();
            error(
                file,
                match_line.line,
                format!(
                    "{kind} {}{product} names no recorded answer: add one to {answers_file}",
                    match_line.service
                ),
            )
        })
        .collect()
}

/// What works but is likely a mistake.
fn shape_warnings(db: &ProbeDb, source: Source) -> Vec<Finding> {
    let file = source.name;
    let mut out = Vec::new();
    let mut first_named: HashMap<(&str, &str), usize> = HashMap::new();
    for (index, probe) in db.probes.iter().enumerate() {
        let name = format!("{} probe {}", probe.transport.name(), probe.name);
        let next_probe_line = db.probes.get(index + 1).map_or(usize::MAX, |p| p.line);
        let directive_line = |keyword: &str| {
            last_directive(source.text, keyword, probe.line, next_probe_line).unwrap_or(probe.line)
        };
        // A probe may read its answers with another's lines only (SIP over UDP with SIP
        // over TCP's); the NULL probe's greeting lines do not count.
        let lines_by_fallback = probe.fallback.iter().any(|other| {
            other != "NULL"
                && db
                    .fallback_of(probe, other)
                    .is_some_and(|p| !p.matches.is_empty())
        });
        if probe.matches.is_empty() && !lines_by_fallback {
            out.push(warning(
                file,
                probe.line,
                format!("{name} has no match lines of its own"),
            ));
        }
        match first_named.get(&(probe.transport.name(), probe.name.as_str())) {
            Some(&first) => out.push(warning(
                file,
                probe.line,
                format!(
                    "{name} again (first on line {first}): fallbacks and lookups by name find only the first"
                ),
            )),
            None => {
                first_named.insert((probe.transport.name(), &probe.name), probe.line);
            }
        }
        for (keyword, ranges) in [("ports", &probe.ports), ("sslports", &probe.ssl_ports)] {
            if ranges.iter().any(|&(low, _)| low == 0) {
                out.push(warning(
                    file,
                    directive_line(keyword),
                    format!("{keyword} of the {name} holds port 0: ports run from 1 to 65535"),
                ));
            }
        }
        for fallback in &probe.fallback {
            if db.fallback_of(probe, fallback).is_none() {
                out.push(warning(
                    file,
                    directive_line("fallback"),
                    format!("the {name} falls back on {fallback}, which no probe is named"),
                ));
            }
        }
    }
    out
}

/// The line number of the last `keyword` directive between lines `from` and `to`
/// (exclusive): the one that took effect.
fn last_directive(text: &[u8], keyword: &str, from: usize, to: usize) -> Option<usize> {
    numbered_lines(text)
        .skip_while(|&(line, _)| line <= from)
        .take_while(|&(line, _)| line < to)
        .filter(|(_, raw)| {
            raw.trim_ascii_start()
                .split(u8::is_ascii_whitespace)
                .next()
                .is_some_and(|word| word == keyword.as_bytes())
        })
        .map(|(line, _)| line)
        .last()
}

/// The file to read, and its name for messages: `given` as given, or the project's
/// own file `own` (relative to the workspace root), named as the repository names it.
fn given_or_own(given: Option<&Path>, own: &str) -> (PathBuf, String) {
    match given {
        Some(path) => (path.to_path_buf(), path.display().to_string()),
        None => (workspace_root().join(own), own.to_string()),
    }
}

/// Lints the database at `path` (default: the project's own) against the answers at
/// `answers` (default: the project's own), prints every finding and a summary, and
/// fails if any finding is an error.
pub fn run(path: Option<&Path>, answers: Option<&Path>) -> Result<()> {
    let (db_path, db_name) = given_or_own(path, OWN_DATABASE_FILE);
    let (answers_path, answers_name) = given_or_own(answers, OWN_ANSWERS_FILE);
    let db_text = std::fs::read(&db_path)
        .with_context(|| format!("cannot read the probe database {}", db_path.display()))?;
    let answers_text = std::fs::read(&answers_path).with_context(|| {
        format!(
            "cannot read the recorded answers {} (--answers)",
            answers_path.display()
        )
    })?;
    let lint = lint(
        Source {
            name: &db_name,
            text: &db_text,
        },
        Source {
            name: &answers_name,
            text: &answers_text,
        },
    );
    for finding in &lint.findings {
        println!("{finding}");
    }
    let (errors, warnings) = (lint.count(Severity::Error), lint.count(Severity::Warning));
    println!(
        "{db_name}: {} probes, {} match lines; the {} answers of {answers_name} reach {} of them; {errors} errors, {warnings} warnings",
        lint.probes, lint.match_lines, lint.answers, lint.reached_lines
    );
    if errors > 0 {
        bail!("{db_name}: {errors} errors (listed above)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lints `db` against `answers` and gives each finding as `LINE: MESSAGE`
    /// (warnings marked), the answers' lines as `answers:LINE`.
    fn findings(db: &str, answers: &str) -> Vec<String> {
        let lint = lint(
            Source {
                name: "db",
                text: db.as_bytes(),
            },
            Source {
                name: "answers",
                text: answers.as_bytes(),
            },
        );
        lint.findings
            .iter()
            .map(|f| {
                let place = match f.file.as_str() {
                    "db" => f.line.to_string(),
                    _ => format!("answers:{}", f.line),
                };
                let mark = match f.severity {
                    Severity::Error => "",
                    Severity::Warning => "warning ",
                };
                format!("{place}: {mark}{}", f.message)
            })
            .collect()
    }

    const GOOD_DB: &str = "Probe TCP NULL q||\n\
match ssh m|^SSH-([\\d.]+)-OpenSSH_([\\w.]+)\\r\\n| p/OpenSSH/ v/$2/ i/protocol $1/\n\
softmatch ssh m|^SSH-|\n\
Probe UDP Echo q|hello|\n\
rarity 2\n\
ports 7\n\
match echo m|^hello$|\n";

    const GOOD_ANSWERS: &str = "# answers\n\
TCP NULL ssh p/OpenSSH/ v/9.2p1/ q|SSH-2.0-OpenSSH_9.2p1\\r\\n|\n\
TCP NULL ssh q|SSH-1.99-other\\r\\n|\n\
UDP Echo echo q|hello|\n";

    /// The project's own database and answers: no error, no warning (what `cargo xtask
    /// lint-db` checks, run with the tests).
    #[test]
    fn the_own_database_lints_clean() {
        let read = |file: &str| std::fs::read(workspace_root().join(file)).unwrap();
        let (db, answers) = (read(OWN_DATABASE_FILE), read(OWN_ANSWERS_FILE));
        let lint = lint(
            Source {
                name: OWN_DATABASE_FILE,
                text: &db,
            },
            Source {
                name: OWN_ANSWERS_FILE,
                text: &answers,
            },
        );
        let listed: Vec<String> = lint.findings.iter().map(ToString::to_string).collect();
        assert!(listed.is_empty(), "{}", listed.join("\n"));
        assert_eq!(lint.reached_lines, lint.match_lines);
    }

    #[test]
    fn a_good_database_lints_clean() {
        assert_eq!(findings(GOOD_DB, GOOD_ANSWERS), Vec::<String>::new());
        let lint = lint(
            Source {
                name: "db",
                text: GOOD_DB.as_bytes(),
            },
            Source {
                name: "answers",
                text: GOOD_ANSWERS.as_bytes(),
            },
        );
        assert_eq!(
            (
                lint.probes,
                lint.match_lines,
                lint.answers,
                lint.reached_lines
            ),
            (2, 3, 3, 3)
        );
    }

    #[test]
    fn a_pattern_that_does_not_compile_names_its_line() {
        let db = GOOD_DB.replace("m|^hello$|", "m|^hel(lo$|");
        let found = findings(&db, GOOD_ANSWERS);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[1].starts_with("7: pattern \"^hel(lo$\" does not compile"),
            "{found:?}"
        );
        // Without the line, its probe has none and its answer is named nothing.
        assert_eq!(
            [&found[0], &found[2]],
            [
                "4: warning UDP probe Echo has no match lines of its own",
                "answers:4: the UDP Echo answer should be named echo, \
                 but no line of the database names it"
            ]
        );
    }

    #[test]
    fn a_template_using_a_group_the_pattern_lacks() {
        let db = GOOD_DB.replace("i/protocol $1/", "i/protocol $1/ h/$3/ cpe:/a:x:y:$P(3)/");
        assert_eq!(
            findings(&db, GOOD_ANSWERS),
            vec![
                "2: h/ uses group 3, but the pattern has only 2 capture groups",
                "2: cpe:/ uses group 3, but the pattern has only 2 capture groups",
            ]
        );
        let db = GOOD_DB.replace("m|^SSH-|", "m|^SSH-| v/$1/");
        assert_eq!(
            findings(&db, GOOD_ANSWERS),
            vec!["3: v/ uses group 1, but the pattern has no capture groups"]
        );
    }

    #[test]
    fn an_unknown_helper_is_an_error() {
        let db = GOOD_DB.replace("v/$2/", "v/$UPPER(2)/");
        assert_eq!(
            findings(&db, GOOD_ANSWERS),
            vec![
                "2: $UPPER(...) with these arguments is not a substitution nmap defines",
                // Without the line, the softmatch names its answer.
                "answers:2: the TCP NULL answer should be named ssh p/OpenSSH/ v/9.2p1/, \
                 but the database's line 3 names it ssh",
            ]
        );
    }

    #[test]
    fn a_line_no_answer_reaches() {
        // No answer is Dropbear's.
        let db = GOOD_DB.replace(
            "softmatch ssh",
            "match ssh m|^SSH-([\\d.]+)-dropbear_([\\w.]+)| p/Dropbear sshd/ v/$2/\nsoftmatch ssh",
        );
        assert_eq!(
            findings(&db, GOOD_ANSWERS),
            vec!["3: match ssh (Dropbear sshd) names no recorded answer: add one to answers"]
        );
        let answers = GOOD_ANSWERS.replace("TCP NULL ssh q|SSH-1.99-other\\r\\n|\n", "");
        assert_eq!(
            findings(GOOD_DB, &answers),
            vec!["3: softmatch ssh names no recorded answer: add one to answers"]
        );
    }

    #[test]
    fn answers_that_are_wrong() {
        let answers = format!(
            "{GOOD_ANSWERS}TCP Nothing x q|x|\nUDP Echo echo p/Echo server/ q|hello|\nTCP NULL ssh q|x\n"
        );
        assert_eq!(
            findings(GOOD_DB, &answers),
            vec![
                "answers:5: the database has no TCP probe Nothing",
                "answers:6: the UDP Echo answer should be named echo p/Echo server/, \
                 but the database's line 7 names it echo",
                "answers:7: in the 'q' field: no closing '|'",
            ]
        );
    }

    #[test]
    fn shapes_that_work_but_are_likely_mistakes() {
        let db = format!(
            "{GOOD_DB}Probe TCP Empty q|x|\nports 0-10,80\nsslports 443\nfallback NULL, Nowhere\nProbe UDP Echo q|again|\nmatch echo m|^again$|\n\
             Probe UDP Relay q|r|\nfallback Echo\n"
        );
        let answers = format!("{GOOD_ANSWERS}UDP Echo echo q|again|\n");
        assert_eq!(
            findings(&db, &answers),
            vec![
                "8: warning TCP probe Empty has no match lines of its own",
                "9: warning ports of the TCP probe Empty holds port 0: ports run from 1 to 65535",
                "11: warning the TCP probe Empty falls back on Nowhere, which no probe is named",
                "12: warning UDP probe Echo again (first on line 4): fallbacks and lookups by name find only the first",
                // Relay reads its answers with Echo's lines: no warning.
                // Answers to "the" Echo probe are read with the first's lines.
                "13: match echo names no recorded answer: add one to answers",
                "answers:5: the UDP Echo answer should be named echo, \
                 but no line of the database names it",
            ]
        );
    }

    #[test]
    fn rarity_and_ports_out_of_range_are_refused_by_the_parser() {
        let db = GOOD_DB
            .replace("rarity 2", "rarity 10")
            .replace("ports 7", "ports 7,70000");
        let found = findings(&db, GOOD_ANSWERS);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("5: rarity 10: from 1 to 9"),
            "{found:?}"
        );
        assert!(found[1].starts_with("6: bad port \"70000\""), "{found:?}");
    }
}
