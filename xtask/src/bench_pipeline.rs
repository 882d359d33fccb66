//! `cargo xtask bench pipeline`: the whole nmap-style pipeline (`-A`: `-sS -O -sV -sC
//! --traceroute`) of the lab by the scanner and by nmap, with the same flags and the
//! same databases (the project's `fingerprints/services` and `fingerprints/service-probes`
//! through `--servicedb` and `--versiondb`, and nmap's `nmap-os-db`, nmap's default,
//! through the scanner's `--osdb`), both in the scanner namespace, in one run:
//! each tool's wall time and the ratio (the goal: nmap takes at least 5× as long), what
//! each found, and how far they agree, measured by `ndiff` on the two XML reports. Every
//! difference in hosts, ports, states and services is listed; script outputs are
//! counted apart (each tool runs its own `-sC` scripts), and so are traceroute hops and
//! each host's best OS match, which ndiff does not compare.
//!
//! Ports: nmap's default list, which with `--servicedb` is its fast list (`-F`: the 100
//! ports the file rates highest; nmap refuses `-p` with `--servicedb`). Both tools get
//! `-F`, the bench checks that both scanned the same list and that it holds every TCP
//! port the lab's truth names on the targets. Targets: every lab host but the hostile
//! one, where nmap's `-sV` never ends (its endless banner: `bench version` stops nmap
//! there at 180 s). The bench fails if either tool fails or finds nothing.

