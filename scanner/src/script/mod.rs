//! Scripts (`--script`, `-sC`): NSE-shaped Lua scripts run as coroutines on the
//! scan's loop, after version detection, for each host and open port their rules
//! accept.
//!
//! - [`select`]: reading `--script` (names, globs, categories, expressions, files);
//! - [`api`]: the native API (sockets, sleep, clock, arguments, registry) and
//!   `prelude.lua`, the part written in Lua (`shortport`, output tables);
//! - [`raw`]: `rawpacket`, crafting, sending and capturing raw packets;
//! - [`engine`]: the Lua state, loading, rules, running and containing instances;
//! - [`limits`]: each script's memory budget and time, held by the state's own
//!   allocator and instruction hook;
//! - [`pattern`]: Lua's pattern functions, `string.rep` and the looping table
//!   functions, rebuilt so that no call can hold the loop inside C;
//! - `sandbox.lua`: what a script sees (text chunks only, no files or programs,
//!   read-only shared libraries, its own globals, stops it cannot catch);
//! - [`output`]: turning what a script returned into text and structure.
//!
//! The scripts that ship are in `scripts/` and built into the binary; a user's are
//! read from the files and folders `--script` names.

pub mod api;
#[cfg(test)]
mod containment_tests;
pub mod engine;
pub mod limits;
pub mod output;
pub mod pattern;
pub mod raw;
pub mod select;

/// The scripts in `scripts/`, built in: (id, source).
pub const BUILT_IN_SCRIPTS: &[(&str, &str)] = &[
    ("banner", include_str!("../../../scripts/banner.nse")),
    ("dns-nsid", include_str!("../../../scripts/dns-nsid.nse")),
    ("ftp-anon", include_str!("../../../scripts/ftp-anon.nse")),
    (
        "http-headers",
        include_str!("../../../scripts/http-headers.nse"),
    ),
    (
        "http-server-header",
        include_str!("../../../scripts/http-server-header.nse"),
    ),
    (
        "http-title",
        include_str!("../../../scripts/http-title.nse"),
    ),
    (
        "ip-record-route",
        include_str!("../../../scripts/ip-record-route.nse"),
    ),
    (
        "memcached-info",
        include_str!("../../../scripts/memcached-info.nse"),
    ),
    (
        "redis-info",
        include_str!("../../../scripts/redis-info.nse"),
    ),
    (
        "sniffer-detect",
        include_str!("../../../scripts/sniffer-detect.nse"),
    ),
    (
        "ssh2-enum-algos",
        include_str!("../../../scripts/ssh2-enum-algos.nse"),
    ),
    ("ssl-cert", include_str!("../../../scripts/ssl-cert.nse")),
    (
        "synack-fingerprint",
        include_str!("../../../scripts/synack-fingerprint.nse"),
    ),
    (
        "tcp-traceroute",
        include_str!("../../../scripts/tcp-traceroute.nse"),
    ),
];
