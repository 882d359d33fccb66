//! Version templates of `match` lines: `p/product/ v/version/ i/info/ h/hostname/
//! o/ostype/ d/devicetype/ cpe:/a:vendor:product:version/a`, any delimiter after the
//! field letter, each with `$1`…`$9` (a captured group), `$P(n)` (its printable
//! characters), `$SUBST(n,"from","to")` and `$I(n,">")` / `$I(n,"<")` (the group as a
//! big- or little-endian unsigned integer). Templates are checked when the file is
//! read, so a broken one is an error with its line, never a surprise mid-scan.

use super::probes::{delimited, trim};
use anyhow::{bail, Context, Result};

/// One piece of a field.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
    Printable(usize),
    Subst(usize, Vec<u8>, Vec<u8>),
    Int(usize, bool),
}

/// A field: its pieces in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Field(Vec<Piece>);

/// The version fields of a match line (absent ones are empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionTemplate {
    pub product: Option<Field>,
    pub version: Option<Field>,
    pub info: Option<Field>,
    pub hostname: Option<Field>,
    pub ostype: Option<Field>,
    pub devicetype: Option<Field>,
    pub cpes: Vec<Field>,
}

pub use crate::model::service::VersionInfo;

impl VersionTemplate {
    /// Parses the text after a match's pattern and flags.
    pub fn parse(mut rest: &[u8]) -> Result<Self> {
        let mut template = Self::default();
        loop {
            rest = trim(rest);
            if rest.is_empty() {
                return Ok(template);
            }
            if let Some(after) = rest.strip_prefix(b"cpe:") {
                let (body, after) = delimited(after).context("in a cpe: field")?;
                // Flags after the closing delimiter (`a` for applications).
                let flags_end = after
                    .iter()
                    .position(|b| b.is_ascii_whitespace())
                    .unwrap_or(after.len());
                template.cpes.push(Field::parse(body)?);
                rest = &after[flags_end..];
                continue;
            }
            let (&letter, after) = rest.split_first().expect("not empty");
            let (body, after) =
                delimited(after).with_context(|| format!("in the {:?} field", letter as char))?;
            let field = Some(Field::parse(body)?);
            match letter {
                b'p' => template.product = field,
                b'v' => template.version = field,
                b'i' => template.info = field,
                b'h' => template.hostname = field,
                b'o' => template.ostype = field,
                b'd' => template.devicetype = field,
                other => bail!(
                    "unknown version field {:?} (p, v, i, h, o, d and cpe: are known)",
                    other as char
                ),
            }
            rest = after;
        }
    }

    /// The capture groups the template uses, each with the field that uses it as the
    /// file writes it (`p`, `v`, `i`, `h`, `o`, `d`, `cpe:`), in that order: a
    /// linter checks them against the pattern's groups.
    pub fn group_references(&self) -> Vec<(&'static str, usize)> {
        let named = [
            ("p", &self.product),
            ("v", &self.version),
            ("i", &self.info),
            ("h", &self.hostname),
            ("o", &self.ostype),
            ("d", &self.devicetype),
        ];
        let fields = named
            .into_iter()
            .filter_map(|(name, field)| Some((name, field.as_ref()?)))
            .chain(self.cpes.iter().map(|field| ("cpe:", field)));
        fields
            .flat_map(|(name, field)| field.groups().map(move |group| (name, group)))
            .collect()
    }

    /// The fields for a match whose groups are `groups` (group 0 the whole match).
    pub fn expand(&self, groups: &[Option<&[u8]>]) -> VersionInfo {
        let fill = |field: &Option<Field>| {
            field
                .as_ref()
                .map(|f| f.expand(groups))
                .filter(|text| !text.is_empty())
        };
        VersionInfo {
            product: fill(&self.product),
            version: fill(&self.version),
            info: fill(&self.info),
            hostname: fill(&self.hostname),
            ostype: fill(&self.ostype),
            devicetype: fill(&self.devicetype),
            cpes: one_per_part(
                self.cpes
                    .iter()
                    .map(|f| format!("cpe:/{}", f.expand(groups))),
            ),
        }
    }
}

