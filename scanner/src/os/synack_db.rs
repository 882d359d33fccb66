//! The database of passive SYN+ACK signatures, and what a port's SYN+ACK matches in it,
//! as p0f v3 matches: the `[tcp:response]` section of a file in p0f's `p0f.fp` format.
//!
//! The project's own file, `fingerprints/synack-signatures`, is built in; `--synack-db
//! FILE` reads another, such as p0f's own `/etc/p0f/p0f.fp` (its other sections are
//! skipped). A reference signature is p0f's `ver:ittl:olen:mss:wsize,scale:olayout:
//! quirks:pclass` with wildcards (`*`), a window rule (`mss*N`, `mtu*N`, `%N`) and an
//! initial TTL (`64`, or `64-` where the distance cannot be trusted).
//!
//! Matching follows p0f's rules: the option layout and the IP option length must be
//! equal, the MSS, window scale, payload class and window rule must accept the reply;
//! the quirks must be equal, except that `df` and `id+` may have vanished and `id-` and
//! `ecn` appeared on the way (a fuzzy match), and a TTL above the entry's initial one or
//! more than [`MAX_DISTANCE`] hops below it is fuzzy too. The first exact specific
//! (`s:`) entry wins, else the first exact generic (`g:`) one, else the first fuzzy one.
//! A malformed line leaves its entry out with a warning naming the line, as the OS
//! database does; nothing in the file can make the scan fail once it is read.

use super::synack::{initial_ttl, quirk, LayoutItem, SynAckSignature, QUIRK_NAMES};
use crate::model::SynAckMatch;
use anyhow::{bail, Result};
use std::path::Path;

/// A reply more hops than this below an entry's initial TTL matches it only fuzzily
/// (p0f's `MAX_DIST`).
pub const MAX_DISTANCE: u8 = 35;

/// The most options an entry may list (p0f's limit).
const MOST_OPTIONS: usize = 24;

/// The project's own signatures, built in.
const OWN_DATABASE: &str = include_str!("../../../fingerprints/synack-signatures");

/// What an entry says of the system that answers like it: p0f's label.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Label {
    /// `g:` (a family) rather than `s:` (one system).
    generic: bool,
    /// The class (`unix`, `win`, ...); `None` for p0f's `!`, a tool rather than an OS.
    class: Option<String>,
    name: String,
    flavor: Option<String>,
}

impl Label {
    /// The name and flavor as p0f prints them (`Linux 3.11 and newer`).
    fn os_text(&self) -> String {
        match &self.flavor {
            Some(flavor) => format!("{} {flavor}", self.name),
            None => self.name.clone(),
        }
    }
}

/// What an entry accepts of the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WindowRule {
    Any,
    Exactly(u16),
    /// `%N`: any multiple of N.
    MultipleOf(u16),
    /// `mss*N`: N times the MSS (as p0f finds the unit, see `SynAckSignature`).
    MssTimes(u16),
    /// `mtu*N`: N times an MTU.
    MtuTimes(u16),
}

/// One reference signature.
#[derive(Clone, Debug)]
struct Entry {
    /// Index into [`SynAckDb::labels`].
    label: usize,
    /// `Some(4)`/`Some(6)`, or `None` for `*`.
    ip_version: Option<u8>,
    initial_ttl: u8,
    /// `64-`: the distance is not to be trusted; any TTL up to the initial one is exact.
    bad_ttl: bool,
    ip_options_len: u8,
    mss: Option<u16>,
    window: WindowRule,
    window_scale: Option<u8>,
    layout: Vec<LayoutItem>,
    quirks: u32,
    /// `Some(false)` for `0`, `Some(true)` for `+`, `None` for `*`.
    payload: Option<bool>,
}

/// A file of reference signatures.
#[derive(Clone, Debug, Default)]
pub struct SynAckDb {
    labels: Vec<Label>,
    entries: Vec<Entry>,
    /// One line for each line left out, naming the file, the line and the problem.
    pub warnings: Vec<String>,
}

/// The database to match against: the file a user names (`--synack-db`), or the built-in
/// one. A user's file that leaves entries out says so on standard error.
pub fn load(path: Option<&Path>) -> Result<SynAckDb> {
    let db = match path {
        None => SynAckDb::parse(OWN_DATABASE, "fingerprints/synack-signatures (built in)")?,
        Some(path) => {
            let text = super::db::read_bounded(path, "SYN+ACK signature database")?;
            SynAckDb::parse(&String::from_utf8_lossy(&text), &path.display().to_string())?
        }
    };
    for warning in &db.warnings {
        eprintln!("scanner: {warning}");
    }
    Ok(db)
}

