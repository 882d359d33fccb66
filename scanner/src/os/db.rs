//! The nmap-os-db format, read completely: the `MatchPoints` block (what each test's
//! attributes weigh), then `Fingerprint <name>` entries, each with its `Class vendor |
//! family | generation | device type` lines, the `CPE cpe:/… [auto]` lines under each
//! class, and one line per test (`SEQ(SP=0-5%GCD=…)`, see [`Test::parse`]) whose
//! values are expressions ([`Expr`]). Comments (`#`) may stand anywhere; a blank line
//! ends an entry. The project's own database and a user's file (nmap's own, with
//! `--osdb`) go through the same parser.
//!
//! What makes the whole file unreadable fails with a message that names the file and
//! line: no `MatchPoints` block or a broken one, a line outside any entry that is not
//! one of the format's, a line longer than nmap's reader takes, a file larger than any
//! real database. A problem inside one entry (a test nmap does not know, a bad
//! `Class` line) leaves that entry out with a warning in [`Database::warnings`]: nmap
//! goes on past such lines too, but keeps what it had read of the entry, which would
//! then match on fewer tests than its authors meant. Too many such entries, and the
//! file is taken not to be a database at all.
//!
//! This module only reads; matching a host's fingerprint is [`super::matching`]'s.

use super::expr::Expr;
use super::fingerprint::{test_index, Fingerprint, Test, MOST_ATTRIBUTES, TESTS};
use crate::model::OsClass;
use anyhow::{anyhow, bail, Context, Result};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

/// The longest line read, newline left out: nmap reads the file through a buffer of
/// this size (its own database's longest line is under 800 bytes).
pub const MOST_LINE_BYTES: usize = 2048;

/// The largest file read: nmap's database is about 5 MB.
pub const MOST_FILE_BYTES: usize = 64 << 20;

/// How many entries may be left out before the file is refused as a whole.
pub const MOST_SKIPPED_ENTRIES: usize = 100;

/// What each test attribute is worth when fingerprints are compared: the database's
/// `MatchPoints` block. An attribute the block leaves out is worth nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MatchPoints {
    /// By test and attribute index in [`TESTS`].
    weights: [[u32; MOST_ATTRIBUTES]; TESTS.len()],
}

impl MatchPoints {
    /// The weight of `attr` in `test`; `None` when [`TESTS`] has no such attribute.
    pub fn weight(&self, test: &str, attr: &str) -> Option<u32> {
        let (test, attrs) = test_index(test)?;
        let attr = attrs.iter().position(|name| *name == attr)?;
        Some(self.weights[test][attr])
    }

    /// The weight of the attribute at these indexes of [`TESTS`].
    pub(super) fn weight_at(&self, test: usize, attr: usize) -> u32 {
        self.weights[test][attr]
    }

    /// Reads one line of the block: a test whose values are positive whole numbers.
    fn read_line(&mut self, line: &str) -> Result<()> {
        let test = Test::parse(line)?;
        let (index, attrs) = test_index(test.name).expect("parsed tests are in the table");
        if self.weights[index].iter().any(|&weight| weight > 0) {
            bail!("MatchPoints gives {} twice", test.name);
        }
        for (attr, value) in &test.attrs {
            let weight = value
                .parse::<u32>()
                .ok()
                .filter(|&weight| weight > 0 && value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    anyhow!(
                        "MatchPoints: {}.{attr}={value:?} is not a positive whole number",
                        test.name
                    )
                })?;
            let at = attrs
                .iter()
                .position(|name| name == attr)
                .expect("set by parse");
            self.weights[index][at] = weight;
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.weights.iter().flatten().all(|&weight| weight == 0)
    }
}

/// One reference print: a `Fingerprint` entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The name after `Fingerprint` (a trailing `#` comment left out).
    pub name: String,
    /// The line of its `Fingerprint`, counted from 1.
    pub line: usize,
    pub classes: Vec<OsClass>,
    /// What it expects of each attribute it names, in [`TESTS`]' order.
    pub(super) expectations: Vec<Expectation>,
    /// The points of all the attributes it names: what a fingerprint that has them
    /// all could score (nmap's `numprints`, from which the matcher's budget of
    /// mismatches is drawn).
    pub(super) possible_points: u64,
}

