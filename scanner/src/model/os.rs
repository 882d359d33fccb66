//! What OS detection (`-O`) concluded about a host, as the output shows it: the
//! reference prints that matched (nmap's `<osmatch>`), each with the classes it names
//! (`<osclass>`: vendor, family, generation, device type, CPEs), and which of them the
//! normal output calls "OS details" and which "Aggressive OS guesses", by nmap's rules,
//! so that every writer says the same. How the matches are found is `os/`'s business.

use super::SynAckMatch;
use serde::Serialize;

/// One classification of a reference print: nmap-os-db's `Class` line with the `CPE`
/// lines under it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OsClass {
    /// `Linux`, `Microsoft`, `Cisco`.
    pub vendor: String,
    /// `Linux`, `Windows`, `IOS`.
    pub family: String,
    /// `5.X`, `10`; absent where the database leaves it empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<String>,
    /// `general purpose`, `router`, `WAP`.
    pub device_type: String,
    /// `cpe:/o:linux:linux_kernel:5.4`, as written (nmap's `auto` flag left out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpes: Vec<String>,
}

/// One reference print that matched the host's fingerprint.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OsMatch {
    /// The reference print's name: `Linux 5.0 - 5.4`.
    pub name: String,
    /// The share of the compared points that matched, from 0 to 1; exactly 1 for a
    /// perfect match.
    pub accuracy: f64,
    /// The line of its `Fingerprint` in the database.
    pub line: usize,
    pub classes: Vec<OsClass>,
}

impl OsMatch {
    /// The accuracy in whole percent, rounded down as nmap prints it (`accuracy="96"`).
    pub fn percent(&self) -> u8 {
        (self.accuracy * 100.0) as u8
    }

    pub fn is_perfect(&self) -> bool {
        self.accuracy >= 1.0
    }
}

/// What matching a host's fingerprint gave.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OsDetection {
    /// The best matches, most accurate first (perfect ones first of all), one per
    /// name, in the database's order where accuracies are equal.
    pub matches: Vec<OsMatch>,
    /// More reference prints matched perfectly than the list holds.
    pub too_many_perfect: bool,
}

/// What the output says about a host's OS, by nmap's rules.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OsVerdict<'a> {
    /// "OS details": the perfect matches, when there are at most
    /// [`OsDetection::MOST_DETAILS`] of them.
    Details(&'a [OsMatch]),
    /// No perfect match: the best guesses (at most [`OsDetection::MOST_GUESSES`],
    /// each within [`OsDetection::GUESS_SPREAD`] of the best). The XML output lists
    /// them; the normal output prints them as "Aggressive OS guesses" only with
    /// `--osscan-guess` or when the fingerprint is not one to submit.
    Guesses(&'a [OsMatch]),
    /// Nothing matched well enough ("No OS matches for host").
    NoMatch,
    /// "Too many fingerprints match this host to give specific OS details".
    TooManyPerfect,
}

impl OsDetection {
    /// nmap names the perfect matches as "OS details" only up to this many.
    pub const MOST_DETAILS: usize = 8;
    /// nmap shows at most this many guesses ...
    pub const MOST_GUESSES: usize = 10;
    /// ... each more accurate than the best one less this.
    pub const GUESS_SPREAD: f64 = 0.10;

    /// The leading perfect matches.
    pub fn perfect(&self) -> &[OsMatch] {
        let count = self.matches.iter().take_while(|m| m.is_perfect()).count();
        &self.matches[..count]
    }

    /// What the output says, by nmap's rules.
    pub fn verdict(&self) -> OsVerdict<'_> {
        let perfect = self.perfect();
        if self.too_many_perfect || perfect.len() > Self::MOST_DETAILS {
            return OsVerdict::TooManyPerfect;
        }
        if !perfect.is_empty() {
            return OsVerdict::Details(perfect);
        }
        let Some(best) = self.matches.first() else {
            return OsVerdict::NoMatch;
        };
        let close = self
            .matches
            .iter()
            .take(Self::MOST_GUESSES)
            .take_while(|m| m.accuracy > best.accuracy - Self::GUESS_SPREAD)
            .count();
        OsVerdict::Guesses(&self.matches[..close])
    }
}

