//! An OS fingerprint as nmap writes and stores it: a list of tests (SEQ, OPS, WIN, ECN,
//! T1–T7, U1, IE), each a list of `attribute=value` pairs, printed one test per line as
//! `NAME(attr=value%attr=value)`. A fingerprint observed from a host holds values
//! (`SP=105`); a database entry holds expressions (`SP=FB-105`) in the same shape, which
//! the matcher reads as such.
//!
//! [`TESTS`] is the one list of test names and of each test's attributes in nmap's
//! order; everything that builds, parses or prints a fingerprint goes by it.

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
}
