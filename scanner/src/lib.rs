//! The scanner library: everything the `scanner` binary does, in modules by concern.
//!
//! - `target`: what to scan (addresses, ports);
//! - `packet`: frame templates, checksums, reply parsing;
//! - `io`: send and receive back ends (AF_XDP, packet socket, XDP loader), interfaces;
//! - `engine`: pacing, timing, the scan's path, reply sources;
//! - `dispatch`: frames raw-packet scripts wait for, to the scripts that wait;
//! - `discovery`, `portscan`: the scan phases; `pipeline`: what runs after what;
//! - `sweep`: stateless sweeps of large spaces (masscan/ZMap style);
//! - `service`: version detection (`-sV`); `script`: Lua scripts (`--script`, `-sC`);
//! - `report`: the result model and its writers;
//! - `cli`: the command line.
//!
//! Arrows point one way: phases use `engine`, `io` and `packet`; `report` only reads.

pub mod cli;
pub mod discovery;
pub mod dispatch;
pub mod engine;
pub mod io;
pub mod packet;
pub mod pipeline;
pub mod portscan;
pub mod report;
pub mod script;
pub mod service;
pub mod sweep;
pub mod target;
