//! The value expressions of nmap-os-db: what a reference print accepts for one
//! attribute (`SP=FA-104`, `TI=I|RD`, `GCD=>0`, `O=|M5B4`), and how an observed value
//! is held against one, the way nmap's `expr_match` does it.
//!
//! An expression is a list of alternatives split at `|`; the value matches when one
//! alternative does. A value whose first character is a hex digit is taken as a hex
//! number: leading zeros go, and it is compared with `A-B` (inclusive range), `>X` and
//! `<X` by length first, then character by character, which orders upper-case hex
//! numbers as numbers and is what nmap does with anything else that starts with a hex
//! digit (flags such as `AS` included); against a plain alternative it must be equal,
//! leading zeros aside, to one that starts with a hex digit too. Any other value
//! (`Y`, `RI`, `M5B4ST11`, the empty one) must equal an alternative as written, so an
//! empty alternative matches only the empty value.
//!
//! TCP option strings (the OPS test and every `O` attribute) may also hold hex
//! patterns in brackets, `M[>500]ST11W[1-5]`: the literal parts must be there, and the
//! run of hex digits where each bracket stands must match the expression inside it.
//! nmap's own database uses none today; they are read as nmap reads them, except that
//! a bracketed alternative may be followed by others (nmap compares the rest of the
//! whole expression there, so such an alternative never matches).
//!
//! This module only reads and evaluates expressions; which attribute weighs what is
//! the matcher's business.

use anyhow::{bail, Result};
use std::cmp::Ordering;
use std::fmt;

/// One attribute's expression from a reference print, parsed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    /// As written in the database, for printing.
    source: String,
    alternatives: Vec<Alternative>,
}

/// One `|`-separated alternative.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Alternative {
    /// As written: a value that is not hex-led must equal it.
    text: String,
    form: Form,
}

/// What an alternative asks of a hex-led value.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Form {
    /// Equal to `text`, leading zeros aside (only when `text` is hex-led too).
    Equal,
    /// `>X`: above the bound (leading zeros stripped).
    Above(String),
    /// `<X`: below the bound.
    Below(String),
    /// `A-B`: from the low to the high bound, both included.
    Between(String, String),
    /// A TCP option string with bracketed hex patterns (OPS and `O` only).
    Pattern(Vec<Piece>),
}

/// A part of a bracketed option pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    /// Characters that must be there as written.
    Literal(String),
    /// `[expr]`: the run of hex digits here must match the inner expression.
    Number(Expr),
}

impl Expr {
    /// Reads an expression of any attribute but a TCP option string: brackets are
    /// plain characters here, as they are to nmap.
    pub fn parse(text: &str) -> Self {
        Self {
            source: text.to_string(),
            alternatives: text.split('|').map(plain_alternative).collect(),
        }
    }

    /// Reads the expression of a TCP option string (the OPS test's attributes and
    /// every `O`), where `[...]` holds an expression for a run of hex digits. A `[`
    /// without its `]` is refused.
    pub fn parse_tcp_options(text: &str) -> Result<Self> {
        let mut alternatives = Vec::new();
        for alternative in split_outside_brackets(text)? {
            if alternative.contains('[') {
                alternatives.push(Alternative {
                    text: alternative.to_string(),
                    form: Form::Pattern(pattern_pieces(alternative)?),
                });
            } else {
                alternatives.push(plain_alternative(alternative));
            }
        }
        Ok(Self {
            source: text.to_string(),
            alternatives,
        })
    }

