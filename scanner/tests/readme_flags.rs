//! The README is the user's manual: every flag `scanner --help` shows appears in it,
//! by its long name, its short one, or the nmap-style spelling its help gives
//! ("Written -oX").

use clap::CommandFactory;
use scanner::cli::Args;

/// Whether `text` holds `flag` as a whole word (not as the start of a longer flag).
fn mentions(text: &str, flag: &str) -> bool {
    text.match_indices(flag).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + flag.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '-')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '-')
    })
}

#[test]
fn every_flag_of_the_help_is_in_the_readme() {
    let readme = include_str!("../../README.md");
    let command = Args::command();
    let mut missing = Vec::new();
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        let mut spellings: Vec<String> = Vec::new();
        if let Some(long) = arg.get_long() {
            spellings.push(format!("--{long}"));
        }
        if let Some(short) = arg.get_short() {
            spellings.push(format!("-{short}"));
        }
        spellings.extend(
            arg.get_visible_aliases()
                .unwrap_or_default()
                .iter()
                .map(|a| format!("--{a}")),
        );
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        if let Some((_, written)) = help.split_once("Written ") {
            spellings.extend(
                written
                    .split(|c: char| c.is_whitespace() || c == ',' || c == '.' || c == ')')
                    .filter(|w| w.starts_with('-'))
                    .map(String::from),
            );
        }
        if spellings.is_empty() {
            continue; // the positional targets
        }
        if !spellings.iter().any(|s| mentions(readme, s)) {
            missing.push(spellings.join(" / "));
        }
    }
    assert!(
        missing.is_empty(),
        "flags of --help missing from README.md: {missing:?}"
    );
}

#[test]
fn a_flag_is_a_whole_word() {
    assert!(mentions("use `-oX FILE`", "-oX"));
    assert!(!mentions("use `-oXY`", "-oX"));
    assert!(!mentions("--osscan-guess", "--osscan"));
}
