//! OS detection (`-O`), as nmap does it: a host is sent nmap's sixteen OS probes per
//! round, the replies become a fingerprint (tests SEQ, OPS, WIN, ECN, T1–T7, U1, IE), and
//! the fingerprint is matched against a database of reference prints.
//!
//! [`fingerprint`] is the shape both sides share: what a round observed (values) and what
//! a database entry expects (expressions). [`db`] reads nmap-os-db, [`expr`] its value
//! expressions. The tests that compute a fingerprint and the matcher grow beside them;
//! the writers read only `model`.

pub mod db;
pub mod expr;
pub mod fingerprint;