/// Everything OS detection learnt of a host.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostOs {
    /// The ports the probes went to: open TCP, closed TCP, closed UDP (nmap's
    /// `<portused>`).
    pub ports_used: PortsUsed,
    pub detection: OsDetection,
    /// The fingerprint in nmap's format, one test per line, `SCAN(...)` first.
    pub fingerprint: String,
    /// Hops to the host: 1 on the local segment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<u8>,
    /// How long the host has been up, from its TCP timestamps' clock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime: Option<Uptime>,
    /// How hard its initial sequence numbers are to predict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp_sequence: Option<TcpSequence>,
    /// How its IP IDs are generated (its open ports' replies), in nmap's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_id_sequence: Option<Sequence>,
    /// How its TCP timestamps advance, in nmap's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_sequence: Option<Sequence>,
    /// Its open ports whose stack differs from the rest of the host's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub odd_ports: Vec<PortStack>,
    /// Every open port's own short fingerprint (`--osscan-per-port`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_stacks: Vec<PortFingerprint>,
}

/// The short fingerprint of one open TCP port: its SYN+ACK to one probe, read as p0f
/// reads it, and what that matched in the SYN+ACK signature database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortFingerprint {
    pub port: u16,
    /// p0f's raw signature.
    pub signature: String,
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub matched: Option<SynAckMatch>,
    /// Its TCP timestamp value (the stack's clock; 0 without timestamps).
    pub timestamp: u32,
}

/// An open TCP port answered by another stack than the rest of its host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortStack {
    pub port: u16,
    /// What differs: "TTL 64 at 1 hop(s) (the host's: 128 at 0 hop(s))", ...
    pub differs: Vec<String>,
    /// The likely reason, in words.
    pub likely: String,
}

/// A sequence the SEQ probes' replies showed: nmap's word for its class, and the
/// values (IP IDs, timestamps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sequence {
    pub class: &'static str,
    pub values: Vec<u32>,
}

/// The ports OS detection probed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortsUsed {
    pub open_tcp: u16,
    pub closed_tcp: u16,
    pub closed_udp: u16,
}

/// The uptime guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Uptime {
    pub seconds: u64,
    /// When it booted, in seconds since the Unix epoch.
    pub last_boot: u64,
}

/// TCP sequence prediction: nmap's index, its word for it, and the initial sequence
/// numbers of the SEQ probes' replies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TcpSequence {
    pub index: u32,
    pub difficulty: &'static str,
    pub values: Vec<u32>,
}

impl TcpSequence {
    /// nmap's difficulty words for an index.
    pub fn new(index: u32, values: Vec<u32>) -> Self {
        let difficulty = match index {
            0..=2 => "Trivial joke",
            3..=5 => "Easy",
            6..=10 => "Medium",
            11 => "Formidable",
            12..=15 => "Worthy challenge",
            _ => "Good luck!",
        };
        Self {
            index,
            difficulty,
            values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(accuracies: &[f64]) -> OsDetection {
        OsDetection {
            matches: accuracies
                .iter()
                .enumerate()
                .map(|(line, &accuracy)| OsMatch {
                    name: format!("OS {line}"),
                    accuracy,
                    line,
                    classes: Vec::new(),
                })
                .collect(),
            too_many_perfect: false,
        }
    }

    #[test]
    fn perfect_matches_are_details_up_to_eight() {
        let detection = found(&[1.0, 1.0, 0.97]);
        assert_eq!(detection.perfect().len(), 2);
        assert!(matches!(detection.verdict(), OsVerdict::Details(m) if m.len() == 2));
        assert_eq!(found(&[1.0; 9]).verdict(), OsVerdict::TooManyPerfect);
        assert!(matches!(found(&[1.0; 8]).verdict(), OsVerdict::Details(m) if m.len() == 8));
        let mut overflowed = found(&[1.0]);
        overflowed.too_many_perfect = true;
        assert_eq!(overflowed.verdict(), OsVerdict::TooManyPerfect);
        assert_eq!(found(&[]).verdict(), OsVerdict::NoMatch);
    }

    #[test]
    fn guesses_are_the_ten_best_within_ten_points() {
        let detection = found(&[0.96, 0.95, 0.90, 0.86, 0.85]);
        let OsVerdict::Guesses(guesses) = detection.verdict() else {
            panic!("{:?}", detection.verdict());
        };
        // 0.86 is not above 0.96 − 0.10 (strictly above, as nmap asks): left out.
        assert_eq!(guesses.len(), 3);
        let many = found(&[0.99; 12]);
        assert!(matches!(many.verdict(), OsVerdict::Guesses(g) if g.len() == 10));
    }

    #[test]
    fn percentages_round_down_as_nmap_prints_them() {
        let mut m = found(&[0.969]).matches.remove(0);
        assert_eq!(m.percent(), 96);
        m.accuracy = 1.0;
        assert_eq!((m.percent(), m.is_perfect()), (100, true));
        // 57/100 is 0.57, whose hundredfold falls just under 57 in floating point: nmap
        // prints 56, and so does this.
        m.accuracy = 57.0 / 100.0;
        assert_eq!(m.percent(), 56);
    }
}
