//! An OS fingerprint as nmap writes and stores it: a list of tests (SEQ, OPS, WIN, ECN,
//! T1–T7, U1, IE), each a list of `attribute=value` pairs, printed one test per line as
//! `NAME(attr=value%attr=value)`. A fingerprint observed from a host holds values
//! (`SP=105`); a database entry holds expressions (`SP=FB-105`) in the same shape, which
//! the matcher reads as such.
//!
//! [`TESTS`] is the one list of test names and of each test's attributes in nmap's
//! order; everything that builds, parses or prints a fingerprint goes by it.
//! [`Test::parse`] and [`Fingerprint::parse`] read the printed form back, with nmap's
//! rules for the response attribute `R`; what the values mean is the matcher's business.

use anyhow::{bail, Result};
use std::fmt;

/// Every test nmap's OS detection knows, in the order nmap prints them, with its
/// attributes in the order nmap prints them.
pub const TESTS: &[(&str, &[&str])] = &[
    ("SEQ", &["SP", "GCD", "ISR", "TI", "CI", "II", "SS", "TS"]),
    ("OPS", &["O1", "O2", "O3", "O4", "O5", "O6"]),
    ("WIN", &["W1", "W2", "W3", "W4", "W5", "W6"]),
    ("ECN", &["R", "DF", "T", "TG", "W", "O", "CC", "Q"]),
    ("T1", &["R", "DF", "T", "TG", "S", "A", "F", "RD", "Q"]),
    ("T2", T2_TO_T7),
    ("T3", T2_TO_T7),
    ("T4", T2_TO_T7),
    ("T5", T2_TO_T7),
    ("T6", T2_TO_T7),
    ("T7", T2_TO_T7),
    (
        "U1",
        &[
            "R", "DF", "T", "TG", "IPL", "UN", "RIPL", "RID", "RIPCK", "RUCK", "RUD",
        ],
    ),
    ("IE", &["R", "DFI", "T", "TG", "CD"]),
];

/// The attributes of T2–T7 (T1 has no window and no options).
const T2_TO_T7: &[&str] = &["R", "DF", "T", "TG", "W", "S", "A", "F", "O", "RD", "Q"];

/// The most attributes any test has (T2–T7 and U1: eleven).
pub const MOST_ATTRIBUTES: usize = {
    let mut most = 0;
    let mut index = 0;
    while index < TESTS.len() {
        if TESTS[index].1.len() > most {
            most = TESTS[index].1.len();
        }
        index += 1;
    }
    most
};

/// Where `name` is in [`TESTS`], and its attribute list.
pub fn test_index(name: &str) -> Option<(usize, &'static [&'static str])> {
    TESTS
        .iter()
        .position(|(test, _)| *test == name)
        .map(|index| (index, TESTS[index].1))
}

/// One test: its name (one of [`TESTS`]) and its attributes, in [`TESTS`]' order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Test {
    pub name: &'static str,
    pub attrs: Vec<(&'static str, String)>,
}

impl Test {
    /// Reads one test as nmap prints and stores it: `NAME(attr=value%attr=value)`.
    /// The name must be one of [`TESTS`], each attribute one of the test's, at most
    /// once, and nothing may follow the `)`. Values are kept as written (they may be
    /// empty: `Q=`). `R=N` in a test that has no `R` attribute (SEQ, OPS, WIN) is
    /// nmap's way of writing that nothing came back: the test is present and empty.
    /// Reads the shape only; see [`Test::apply_response_rule`] for what `R` implies.
    pub fn parse(line: &str) -> Result<Self> {
        let line = line.trim();
        let Some((name, rest)) = line.split_once('(') else {
            bail!(
                "{:?} is not a test: tests are written NAME(attr=value%...)",
                shorten(line)
            );
        };
        let Some(mut test) = Test::new(name) else {
            bail!(
                "test {:?} is not one of nmap's ({})",
                shorten(name),
                TESTS
                    .iter()
                    .map(|(test, _)| *test)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let Some((body, after)) = rest.split_once(')') else {
            bail!("test {} has no closing ')'", test.name);
        };
        if !after.trim().is_empty() {
            bail!(
                "test {} is followed by {:?}",
                test.name,
                shorten(after.trim())
            );
        }
        let has_response = test.attribute_names().first() == Some(&"R");
        if body.is_empty() || (!has_response && body == "R=N") {
            return Ok(test);
        }
        for pair in body.split('%') {
            let Some((attr, value)) = pair.split_once('=') else {
                bail!("{}: {:?} wants attr=value", test.name, shorten(pair));
            };
            if test.get(attr).is_some() {
                bail!("{}: {attr} is given twice", test.name);
            }
            if !test.set(attr, value) {
                bail!(
                    "{}: {:?} is not one of its attributes ({})",
                    test.name,
                    shorten(attr),
                    test.attribute_names().join(", ")
                );
            }
        }
        Ok(test)
    }

    /// nmap's rule for a test that has the response attribute `R` (all but SEQ, OPS
    /// and WIN): an empty test means `R=N` (no reply); attributes without `R` mean
    /// `R=Y`; and `R` written next to other attributes must allow `Y` (`Y`, `Y|N`),
    /// since a test that got no reply has nothing else to say.
    pub fn apply_response_rule(&mut self) -> Result<()> {
        if self.attribute_names().first() != Some(&"R") {
            return Ok(());
        }
        match (self.get("R"), self.attrs.len()) {
            (None, 0) => {
                self.set("R", "N");
            }
            (None, _) => {
                self.set("R", "Y");
            }
            (Some(r), more) if more > 1 && !r.contains('Y') => {
                bail!("{}: R={r} but the test has other attributes", self.name)
            }
            _ => {}
        }
        Ok(())
    }

    /// This test's attributes in [`TESTS`]' order.
    pub fn attribute_names(&self) -> &'static [&'static str] {
        test_index(self.name).map_or(&[], |(_, attrs)| attrs)
    }

    /// An empty test named `name`, if [`TESTS`] knows it.
    pub fn new(name: &str) -> Option<Self> {
        let (index, _) = test_index(name)?;
        Some(Self {
            name: TESTS[index].0,
            attrs: Vec::new(),
        })
    }

    /// The value of `attr`, if the test has it.
    pub fn get(&self, attr: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(name, _)| *name == attr)
            .map(|(_, value)| value.as_str())
    }