impl SynAckDb {
    /// Reads `text`, the contents of `source` (a file name, for messages). Fails only
    /// when nothing in it is a `[tcp:response]` signature.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let mut db = Self::default();
        let mut classes: Vec<String> = Vec::new();
        let mut in_responses = false;
        let mut label: Option<usize> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if line.starts_with('[') {
                in_responses = line == "[tcp:response]";
                label = None;
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                db.warn(source, index, "not `key = value`: left out");
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "classes" => classes = value.split(',').map(|c| c.trim().to_string()).collect(),
                _ if !in_responses => {}
                "label" => match parse_label(value, &classes) {
                    Ok(parsed) => {
                        db.labels.push(parsed);
                        label = Some(db.labels.len() - 1);
                    }
                    Err(why) => {
                        label = None;
                        db.warn(
                            source,
                            index,
                            &format!("{why}: its signatures are left out"),
                        );
                    }
                },
                "sig" => match (label, parse_signature(value)) {
                    (Some(label), Ok(mut entry)) => {
                        entry.label = label;
                        db.entries.push(entry);
                    }
                    (None, _) => {} // its label was left out, and said so
                    (Some(_), Err(why)) => db.warn(source, index, &format!("{why}: left out")),
                },
                "sys" => {}
                _ => db.warn(source, index, &format!("unknown key `{key}`: left out")),
            }
        }
        if db.entries.is_empty() {
            bail!(
                "{source} has no [tcp:response] signature (p0f.fp format): not a SYN+ACK \
                 signature database{}",
                db.warnings
                    .first()
                    .map(|w| format!("; {w}"))
                    .unwrap_or_default()
            );
        }
        Ok(db)
    }

    fn warn(&mut self, source: &str, index: usize, what: &str) {
        self.warnings
            .push(format!("{source} line {}: {what}", index + 1));
    }

    /// How many signatures were read.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no signature was read (never, for a parsed database).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What `seen` matches, as p0f decides: the first exact specific entry, else the
    /// first exact generic one, else the first fuzzy one (not a tool's).
    pub fn best_match(&self, seen: &SynAckSignature) -> Option<SynAckMatch> {
        let mut generic: Option<&Entry> = None;
        let mut fuzzy: Option<&Entry> = None;
        for entry in &self.entries {
            let Some(is_fuzzy) = entry.accepts(seen, fuzzy.is_some()) else {
                continue;
            };
            let label = &self.labels[entry.label];
            match (is_fuzzy, label.generic) {
                (false, false) => return Some(self.matched(entry, seen, false)),
                (false, true) => generic = generic.or(Some(entry)),
                (true, _) => fuzzy = fuzzy.or(Some(entry)),
            }
        }
        if let Some(entry) = generic {
            return Some(self.matched(entry, seen, false));
        }
        let entry = fuzzy?;
        // p0f gives no fuzzy match to a tool's signature.
        self.labels[entry.label].class.as_ref()?;
        Some(self.matched(entry, seen, true))
    }

    fn matched(&self, entry: &Entry, seen: &SynAckSignature, fuzzy: bool) -> SynAckMatch {
        let in_range = entry.initial_ttl >= seen.ttl
            && (entry.bad_ttl || entry.initial_ttl - seen.ttl <= MAX_DISTANCE);
        let distance = if in_range {
            entry.initial_ttl - seen.ttl
        } else {
            initial_ttl(seen.ttl) - seen.ttl
        };
        let label = &self.labels[entry.label];
        SynAckMatch {
            os: label.os_text(),
            class: label.class.clone(),
            generic: label.generic,
            fuzzy,
            distance: (!entry.bad_ttl).then_some(distance),
        }
    }
}