/// At most one CPE per part (application, hardware, operating system), the last one
/// a template names winning, in that order: nmap keeps one of each.
fn one_per_part(cpes: impl Iterator<Item = String>) -> Vec<String> {
    let mut by_part: [Option<String>; 3] = Default::default();
    for cpe in cpes {
        let slot = match cpe.as_bytes().get(5) {
            Some(b'a') => 0,
            Some(b'h') => 1,
            _ => 2,
        };
        by_part[slot] = Some(cpe);
    }
    by_part.into_iter().flatten().collect()
}

impl Field {
    fn parse(body: &[u8]) -> Result<Self> {
        let mut pieces = Vec::new();
        let mut text = Vec::new();
        let mut rest = body;
        while let Some((&b, after)) = rest.split_first() {
            if b != b'$' {
                text.push(b);
                rest = after;
                continue;
            }
            let (piece, after) = parse_substitution(after)?;
            if !text.is_empty() {
                pieces.push(Piece::Text(
                    String::from_utf8_lossy(&std::mem::take(&mut text)).into_owned(),
                ));
            }
            pieces.push(piece);
            rest = after;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(String::from_utf8_lossy(&text).into_owned()));
        }
        Ok(Self(pieces))
    }

    /// The capture groups the field uses, in order.
    fn groups(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().filter_map(|piece| match piece {
            Piece::Text(_) => None,
            Piece::Group(n) | Piece::Printable(n) | Piece::Subst(n, ..) | Piece::Int(n, _) => {
                Some(*n)
            }
        })
    }

    fn expand(&self, groups: &[Option<&[u8]>]) -> String {
        let group = |n: usize| groups.get(n).copied().flatten().unwrap_or(&[]);
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Group(n) => out.push_str(&shown(group(*n))),
                Piece::Printable(n) => out.extend(
                    group(*n)
                        .iter()
                        .filter(|b| b.is_ascii_graphic() || **b == b' ')
                        .map(|&b| b as char),
                ),
                Piece::Subst(n, from, to) => {
                    out.push_str(&shown(&replace_all(group(*n), from, to)))
                }
                Piece::Int(n, big_endian) => {
                    let bytes = group(*n);
                    let bytes = &bytes[..bytes.len().min(8)];
                    let value = if *big_endian {
                        bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b))
                    } else {
                        bytes
                            .iter()
                            .rev()
                            .fold(0u64, |acc, &b| acc << 8 | u64::from(b))
                    };
                    out.push_str(&value.to_string());
                }
            }
        }
        out
    }
}