/// One attribute of a reference print.
#[derive(Clone, Debug)]
pub(super) struct Expectation {
    /// Indexes in [`TESTS`].
    pub test: usize,
    pub attr: usize,
    pub expr: Arc<Expr>,
}

impl Entry {
    /// The expression this entry gives `attr` of `test`, if it gives one.
    pub fn expression(&self, test: &str, attr: &str) -> Option<&Expr> {
        let (test, attrs) = test_index(test)?;
        let attr = attrs.iter().position(|name| *name == attr)?;
        self.expectations
            .iter()
            .find(|e| e.test == test && e.attr == attr)
            .map(|e| e.expr.as_ref())
    }

    /// Its tests as written, `R` completed by nmap's rule; tests with nothing to
    /// compare (`OPS(R=N)`) left out.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut print = Fingerprint::default();
        for group in self.expectations.chunk_by(|a, b| a.test == b.test) {
            let (name, attrs) = TESTS[group[0].test];
            let mut test = Test::new(name).expect("a name from the table");
            for expectation in group {
                test.set(attrs[expectation.attr], expectation.expr.as_str());
            }
            print.insert(test);
        }
        print
    }

    /// What a fingerprint with every attribute this entry names could score.
    pub fn possible_points(&self) -> u64 {
        self.possible_points
    }
}

/// A whole database.
#[derive(Clone, Debug)]
pub struct Database {
    pub match_points: MatchPoints,
    /// In the file's order, which is the order equal matches are listed in.
    pub entries: Vec<Entry>,
    /// One line for each entry left out, naming the file, the line and the problem.
    pub warnings: Vec<String>,
}

/// The project's own database, built in (`fingerprints/os-db`).
const OWN_DATABASE: &str = include_str!("../../../fingerprints/os-db");

/// The database to match against: the file a user names (`--osdb`), or the built-in
/// one. A user's file that leaves entries out says so on standard error.
pub fn load(path: Option<&Path>) -> Result<Database> {
    let db = match path {
        None => Database::parse(OWN_DATABASE, "fingerprints/os-db (built in)")?,
        Some(path) => Database::load(path).context("--osdb")?,
    };
    for warning in &db.warnings {
        eprintln!("scanner: {warning}");
    }
    Ok(db)
}

/// The bytes of the database file at `path` (`what` it is, for messages); a file
/// larger than [`MOST_FILE_BYTES`] is refused.
pub(in crate::os) fn read_bounded(path: &Path, what: &str) -> Result<Vec<u8>> {
    let cannot_read = || format!("cannot read the {what} {}", path.display());
    let file = std::fs::File::open(path).with_context(cannot_read)?;
    let mut text = Vec::new();
    file.take(MOST_FILE_BYTES as u64 + 1)
        .read_to_end(&mut text)
        .with_context(cannot_read)?;
    if text.len() > MOST_FILE_BYTES {
        bail!(
            "{} is larger than {} MiB: not a {what}",
            path.display(),
            MOST_FILE_BYTES >> 20
        );
    }
    Ok(text)
}

impl Database {
    /// Reads the database at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_bounded(path, "OS database")?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Reads `text`, the contents of `source` (a file name, for messages).
    pub fn parse(text: impl AsRef<[u8]>, source: &str) -> Result<Self> {
        let text = text.as_ref();
        if text.len() > MOST_FILE_BYTES {
            bail!(
                "{source} is larger than {} MiB: not an nmap-os-db file",
                MOST_FILE_BYTES >> 20
            );
        }
        let mut reader = Reader::new(source);
        let mut lines = 0;
        for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
            lines = index + 1;
            reader.read_line(raw, lines)?;
        }
        reader.finish(lines)
    }
}

/// Where the reader stands.
enum Block {
    /// Between entries.
    Outside,
    /// Inside the `MatchPoints` block.
    MatchPoints,
    /// Inside an entry.
    Entry(Draft),
    /// Inside an entry that is left out, until the next entry or blank line.
    Skipping,
}

/// An entry being read.
struct Draft {
    name: String,
    line: usize,
    classes: Vec<OsClass>,
    /// The tests read so far, by name, so that none is given twice.
    tests: Vec<&'static str>,
    expectations: Vec<Expectation>,
}

/// The reader's state across lines.
struct Reader<'a> {
    source: &'a str,
    match_points: Option<MatchPoints>,
    block: Block,
    entries: Vec<Entry>,
    warnings: Vec<String>,
    pools: Pools,
}