impl Entry {
    /// `None` when the entry does not accept `seen`; else whether only fuzzily.
    /// `quirks_exact` asks for equal quirks (once a fuzzy match is had, p0f looks only
    /// for better ones).
    fn accepts(&self, seen: &SynAckSignature, quirks_exact: bool) -> Option<bool> {
        if self.layout != seen.layout || self.ip_options_len != seen.ip_options_len {
            return None;
        }
        if self.ip_version.is_some_and(|v| v != 4) {
            return None;
        }
        let mut quirks = self.quirks;
        if self.ip_version.is_none() {
            quirks &= !quirk::FLOW; // IPv6's alone
        }
        let mut fuzzy = false;
        if quirks != seen.quirks {
            let gone = quirks & !seen.quirks;
            let came = seen.quirks & !quirks;
            if quirks_exact
                || gone & !(quirk::DF | quirk::NONZERO_ID) != 0
                || came & !(quirk::ZERO_ID | quirk::ECN) != 0
            {
                return None;
            }
            fuzzy = true;
        }
        if self.bad_ttl {
            if self.initial_ttl < seen.ttl {
                return None;
            }
        } else if self.initial_ttl < seen.ttl || self.initial_ttl - seen.ttl > MAX_DISTANCE {
            fuzzy = true;
        }
        if self.mss.is_some_and(|mss| mss != seen.mss)
            || self
                .window_scale
                .is_some_and(|scale| scale != seen.window_scale)
            || self
                .payload
                .is_some_and(|payload| payload != seen.has_payload)
        {
            return None;
        }
        let multiple = seen.window_multiple();
        let window_fits = match self.window {
            WindowRule::Any => true,
            WindowRule::Exactly(window) => window == seen.window,
            WindowRule::MultipleOf(unit) => seen.window.is_multiple_of(unit),
            WindowRule::MssTimes(n) => multiple == Some(("mss", u32::from(n))),
            WindowRule::MtuTimes(n) => multiple == Some(("mtu", u32::from(n))),
        };
        window_fits.then_some(fuzzy)
    }
}

/// `s:unix:Linux:3.11 and newer` (p0f's label: specific or generic, class or `!`, name,
/// flavor).
fn parse_label(text: &str, classes: &[String]) -> Result<Label, String> {
    let mut parts = text.splitn(4, ':');
    let generic = match parts.next() {
        Some("g") => true,
        Some("s") => false,
        _ => return Err(format!("label `{text}` does not start with s: or g:")),
    };
    let class = match parts.next() {
        Some("!") => None,
        Some(class) if classes.iter().any(|c| c.eq_ignore_ascii_case(class)) => {
            Some(class.to_string())
        }
        Some(class) => {
            return Err(format!(
                "label `{text}`: class `{class}` is not in the file's `classes =` line"
            ))
        }
        None => return Err(format!("label `{text}` has no class")),
    };
    let name = parts.next().unwrap_or("").trim();
    let name_chars = |c: char| c.is_ascii_alphanumeric() || " ./-_!?()".contains(c);
    if name.is_empty() || !name.chars().all(name_chars) {
        return Err(format!(
            "label `{text}`: no name, or one with odd characters"
        ));
    }
    let flavor = parts.next().map(str::trim).filter(|f| !f.is_empty());
    Ok(Label {
        generic,
        class,
        name: name.to_string(),
        flavor: flavor.map(str::to_string),
    })
}

/// `4:64:0:*:mss*44,7:mss,sok,ts,nop,ws:df:0`.
fn parse_signature(text: &str) -> Result<Entry, String> {
    let fields: Vec<&str> = text.split(':').collect();
    let [version, ttl, options_len, mss, window, layout, quirks, payload] = fields[..] else {
        return Err(format!(
            "signature `{text}` does not have p0f's eight fields ver:ittl:olen:mss:wsize,scale:olayout:quirks:pclass"
        ));
    };
    let ip_version = match version {
        "4" => Some(4),
        "6" => Some(6),
        "*" => None,
        _ => return Err(format!("IP version `{version}` is not 4, 6 or *")),
    };
    let (initial_ttl, bad_ttl) = parse_ttl(ttl)?;
    let ip_options_len = number(options_len, "IP option length")?;
    if ip_options_len > 40 {
        return Err(format!("IP option length {ip_options_len} is over 40"));
    }
    let mss = wildcard(mss, "MSS")?;
    let Some((window, scale)) = window.split_once(',') else {
        return Err(format!("window `{window}` has no `,scale`"));
    };
    let window = parse_window(window)?;
    let window_scale = wildcard(scale, "window scale")?;
    let layout = parse_layout(layout)?;
    let mut quirk_bits = 0;
    for word in quirks.split(',').filter(|w| !w.is_empty()) {
        let Some((bit, _)) = QUIRK_NAMES.iter().find(|(_, name)| *name == word) else {
            return Err(format!("unknown quirk `{word}`"));
        };
        quirk_bits |= bit;
    }
    let payload = match payload {
        "0" => Some(false),
        "+" => Some(true),
        "*" => None,
        _ => return Err(format!("payload class `{payload}` is not 0, + or *")),
    };
    Ok(Entry {
        label: 0,
        ip_version,
        initial_ttl,
        bad_ttl,
        ip_options_len,
        mss,
        window,
        window_scale,
        layout,
        quirks: quirk_bits,
        payload,
    })
}

