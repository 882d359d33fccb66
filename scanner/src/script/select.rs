//! `--script` selections, as nmap reads them: a comma-separated list whose items are
//! a script's name, a glob over names (`http-*`), a category (`default`, `safe`, …),
//! `all`, a file or folder, or a boolean expression over names and categories
//! (`"default and not intrusive"`, `"(http-* or banner) and safe"`).

use anyhow::{bail, Result};

/// One parsed `--script` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// A name, glob, category or `all`.
    Word(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// Whether a script with this name and these categories is selected.
    pub fn selects(&self, name: &str, categories: &[String]) -> bool {
        match self {
            Expr::Word(word) => {
                word == "all"
                    || categories.iter().any(|c| c == word)
                    || glob_matches(word, name)
                    || word
                        .strip_suffix(".nse")
                        .is_some_and(|w| glob_matches(w, name))
            }
            Expr::Not(inner) => !inner.selects(name, categories),
            Expr::And(a, b) => a.selects(name, categories) && b.selects(name, categories),
            Expr::Or(a, b) => a.selects(name, categories) || b.selects(name, categories),
        }
    }
}

/// `*` matches any run, `?` one character.
fn glob_matches(pattern: &str, text: &str) -> bool {
    fn walk(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => walk(&p[1..], t) || (!t.is_empty() && walk(p, &t[1..])),
            (Some(b'?'), Some(_)) => walk(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => walk(&p[1..], &t[1..]),
            _ => false,
        }
    }
    walk(pattern.as_bytes(), text.as_bytes())
}

/// Splits a `--script` value into its comma-separated items (commas inside
/// parentheses belong to the item).
pub fn items(spec: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in spec.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current.trim().to_string());
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Parses one item as an expression.
pub fn parse(item: &str) -> Result<Expr> {
    let spaced = item.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut at = 0;
    let expr = parse_or(&tokens, &mut at)?;
    if at != tokens.len() {
        bail!("--script {item:?}: unexpected {:?}", tokens[at]);
    }
    Ok(expr)
}

fn parse_or(tokens: &[&str], at: &mut usize) -> Result<Expr> {
    let mut left = parse_and(tokens, at)?;
    while tokens.get(*at) == Some(&"or") {
        *at += 1;
        left = Expr::Or(Box::new(left), Box::new(parse_and(tokens, at)?));
    }
    Ok(left)
}

fn parse_and(tokens: &[&str], at: &mut usize) -> Result<Expr> {
    let mut left = parse_not(tokens, at)?;
    while tokens.get(*at) == Some(&"and") {
        *at += 1;
        left = Expr::And(Box::new(left), Box::new(parse_not(tokens, at)?));
    }
    Ok(left)
}

fn parse_not(tokens: &[&str], at: &mut usize) -> Result<Expr> {
    match tokens.get(*at) {
        Some(&"not") => {
            *at += 1;
            Ok(Expr::Not(Box::new(parse_not(tokens, at)?)))
        }
        Some(&"(") => {
            *at += 1;
            let inner = parse_or(tokens, at)?;
            if tokens.get(*at) != Some(&")") {
                bail!("--script: a '(' is not closed");
            }
            *at += 1;
            Ok(inner)
        }
        Some(&word) if !matches!(word, ")" | "and" | "or") => {
            *at += 1;
            Ok(Expr::Word(word.to_string()))
        }
        Some(other) => bail!("--script: unexpected {other:?}"),
        None => bail!("--script: the expression ends too soon"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn expressions_select_as_nmap_does() {
        let safe_default = cats(&["default", "safe"]);
        let intrusive = cats(&["default", "intrusive"]);
        let e = parse("default and not intrusive").unwrap();
        assert!(e.selects("banner", &safe_default));
        assert!(!e.selects("brute", &intrusive));
        let e = parse("(http-* or banner) and safe").unwrap();
        assert!(e.selects("http-title", &safe_default));
        assert!(e.selects("banner", &safe_default));
        assert!(!e.selects("ssh2-enum-algos", &safe_default));
        assert!(!e.selects("http-title", &intrusive));
        assert!(parse("all").unwrap().selects("x", &[]));
        assert!(parse("banner.nse").unwrap().selects("banner", &[]));
        assert!(parse("HTTP-TITLE").unwrap().selects("http-title", &[]));
    }

    #[test]
    fn lists_split_outside_parentheses() {
        assert_eq!(
            items("banner, (http-* or ssl-*),default"),
            vec!["banner", "(http-* or ssl-*)", "default"]
        );
    }

    #[test]
    fn bad_expressions_are_errors() {
        for bad in ["(default", "default and", "and", "not", "a b", ")"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