/// Bytes as text: printable ASCII as is, everything else as `\xHH`.
fn shown(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() || b == b' ' {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// After a `$`: a group number, or `P(n)`, `SUBST(n,"a","b")`, `I(n,">")`.
fn parse_substitution(after: &[u8]) -> Result<(Piece, &[u8])> {
    if let Some((&digit, rest)) = after.split_first() {
        if digit.is_ascii_digit() {
            return Ok((Piece::Group(usize::from(digit - b'0')), rest));
        }
    }
    let (name, rest) = match after.iter().position(|&b| b == b'(') {
        Some(open) => (&after[..open], &after[open + 1..]),
        None => bail!("a $ that is neither $1-$9 nor $P(), $SUBST() or $I()"),
    };
    let close = rest
        .iter()
        .position(|&b| b == b')')
        .context("an unclosed $...(")?;
    let (args, rest) = (&rest[..close], &rest[close + 1..]);
    let args = split_args(args)?;
    let group = |text: &[u8]| -> Result<usize> {
        let n: usize = std::str::from_utf8(text)?
            .trim()
            .parse()
            .context("a group number")?;
        if n > 9 {
            bail!("group {n}: at most 9");
        }
        Ok(n)
    };
    let piece = match (name, args.as_slice()) {
        (b"P", [n]) => Piece::Printable(group(n)?),
        (b"SUBST", [n, from, to]) => Piece::Subst(group(n)?, from.clone(), to.clone()),
        (b"I", [n, order]) if order.as_slice() == b">" || order.as_slice() == b"<" => {
            Piece::Int(group(n)?, order.as_slice() == b">")
        }
        _ => bail!(
            "${}(...) with these arguments is not a substitution nmap defines",
            String::from_utf8_lossy(name)
        ),
    };
    Ok((piece, rest))
}

/// Splits `1,"a","b"` into its arguments, unquoting the quoted ones.
fn split_args(args: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut rest = args;
    loop {
        rest = trim(rest);
        if let Some(quoted) = rest.strip_prefix(b"\"") {
            let end = quoted
                .iter()
                .position(|&b| b == b'"')
                .context("an unclosed quote")?;
            out.push(quoted[..end].to_vec());
            rest = trim(&quoted[end + 1..]);
        } else {
            let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
            out.push(rest[..end].to_vec());
            rest = &rest[end..];
        }
        match rest.split_first() {
            None => return Ok(out),
            Some((b',', after)) => rest = after,
            Some(_) => bail!("arguments must be separated by commas"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_cpes_expand_their_groups() {
        let template = VersionTemplate::parse(
            br#"p/OpenSSH/ v/$2/ i|protocol $1| o/Linux/ cpe:/a:openbsd:openssh:$2/a cpe:/o:linux:linux_kernel/"#,
        )
        .unwrap();
        let groups: [Option<&[u8]>; 3] = [Some(b"all"), Some(b"2.0"), Some(b"9.2p1")];
        let info = template.expand(&groups);
        assert_eq!(info.product.as_deref(), Some("OpenSSH"));
        assert_eq!(info.version.as_deref(), Some("9.2p1"));
        assert_eq!(info.info.as_deref(), Some("protocol 2.0"));
        assert_eq!(info.ostype.as_deref(), Some("Linux"));
        assert_eq!(
            info.cpes,
            vec!["cpe:/a:openbsd:openssh:9.2p1", "cpe:/o:linux:linux_kernel"]
        );
    }

    #[test]
    fn one_cpe_per_part_the_last_winning() {
        let template = VersionTemplate::parse(
            br#"cpe:/o:debian:debian_linux/ cpe:/a:openbsd:openssh/ cpe:/h:x:y/ cpe:/o:linux:linux_kernel/a"#,
        )
        .unwrap();
        assert_eq!(
            template.expand(&[]).cpes,
            vec![
                "cpe:/a:openbsd:openssh",
                "cpe:/h:x:y",
                "cpe:/o:linux:linux_kernel"
            ]
        );
    }

    #[test]
    fn substitutions_as_nmap_defines_them() {
        let t =
            VersionTemplate::parse(br#"v/$SUBST(1,",",".")/ i/$P(2)/ h/$I(3,">")/ d/$I(3,"<")/"#)
                .unwrap();
        let groups: [Option<&[u8]>; 4] = [
            None,
            Some(b"1,2,3"),
            Some(b"a\x00b\x01c"),
            Some(b"\x01\x00"),
        ];
        let info = t.expand(&groups);
        assert_eq!(info.version.as_deref(), Some("1.2.3"));
        assert_eq!(info.info.as_deref(), Some("abc"));
        assert_eq!(info.hostname.as_deref(), Some("256"));
        assert_eq!(info.devicetype.as_deref(), Some("1"));
        // A group that did not take part expands to nothing; raw bytes are escaped.
        let t = VersionTemplate::parse(b"p/x$5y/ v/$1/").unwrap();
        let info = t.expand(&[None, Some(b"\x07ok")]);
        assert_eq!(info.product.as_deref(), Some("xy"));
        assert_eq!(info.version.as_deref(), Some("\\x07ok"));
    }

    #[test]
    fn the_groups_each_field_uses() {
        let template = VersionTemplate::parse(
            br#"p/x/ v/$2.$SUBST(3,"_",".")/ i/$P(1)/ h/$I(4,">")/ cpe:/a:x:y:$2/"#,
        )
        .unwrap();
        assert_eq!(
            template.group_references(),
            vec![("v", 2), ("v", 3), ("i", 1), ("h", 4), ("cpe:", 2)]
        );
        assert!(VersionTemplate::parse(b"p/plain/")
            .unwrap()
            .group_references()
            .is_empty());
    }

    #[test]
    fn broken_templates_are_errors() {
        for bad in [
            &b"p/unclosed"[..],
            b"q/unknown field/",
            b"v/$X(1)/",
            b"v/$SUBST(1,\"a\")/",
            b"v/$I(1,\"=\")/",
            b"v/$P(12)/",
            b"v/$P(1/",
        ] {
            assert!(
                VersionTemplate::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