/// Expressions already read, shared by every entry that writes them alike (most are:
/// `Y`, `40`, `M5B4ST11NW7`), by syntax: plain ones and TCP option strings.
#[derive(Default)]
struct Pools {
    plain: HashMap<String, Arc<Expr>>,
    options: HashMap<String, Arc<Expr>>,
}

impl<'a> Reader<'a> {
    fn new(source: &'a str) -> Self {
        Self {
            source,
            match_points: None,
            block: Block::Outside,
            entries: Vec::new(),
            warnings: Vec::new(),
            pools: Pools::default(),
        }
    }

    /// A message that the file cannot be read, at `line`.
    fn fail(&self, line: usize, problem: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{} line {line}: {problem:#}", self.source)
    }

    fn read_line(&mut self, raw: &[u8], number: usize) -> Result<()> {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.len() > MOST_LINE_BYTES {
            return Err(self.fail(
                number,
                format!(
                    "the line is {} bytes long, more than the {MOST_LINE_BYTES} nmap reads: \
                     not an nmap-os-db file?",
                    raw.len()
                ),
            ));
        }
        let raw = raw.trim_ascii();
        if raw.first() == Some(&b'#') {
            return Ok(());
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            return self.entry_problem(number, anyhow!("the line is not UTF-8 text"));
        };
        if line.is_empty() {
            return self.close_block(number);
        }
        let (word, rest) = line
            .split_once(|c: char| c.is_ascii_whitespace())
            .map_or((line, ""), |(word, rest)| (word, rest.trim()));
        match word {
            "Fingerprint" => self.open_entry(rest, number),
            "MatchPoints" if rest.is_empty() => {
                self.close_block(number)?;
                if self.match_points.is_some() {
                    return Err(self.fail(number, "a second MatchPoints block"));
                }
                self.match_points = Some(MatchPoints::default());
                self.block = Block::MatchPoints;
                Ok(())
            }
            // Newer databases say which nmap reads them; this reader takes their syntax.
            "This" if line.starts_with("This nmap-os-db") => Ok(()),
            _ => match &mut self.block {
                Block::Outside => Err(self.fail(
                    number,
                    format!(
                        "expected MatchPoints, Fingerprint <name>, a comment or a blank line, \
                         not {:?} (an entry ends at a blank line)",
                        shorten(line)
                    ),
                )),
                Block::MatchPoints => {
                    let points = self.match_points.as_mut().expect("set with the block");
                    let read = points.read_line(line);
                    read.map_err(|e| self.fail(number, e))
                }
                Block::Entry(draft) => {
                    match read_entry_line(draft, &mut self.pools, word, rest, line) {
                        Ok(()) => Ok(()),
                        Err(problem) => self.entry_problem(number, problem),
                    }
                }
                Block::Skipping => Ok(()),
            },
        }
    }

    /// A `Fingerprint` line: the entry before it ends, a new one starts.
    fn open_entry(&mut self, rest: &str, number: usize) -> Result<()> {
        self.close_block(number)?;
        if self.match_points.is_none() {
            return Err(self.fail(
                number,
                "a Fingerprint before the MatchPoints block: nmap-os-db starts with MatchPoints",
            ));
        }
        let name = rest.split('#').next().unwrap_or("").trim();
        self.block = Block::Entry(Draft {
            name: name.to_string(),
            line: number,
            classes: Vec::new(),
            tests: Vec::new(),
            expectations: Vec::new(),
        });
        if name.is_empty() {
            return self.entry_problem(number, anyhow!("Fingerprint without a name"));
        }
        Ok(())
    }

    /// Leaves the current entry out, with a warning; outside an entry the file is
    /// refused.
    fn entry_problem(&mut self, number: usize, problem: anyhow::Error) -> Result<()> {
        let Block::Entry(draft) = &self.block else {
            if matches!(self.block, Block::Skipping) {
                return Ok(());
            }
            return Err(self.fail(number, problem));
        };
        let warning = format!(
            "{} line {number}: {problem:#}; entry {:?} (line {}) left out",
            self.source, draft.name, draft.line
        );
        self.warnings.push(warning);
        self.block = Block::Skipping;
        if self.warnings.len() > MOST_SKIPPED_ENTRIES {
            bail!(
                "{}: more than {MOST_SKIPPED_ENTRIES} entries cannot be read, so it is taken \
                 not to be an nmap-os-db file; the first: {}",
                self.source,
                self.warnings[0]
            );
        }
        Ok(())
    }

    /// Ends the block that a blank line, a new block or the end of the file closes.
    fn close_block(&mut self, number: usize) -> Result<()> {
        match std::mem::replace(&mut self.block, Block::Outside) {
            Block::MatchPoints => {
                if self
                    .match_points
                    .as_ref()
                    .is_some_and(MatchPoints::is_empty)
                {
                    return Err(self.fail(number, "the MatchPoints block gives no weights"));
                }
            }
            Block::Entry(draft) => {
                let entry = self.compile(draft);
                self.entries.push(entry);
            }
            Block::Outside | Block::Skipping => {}
        }
        Ok(())
    }

    /// Turns a draft that read cleanly into an entry.
    fn compile(&self, mut draft: Draft) -> Entry {
        let points = self.match_points.as_ref().expect("checked at Fingerprint");
        draft.expectations.sort_by_key(|e| (e.test, e.attr));
        let possible_points = draft
            .expectations
            .iter()
            .map(|e| u64::from(points.weight_at(e.test, e.attr)))
            .sum();
        Entry {
            name: draft.name,
            line: draft.line,
            classes: draft.classes,
            expectations: draft.expectations,
            possible_points,
        }
    }

    /// Ends the file, whose last line is `last`.
    fn finish(mut self, last: usize) -> Result<Database> {
        self.close_block(last)?;
        let Some(match_points) = self.match_points else {
            bail!(
                "{}: no MatchPoints block, so it is not an nmap-os-db file",
                self.source
            );
        };
        Ok(Database {
            match_points,
            entries: self.entries,
            warnings: self.warnings,
        })
    }
}

/// Reads a line inside an entry: `Class`, `CPE` or a test, whose expressions
/// are parsed here (once for all entries that write them alike).
fn read_entry_line(
    draft: &mut Draft,
    pools: &mut Pools,
    word: &str,
    rest: &str,
    line: &str,
) -> Result<()> {
    match word {
        "Class" => {
            if let Some(class) = read_class(rest)? {
                draft.classes.push(class);
            }
        }
        "CPE" => {
            let Some(class) = draft.classes.last_mut() else {
                bail!("a CPE line before any Class line");
            };
            let Some(cpe) = rest.split_ascii_whitespace().next() else {
                bail!("a CPE line without a CPE");
            };
            class.cpes.push(cpe.to_string());
        }
        _ => {
            let mut test = Test::parse(line)?;
            test.apply_response_rule()?;
            if draft.tests.contains(&test.name) {
                bail!("test {} is given twice", test.name);
            }
            let (index, attrs) = test_index(test.name).expect("parsed tests are in the table");
            let mut expectations = Vec::with_capacity(test.attrs.len());
            for (attr, value) in &test.attrs {
                let expr = if is_option_string(test.name, attr) {
                    intern(&mut pools.options, value, Expr::parse_tcp_options)
                        .with_context(|| format!("{}.{attr}", test.name))?
                } else {
                    intern(&mut pools.plain, value, |text| Ok(Expr::parse(text)))?
                };
                let at = attrs
                    .iter()
                    .position(|name| name == attr)
                    .expect("set by parse");
                expectations.push(Expectation {
                    test: index,
                    attr: at,
                    expr,
                });
            }
            draft.tests.push(test.name);
            draft.expectations.extend(expectations);
        }
    }
    Ok(())
}

/// The expression written `text`, parsed by `parse` the first time it is seen.
fn intern(
    pool: &mut HashMap<String, Arc<Expr>>,
    text: &str,
    parse: impl FnOnce(&str) -> Result<Expr>,
) -> Result<Arc<Expr>> {
    if let Some(expr) = pool.get(text) {
        return Ok(Arc::clone(expr));
    }
    let expr = Arc::new(parse(text)?);
    pool.insert(text.to_string(), Arc::clone(&expr));
    Ok(expr)
}

/// A `Class` line's fields, `vendor | family | generation | device type`, each
/// trimmed; the generation may be empty. A line of nothing but bars and blanks gives
/// no class, as nmap reads it.
fn read_class(fields: &str) -> Result<Option<OsClass>> {
    if fields.chars().all(|c| c == '|' || c.is_whitespace()) {
        return Ok(None);
    }
    let parts: Vec<&str> = fields.splitn(4, '|').map(str::trim).collect();
    let [vendor, family, generation, device_type] = parts[..] else {
        bail!("a Class line wants `vendor | family | generation | device type`");
    };
    Ok(Some(OsClass {
        vendor: vendor.to_string(),
        family: family.to_string(),
        generation: (!generation.is_empty()).then(|| generation.to_string()),
        device_type: device_type.to_string(),
        cpes: Vec::new(),
    }))
}

/// Whether `attr` of `test` is a TCP option string, whose expressions may hold
/// bracketed hex patterns.
fn is_option_string(test: &str, attr: &str) -> bool {
    test == "OPS" || attr == "O"
}

/// `text`, cut to a length that fits in a message.
fn shorten(text: &str) -> String {
    const MOST: usize = 60;
    match text.char_indices().nth(MOST) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// nmap's own database, which the project's setup installs with nmap's package.
    pub(in crate::os) const NMAP_DB: &str = "/usr/share/nmap/nmap-os-db";

    /// nmap's database, read once for all tests; a missing one fails them.
    pub(in crate::os) fn nmap_database() -> &'static Database {
        static DB: std::sync::OnceLock<Database> = std::sync::OnceLock::new();
        DB.get_or_init(|| {
            assert!(
                Path::new(NMAP_DB).exists(),
                "{NMAP_DB} is missing: the project's setup installs nmap (apt-get install nmap), whose database these tests read"
            );
            Database::load(Path::new(NMAP_DB)).expect("nmap's database parses")
        })
    }