    /// Sets `attr` (one of this test's attributes) to `value`, keeping [`TESTS`]' order;
    /// false (and nothing set) for an attribute the test does not have.
    pub fn set(&mut self, attr: &str, value: impl Into<String>) -> bool {
        let Some((_, order)) = test_index(self.name) else {
            return false;
        };
        let Some(rank) = order.iter().position(|name| *name == attr) else {
            return false;
        };
        let value = value.into();
        match self.attrs.iter_mut().find(|(name, _)| *name == attr) {
            Some(slot) => slot.1 = value,
            None => {
                let at = self
                    .attrs
                    .iter()
                    .position(|(name, _)| order.iter().position(|n| n == name) > Some(rank))
                    .unwrap_or(self.attrs.len());
                self.attrs.insert(at, (order[rank], value));
            }
        }
        true
    }

    /// Takes `attr` out of the test (nmap drops `T` once it has written `TG`).
    pub fn remove(&mut self, attr: &str) -> Option<String> {
        let at = self.attrs.iter().position(|(name, _)| *name == attr)?;
        Some(self.attrs.remove(at).1)
    }
}

impl fmt::Display for Test {
    /// `NAME(attr=value%attr=value)`, as nmap prints a test.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.name)?;
        for (i, (name, value)) in self.attrs.iter().enumerate() {
            if i > 0 {
                f.write_str("%")?;
            }
            write!(f, "{name}={value}")?;
        }
        f.write_str(")")
    }
}

/// A whole fingerprint: its tests, in [`TESTS`]' order, each at most once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub tests: Vec<Test>,
}

impl Fingerprint {
    /// Reads a fingerprint as nmap prints it unwrapped: one test per line (see
    /// [`Test::parse`], with [`Test::apply_response_rule`]), blank lines and nmap's
    /// `SCAN(...)` line (how the print was taken, not a test) left out. A test given
    /// twice is refused.
    pub fn parse(text: &str) -> Result<Self> {
        let mut print = Fingerprint::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("SCAN(") {
                continue;
            }
            let read = || -> Result<Test> {
                let mut test = Test::parse(line)?;
                test.apply_response_rule()?;
                Ok(test)
            };
            let test = read().map_err(|error| anyhow::anyhow!("line {}: {error}", index + 1))?;
            if print.test(test.name).is_some() {
                bail!("line {}: test {} is given twice", index + 1, test.name);
            }
            print.insert(test);
        }
        Ok(print)
    }

    /// The test named `name`, if present.
    pub fn test(&self, name: &str) -> Option<&Test> {
        self.tests.iter().find(|test| test.name == name)
    }

    /// Adds `test`, replacing one of the same name, keeping [`TESTS`]' order.
    pub fn insert(&mut self, test: Test) {
        let rank = |name: &str| test_index(name).map_or(usize::MAX, |(index, _)| index);
        self.tests.retain(|t| t.name != test.name);
        let at = self
            .tests
            .iter()
            .position(|t| rank(t.name) > rank(test.name))
            .unwrap_or(self.tests.len());
        self.tests.insert(at, test);
    }
}

impl fmt::Display for Fingerprint {
    /// One test per line, as nmap prints an unwrapped fingerprint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for test in &self.tests {
            writeln!(f, "{test}")?;
        }
        Ok(())
    }
}