    /// Whether the observed `value` is one this expression accepts.
    pub fn matches(&self, value: &str) -> bool {
        let hex_led = starts_with_hex_digit(value);
        let number = strip_leading_zeros(value);
        self.alternatives
            .iter()
            .any(|alternative| match &alternative.form {
                Form::Pattern(pieces) => pattern_matches(pieces, value),
                _ if !hex_led => alternative.text == value,
                Form::Equal => {
                    starts_with_hex_digit(&alternative.text)
                        && strip_leading_zeros(&alternative.text) == number
                }
                Form::Above(bound) => compare_hex(number, bound) == Ordering::Greater,
                Form::Below(bound) => compare_hex(number, bound) == Ordering::Less,
                Form::Between(low, high) => {
                    compare_hex(number, low) != Ordering::Less
                        && compare_hex(number, high) != Ordering::Greater
                }
            })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// An alternative without brackets: `>X`, `<X`, a range when it starts with a hex
/// digit and holds a `-` (split at the first), else a plain value.
fn plain_alternative(text: &str) -> Alternative {
    let form = if let Some(bound) = text.strip_prefix('>') {
        Form::Above(strip_leading_zeros(bound).to_string())
    } else if let Some(bound) = text.strip_prefix('<') {
        Form::Below(strip_leading_zeros(bound).to_string())
    } else if let (true, Some((low, high))) = (starts_with_hex_digit(text), text.split_once('-')) {
        Form::Between(
            strip_leading_zeros(low).to_string(),
            strip_leading_zeros(high).to_string(),
        )
    } else {
        Form::Equal
    };
    Alternative {
        text: text.to_string(),
        form,
    }
}

/// Splits at the `|`s that are not inside brackets; refuses a `[` left open.
fn split_outside_brackets(text: &str) -> Result<Vec<&str>> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut inside = false;
    for (at, c) in text.char_indices() {
        match c {
            '[' if !inside => inside = true,
            ']' if inside => inside = false,
            '|' if !inside => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    if inside {
        bail!("{text:?} opens a [ it does not close");
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// The literal parts and bracketed expressions of one option pattern alternative.
fn pattern_pieces(mut text: &str) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    while let Some(open) = text.find('[') {
        let Some(close) = text[open..].find(']').map(|at| open + at) else {
            bail!("{text:?} opens a [ it does not close");
        };
        if open > 0 {
            pieces.push(Piece::Literal(text[..open].to_string()));
        }
        pieces.push(Piece::Number(Expr::parse(&text[open + 1..close])));
        text = &text[close + 1..];
    }
    if !text.is_empty() {
        pieces.push(Piece::Literal(text.to_string()));
    }
    Ok(pieces)
}

/// Whether `value` is the pattern: each literal where it stands, each bracket over a
/// non-empty run of hex digits (as many as follow) that its expression accepts, and
/// nothing left over.
fn pattern_matches(pieces: &[Piece], mut value: &str) -> bool {
    for piece in pieces {
        match piece {
            Piece::Literal(literal) => match value.strip_prefix(literal.as_str()) {
                Some(rest) => value = rest,
                None => return false,
            },
            Piece::Number(inner) => {
                let run = value.bytes().take_while(u8::is_ascii_hexdigit).count();
                if run == 0 || !inner.matches(&value[..run]) {
                    return false;
                }
                value = &value[run..];
            }
        }
    }
    value.is_empty()
}

fn starts_with_hex_digit(text: &str) -> bool {
    text.as_bytes().first().is_some_and(u8::is_ascii_hexdigit)
}

/// `text` without its leading zeros, keeping one character: `"007"` → `"7"`,
/// `"00"` → `"0"`.
fn strip_leading_zeros(text: &str) -> &str {
    let zeros = text.bytes().take_while(|&b| b == b'0').count();
    &text[zeros.min(text.len().saturating_sub(1))..]
}

/// nmap's order of hex numbers without leading zeros: the longer is the larger, and
/// equal lengths compare character by character.
fn compare_hex(a: &str, b: &str) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn accepts(expr: &str, value: &str) -> bool {
        Expr::parse(expr).matches(value)
    }

    #[test]
    fn plain_values_and_alternatives() {
        assert!(accepts("Z", "Z"));
        assert!(!accepts("Z", "RI"));
        assert!(accepts("I|RD", "RD"));
        assert!(accepts("I|RD", "I"));
        assert!(!accepts("I|RD", "R"));
        assert!(accepts("M5B4ST11NW7", "M5B4ST11NW7"));
        assert!(!accepts("M5B4ST11NW7", "M5B4ST11NW"));
        assert!(accepts("S+", "S+"));
        assert!(accepts("Y|N", "N"));
    }

    #[test]
    fn empty_alternatives_match_only_the_empty_value() {
        assert!(accepts("", ""));
        assert!(!accepts("", "0"));
        assert!(!accepts("", "Y"));
        assert!(accepts("|M5B4", ""));
        assert!(accepts("|M5B4", "M5B4"));
        assert!(!accepts("|M5B4", "M5B"));
        assert!(accepts("0|", ""));
        assert!(!accepts("Y|N", ""));
        assert!(!accepts("0-5", ""));
        assert!(!accepts(">0", ""));
    }

    #[test]
    fn hex_ranges_are_inclusive_and_numeric() {
        for (value, inside) in [
            ("F9", false),
            ("FA", true),
            ("FF", true),
            ("100", true),
            ("104", true),
            ("105", false),
            ("1000", false),
            ("7", false),
        ] {
            assert_eq!(accepts("FA-104", value), inside, "FA-104 against {value}");
        }
        assert!(accepts("0-5", "0"));
        assert!(accepts("0-5", "5"));
        assert!(!accepts("0-5", "6"));
        assert!(accepts("1-6", "3"));
        assert!(accepts("C8-D2|FF", "FF"));
        assert!(accepts("C8-D2|FF", "CA"));
    }

    #[test]
    fn greater_and_less_are_strict() {
        assert!(accepts(">0", "1"));
        assert!(!accepts(">0", "0"));
        assert!(accepts(">B00000", "FFFFFF"));
        assert!(accepts(">B00000", "1000000"));
        assert!(!accepts(">B00000", "B00000"));
        assert!(accepts("<10", "F"));
        assert!(!accepts("<10", "10"));
        assert!(accepts(">0|83CB", "83CB"));
    }

    #[test]
    fn leading_zeros_do_not_count() {
        assert!(accepts("5", "05"));
        assert!(accepts("05", "5"));
        assert!(accepts("00", "0"));
        assert!(accepts("0-5", "005"));
        assert!(accepts("00-05", "3"));
        assert!(!accepts(">00", "000"));
        assert!(accepts(">00", "001"));
    }

    /// nmap decides by the first character: a hex-led value is a number, so it never
    /// equals an alternative that starts otherwise, and a value that is not hex-led
    /// never falls inside a range or above a bound.
    #[test]
    fn the_first_character_decides_how_values_compare() {
        assert!(
            accepts("AS|AR", "AS"),
            "flags are hex-led yet compare equal"
        );
        assert!(accepts("AS", "0AS"), "hex-led, so its leading zero goes");
        assert!(accepts("A+", "A+"));
        assert!(!accepts("Z", "0"));
        assert!(!accepts("0-5", "Z"));
        assert!(!accepts(">0", "Z"));
        assert!(!accepts("<F", "G"));
        assert!(accepts(">0", "AS"), "AS is two characters long, so above 0");
        // A value that is not hex-led is compared as written, even with a range's text.
        assert!(accepts("-5", "-5"));
        assert!(!accepts("-5", "3"));
        // A bound left empty: everything hex-led is above it, nothing below it.
        assert!(accepts(">", "0"));
        assert!(!accepts("<", "0"));
        assert!(!accepts("5-", "6"));
    }

    #[test]
    fn option_patterns_read_hex_runs_in_brackets() {
        let expr = Expr::parse_tcp_options("M[>500]ST11W[1-5]").unwrap();
        assert!(expr.matches("M5B4ST11W5"));
        assert!(expr.matches("M501ST11W1"));
        assert!(!expr.matches("M500ST11W1"), "M must be above 500");
        assert!(!expr.matches("M5B4ST11W7"), "W must be from 1 to 5");
        assert!(
            !expr.matches("M5B4ST11W"),
            "a bracket wants at least one digit"
        );
        assert!(!expr.matches("M5B4ST11W5N"), "nothing may follow");
        assert!(!expr.matches("MST11W5"));
        let alternatives = Expr::parse_tcp_options("M[5B4|218]NW[0-2]|").unwrap();
        assert!(alternatives.matches("M218NW2"));
        assert!(alternatives.matches(""));
        assert!(!alternatives.matches("M219NW2"));
        let after = Expr::parse_tcp_options("M[>500]S|M5B4").unwrap();
        assert!(after.matches("M5B4"));
        assert!(after.matches("M5FFS"));
        // The run of hex digits takes all that follow, as nmap's does.
        let greedy = Expr::parse_tcp_options("W[1-5]A").unwrap();
        assert!(!greedy.matches("W5A"));
        // Outside option strings a bracket is a plain character.
        assert!(accepts("M[>500]", "M[>500]"));
        assert!(!accepts("M[>500]", "M5B4"));
        assert!(Expr::parse_tcp_options("M[>500").is_err());
        assert!(Expr::parse_tcp_options("M5B4").unwrap().matches("M5B4"));
    }

    #[test]
    fn expressions_print_as_written() {
        for text in ["FA-104", "I|RD", "", "|M5B4", ">0"] {
            assert_eq!(Expr::parse(text).to_string(), text);
        }
        assert_eq!(
            Expr::parse_tcp_options("M[>500]ST11").unwrap().as_str(),
            "M[>500]ST11"
        );
    }

    proptest! {
        /// For hex numbers as nmap prints them (upper case, no leading zeros) the
        /// comparisons are the numeric ones, at the bounds too.
        #[test]
        fn hex_comparisons_are_numeric(
            (value, low, high) in any::<u32>().prop_flat_map(|value| {
                let near = || prop_oneof![value.saturating_sub(2)..=value.saturating_add(2), any::<u32>()];
                (Just(value), near(), near())
            }),
        ) {
            let v = format!("{value:X}");
            prop_assert_eq!(accepts(&format!("{low:X}-{high:X}"), &v), low <= value && value <= high);
            prop_assert_eq!(accepts(&format!(">{low:X}"), &v), value > low);
            prop_assert_eq!(accepts(&format!("<{low:X}"), &v), value < low);
            prop_assert_eq!(accepts(&format!("{low:X}|{high:X}"), &v), value == low || value == high);
        }
    }
}