    const POINTS: &str = "\
MatchPoints
SEQ(SP=25%GCD=75%ISR=25%TI=100%CI=50%II=100%SS=80%TS=100)
OPS(O1=20%O2=20%O3=20%O4=20%O5=20%O6=20)
T1(R=100%DF=20%T=15%TG=15%S=20%A=20%F=30%RD=20%Q=20)
U1(R=50%DF=20%T=15%TG=15%IPL=100%UN=100%RIPL=100%RID=100%RIPCK=100%RUCK=100%RUD=100)
";

    const SMALL: &str = "\
# Points first, as in nmap's file.
MatchPoints
SEQ(SP=25%GCD=75%ISR=25%TI=100%CI=50%II=100%SS=80%TS=100)
OPS(O1=20%O2=20%O3=20%O4=20%O5=20%O6=20)
T1(R=100%DF=20%T=15%TG=15%S=20%A=20%F=30%RD=20%Q=20)
U1(R=50%DF=20%T=15%TG=15%IPL=100%UN=100%RIPL=100%RID=100%RIPCK=100%RUCK=100%RUD=100)

# A router
Fingerprint Example Router 1.0 # seen in the lab
Class Example | RouterOS | 1.X | router
CPE cpe:/o:example:routeros:1 auto
Class Example | RouterOS || WAP
# comments may stand inside an entry
CPE cpe:/h:example:ap
CPE cpe:/o:example:routeros
SEQ(SP=0-5%GCD=1|2%TI=I%TS=U)
OPS(R=N)
T1(DF=N%T=3B-45%S=O%A=S+%F=AS%RD=0%Q=)
U1(R=N)
Fingerprint Example Printer
Class Example | embedded || printer
SEQ(SP=>100%TI=RD)
T1()
";

