//! Port-scan phases. Each scan type owns how it builds probes and reads replies;
//! the engine and io layers supply sending, receiving, pacing and timing. The
//! connect scan needs none of them: it uses ordinary sockets.

pub mod connect;
pub mod syn;
pub mod udp;
pub mod udp_payloads;
