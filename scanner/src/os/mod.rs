//! OS detection (`-O`), as nmap does it: a host is sent nmap's sixteen OS probes per
//! round, the replies become a fingerprint (tests SEQ, OPS, WIN, ECN, T1–T7, U1, IE), and
//! the fingerprint is matched against a database of reference prints.
//!
//! [`synack`] reads the passive fingerprint of a SYN+ACK (p0f's signature), which
//! needs no probe of its own.
//!
//! [`fingerprint`] is the shape both sides share: what a round observed (values) and what
//! a database entry expects (expressions). The tests that compute it, the database and
//! the matcher grow beside it; the writers read only `model`.

pub mod fingerprint;
pub mod synack;