    fn parse(text: &str) -> Result<Database> {
        Database::parse(text, "test-os-db")
    }

    #[test]
    fn entries_read_with_their_classes_cpes_and_lines() {
        let db = parse(SMALL).unwrap();
        assert!(db.warnings.is_empty(), "{:?}", db.warnings);
        assert_eq!(db.entries.len(), 2);
        let router = &db.entries[0];
        assert_eq!(
            (router.name.as_str(), router.line),
            ("Example Router 1.0", 9)
        );
        assert_eq!(
            router.classes,
            [
                OsClass {
                    vendor: "Example".into(),
                    family: "RouterOS".into(),
                    generation: Some("1.X".into()),
                    device_type: "router".into(),
                    cpes: vec!["cpe:/o:example:routeros:1".into()],
                },
                OsClass {
                    vendor: "Example".into(),
                    family: "RouterOS".into(),
                    generation: None,
                    device_type: "WAP".into(),
                    cpes: vec!["cpe:/h:example:ap".into(), "cpe:/o:example:routeros".into()],
                },
            ]
        );
        assert_eq!(router.expression("SEQ", "SP").unwrap().as_str(), "0-5");
        assert_eq!(
            router.expression("T1", "R").unwrap().as_str(),
            "Y",
            "implied"
        );
        assert_eq!(router.expression("U1", "R").unwrap().as_str(), "N");
        assert!(router.expression("SEQ", "SS").is_none());
        assert!(router.expression("T1", "Q").unwrap().matches(""));
        assert_eq!(
            router.fingerprint().to_string(),
            "SEQ(SP=0-5%GCD=1|2%TI=I%TS=U)\nT1(R=Y%DF=N%T=3B-45%S=O%A=S+%F=AS%RD=0%Q=)\nU1(R=N)\n"
        );
        // SP 25 + GCD 75 + TI 100 + TS 100, T1's nine but TG (100+20+15+20+20+30+20+20),
        // U1's R 50.
        assert_eq!(router.possible_points(), 300 + 245 + 50);
        let printer = &db.entries[1];
        assert_eq!(
            (printer.name.as_str(), printer.line),
            ("Example Printer", 20)
        );
        assert_eq!(
            printer.fingerprint().to_string(),
            "SEQ(SP=>100%TI=RD)\nT1(R=N)\n"
        );
        assert_eq!(printer.possible_points(), 125 + 100);
        assert_eq!(db.match_points.weight("U1", "RUD"), Some(100));
        assert_eq!(
            db.match_points.weight("ECN", "CC"),
            Some(0),
            "not in this block"
        );
        assert_eq!(db.match_points.weight("T1", "W"), None, "T1 has no window");
    }