/// `text`, cut to a length that fits in a message.
fn shorten(text: &str) -> String {
    const MOST: usize = 40;
    match text.char_indices().nth(MOST) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_test_once_in_nmaps_order() {
        let names: Vec<&str> = TESTS.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            ["SEQ", "OPS", "WIN", "ECN", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "U1", "IE"]
        );
        assert_eq!(test_index("T1").unwrap().1.len(), 9);
        assert_eq!(test_index("T7").unwrap().1.len(), 11);
        assert!(test_index("T8").is_none());
    }

    #[test]
    fn attributes_print_in_nmaps_order_whatever_order_they_are_set() {
        let mut test = Test::new("T1").unwrap();
        assert!(test.set("F", "AS"));
        assert!(test.set("R", "Y"));
        assert!(test.set("T", "40"));
        assert!(test.set("DF", "Y"));
        assert!(!test.set("W", "0"), "T1 has no window");
        assert!(test.set("T", "41"));
        assert_eq!(test.to_string(), "T1(R=Y%DF=Y%T=41%F=AS)");
        assert_eq!(test.remove("T").as_deref(), Some("41"));
        assert_eq!(test.get("F"), Some("AS"));
        assert_eq!(test.to_string(), "T1(R=Y%DF=Y%F=AS)");
    }

    #[test]
    fn tests_keep_the_table_order_and_are_replaced_by_name() {
        let mut print = Fingerprint::default();
        let mut ie = Test::new("IE").unwrap();
        ie.set("R", "N");
        print.insert(ie);
        let mut seq = Test::new("SEQ").unwrap();
        seq.set("SP", "105");
        print.insert(seq.clone());
        seq.set("SP", "106");
        print.insert(seq);
        assert_eq!(print.to_string(), "SEQ(SP=106)\nIE(R=N)\n");
        assert_eq!(print.test("SEQ").and_then(|t| t.get("SP")), Some("106"));
    }

    #[test]
    fn test_lines_read_back_what_nmap_prints() {
        let test = Test::parse("T4(R=Y%DF=Y%T=3B-45%TG=40%W=0%S=A%A=Z%F=R%O=%RD=0%Q=)").unwrap();
        assert_eq!(test.name, "T4");
        assert_eq!(test.get("T"), Some("3B-45"));
        assert_eq!(test.get("O"), Some(""));
        assert_eq!(
            test.to_string(),
            "T4(R=Y%DF=Y%T=3B-45%TG=40%W=0%S=A%A=Z%F=R%O=%RD=0%Q=)"
        );
        assert!(Test::parse("OPS(R=N)").unwrap().attrs.is_empty());
        assert!(Test::parse("OPS()").unwrap().attrs.is_empty());
        assert_eq!(MOST_ATTRIBUTES, 11);
    }

    #[test]
    fn malformed_test_lines_say_what_is_wrong() {
        for (line, problem) in [
            ("T9(R=Y)", "test \"T9\" is not one of nmap's (SEQ, OPS"),
            (
                "SEQ(SP=1%XX=2)",
                "\"XX\" is not one of its attributes (SP, GCD",
            ),
            ("SEQ(SP=1%SP=2)", "SP is given twice"),
            ("SEQ(SP=1", "no closing ')'"),
            ("SEQ(SP=1) extra", "followed by \"extra\""),
            ("SEQ(SP)", "\"SP\" wants attr=value"),
            ("just words", "is not a test"),
            ("SEQ(R=Y)", "\"R\" is not one of its attributes"),
        ] {
            let error = Test::parse(line).unwrap_err().to_string();
            assert!(error.contains(problem), "{line}: {error}");
        }
    }

    #[test]
    fn the_response_attribute_follows_nmaps_rule() {
        let completed = |line: &str| {
            let mut test = Test::parse(line).unwrap();
            test.apply_response_rule().map(|()| test.to_string())
        };
        assert_eq!(completed("T2()").unwrap(), "T2(R=N)");
        assert_eq!(completed("U1(DF=N%UN=0)").unwrap(), "U1(R=Y%DF=N%UN=0)");
        assert_eq!(completed("T1(R=Y|N%DF=Y)").unwrap(), "T1(R=Y|N%DF=Y)");
        assert_eq!(completed("SEQ(SP=5)").unwrap(), "SEQ(SP=5)");
        assert!(completed("T1(R=N%DF=Y)").is_err());
    }

    #[test]
    fn printed_fingerprints_parse_back() {
        let text = "SCAN(V=7.94%E=4%D=1/1%OT=22%CT=1%CU=1%PV=Y)\nSEQ(SP=105%GCD=1)\n\nT2(R=N)\nIE(DFI=N%TG=40%CD=S)\n";
        let print = Fingerprint::parse(text).unwrap();
        assert_eq!(
            print.to_string(),
            "SEQ(SP=105%GCD=1)\nT2(R=N)\nIE(R=Y%DFI=N%TG=40%CD=S)\n"
        );
        let error = Fingerprint::parse("SEQ(SP=1)\nSEQ(SP=2)").unwrap_err();
        assert_eq!(error.to_string(), "line 2: test SEQ is given twice");
        let error = Fingerprint::parse("\nT1(R=N%DF=Y)").unwrap_err();
        assert!(error.to_string().starts_with("line 2: T1: R=N"), "{error}");
    }
}