use crate::lab::{self, SCANNER_NS};
use crate::nmap_xml::{self, Hop, NmapHost, NMAP_OS_DB};
use crate::shell::{capture, measured_in_ns};
use anyhow::{bail, ensure, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// What both tools get, before the databases and the targets.
const FLAGS: &[&str] = &["-A", "-T4", "-F"];
/// The lab host left out (see the module's documentation).
const LEFT_OUT: &str = "hostile";
/// The most either run may take; one still running then fails the bench.
const LIMIT: Duration = Duration::from_secs(600);
/// Debian's Python, whose path holds the module that package ndiff installs.
const NDIFF_PYTHON: &str = "/usr/bin/python3";
/// Runs ndiff (`ndiff ARGS`), first giving its script results the ordering Python 3
/// needs: ndiff 7.93 sorts them with Python 2's `__cmp__` and fails on any port with
/// two scripts. A later ndiff that has its own is left as it is.
const NDIFF: &str = r#"import sys, ndiff
if "__lt__" not in ndiff.ScriptResult.__dict__:
    ndiff.ScriptResult.__lt__ = lambda a, b: (a.id, a.output) < (b.id, b.output)
sys.argv[0] = "ndiff"
sys.exit(ndiff.main())"#;

/// The flags both tools get: [`FLAGS`] and the project's two databases.
fn flags() -> Vec<String> {
    let fingerprints = crate::workspace_root().join("fingerprints");
    let mut flags: Vec<String> = FLAGS.iter().map(|flag| flag.to_string()).collect();
    for (flag, file) in [
        ("--servicedb", "services"),
        ("--versiondb", "service-probes"),
    ] {
        flags.push(flag.into());
        flags.push(fingerprints.join(file).display().to_string());
    }
    flags
}

/// The lab hosts both tools scan.
fn targets() -> Vec<lab::Host> {
    lab::hosts()
        .into_iter()
        .filter(|h| h.name != LEFT_OUT)
        .collect()
}

/// What one tool found.
#[derive(Debug, Default, PartialEq, Eq)]
struct Found {
    hosts_up: usize,
    open_ports: usize,
    /// Open ports per service name, for those with one.
    services: BTreeMap<String, usize>,
}

impl Found {
    fn of(hosts: &[NmapHost]) -> Self {
        let mut found = Found {
            hosts_up: hosts.iter().filter(|h| h.up_reason.is_some()).count(),
            ..Default::default()
        };
        for host in hosts {
            for (port, proto, _) in host.ports.iter().filter(|(_, _, s)| s == "open") {
                found.open_ports += 1;
                if let Some(service) = host.service(*port, proto).filter(|s| !s.name.is_empty()) {
                    *found.services.entry(service.name.clone()).or_default() += 1;
                }
            }
        }
        found
    }

    /// `ssh 8, http 7`: each service name with its count, most found first.
    fn services_line(&self) -> String {
        let mut named: Vec<(&String, &usize)> = self.services.iter().collect();
        named.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        named
            .iter()
            .map(|(name, count)| format!("{name} {count}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One tool's run.
struct ToolRun {
    name: &'static str,
    seconds: f64,
    xml: String,
    hosts: Vec<NmapHost>,
    found: Found,
}

/// Runs `program FLAGS -oX - TARGETS` in the scanner namespace; fails if it fails, runs
/// past [`LIMIT`], or finds no host up or no open port.
fn run_tool(
    name: &'static str,
    program: &str,
    flags: &[String],
    targets: &[String],
) -> Result<ToolRun> {
    let mut args = flags.to_vec();
    args.extend(["-oX".to_string(), "-".to_string()]);
    args.extend(targets.iter().cloned());
    let command = format!("ip netns exec {SCANNER_NS} {program} {}", args.join(" "));
    println!("==> {name}: {command}");
    let run = measured_in_ns(SCANNER_NS, program, &args, LIMIT)?;
    ensure!(
        !run.stopped,
        "{name} was still running after {} s and was stopped: `{command}`",
        LIMIT.as_secs()
    );
    ensure!(
        run.success,
        "{name} failed (its errors are on its standard error: run `{command}` to see them)"
    );
    let hosts = nmap_xml::hosts(&run.stdout).with_context(|| format!("{name}'s XML report"))?;
    let found = Found::of(&hosts);
    ensure!(
        found.hosts_up > 0 && found.open_ports > 0,
        "{name} found nothing ({} hosts up, {} open ports): is the lab up (`cargo xtask lab status`)?",
        found.hosts_up,
        found.open_ports
    );
    Ok(ToolRun {
        name,
        seconds: run.seconds,
        xml: run.stdout,
        hosts,
        found,
    })
}

/// Fails unless both reports scanned the same ports and those hold every TCP port the
/// lab's truth names on `targets`; the number of ports.
fn check_scanned_ports(ours: &str, theirs: &str, targets: &[lab::Host]) -> Result<usize> {
    let (Some(ours), Some(theirs)) = (
        nmap_xml::scanned_ports(ours),
        nmap_xml::scanned_ports(theirs),
    ) else {
        bail!("a report does not say which ports it scanned (no <scaninfo services=...>)");
    };
    ensure!(
        ours == theirs,
        "the tools scanned different ports: the scanner {ours}, nmap {theirs}"
    );
    let well_formed = !ours.is_empty()
        && ours
            .split(',')
            .all(|item| item.split('-').all(|n| n.parse::<u16>().is_ok()));
    ensure!(well_formed, "unreadable list of scanned ports: {ours}");
    let scanned: BTreeSet<u16> = lab::truth::expand_ports(&ours).into_iter().collect();
    let missing: Vec<String> = targets
        .iter()
        .flat_map(|h| {
            h.listening_tcp_ports()
                .into_iter()
                .filter(|p| !scanned.contains(p))
                .map(move |p| format!("{}:{p}", h.name))
        })
        .collect();
    ensure!(
        missing.is_empty(),
        "the ports scanned leave out lab service ports: {} (add them to fingerprints/services)",
        missing.join(", ")
    );
    Ok(scanned.len())
}

/// An element of ndiff's XML output (text between tags is dropped: ndiff writes none
/// that matters).
#[derive(Debug, Default)]
struct Element {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Element>,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Reads a document into a root without a name that holds its top element. Enough
    /// for what ndiff writes (Python's minidom): attribute values with `<`, `>`, `"`
    /// and `&` escaped.
    fn parse(xml: &str) -> Result<Element> {
        let mut stack = vec![Element::default()];
        let mut rest = xml;
        while let Some(open) = rest.find('<') {
            let after = &rest[open + 1..];
            let close = after.find('>').context("a tag without its '>'")?;
            let tag = &after[..close];
            rest = &after[close + 1..];
            if tag.starts_with('?') || tag.starts_with('!') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                let done = match stack.pop() {
                    Some(e) if e.name == name.trim() && !stack.is_empty() => e,
                    _ => bail!("</{name}> closes no open element"),
                };
                stack.last_mut().context("unbalanced")?.children.push(done);
                continue;
            }
            let (body, empty) = match tag.strip_suffix('/') {
                Some(body) => (body, true),
                None => (tag, false),
            };
            let element = Element::of_tag(body)?;
            if empty {
                stack
                    .last_mut()
                    .context("unbalanced")?
                    .children
                    .push(element);
            } else {
                stack.push(element);
            }
        }
        match (stack.pop(), stack.is_empty()) {
            (Some(root), true) => Ok(root),
            _ => bail!("an element is never closed"),
        }
    }

    /// The element a start tag's text (`name a="1" b="2"`) opens.
    fn of_tag(tag: &str) -> Result<Element> {
        let tag = tag.trim();
        let (name, mut rest) = tag.split_once(char::is_whitespace).unwrap_or((tag, ""));
        let mut element = Element {
            name: name.to_string(),
            ..Default::default()
        };
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                return Ok(element);
            }
            let (key, after) = rest
                .split_once("=\"")
                .with_context(|| format!("<{name}>: an attribute without a quoted value"))?;
            let (value, after) = after
                .split_once('"')
                .with_context(|| format!("<{name}>: an unterminated attribute value"))?;
            element
                .attrs
                .push((key.trim().to_string(), nmap_xml::unescape(value)));
            rest = after;
        }
    }
}

/// What a difference is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Host,
    Port,
    Service,
    Script,
    Trace,
    Os,
}

/// One difference between the two reports.
#[derive(Debug, PartialEq, Eq)]
struct Difference {
    kind: Kind,
    text: String,
}

/// The tool of ndiff's side `a` (the first file) or `b`.
fn side(name: &str) -> Option<&'static str> {
    match name {
        "a" => Some("scanner"),
        "b" => Some("nmap"),
        _ => None,
    }
}

