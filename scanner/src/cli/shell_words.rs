//! A command line as one line of shell words, and back: how the `-oG` log records
//! the arguments it was run with (nmap's `# Nmap ... as: ...` line), so `--resume`
//! reads back exactly the arguments that were given, spaces, quotes and all.
//!
//! [`quote`] writes each argument as a POSIX shell would read it back: bare when it
//! is plain, in single quotes when it has spaces or shell characters, and in bash's
//! `$'...'` when it has control characters (so the line stays one line). [`split`]
//! reads that syntax (and plain double quotes and backslashes, as typed at a shell).
//! It does no expansion of any kind: no variables, globs or commands.

use anyhow::{bail, Result};
use std::fmt::Write as _;

/// The arguments as one line of shell words.
pub fn quote<S: AsRef<str>>(args: &[S]) -> String {
    let words: Vec<String> = args.iter().map(|a| quote_word(a.as_ref())).collect();
    words.join(" ")
}

/// One argument as a shell word.
fn quote_word(word: &str) -> String {
    let plain = |c: char| {
        c.is_ascii_alphanumeric()
            || "_@%+=:,./-".contains(c)
            || (!c.is_ascii() && c.is_alphanumeric())
    };
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    if !word.chars().any(char::is_control) {
        return format!("'{}'", word.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in word.chars() {
        match c {
            '\n' => out.push_str(r"\n"),
            '\t' => out.push_str(r"\t"),
            '\r' => out.push_str(r"\r"),
            '\\' => out.push_str(r"\\"),
            '\'' => out.push_str(r"\'"),
            c if c.is_ascii_control() => {
                let _ = write!(out, r"\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, r"\U{:08x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Reads a line of shell words back into the arguments.
pub fn split(line: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        while let Some(c) = chars.next_if(|c| *c != ' ' && *c != '\t') {
            match c {
                '\'' => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => bail!("unterminated ' quote in {line:?}"),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => bail!("unterminated \" quote in {line:?}"),
                        },
                        Some(c) => word.push(c),
                        None => bail!("unterminated \" quote in {line:?}"),
                    }
                },
                '$' if chars.next_if_eq(&'\'').is_some() => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some('\\') => word.push(ansi_escape(&mut chars, line)?),
                        Some(c) => word.push(c),
                        None => bail!("unterminated $' quote in {line:?}"),
                    }
                },
                '\\' => match chars.next() {
                    Some(c) => word.push(c),
                    None => bail!("a \\ ends {line:?}"),
                },
                c => word.push(c),
            }
        }
        words.push(word);
    }
}

/// The character a backslash escape inside `$'...'` stands for.
fn ansi_escape(chars: &mut std::iter::Peekable<std::str::Chars>, line: &str) -> Result<char> {
    let hex = |chars: &mut std::iter::Peekable<std::str::Chars>, digits: usize| -> Result<char> {
        let text: String = (0..digits).filter_map(|_| chars.next()).collect();
        u32::from_str_radix(&text, 16)
            .ok()
            .filter(|_| text.len() == digits)
            .and_then(char::from_u32)
            .ok_or_else(|| anyhow::anyhow!("bad escape \\{text} in {line:?}"))
    };
    Ok(match chars.next() {
        Some('n') => '\n',
        Some('t') => '\t',
        Some('r') => '\r',
        Some('x') => hex(chars, 2)?,
        Some('u') => hex(chars, 4)?,
        Some('U') => hex(chars, 8)?,
        Some(c @ ('\\' | '\'' | '"')) => c,
        Some(c) => bail!("unknown escape \\{c} in {line:?}"),
        None => bail!("unterminated $' quote in {line:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(args: &[&str]) {
        let line = quote(args);
        assert!(!line.contains('\n') && !line.contains('\r'), "{line}");
        assert_eq!(split(&line).unwrap(), args, "{line}");
    }

    #[test]
    fn arguments_round_trip_exactly() {
        round_trip(&[
            "scanner",
            "-sS",
            "-p",
            "22,80",
            "-oG",
            "x.gnmap",
            "198.18.0.0/24",
        ]);
        round_trip(&["scanner", "--script", "banner or http-title", "198.18.0.10"]);
        round_trip(&["it's", "\"double\"", "back\\slash", "$HOME", "`x`", "*", ""]);
        round_trip(&[
            "grüße",
            "日本語 テキスト",
            "a\u{a0}b",
            "tab\there",
            "line\nbreak",
        ]);
        round_trip(&["\u{1b}[31m", "\u{85}", "end\\"]);
        assert_eq!(
            quote(&["scanner", "--script", "banner or http-title"]),
            "scanner --script 'banner or http-title'"
        );
    }

    #[test]
    fn reads_what_a_user_types_at_a_shell() {
        assert_eq!(
            split(r#"scanner  --script "banner or http-title" -p\ 80 'a b'c"#).unwrap(),
            [
                "scanner",
                "--script",
                "banner or http-title",
                "-p 80",
                "a bc"
            ]
        );
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        for bad in ["'open", "\"open", "$'open", "end\\", r"$'\q'", r"$'\x4'"] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_arguments_round_trip(args in proptest::collection::vec(any::<String>(), 0..6)) {
            let line = quote(&args);
            prop_assert!(!line.contains('\n'));
            prop_assert_eq!(split(&line).unwrap(), args);
        }
    }
}
