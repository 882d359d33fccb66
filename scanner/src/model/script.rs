//! What a script said about a host, a port or the scan: its text as the normal output
//! shows it, and the structure it returned (XML's `<elem>`/`<table>`, JSON).

use serde::Serialize;

/// One value of a script's structured output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ScriptValue {
    Text(String),
    /// Entries in order; array entries have no key.
    Table(Vec<(Option<String>, ScriptValue)>),
}

/// One script's result for a host or port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScriptOutput {
    pub id: String,
    /// As the normal output shows it.
    pub output: String,
    /// The table the script returned, if it returned one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<Vec<(Option<String>, ScriptValue)>>,
}
