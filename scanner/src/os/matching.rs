//! Scoring a host's fingerprint against every reference print of a [`Database`], as
//! nmap's `compare_fingerprints` and `match_fingerprint` do.
//!
//! An attribute counts when both prints have it: its `MatchPoints` weight is added
//! to the points compared and, when the reference's expression accepts the observed
//! value, to the points matched; accuracy is matched over compared. A reference is
//! given up after any test once its mismatched points exceed what the accuracy
//! threshold allows of all the points it names, since it can no longer reach the
//! threshold. The best matches are kept in a list of at most `limit`: one per name
//! (the more accurate), most accurate first, equal ones in the database's order; once
//! the list is full a newcomer must beat its last. Perfect matches always enter, and
//! more of them than the list holds is reported as such ("too many fingerprints
//! match").
//!
//! nmap matches with [`GUESS_THRESHOLD`] and keeps [`MOST_MATCHES`]; which of the
//! matches the output names is decided in `model::os`. This module does not read
//! files or packets.

use super::db::{Database, Entry};
use super::fingerprint::{test_index, Fingerprint, MOST_ATTRIBUTES, TESTS};
use crate::model::{OsDetection, OsMatch};

/// The least accuracy nmap keeps a match at (`OSSCAN_GUESS_THRESHOLD`); perfect
/// matches are kept whatever the threshold.
pub const GUESS_THRESHOLD: f64 = 0.85;

/// How many matches nmap keeps (`MAX_FP_RESULTS`).
pub const MOST_MATCHES: usize = 36;

/// nmap raises the bar of a full list this far above its last accuracy, so that a
/// newcomer must beat it rather than tie it.
const ENTRANCE_MARGIN: f64 = 0.00001;