    #[test]
    fn windows_line_ends_and_outside_comments_in_any_encoding_are_read() {
        let mut text = SMALL.replace('\n', "\r\n").into_bytes();
        text.extend(b"\r\n# Linux 2.4.24 \xd0\xa1\xd0\xb1\xd1\x82 \xff\xfe\r\n");
        let db = Database::parse(&text, "crlf").unwrap();
        assert_eq!(db.entries.len(), 2);
        assert_eq!(
            db.entries[1].fingerprint().to_string(),
            "SEQ(SP=>100%TI=RD)\nT1(R=N)\n"
        );
    }

    /// The message of a file that cannot be read.
    fn refusal(text: &str) -> String {
        format!("{:#}", parse(text).unwrap_err())
    }

    #[test]
    fn a_broken_file_is_refused_naming_the_line() {
        for (text, problem) in [
            ("", "test-os-db: no MatchPoints block, so it is not an nmap-os-db file"),
            (
                "Fingerprint X\nClass a | b | c | d\n",
                "test-os-db line 1: a Fingerprint before the MatchPoints block",
            ),
            (
                &format!("{POINTS}\nMatchPoints\nSEQ(SP=1)\n"),
                "test-os-db line 7: a second MatchPoints block",
            ),
            (
                "MatchPoints\nSEQ(SP=0%GCD=75)\n",
                "test-os-db line 2: MatchPoints: SEQ.SP=\"0\" is not a positive whole number",
            ),
            (
                "MatchPoints\nSEQ(SP=-3)\n",
                "test-os-db line 2: MatchPoints: SEQ.SP=\"-3\" is not a positive",
            ),
            (
                "MatchPoints\nSEQ(SP=1)\nSEQ(GCD=1)\n",
                "test-os-db line 3: MatchPoints gives SEQ twice",
            ),
            (
                "MatchPoints\nT9(R=1)\n",
                "test-os-db line 2: test \"T9\" is not one of nmap's (SEQ, OPS, WIN",
            ),
            (
                "MatchPoints\n\nFingerprint X\n",
                "test-os-db line 2: the MatchPoints block gives no weights",
            ),
            (
                "MatchPoints\n",
                "test-os-db line 2: the MatchPoints block gives no weights",
            ),
            (
                "root:x:0:0:root:/root:/bin/bash\n",
                "test-os-db line 1: expected MatchPoints, Fingerprint <name>, a comment or a blank line, not \"root:x:0:0:root:/root:/bin/bash\"",
            ),
            (
                &format!("{POINTS}\nFingerprint X\nClass a | b | c | d\n\nT1(R=N)\n"),
                "test-os-db line 10: expected MatchPoints, Fingerprint <name>, a comment or a blank line, not \"T1(R=N)\" (an entry ends at a blank line)",
            ),
            (
                &format!("{POINTS}# {}\n", "x".repeat(3000)),
                "test-os-db line 6: the line is 3002 bytes long, more than the 2048 nmap reads",
            ),
        ] {
            let message = refusal(text);
            assert!(message.starts_with(problem), "{text:?}:\n{message}\nwanted {problem}");
        }
        let huge = vec![b'#'; MOST_FILE_BYTES + 1];
        let message = format!("{:#}", Database::parse(&huge, "huge").unwrap_err());
        assert_eq!(
            message,
            "huge is larger than 64 MiB: not an nmap-os-db file"
        );
    }