/// `64`, `64-` (distance untrustworthy) or `64+1` (a raw signature's TTL and distance:
/// the initial TTL is their sum).
fn parse_ttl(text: &str) -> Result<(u8, bool), String> {
    let (ttl, bad, extra) = if let Some(ttl) = text.strip_suffix('-') {
        (ttl, true, 0)
    } else if let Some((ttl, extra)) = text.split_once('+') {
        (ttl, false, number::<u16>(extra, "TTL distance")?)
    } else {
        (text, false, 0)
    };
    let initial = number::<u16>(ttl, "initial TTL")? + extra;
    match u8::try_from(initial) {
        Ok(initial) if initial >= 1 => Ok((initial, bad)),
        _ => Err(format!("initial TTL `{text}` is not 1 to 255")),
    }
}

fn parse_window(text: &str) -> Result<WindowRule, String> {
    if text == "*" {
        return Ok(WindowRule::Any);
    }
    if let Some(unit) = text.strip_prefix('%') {
        let unit: u16 = number(unit, "window modulus")?;
        return if unit >= 2 {
            Ok(WindowRule::MultipleOf(unit))
        } else {
            Err(format!("window `{text}`: a modulus below 2"))
        };
    }
    if let Some((unit, times)) = text.split_once('*') {
        let times: u16 = number(times, "window multiplier")?;
        if times == 0 || times > 1000 {
            return Err(format!("window `{text}`: multiplier not 1 to 1000"));
        }
        return match unit {
            "mss" => Ok(WindowRule::MssTimes(times)),
            "mtu" => Ok(WindowRule::MtuTimes(times)),
            _ => Err(format!("window `{text}`: not mss*N or mtu*N")),
        };
    }
    Ok(WindowRule::Exactly(number(text, "window")?))
}

fn parse_layout(text: &str) -> Result<Vec<LayoutItem>, String> {
    let mut layout = Vec::new();
    let words: Vec<&str> = text.split(',').filter(|w| !w.is_empty()).collect();
    if words.len() > MOST_OPTIONS {
        return Err(format!("more than {MOST_OPTIONS} options"));
    }
    for (at, word) in words.iter().enumerate() {
        let item = match *word {
            "nop" => LayoutItem::Nop,
            "mss" => LayoutItem::Mss,
            "ws" => LayoutItem::WindowScale,
            "sok" => LayoutItem::SackPermitted,
            "sack" => LayoutItem::Sack,
            "ts" => LayoutItem::Timestamp,
            _ if word.starts_with("eol+") => {
                if at + 1 != words.len() {
                    return Err("eol must be the last option".into());
                }
                LayoutItem::Eol(number(&word[4..], "eol padding")?)
            }
            _ if word.starts_with('?') => LayoutItem::Other(number(&word[1..], "option kind")?),
            _ => return Err(format!("unknown option `{word}`")),
        };
        layout.push(item);
    }
    Ok(layout)
}

/// `*` as `None`, else the number.
fn wildcard<T: std::str::FromStr>(text: &str, what: &str) -> Result<Option<T>, String> {
    if text == "*" {
        Ok(None)
    } else {
        number(text, what).map(Some)
    }
}