/// An observed fingerprint's values by test and attribute index in [`TESTS`].
struct Observed<'a> {
    values: [[Option<&'a str>; MOST_ATTRIBUTES]; TESTS.len()],
}

impl<'a> Observed<'a> {
    fn new(print: &'a Fingerprint) -> Self {
        let mut values = [[None; MOST_ATTRIBUTES]; TESTS.len()];
        for test in &print.tests {
            let Some((index, attrs)) = test_index(test.name) else {
                continue;
            };
            for (attr, value) in &test.attrs {
                if let Some(at) = attrs.iter().position(|name| name == attr) {
                    values[index][at] = Some(value.as_str());
                }
            }
        }
        Self { values }
    }
}

impl Database {
    /// The accuracy of `entry` for the `observed` fingerprint, from 0 to 1: the share
    /// of the points compared that matched (0 when nothing could be compared).
    pub fn accuracy(&self, entry: &Entry, observed: &Fingerprint) -> f64 {
        self.score(entry, &Observed::new(observed), 0.0)
    }

    /// The best matches for `observed`: at most `limit`, each at least `threshold`
    /// accurate (clamped to 0–1; one that is not a number keeps only perfect
    /// matches) unless perfect, ordered as nmap orders them.
    pub fn best_matches(
        &self,
        observed: &Fingerprint,
        limit: usize,
        threshold: f64,
    ) -> OsDetection {
        let observed = Observed::new(observed);
        let threshold = if threshold.is_nan() {
            1.0
        } else {
            threshold.clamp(0.0, 1.0)
        };
        let mut entrance = threshold;
        // (accuracy, entry), most accurate first.
        let mut kept: Vec<(f64, &Entry)> = Vec::new();
        let mut perfect = 0;
        let mut too_many_perfect = false;
        for entry in &self.entries {
            let accuracy = self.score(entry, &observed, entrance);
            if accuracy < entrance && accuracy != 1.0 {
                continue;
            }
            if let Some(at) = kept.iter().position(|(_, e)| e.name == entry.name) {
                if kept[at].0 >= accuracy {
                    continue;
                }
                kept.remove(at);
            }
            if accuracy == 1.0 {
                if perfect == limit {
                    too_many_perfect = true;
                    break;
                }
                perfect += 1;
            }
            let at = kept
                .iter()
                .position(|(a, _)| *a < accuracy)
                .unwrap_or(kept.len());
            kept.insert(at, (accuracy, entry));
            kept.truncate(limit);
            if kept.len() == limit {
                entrance = (kept[limit - 1].0 + ENTRANCE_MARGIN).min(1.0);
            }
        }
        OsDetection {
            matches: kept
                .into_iter()
                .map(|(accuracy, entry)| OsMatch {
                    name: entry.name.clone(),
                    accuracy,
                    line: entry.line,
                    classes: entry.classes.clone(),
                })
                .collect(),
            too_many_perfect,
        }
    }

    /// nmap's comparison of one reference print, given up once it cannot reach
    /// `threshold` (what it scored by then is returned, below the threshold).
    fn score(&self, entry: &Entry, observed: &Observed<'_>, threshold: f64) -> f64 {
        let most_mismatched = ((1.0 - threshold) * entry.possible_points as f64) as u64;
        let (mut compared, mut matched) = (0u64, 0u64);
        for test in entry.expectations.chunk_by(|a, b| a.test == b.test) {
            for expectation in test {
                let Some(value) = observed.values[expectation.test][expectation.attr] else {
                    continue;
                };
                let weight = self
                    .match_points
                    .weight_at(expectation.test, expectation.attr);
                compared += u64::from(weight);
                if expectation.expr.matches(value) {
                    matched += u64::from(weight);
                }
            }
            if compared - matched > most_mismatched {
                break;
            }
        }
        if compared == 0 {
            0.0
        } else {
            matched as f64 / compared as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::db::tests::nmap_database;
    use crate::os::fingerprint::Test;

    /// What a Linux 5.4 host would show, written by hand from the second "Linux 5.4"
    /// entry of nmap's database (line 68176): one value each expression accepts, TTLs
    /// as `T` (the hop count known), as nmap prints them.
    const LINUX_5_4: &str = "\
SEQ(SP=FE%GCD=1%ISR=100%TI=Z%CI=Z%II=I%TS=A)
OPS(O1=M5B4ST11NW7%O2=M5B4ST11NW7%O3=M5B4NNT11NW7%O4=M5B4ST11NW7%O5=M5B4ST11NW7%O6=M5B4ST11)
WIN(W1=FE88%W2=FE88%W3=FE88%W4=FE88%W5=FE88%W6=FE88)
ECN(R=Y%DF=Y%T=40%W=FAF0%O=M5B4NNSNW7%CC=Y%Q=)
T1(R=Y%DF=Y%T=40%S=O%A=S+%F=AS%RD=0%Q=)
T2(R=N)
T3(R=N)
T4(R=Y%DF=Y%T=40%W=0%S=A%A=Z%F=R%O=%RD=0%Q=)
T5(R=Y%DF=Y%T=40%W=0%S=Z%A=S+%F=AR%O=%RD=0%Q=)
T6(R=Y%DF=Y%T=40%W=0%S=A%A=Z%F=R%O=%RD=0%Q=)
T7(R=N)
U1(R=Y%DF=N%T=40%IPL=164%UN=0%RIPL=G%RID=G%RIPCK=G%RUCK=G%RUD=G)
IE(R=Y%DFI=N%T=40%CD=S)
";

    /// The points `LINUX_5_4` is compared on against its entry, from nmap's
    /// MatchPoints: every attribute of the entry but the seven `TG`s (the print has
    /// `T`). SEQ 25+75+25+100+50+100+100, OPS 6×20, WIN 6×15, ECN 100+20+15+15+15+100+20,
    /// T1 100+20+15+20+20+30+20+20, T2/T3/T7 R 80 each, T4–T6
    /// 100+20+15+25+20+20+30+10+20+20 each, U1 50+20+15+7×100, IE 50+40+15+100.
    const LINUX_POINTS: u64 = 475 + 120 + 90 + 285 + 245 + 3 * 80 + 3 * 280 + 785 + 205;

    /// What a Windows 10 1607 host would show, from nmap's entry at line 69604; TTLs
    /// as `TG` (the hop count unknown), and an `SS` the entry does not name.
    const WINDOWS_10: &str = "\
SEQ(SP=103%GCD=1%ISR=105%TI=I%CI=I%II=I%SS=S%TS=A)
OPS(O1=MFFD7ST11%O2=MFFD7ST11%O3=MFFD7NNT11%O4=MFFD7ST11%O5=MFFD7ST11%O6=MFFD7ST11)
WIN(W1=2000%W2=2000%W3=2000%W4=2000%W5=2000%W6=2000)
ECN(R=Y%DF=Y%TG=80%W=2000%O=MFFD7NNS%CC=N%Q=)
T1(R=Y%DF=Y%TG=80%S=O%A=S+%F=AS%RD=0%Q=)
T2(R=Y%DF=Y%TG=80%W=0%S=Z%A=S%F=AR%O=%RD=0%Q=)
T3(R=Y%DF=Y%TG=80%W=0%S=Z%A=O%F=AR%O=%RD=0%Q=)
T4(R=Y%DF=Y%TG=80%W=0%S=A%A=O%F=R%O=%RD=0%Q=)
T5(R=Y%DF=Y%TG=80%W=0%S=Z%A=S+%F=AR%O=%RD=0%Q=)
T6(R=Y%DF=Y%TG=80%W=0%S=A%A=O%F=R%O=%RD=0%Q=)
T7(R=Y%DF=Y%TG=80%W=0%S=Z%A=S+%F=AR%O=%RD=0%Q=)
U1(R=Y%DF=N%TG=80%IPL=164%UN=0%RIPL=G%RID=G%RIPCK=Z%RUCK=G%RUD=G)
IE(R=Y%DFI=N%TG=80%CD=Z)
";

    /// `WINDOWS_10`'s points against its entry: SEQ 475 (no SS there), OPS 120,
    /// WIN 90, ECN 285, T1 245, T2/T3/T7 260 each (R weighs 80), T4–T6 280 each,
    /// U1 785, IE 205.
    const WINDOWS_POINTS: u64 = 475 + 120 + 90 + 285 + 245 + 3 * 260 + 3 * 280 + 785 + 205;

    fn print(text: &str) -> Fingerprint {
        Fingerprint::parse(text).unwrap()
    }

    /// `text` with one attribute's value changed.
    fn changed(text: &str, test: &str, attr: &str, value: &str) -> Fingerprint {
        let mut print = print(text);
        let mut changed = print.test(test).unwrap().clone();
        assert!(changed.set(attr, value));
        print.insert(changed);
        print
    }

    fn entry_at(line: usize) -> &'static Entry {
        nmap_database()
            .entries
            .iter()
            .find(|entry| entry.line == line)
            .unwrap()
    }

    #[test]
    fn a_print_written_from_an_entry_matches_it_perfectly() {
        let db = nmap_database();
        for (text, line, name) in [
            (LINUX_5_4, 68176, "Linux 5.4"),
            (WINDOWS_10, 69604, "Microsoft Windows 10 1607"),
        ] {
            let detection = db.best_matches(&print(text), MOST_MATCHES, GUESS_THRESHOLD);
            let top = &detection.matches[0];
            assert_eq!(
                (top.name.as_str(), top.line, top.accuracy),
                (name, line, 1.0)
            );
            assert_eq!(top.classes, entry_at(line).classes);
            assert!(!detection.too_many_perfect);
            assert!(detection
                .matches
                .iter()
                .all(|m| m.accuracy >= GUESS_THRESHOLD));
        }
    }

    #[test]
    fn a_changed_value_costs_exactly_its_weight() {
        let db = nmap_database();
        let linux = entry_at(68176);
        assert_eq!(db.accuracy(linux, &print(LINUX_5_4)), 1.0);
        // The TG the print lacks would be 7 × 15 more.
        assert_eq!(linux.possible_points(), LINUX_POINTS + 7 * 15);
        // TI weighs 100: 3185 of 3285, 96%.
        assert_eq!(LINUX_POINTS, 3285);
        let other_ti = changed(LINUX_5_4, "SEQ", "TI", "RI");
        assert_eq!(db.accuracy(linux, &other_ti), 3185.0 / 3285.0);
        let found = db.best_matches(&other_ti, MOST_MATCHES, GUESS_THRESHOLD);
        let m = found.matches.iter().find(|m| m.line == 68176);
        assert_eq!(m.map(|m| m.percent()), Some(96));
        // A window out of W1's expression: 15 of them.
        let other_w1 = changed(LINUX_5_4, "WIN", "W1", "FE89");
        assert_eq!(
            db.accuracy(linux, &other_w1),
            (LINUX_POINTS - 15) as f64 / LINUX_POINTS as f64
        );
        // An attribute the entry does not name is not compared: SS.
        assert_eq!(
            db.accuracy(linux, &changed(LINUX_5_4, "SEQ", "SS", "O")),
            1.0
        );
        // A test the print lacks is not compared either: without U1 (885 points) and
        // with the window changed, 2485 of 2500.
        assert_eq!(LINUX_POINTS - 785, 2500);
        let mut no_u1 = other_w1.clone();
        no_u1.tests.retain(|test| test.name != "U1");
        assert_eq!(db.accuracy(linux, &no_u1), 2485.0 / 2500.0);
        let windows = entry_at(69604);
        assert_eq!(db.accuracy(windows, &print(WINDOWS_10)), 1.0);
        // RIPCK weighs 100: 3725 of 3825, 97%.
        assert_eq!(WINDOWS_POINTS, 3825);
        let other_ripck = changed(WINDOWS_10, "U1", "RIPCK", "G");
        assert_eq!(db.accuracy(windows, &other_ripck), 3725.0 / 3825.0);
        let found = db.best_matches(&other_ripck, MOST_MATCHES, GUESS_THRESHOLD);
        let m = found.matches.iter().find(|m| m.line == 69604);
        assert_eq!(m.map(|m| m.percent()), Some(97));
    }

    /// nmap gives a reference up once its mismatches pass what the threshold allows
    /// of all its points: here after OPS, 545 mismatched of a budget of 508
    /// (0.15 × 3390, rounded down), with 50 matched of 595 compared. Compared to the
    /// end, it would have scored 2740 of 3285.
    #[test]
    fn a_reference_is_given_up_once_it_cannot_reach_the_threshold() {
        let db = nmap_database();
        let linux = entry_at(68176);
        let mut far = print(LINUX_5_4);
        let mut seq = Test::parse("SEQ(SP=FE%GCD=7%ISR=100%TI=RI%CI=RI%II=RI%TS=U)").unwrap();
        seq.apply_response_rule().unwrap();
        far.insert(seq);
        for n in 1..=6 {
            far = changed(&far.to_string(), "OPS", &format!("O{n}"), "M218");
        }
        let observed = Observed::new(&far);
        assert_eq!(db.score(linux, &observed, GUESS_THRESHOLD), 50.0 / 595.0);
        assert_eq!(linux.possible_points(), 3390);
        assert_eq!(db.accuracy(linux, &far), 2740.0 / 3285.0);
        // Given up or not, it is no match at the threshold.
        let found = db.best_matches(&far, MOST_MATCHES, GUESS_THRESHOLD);
        assert!(found.matches.iter().all(|m| m.line != 68176));
    }

    /// What `best_matches` must list when its list has room for all: for each name,
    /// the first of its most accurate entries, when at least `threshold` accurate or
    /// perfect, most accurate first, then in the database's order. Computed without
    /// giving any reference up.
    fn expected(db: &Database, observed: &Fingerprint, threshold: f64) -> Vec<(f64, usize)> {
        let mut best: Vec<(f64, usize, &str)> = Vec::new();
        for (position, entry) in db.entries.iter().enumerate() {
            let accuracy = db.accuracy(entry, observed);
            match best.iter_mut().find(|(_, _, name)| *name == entry.name) {
                Some(kept) if kept.0 >= accuracy => {}
                Some(kept) => *kept = (accuracy, position, &entry.name),
                None => best.push((accuracy, position, &entry.name)),
            }
        }
        best.retain(|(accuracy, _, _)| *accuracy >= threshold || *accuracy == 1.0);
        best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        best.into_iter()
            .map(|(accuracy, position, _)| (accuracy, db.entries[position].line))
            .collect()
    }

    #[test]
    fn giving_up_early_loses_no_match_and_the_order_is_nmaps() {
        let db = nmap_database();
        let prints = [
            print(LINUX_5_4),
            changed(LINUX_5_4, "SEQ", "TI", "RI"),
            changed(LINUX_5_4, "ECN", "CC", "N"),
            print(WINDOWS_10),
            changed(WINDOWS_10, "T1", "F", "AR"),
        ];
        for observed in &prints {
            for threshold in [GUESS_THRESHOLD, 0.7] {
                let want = expected(db, observed, threshold);
                let got: Vec<(f64, usize)> = db
                    .best_matches(observed, usize::MAX, threshold)
                    .matches
                    .iter()
                    .map(|m| (m.accuracy, m.line))
                    .collect();
                assert_eq!(got, want, "{observed}");
                let kept = db.best_matches(observed, MOST_MATCHES, threshold);
                let lines: Vec<usize> = kept.matches.iter().map(|m| m.line).collect();
                let best: Vec<usize> = want.iter().take(MOST_MATCHES).map(|w| w.1).collect();
                assert_eq!(lines, best, "{observed}");
            }
        }
    }

    /// A small database whose every entry names one attribute, TI, worth 10.
    fn tiny(entries: &[(&str, &str)]) -> Database {
        let mut text = String::from("MatchPoints\nSEQ(TI=10%SP=30)\n");
        for (name, ti) in entries {
            text.push_str(&format!(
                "\nFingerprint {name}\nClass v | f | g | t\nSEQ(TI={ti}%SP=1)\n"
            ));
        }
        Database::parse(text, "tiny").unwrap()
    }

    fn names(detection: &OsDetection) -> Vec<(&str, u8)> {
        detection
            .matches
            .iter()
            .map(|m| (m.name.as_str(), m.percent()))
            .collect()
    }

    #[test]
    fn one_match_per_name_the_better_one() {
        let db = tiny(&[
            ("A", "Z"),
            ("B", "Z|I"),
            ("A", "I"),
            ("C", "I"),
            ("B", "RD"),
        ]);
        let observed = print("SEQ(TI=I%SP=1)");
        let found = db.best_matches(&observed, MOST_MATCHES, 0.5);
        assert_eq!(names(&found), [("B", 100), ("A", 100), ("C", 100)]);
        assert_eq!(found.matches[1].line, 12, "the second A, which matched");
        // TI out: 30 of 40 for all, in the database's order.
        let observed = print("SEQ(TI=O%SP=1)");
        let found = db.best_matches(&observed, MOST_MATCHES, 0.5);
        assert_eq!(names(&found), [("A", 75), ("B", 75), ("C", 75)]);
        assert_eq!(found.matches[0].line, 4, "the first A; the second ties it");
        assert!(db
            .best_matches(&observed, MOST_MATCHES, GUESS_THRESHOLD)
            .matches
            .is_empty());
    }

    #[test]
    fn a_full_list_takes_only_better_matches() {
        let db = tiny(&[("A", "O"), ("B", "I"), ("C", "O"), ("D", "I"), ("E", "I")]);
        let observed = print("SEQ(TI=I%SP=1)");
        // B and D push A out; C (75%) then cannot enter a list whose last is 75%.
        let found = db.best_matches(&observed, 3, 0.5);
        assert_eq!(names(&found), [("B", 100), ("D", 100), ("E", 100)]);
        assert!(!found.too_many_perfect);
        // A full list of 75% takes no other 75%.
        let found = db.best_matches(&print("SEQ(TI=RD%SP=1)"), 2, 0.5);
        assert_eq!(names(&found), [("A", 75), ("B", 75)]);
    }

    #[test]
    fn more_perfect_matches_than_the_list_holds_are_too_many() {
        let db = tiny(&[("A", "I"), ("B", "I"), ("C", "I")]);
        let found = db.best_matches(&print("SEQ(TI=I%SP=1)"), 2, GUESS_THRESHOLD);
        assert!(found.too_many_perfect);
        assert_eq!(names(&found), [("A", 100), ("B", 100)]);
    }

    #[test]
    fn nothing_to_compare_is_no_match() {
        let db = tiny(&[("A", "I")]);
        let entry = &db.entries[0];
        assert_eq!(db.accuracy(entry, &Fingerprint::default()), 0.0);
        assert_eq!(db.accuracy(entry, &print("IE(R=N)")), 0.0);
        assert!(
            db.best_matches(&Fingerprint::default(), MOST_MATCHES, 0.0)
                .matches
                .len()
                == 1
        );
        assert!(db
            .best_matches(&Fingerprint::default(), MOST_MATCHES, f64::NAN)
            .matches
            .is_empty());
    }
}