    #[test]
    fn a_broken_entry_is_left_out_with_a_warning() {
        for (lines, line, problem) in [
            ("T9(R=Y%DF=N)", 9, "test \"T9\" is not one of nmap's"),
            ("T1(R=Y%W=0)", 9, "T1: \"W\" is not one of its attributes"),
            (
                "T1(R=N%DF=Y)",
                9,
                "T1: R=N but the test has other attributes",
            ),
            ("T1(R=N)\nT1(R=N)", 10, "test T1 is given twice"),
            (
                "OPS(O1=M[>5)",
                9,
                "OPS.O1: \"M[>5\" opens a [ it does not close",
            ),
            (
                "Class a | b",
                9,
                "a Class line wants `vendor | family | generation | device type`",
            ),
            ("SEQ SP=1", 9, "\"SEQ SP=1\" is not a test"),
        ] {
            let text = format!(
                "{POINTS}\nFingerprint Broken\nClass a | b | c | d\n{lines}\n\nFingerprint Fine\nT1(R=N)\n"
            );
            let db = parse(&text).unwrap();
            let names: Vec<&str> = db.entries.iter().map(|e| e.name.as_str()).collect();
            assert_eq!(names, ["Fine"], "{lines}");
            assert_eq!(db.warnings.len(), 1);
            let wanted = format!("test-os-db line {line}: {problem}");
            assert!(
                db.warnings[0].starts_with(&wanted),
                "{}\nwanted {wanted}",
                db.warnings[0]
            );
            assert!(
                db.warnings[0].ends_with("entry \"Broken\" (line 7) left out"),
                "{}",
                db.warnings[0]
            );
        }
        let text =
            format!("{POINTS}\nFingerprint Early CPE\nCPE cpe:/o:x:y\nClass a | b | c | d\n");
        let warning = &parse(&text).unwrap().warnings[0];
        assert!(
            warning.starts_with("test-os-db line 8: a CPE line before any Class line"),
            "{warning}"
        );
        let text = format!("{POINTS}\nFingerprint    # only a comment\nT1(R=N)\n");
        let warning = &parse(&text).unwrap().warnings[0];
        assert!(
            warning.starts_with("test-os-db line 7: Fingerprint without a name"),
            "{warning}"
        );
        let mut text = format!("{POINTS}\nFingerprint Latin\n").into_bytes();
        text.extend(b"T1(R=Y%DF=\xff)\n");
        let db = Database::parse(&text, "bytes").unwrap();
        assert!(db.entries.is_empty());
        assert!(db.warnings[0].starts_with("bytes line 8: the line is not UTF-8 text"));
    }

    #[test]
    fn too_many_broken_entries_mean_it_is_not_a_database() {
        let mut text = POINTS.to_string();
        for n in 0..=MOST_SKIPPED_ENTRIES {
            text.push_str(&format!("\nFingerprint Broken {n}\nT9()\n"));
        }
        let message = refusal(&text);
        assert!(
            message.starts_with("test-os-db: more than 100 entries cannot be read, so it is taken not to be an nmap-os-db file; the first: test-os-db line 8: test \"T9\""),
            "{message}"
        );
    }

    #[test]
    fn newer_databases_say_which_nmap_reads_them() {
        let text = format!("This nmap-os-db requires Nmap 7.95 or later.\n{POINTS}");
        assert!(parse(&text).unwrap().entries.is_empty());
    }