fn number<T: std::str::FromStr>(text: &str, what: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{what} `{text}` is not a number in range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::craft;
    use scanner_common::wire::{TCP_FLAG_ACK, TCP_FLAG_SYN};

    const HEADER: &str = "classes = win,unix,other\n[tcp:response]\n";

    fn db(body: &str) -> SynAckDb {
        SynAckDb::parse(&format!("{HEADER}{body}"), "test").unwrap()
    }

    /// Linux's SYN+ACK to a SYN offering every option (as the lab's hosts answer the
    /// scanner's probes while it records signatures), with `edit` applied to the frame.
    fn lab_syn_ack(edit: impl FnOnce(&mut [u8])) -> SynAckSignature {
        let options = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 1, 1, 3, 3, 7,
        ];
        let mut frame = craft::tcp_segment(
            ("198.18.0.10".parse().unwrap(), 22),
            ("198.18.0.1".parse().unwrap(), 40000),
            TCP_FLAG_SYN | TCP_FLAG_ACK,
            65160,
            64,
            &options,
        );
        frame[20] |= 0x40; // DF, with IP ID 0
        edit(&mut frame);
        SynAckSignature::read(&frame, Some(1460)).unwrap()
    }

    #[test]
    fn the_lab_frame_is_linuxs() {
        assert_eq!(
            lab_syn_ack(|_| {}).to_string(),
            "4:64+0:0:1460:mss*45,7:mss,sok,ts,nop,ws:df:0"
        );
    }

    fn matched(db: &SynAckDb, seen: &SynAckSignature) -> Option<(String, bool, Option<u8>)> {
        db.best_match(seen).map(|m| (m.os, m.fuzzy, m.distance))
    }

    #[test]
    fn the_built_in_database_reads_cleanly_and_names_the_labs_linux() {
        let db = load(None).unwrap();
        assert!(db.warnings.is_empty(), "{:?}", db.warnings);
        let seen = lab_syn_ack(|_| {});
        let found = db
            .best_match(&seen)
            .expect("the lab's Linux is in the database");
        assert!(found.os.starts_with("Linux"), "{found:?}");
        assert!(!found.fuzzy);
    }

    #[test]
    fn a_raw_signature_is_an_entry_that_matches_its_packet() {
        let seen = lab_syn_ack(|_| {});
        let db = db(&format!("label = s:unix:Lab:itself\nsig = {seen}\n"));
        assert_eq!(
            matched(&db, &seen),
            Some(("Lab itself".into(), false, Some(0)))
        );
    }

    #[test]
    fn specific_beats_generic_and_exact_beats_fuzzy_whatever_the_order() {
        let seen = lab_syn_ack(|_| {});
        let sig = "*:64:0:*:mss*45,7:mss,sok,ts,nop,ws";
        let db = db(&format!(
            "label = s:unix:Fuzzy:\nsig = {sig}:df,id+:0\n\
             label = g:unix:Generic:\nsig = {sig}:df:0\n\
             label = s:unix:Exact:\nsig = {sig}:df:*\n"
        ));
        assert_eq!(matched(&db, &seen).unwrap().0, "Exact");
        let db2 = db_without_last(&db);
        assert_eq!(matched(&db2, &seen).unwrap().0, "Generic");
        let db3 = SynAckDb {
            entries: db.entries[..1].to_vec(),
            ..db.clone()
        };
        assert_eq!(matched(&db3, &seen), Some(("Fuzzy".into(), true, Some(0))));
    }

    fn db_without_last(db: &SynAckDb) -> SynAckDb {
        SynAckDb {
            entries: db.entries[..db.entries.len() - 1].to_vec(),
            ..db.clone()
        }
    }

    #[test]
    fn p0fs_allowances_and_no_more() {
        let sig = "4:64:0:1460:mss*45,7:mss,sok,ts,nop,ws";
        // df gone, id- come: fuzzy. ecn come: fuzzy. A new id+ or pushf+: no match.
        let db = db(&format!("label = s:unix:L:x\nsig = {sig}:df:0\n"));
        let no_df = lab_syn_ack(|f| f[20] &= !0x40);
        assert_eq!(matched(&db, &no_df).map(|m| m.1), Some(true));
        let ecn = lab_syn_ack(|f| f[15] |= 1);
        assert_eq!(matched(&db, &ecn).map(|m| m.1), Some(true));
        let id = lab_syn_ack(|f| f[19] = 7);
        assert_eq!(matched(&db, &id), None);
        // Three hops: exact, distance 3; 40 hops or a higher TTL: fuzzy.
        let far = lab_syn_ack(|f| f[22] = 61);
        assert_eq!(matched(&db, &far), Some(("L x".into(), false, Some(3))));
        let too_far = lab_syn_ack(|f| f[22] = 24);
        assert_eq!(
            matched(&db, &too_far).map(|m| (m.1, m.2)),
            Some((true, Some(8)))
        );
        let higher = lab_syn_ack(|f| f[22] = 100);
        assert_eq!(
            matched(&db, &higher).map(|m| (m.1, m.2)),
            Some((true, Some(28)))
        );
        // A `-` TTL: never fuzzy below, no distance given.
        let db = db_bad_ttl(sig);
        assert_eq!(matched(&db, &too_far), Some(("L x".into(), false, None)));
        // A tool's signature matches exactly or not at all.
        let tool = self::db(&format!(
            "label = s:!:Tool:x\nsys = @unix\nsig = {sig}:df:0\n"
        ));
        assert_eq!(matched(&tool, &no_df), None);
        assert!(matched(&tool, &lab_syn_ack(|_| {})).is_some());
    }

    fn db_bad_ttl(sig: &str) -> SynAckDb {
        db(&format!(
            "label = s:unix:L:x\nsig = {}:df:0\n",
            sig.replacen(":64:", ":64-:", 1)
        ))
    }

    #[test]
    fn window_rules_options_and_wildcards() {
        let seen = lab_syn_ack(|_| {});
        let window = seen.window;
        let with = |rule: &str| {
            db(&format!(
                "label = s:unix:W:\nsig = 4:64:0:*:{rule},*:mss,sok,ts,nop,ws:df:0\n"
            ))
        };
        for rule in ["*", &window.to_string(), "%8", "mss*45"] {
            assert!(
                with(rule).best_match(&seen).is_some(),
                "{rule} against {window}"
            );
        }
        for rule in ["1", "%7", "mss*44", "mtu*45"] {
            assert!(
                with(rule).best_match(&seen).is_none(),
                "{rule} against {window}"
            );
        }
        let other_layout = db("label = s:unix:O:\nsig = 4:64:0:*:*,*:mss,nop,ws:df:0\n");
        assert!(other_layout.best_match(&seen).is_none());
        let other_mss = db("label = s:unix:O:\nsig = 4:64:0:1400:*,*:mss,sok,ts,nop,ws:df:0\n");
        assert!(other_mss.best_match(&seen).is_none());
        let ipv6_only = db("label = s:unix:O:\nsig = 6:64:0:*:*,*:mss,sok,ts,nop,ws:df:0\n");
        assert!(ipv6_only.best_match(&seen).is_none());
    }

    #[test]
    fn bad_lines_are_left_out_with_their_line_and_the_rest_is_read() {
        let text = format!(
            "{HEADER}label = x:unix:A:\nsig = 4:64:0:*:*,*:mss:df:0\n\
             label = s:beos:B:\nsig = 4:64:0:*:*,*:mss:df:0\n\
             label = s:unix:C:\nsig = 4:300:0:*:*,*:mss:df:0\nsig = 4:64:0:*:*,*:eol+1,mss:df:0\n\
             sig = 4:64:0:*:mss*0,*:mss:df:0\nsig = 4:64:0:*:*,*:mss:weird:0\nsig = 4:64:0\n\
             gibberish\nsig = 4:64:0:*:*,*:mss:df:0\n[mtu]\nlabel = Ethernet\nsig = 1500\n"
        );
        let db = SynAckDb::parse(&text, "f").unwrap();
        assert_eq!(db.len(), 1);
        let lines: Vec<&str> = db
            .warnings
            .iter()
            .map(|w| &w[..w.find(':').unwrap()])
            .collect();
        assert_eq!(
            lines,
            [
                "f line 3",
                "f line 5",
                "f line 8",
                "f line 9",
                "f line 10",
                "f line 11",
                "f line 12",
                "f line 13"
            ]
        );
        assert!(SynAckDb::parse(
            "classes = unix\n[tcp:request]\nlabel = s:unix:A:\nsig = 4:64:0:*:*,*:mss:df:0\n",
            "f"
        )
        .unwrap_err()
        .to_string()
        .contains("no [tcp:response] signature"));
    }

    #[test]
    fn p0fs_own_database_reads_if_installed() {
        let Ok(text) = std::fs::read_to_string("/etc/p0f/p0f.fp") else {
            return; // p0f is installed by `cargo xtask setup`; the lab test needs it
        };
        let db = SynAckDb::parse(&text, "p0f.fp").unwrap();
        assert!(db.warnings.is_empty(), "{:?}", db.warnings);
        assert!(db.len() > 10);
    }
}
