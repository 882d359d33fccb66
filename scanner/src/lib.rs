//! The scanner library: everything the `scanner` binary does, in modules by concern.
//!
//! - `target`: what to scan (addresses, ports);
//! - `packet`: frame templates, checksums, reply parsing;
//! - `io`: send and receive back ends (AF_XDP, packet socket, XDP loader), interfaces;
//! - `engine`: pacing, timing, the scan's path, reply sources;
//! - `dispatch`: captured frames, to the scripts and phases that wait for them;
//!   `raw_access`: raw packets out (and their captures in) for scripts and OS probes;
//! - `probe`: the probe-module table (how each kind of probe is written, what its
//!   replies mean), used by the phases and the sweeps alike;
//! - `discovery`, `portscan`: the scan phases; `pipeline`: what runs after what;
//! - `sweep`: stateless sweeps of large spaces (masscan/ZMap style);
//! - `service`: version detection (`-sV`); `script`: Lua scripts (`--script`, `-sC`);
//! - `model`: the result model (depends on nothing); `text`: calendar, MAC and range
//!   formatting that many layers share;
//! - `report`: the writers; they only read the model;
//! - `cli`: the command line.
//!
//! Arrows point one way: phases use `engine`, `io` and `packet`; every layer may use
//! `model` and `text`, which use nothing; `report` only reads the model.

pub mod cli;
pub mod discovery;
pub mod dispatch;
pub mod engine;
pub mod io;
pub mod model;
pub mod os;
pub mod packet;
pub mod pipeline;
pub mod portscan;
pub mod probe;
pub mod raw_access;
pub mod report;
pub mod script;
pub mod service;
pub mod sweep;
pub mod target;
pub mod text;
pub mod traceroute;
