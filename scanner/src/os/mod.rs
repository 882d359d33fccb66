//! OS detection (`-O`), as nmap does it: a host is sent nmap's sixteen OS probes per
//! round, the replies become a fingerprint (tests SEQ, OPS, WIN, ECN, T1–T7, U1, IE), and
//! the fingerprint is matched against a database of reference prints.
//!
//! [`synack`] reads the passive fingerprint of a SYN+ACK (p0f's signature), which
//! needs no probe of its own; [`synack_db`] reads p0f's database of such signatures and
//! matches them as p0f does.
//!
//! [`fingerprint`] is the shape both sides share: what a round observed (values) and what
//! a database entry expects (expressions). [`db`] reads nmap-os-db, [`expr`] its value
//! expressions, and [`matching`] scores an observed fingerprint against every entry as
//! nmap does; what it concludes is `model::os`, which the writers read. [`observe`]
//! computes the fingerprint a round of probes and their replies make: [`probes`] builds
//! nmap's probes, [`round`] sends them to a host and collects the replies, and
//! [`detect`] is the phase that runs rounds for a group's hosts and reports.

pub mod db;
pub mod detect;
pub mod expr;
pub mod fingerprint;
pub mod matching;
pub mod observe;
pub mod per_port;
pub mod probes;
pub mod round;
pub mod synack;
pub mod synack_db;