/// A `<service>` as the PORT table shows it: `ssl/http nginx 1.22.1 (extra)`.
fn service_text(service: Option<&Element>) -> String {
    let Some(service) = service else {
        return "no service".into();
    };
    let name = match (service.attr("tunnel"), service.attr("name")) {
        (Some(tunnel), Some(name)) => Some(format!("{tunnel}/{name}")),
        (_, name) => name.map(str::to_string),
    };
    let extra = service.attr("extrainfo").map(|e| format!("({e})"));
    [
        name,
        service.attr("product").map(str::to_string),
        service.attr("version").map(str::to_string),
        extra,
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ")
}

/// A `<port>` of one side: `open ssh OpenSSH 9.2p1`, or `not listed` when ndiff has no
/// state for it (that side folded it into its not-shown ports).
fn port_text(port: Option<&Element>) -> String {
    match port.and_then(|p| Some((p, p.named("state").next()?.attr("state")?))) {
        Some((port, state)) => match port.named("service").next() {
            Some(service) => format!("{state} {}", service_text(Some(service))),
            None => state.to_string(),
        },
        None => "not listed".into(),
    }
}

/// A script output's first line, for a listing.
fn first_line(output: &str) -> &str {
    output.trim().lines().next().unwrap_or("")
}

/// The differences of ndiff's XML output (`--xml`, scanner first), in its order.
/// `lone_side(section)` says which tool's report holds a pre- or post-scan script
/// section: ndiff 7.93 drops the side of such a section when the other tool has none.
fn ndiff_differences(ndiff: &Element, lone_side: &dyn Fn(&str) -> &'static str) -> Vec<Difference> {
    let mut out = Vec::new();
    let scandiffs = ndiff.named("nmapdiff").flat_map(|n| n.named("scandiff"));
    for child in scandiffs.flat_map(|s| &s.children) {
        match child.name.as_str() {
            "hostdiff" => host_differences(child, &mut out),
            "prescript" | "postscript" => {
                let place = format!("{} scripts", child.name.trim_end_matches("script"));
                script_differences(child, &place, Some(lone_side(&child.name)), &mut out);
            }
            // The runs' own facts (tool, arguments, times): always different.
            _ => {}
        }
    }
    out
}

/// A host's name for a listing: `198.18.0.10 web.lab.test`.
fn host_label(host: &Element) -> String {
    let mut parts: Vec<&str> = host
        .named("address")
        .filter(|a| a.attr("addrtype") != Some("mac"))
        .filter_map(|a| a.attr("addr"))
        .collect();
    parts.extend(
        host.named("hostnames")
            .flat_map(|h| h.named("hostname"))
            .filter_map(|h| h.attr("name")),
    );
    parts.join(" ")
}

fn host_differences(hostdiff: &Element, out: &mut Vec<Difference>) {
    for child in &hostdiff.children {
        if let Some(tool) = side(&child.name) {
            // A host only one report has.
            for host in child.named("host") {
                let state = host
                    .named("status")
                    .next()
                    .and_then(|s| s.attr("state"))
                    .unwrap_or("no state");
                out.push(Difference {
                    kind: Kind::Host,
                    text: format!("{}: only in {tool}'s report ({state})", host_label(host)),
                });
            }
            continue;
        }
        if child.name != "host" {
            continue;
        }
        let label = host_label(child);
        let mut states: [Option<&str>; 2] = [None, None];
        for part in &child.children {
            match (side(&part.name), part.name.as_str()) {
                (Some(tool), _) => {
                    for inner in &part.children {
                        match inner.name.as_str() {
                            "status" => states[usize::from(tool == "nmap")] = inner.attr("state"),
                            "address" => out.push(Difference {
                                kind: Kind::Host,
                                text: format!(
                                    "{label}: address {} only in {tool}'s report",
                                    inner.attr("addr").unwrap_or("?")
                                ),
                            }),
                            "hostscript" => {
                                script_differences(inner, &format!("{label} host"), Some(tool), out)
                            }
                            _ => {}
                        }
                    }
                }
                (None, "hostnames") => {
                    for names in part.children.iter().filter(|c| side(&c.name).is_some()) {
                        for name in names.named("hostname") {
                            out.push(Difference {
                                kind: Kind::Host,
                                text: format!(
                                    "{label}: name {} only in {}'s report",
                                    name.attr("name").unwrap_or("?"),
                                    side(&names.name).unwrap_or("?")
                                ),
                            });
                        }
                    }
                }
                (None, "ports") => port_differences(part, &label, out),
                (None, "hostscript") => {
                    script_differences(part, &format!("{label} host"), None, out)
                }
                _ => {}
            }
        }
        if states.iter().any(Option::is_some) {
            let [ours, theirs] = states.map(|s| s.unwrap_or("nothing"));
            out.push(Difference {
                kind: Kind::Host,
                text: format!("{label}: scanner says {ours}, nmap says {theirs}"),
            });
        }
    }
}

fn port_differences(ports: &Element, label: &str, out: &mut Vec<Difference>) {
    let mut not_shown: [Vec<String>; 2] = [vec![], vec![]];
    for child in &ports.children {
        if let Some(tool) = side(&child.name) {
            for extra in child.named("extraports") {
                not_shown[usize::from(tool == "nmap")].push(format!(
                    "{} {}",
                    extra.attr("count").unwrap_or("?"),
                    extra.attr("state").unwrap_or("?")
                ));
            }
            continue;
        }
        if child.name != "portdiff" {
            continue;
        }
        let spec = |port: &Element| {
            format!(
                "{}/{}",
                port.attr("portid").unwrap_or("?"),
                port.attr("protocol").unwrap_or("?")
            )
        };
        // The same state on both sides: services and scripts may differ.
        for port in child.named("port") {
            let place = format!("{label} {}", spec(port));
            let services: Vec<(&str, Option<&Element>)> = port
                .children
                .iter()
                .filter_map(|c| Some((side(&c.name)?, c)))
                .filter(|(_, c)| c.named("script").next().is_none())
                .map(|(tool, c)| (tool, c.named("service").next()))
                .collect();
            if !services.is_empty() {
                let text = services
                    .iter()
                    .map(|(tool, s)| format!("{tool} \"{}\"", service_text(*s)))
                    .collect::<Vec<_>>()
                    .join(", ");
                out.push(Difference {
                    kind: Kind::Service,
                    text: format!("{place}: {text}"),
                });
            }
            script_differences(port, &place, None, out);
        }
        // Different states, or listed by one side only.
        let sides: Vec<(&str, Option<&Element>)> = child
            .children
            .iter()
            .filter_map(|c| Some((side(&c.name)?, c.named("port").next())))
            .collect();
        if let Some(port) = sides.iter().find_map(|(_, p)| *p) {
            let text = sides
                .iter()
                .map(|(tool, p)| format!("{tool} {}", port_text(*p)))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(Difference {
                kind: Kind::Port,
                text: format!("{label} {}: {text}", spec(port)),
            });
        }
    }
    if not_shown.iter().any(|n| !n.is_empty()) {
        let [ours, theirs] = not_shown.map(|n| n.join(" + "));
        out.push(Difference {
            kind: Kind::Port,
            text: format!("{label}: not shown: scanner {ours}, nmap {theirs}"),
        });
    }
}

/// The script differences under `parent` (a port, a host script section, a pre- or
/// post-scan section): one per script id. Scripts under `<a>`/`<b>` belong to that
/// side; scripts straight under `parent` to `direct_side` (None: the same on both).
fn script_differences(
    parent: &Element,
    place: &str,
    direct_side: Option<&'static str>,
    out: &mut Vec<Difference>,
) {
    let mut scripts: Vec<(&str, &Element)> = Vec::new();
    for child in &parent.children {
        match (side(&child.name), child.name.as_str(), direct_side) {
            (Some(tool), _, _) => scripts.extend(child.named("script").map(|s| (tool, s))),
            (None, "script", Some(tool)) => scripts.push((tool, child)),
            _ => {}
        }
    }
    let mut outputs: BTreeMap<&str, [Option<&str>; 2]> = BTreeMap::new();
    for (tool, script) in scripts {
        if let (Some(id), Some(output)) = (script.attr("id"), script.attr("output")) {
            outputs.entry(id).or_default()[usize::from(tool == "nmap")] = Some(output);
        }
    }
    for (id, sides) in outputs {
        let text = match sides {
            [Some(ours), Some(theirs)] => format!(
                "outputs differ: scanner \"{}\", nmap \"{}\"",
                first_line(ours),
                first_line(theirs)
            ),
            [Some(ours), None] => format!("scanner only: \"{}\"", first_line(ours)),
            [None, Some(theirs)] => format!("nmap only: \"{}\"", first_line(theirs)),
            [None, None] => continue,
        };
        out.push(Difference {
            kind: Kind::Script,
            text: format!("{place} {id}: {text}"),
        });
    }
}

/// Hosts whose traceroute hops (TTL, address, name) differ; ndiff does not compare them.
fn trace_differences(ours: &[NmapHost], theirs: &[NmapHost]) -> Vec<Difference> {
    let hops = |hosts: &[NmapHost]| -> BTreeMap<std::net::Ipv4Addr, Vec<Hop>> {
        hosts.iter().map(|h| (h.addr, h.trace.clone())).collect()
    };
    let (ours, theirs) = (hops(ours), hops(theirs));
    let text = |hops: Option<&Vec<Hop>>| match hops {
        Some(hops) if !hops.is_empty() => hops
            .iter()
            .map(|h| format!("{} {} {}", h.ttl, h.addr, h.host.as_deref().unwrap_or("")))
            .map(|h| h.trim_end().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        _ => "none".into(),
    };
    let addrs: BTreeSet<_> = ours.keys().chain(theirs.keys()).collect();
    addrs
        .into_iter()
        .filter(|a| {
            ours.get(a).filter(|h| !h.is_empty()) != theirs.get(a).filter(|h| !h.is_empty())
        })
        .map(|a| Difference {
            kind: Kind::Trace,
            text: format!(
                "{a} trace: scanner {}; nmap {}",
                text(ours.get(a)),
                text(theirs.get(a))
            ),
        })
        .collect()
}

/// Hosts whose best OS match differs (ndiff does not compare them); and how many hosts
/// both name the same.
fn os_differences(ours: &str, theirs: &str) -> (Vec<Difference>, usize) {
    let best = |xml: &str| -> BTreeMap<String, String> {
        nmap_xml::os_by_host(xml)
            .into_iter()
            .map(|(addr, (best, _))| (addr, best.unwrap_or_else(|| "none".into())))
            .collect()
    };
    let (ours, theirs) = (best(ours), best(theirs));
    let addrs: BTreeSet<&String> = ours.keys().chain(theirs.keys()).collect();
    let mut same = 0;
    let mut differences = Vec::new();
    for addr in addrs {
        let none = String::from("none");
        let (a, b) = (
            ours.get(addr).unwrap_or(&none),
            theirs.get(addr).unwrap_or(&none),
        );
        if a == b {
            same += 1;
        } else {
            differences.push(Difference {
                kind: Kind::Os,
                text: format!("{addr} OS: scanner {a}; nmap {b}"),
            });
        }
    }
    (differences, same)
}

/// How many (port, script) outputs the two reports share to the letter once unescaped
/// (ndiff lists only those that differ).
fn same_port_scripts(ours: &str, theirs: &str) -> usize {
    let theirs = nmap_xml::script_outputs(theirs);
    nmap_xml::script_outputs(ours)
        .iter()
        .filter(|(key, output)| {
            theirs.get(*key).map(|o| nmap_xml::unescape(o)) == Some(nmap_xml::unescape(output))
        })
        .count()
}

/// Runs ndiff on the two reports (written to `dir`) and reads its differences.
fn ndiff(dir: &Path, ours: &ToolRun, theirs: &ToolRun) -> Result<Vec<Difference>> {
    let path = |run: &ToolRun| dir.join(format!("pipeline-{}.xml", run.name));
    for run in [ours, theirs] {
        std::fs::write(path(run), &run.xml)
            .with_context(|| format!("writing {}", path(run).display()))?;
    }
    let (a, b) = (
        path(ours).display().to_string(),
        path(theirs).display().to_string(),
    );
    let result = capture(NDIFF_PYTHON, &["-c", NDIFF, "--xml", &a, &b])?;
    let stdout = String::from_utf8_lossy(&result.stdout);
    // 0: the same, 1: different; anything else (or no diff written) is ndiff failing.
    if !matches!(result.status.code(), Some(0 | 1)) || !stdout.contains("<nmapdiff") {
        bail!(
            "ndiff failed on {a} and {b} ({}): {}",
            result.status,
            String::from_utf8_lossy(&result.stderr).trim()
        );
    }
    let diff_path = dir.join("pipeline-ndiff.xml");
    std::fs::write(&diff_path, stdout.as_bytes())?;
    println!(
        "==> reports: {a}, {b}; ndiff --xml: {}",
        diff_path.display()
    );
    let lone_side = |section: &str| {
        if ours.xml.contains(&format!("<{section}")) {
            "scanner"
        } else {
            "nmap"
        }
    };
    Ok(ndiff_differences(&Element::parse(&stdout)?, &lone_side))
}

/// Runs both tools and prints times, findings and differences.
pub fn run(scanner: &Path) -> Result<()> {
    let dir = crate::workspace_root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let flags = flags();
    let hosts = targets();
    let addrs: Vec<String> = hosts.iter().map(|h| h.addr.to_string()).collect();
    let mut our_flags = flags.clone();
    our_flags.extend(["--osdb".to_string(), NMAP_OS_DB.to_string()]);
    let ours = run_tool(
        "scanner",
        scanner.to_str().context("scanner path")?,
        &our_flags,
        &addrs,
    )?;
    let theirs = run_tool("nmap", "nmap", &flags, &addrs)?;
    let ports = check_scanned_ports(&ours.xml, &theirs.xml, &hosts)?;
    let mut differences = ndiff(&dir, &ours, &theirs)?;
    differences.extend(trace_differences(&ours.hosts, &theirs.hosts));
    let (os_differences, same_os) = os_differences(&ours.xml, &theirs.xml);
    differences.extend(os_differences);

    println!(
        "\n== {} of {} lab hosts (all but {LEFT_OUT}), {ports} TCP ports each",
        FLAGS.join(" "),
        hosts.len()
    );
    println!(
        "{:<8} {:>8} {:>9} {:>11}  services named (open ports)",
        "tool", "wall s", "hosts up", "open ports"
    );
    for run in [&ours, &theirs] {
        println!(
            "{:<8} {:>8.2} {:>9} {:>11}  {}",
            run.name,
            run.seconds,
            run.found.hosts_up,
            run.found.open_ports,
            run.found.services_line()
        );
    }
    let ratio = theirs.seconds / ours.seconds.max(1e-3);
    println!(
        "nmap/scanner: {ratio:.1}x ({} the goal of 5x)",
        if ratio >= 5.0 { "meets" } else { "misses" }
    );
    let count = |kinds: &[Kind]| {
        differences
            .iter()
            .filter(|d| kinds.contains(&d.kind))
            .count()
    };
    println!(
        "\n== ndiff: {} differences in hosts, ports, states and services ({} hosts, {} ports, {} services)",
        count(&[Kind::Host, Kind::Port, Kind::Service]),
        count(&[Kind::Host]),
        count(&[Kind::Port]),
        count(&[Kind::Service])
    );
    for kind in [Kind::Host, Kind::Port, Kind::Service] {
        for d in differences.iter().filter(|d| d.kind == kind) {
            println!("  {:<8} {}", format!("{kind:?}").to_lowercase(), d.text);
        }
    }
    println!(
        "\n== script outputs: {} (host or port, script) differ, {} port script outputs are the same (each tool runs its own -sC scripts)",
        count(&[Kind::Script]),
        same_port_scripts(&ours.xml, &theirs.xml)
    );
    for d in differences.iter().filter(|d| d.kind == Kind::Script) {
        println!("  {}", d.text);
    }
    println!(
        "\n== traceroute (not compared by ndiff): {} hosts' hops differ",
        count(&[Kind::Trace])
    );
    for d in differences.iter().filter(|d| d.kind == Kind::Trace) {
        println!("  {}", d.text);
    }
    println!(
        "\n== OS (not compared by ndiff; both with nmap's nmap-os-db): {same_os} hosts' best match the same, {} differ",
        count(&[Kind::Os])
    );
    for d in differences.iter().filter(|d| d.kind == Kind::Os) {
        println!("  {}", d.text);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What ndiff 7.93 (`--xml`, with the ordering fix) wrote for two small reports:
    /// a host nmap alone found, a host state, folded ports, a port state, a port one
    /// side folded, a service, port scripts (different, one side), host scripts on one
    /// side, post-scan scripts on one side (whose side ndiff drops).
    const NDIFF_OUTPUT: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<nmapdiff version="1"><scandiff><a><nmaprun scanner="nmap" args="scanner -sS" start="1" startstr="Thu Jan 01 00:00:01 1970" version="scanner-0.1.0"/>
</a><b><nmaprun scanner="nmap" args="nmap -sS" start="2" startstr="Thu Jan 01 00:00:02 1970" version="7.93"/>
</b><hostdiff>
<host>
<address addr="198.18.0.10" addrtype="ipv4"/>
<hostnames>
<hostname name="web.lab.test"/>
</hostnames>
<ports>
<a>
<extraports state="closed" count="97"/>
</a>
<b>
<extraports state="closed" count="96"/>
</b>
<portdiff>
<port portid="22" protocol="tcp">
<state state="open"/>
<service name="ssh" product="OpenSSH" version="9.2p1"/>
<a>
<script id="ssh-hostkey" output="256 aa (ECDSA)"/>
</a>
<b>
<script id="ssh-hostkey" output="256 bb (ECDSA)"/>
</b>
<b>
<script id="ssh2-enum-algos" output="
  kex &lt;a&gt; &amp; &quot;b&quot;"/>
</b>
</port>
</portdiff>
<portdiff>
<port portid="80" protocol="tcp">
<state state="open"/>
<a>
<service name="http" product="nginx"/>
</a>
<b>
<service name="http" product="nginx" version="1.22.1"/>
</b>
</port>
</portdiff>
<portdiff>
<a>
<port portid="8080" protocol="tcp"/>
</a>
<b>
<port portid="8080" protocol="tcp">
<state state="filtered"/>
<service name="http-proxy"/>
</port>
</b>
</portdiff>
</ports>
<b>
<hostscript>
<script id="clock-skew" output="0s"/>
</hostscript>
</b>
</host>
</hostdiff>
<hostdiff>
<b>
<host>
<status state="up"/>
<address addr="198.18.0.13" addrtype="ipv4"/>
<hostnames>
<hostname name="closed.lab.test"/>
</hostnames>
<ports>
<extraports state="closed" count="100"/>
</ports>
</host>
</b>
</hostdiff>
<hostdiff>
<host>
<address addr="198.18.0.14" addrtype="ipv4"/>
<hostnames>
<hostname name="drop.lab.test"/>
</hostnames>
<ports>
<extraports state="filtered" count="99"/>
<portdiff>
<a>
<port portid="22" protocol="tcp">
<state state="open"/>
<service name="ssh" tunnel="ssl" extrainfo="x"/>
</port>
</a>
<b>
<port portid="22" protocol="tcp">
<state state="closed"/>
<service name="ssh"/>
</port>
</b>
</portdiff>
</ports>
</host>
</hostdiff>
<hostdiff>
<host>
<a>
<status state="down"/>
</a>
<b>
<status state="up"/>
</b>
<address addr="198.18.0.30" addrtype="ipv4"/>
</host>
</hostdiff>
<postscript>
<script id="ssh-hostkey" output="Possible duplicate hosts"/>
</postscript>
</scandiff></nmapdiff>"#;

    fn listed(kind: Kind) -> Vec<String> {
        let root = Element::parse(NDIFF_OUTPUT).unwrap();
        ndiff_differences(&root, &|_| "nmap")
            .into_iter()
            .filter(|d| d.kind == kind)
            .map(|d| d.text)
            .collect()
    }

    #[test]
    fn ndiff_hosts_ports_and_services_are_listed_one_line_each() {
        assert_eq!(
            listed(Kind::Host),
            [
                "198.18.0.13 closed.lab.test: only in nmap's report (up)",
                "198.18.0.30: scanner says down, nmap says up",
            ]
        );
        assert_eq!(
            listed(Kind::Port),
            [
                "198.18.0.10 web.lab.test 8080/tcp: scanner not listed, nmap filtered http-proxy",
                "198.18.0.10 web.lab.test: not shown: scanner 97 closed, nmap 96 closed",
                "198.18.0.14 drop.lab.test 22/tcp: scanner open ssl/ssh (x), nmap closed ssh",
            ]
        );
        assert_eq!(
            listed(Kind::Service),
            [
                "198.18.0.10 web.lab.test 80/tcp: scanner \"http nginx\", nmap \"http nginx 1.22.1\""
            ]
        );
    }

    #[test]
    fn ndiff_script_outputs_are_counted_per_script_with_their_side() {
        assert_eq!(
            listed(Kind::Script),
            [
                "198.18.0.10 web.lab.test 22/tcp ssh-hostkey: outputs differ: scanner \"256 aa (ECDSA)\", nmap \"256 bb (ECDSA)\"",
                "198.18.0.10 web.lab.test 22/tcp ssh2-enum-algos: nmap only: \"kex <a> & \"b\"\"",
                "198.18.0.10 web.lab.test host clock-skew: nmap only: \"0s\"",
                "post scripts ssh-hostkey: nmap only: \"Possible duplicate hosts\"",
            ]
        );
    }

    #[test]
    fn a_broken_ndiff_output_is_an_error_not_a_panic() {
        for bad in ["<a><b></a>", "<a>", "</a>", "<a x=\"1>", "<a x=1/>"] {
            assert!(Element::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Element::parse("").unwrap().children.len(), 0);
    }

    #[test]
    fn both_tools_get_the_projects_databases_and_all_of_a() {
        let flags = flags();
        assert_eq!(flags.iter().filter(|f| *f == "-A").count(), 1);
        for db in ["fingerprints/services", "fingerprints/service-probes"] {
            assert!(flags.iter().any(|f| f.ends_with(db)), "{db}");
        }
    }

    fn report(ports: &str, body: &str) -> String {
        format!(
            r#"<nmaprun><scaninfo type="syn" protocol="tcp" numservices="1" services="{ports}"/>{body}</nmaprun>"#
        )
    }

    #[test]
    fn the_scanned_ports_must_match_and_hold_the_labs_ports() {
        let web = vec![lab::host("web")];
        let all = report("1-1024", "");
        assert_eq!(check_scanned_ports(&all, &all, &web).unwrap(), 1024);
        assert!(check_scanned_ports(&all, &report("1-1023", ""), &web).is_err());
        // web listens on 22, 80 and 443.
        let short = report("22,80", "");
        let error = check_scanned_ports(&short, &short, &web).unwrap_err();
        assert!(error.to_string().contains("web:443"), "{error}");
        for bad in ["", "a-b", "1-"] {
            let bad = report(bad, "");
            assert!(check_scanned_ports(&bad, &bad, &web).is_err());
        }
        assert!(check_scanned_ports("<nmaprun/>", "<nmaprun/>", &web).is_err());
    }

    #[test]
    fn every_lab_service_port_is_in_the_fast_list_of_the_services_file() {
        // What `-F --servicedb fingerprints/services` scans: the 100 TCP ports rated highest.
        let text =
            std::fs::read_to_string(crate::workspace_root().join("fingerprints/services")).unwrap();
        let mut rated: Vec<(f64, u16)> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let mut fields = l.split_whitespace().skip(1);
                let (port, proto) = fields.next()?.split_once('/')?;
                (proto == "tcp").then_some((fields.next()?.parse().ok()?, port.parse().ok()?))
            })
            .collect();
        rated.sort_by(|a, b| b.0.total_cmp(&a.0));
        let fast: BTreeSet<u16> = rated.iter().take(100).map(|r| r.1).collect();
        for host in targets() {
            for port in host.listening_tcp_ports() {
                assert!(fast.contains(&port), "{}:{port}", host.name);
            }
        }
    }

    #[test]
    fn found_counts_hosts_up_open_ports_and_named_services() {
        let xml = report(
            "22,80",
            r#"<host><status state="up" reason="arp-response"/><address addr="198.18.0.10" addrtype="ipv4"/><ports>
            <port protocol="tcp" portid="22"><state state="open"/><service name="ssh"/></port>
            <port protocol="tcp" portid="80"><state state="open"/></port>
            <port protocol="tcp" portid="81"><state state="closed"/><service name="x"/></port></ports></host>
            <host><status state="down" reason="no-response"/><address addr="198.18.0.99" addrtype="ipv4"/></host>"#,
        );
        let found = Found::of(&nmap_xml::hosts(&xml).unwrap());
        assert_eq!((found.hosts_up, found.open_ports), (1, 2));
        assert_eq!(found.services_line(), "ssh 1");
        assert_eq!(Found::of(&[]), Found::default());
    }

    #[test]
    fn port_scripts_with_the_same_output_are_counted() {
        let xml = |title: &str| {
            report(
                "80",
                &format!(
                    r#"<host starttime="1"><address addr="198.18.0.10" addrtype="ipv4"/><ports>
                <port protocol="tcp" portid="80"><state state="open"/><script id="http-title" output="{title}"/><script id="http-server-header" output="nginx"/></port>
                </ports></host>"#
                ),
            )
        };
        assert_eq!(same_port_scripts(&xml("Welcome"), &xml("Welcome")), 2);
        // nmap writes `--` as `-&#45;`.
        assert_eq!(same_port_scripts(&xml("a--b"), &xml("a-&#45;b")), 2);
        assert_eq!(same_port_scripts(&xml("Welcome"), &xml("Hello")), 1);
        assert_eq!(same_port_scripts(&xml("Welcome"), &report("80", "")), 0);
    }

    #[test]
    fn traces_that_differ_are_listed_and_missing_ones_are_none() {
        let xml = |hops: &str| {
            report(
                "22",
                &format!(
                    r#"<host><status state="up" reason="echo-reply"/><address addr="198.18.1.10" addrtype="ipv4"/><trace>{hops}</trace></host>"#
                ),
            )
        };
        let two = xml(
            r#"<hop ttl="1" ipaddr="198.18.0.2" rtt="0.1" host="router.lab.test"/><hop ttl="2" ipaddr="198.18.1.10" rtt="0.2"/>"#,
        );
        let hosts = |xml: &str| nmap_xml::hosts(xml).unwrap();
        assert!(trace_differences(&hosts(&two), &hosts(&two)).is_empty());
        assert_eq!(
            trace_differences(&hosts(&xml("")), &hosts(&two)),
            [Difference {
                kind: Kind::Trace,
                text: "198.18.1.10 trace: scanner none; nmap 1 198.18.0.2 router.lab.test, 2 198.18.1.10".into()
            }]
        );
        assert!(trace_differences(&hosts(&xml("")), &[]).is_empty());
    }
}