    #[test]
    fn a_missing_file_says_which() {
        let error = Database::load(Path::new("/nonexistent/os-db")).unwrap_err();
        assert!(
            format!("{error:#}").starts_with("cannot read the OS database /nonexistent/os-db: "),
            "{error:#}"
        );
    }

    /// Every entry of nmap's own database is read, none left out, each with a class.
    #[test]
    fn nmaps_whole_database_is_read() {
        let text =
            std::fs::read_to_string(NMAP_DB).expect("nmap's database (apt-get install nmap)");
        let started = std::time::Instant::now();
        let db = Database::parse(&text, NMAP_DB).unwrap();
        eprintln!(
            "{} entries of {NMAP_DB} parsed in {:?}",
            db.entries.len(),
            started.elapsed()
        );
        assert_eq!(db.warnings, Vec::<String>::new());
        let written = text
            .lines()
            .filter(|l| l.starts_with("Fingerprint "))
            .count();
        assert!(written > 5000, "{written}");
        assert_eq!(db.entries.len(), written);
        let lines: Vec<&str> = text.lines().collect();
        for entry in &db.entries {
            assert!(
                !entry.classes.is_empty(),
                "{} (line {})",
                entry.name,
                entry.line
            );
            assert!(entry.possible_points() > 0, "{}", entry.name);
            assert_eq!(lines[entry.line - 1], format!("Fingerprint {}", entry.name));
        }
        // The MatchPoints block, read here with nothing but splits.
        let block = text
            .lines()
            .skip_while(|l| *l != "MatchPoints")
            .skip(1)
            .take_while(|l| !l.is_empty());
        let mut weights = 0;
        for line in block {
            let (test, attrs) = line.trim_end_matches(')').split_once('(').unwrap();
            for pair in attrs.split('%') {
                let (attr, points) = pair.split_once('=').unwrap();
                assert_eq!(
                    db.match_points.weight(test, attr),
                    Some(points.parse().unwrap()),
                    "{test}.{attr}"
                );
                weights += 1;
            }
        }
        assert_eq!(
            weights,
            TESTS.iter().map(|(_, attrs)| attrs.len()).sum::<usize>()
        );
    }

    /// Each entry prints back what nmap's file writes, but for what nmap's reader
    /// implies (`R=Y` where other attributes are given, nothing for `OPS(R=N)`) and
    /// the order of attributes (a few entries write them out of nmap's order).
    #[test]
    fn nmaps_entries_print_back_as_written() {
        let text =
            std::fs::read_to_string(NMAP_DB).expect("nmap's database (apt-get install nmap)");
        let db = nmap_database();
        let mut entries = db.entries.iter();
        let mut current: Option<(&Entry, Vec<String>)> = None;
        // A test line's name and its attr=value pairs, sorted.
        let pairs = |line: &str| {
            let (test, body) = line.strip_suffix(')').unwrap().split_once('(').unwrap();
            let mut pairs: Vec<String> = body.split('%').map(str::to_string).collect();
            pairs.sort();
            (test.to_string(), pairs)
        };
        let check = |done: Option<(&Entry, Vec<String>)>| {
            if let Some((entry, expected)) = done {
                let printed = entry.fingerprint().to_string();
                assert_eq!(
                    printed.lines().map(pairs).collect::<Vec<_>>(),
                    expected.iter().map(|line| pairs(line)).collect::<Vec<_>>(),
                    "line {}",
                    entry.line
                );
            }
        };
        for line in text.lines() {
            if line.starts_with("Fingerprint ") {
                check(current.take());
                current = Some((entries.next().unwrap(), Vec::new()));
                continue;
            }
            let Some((_, expected)) = current.as_mut() else {
                continue;
            };
            if line.starts_with('#') || line.starts_with("Class ") || line.starts_with("CPE ") {
                continue;
            }
            let Some((test, body)) = line.strip_suffix(')').and_then(|l| l.split_once('(')) else {
                continue;
            };
            let has_response = test_index(test).unwrap().1[0] == "R";
            match (has_response, body) {
                (false, "" | "R=N") => {}
                (true, "") => expected.push(format!("{test}(R=N)")),
                (true, body) if !body.starts_with("R=") => {
                    expected.push(format!("{test}(R=Y%{body})"))
                }
                _ => expected.push(line.to_string()),
            }
        }
        check(current.take());
        assert!(entries.next().is_none());
    }
}
