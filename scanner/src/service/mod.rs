//! Version detection (`-sV`), being built: the probe database in nmap's
//! `nmap-service-probes` format ([`probes`]), its version templates ([`template`]), and
//! reading an answer against it ([`matcher`]).
//! The engine that sends the probes to open ports and matches the answers comes next
//! (issue 5); nothing here sends anything yet, and no command-line flag uses it.

pub mod matcher;
pub mod probes;
pub mod template;
