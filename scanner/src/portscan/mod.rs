//! Port-scan phases. Each scan type owns how it builds probes and reads replies;
//! the engine and io layers supply sending, receiving, pacing and timing.

pub mod syn;
