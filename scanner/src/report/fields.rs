//! The fields a streaming output writes (`--output-fields`, as ZMap's): which ones
//! and in what order, and how each is rendered as text.

use crate::model::PortFinding;
use anyhow::{bail, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Addr,
    Port,
    Proto,
    State,
    Reason,
    Ttl,
    Time,
}

impl Field {
    pub const ALL: [Field; 7] = [
        Field::Addr,
        Field::Port,
        Field::Proto,
        Field::State,
        Field::Reason,
        Field::Ttl,
        Field::Time,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Addr => "addr",
            Field::Port => "port",
            Field::Proto => "proto",
            Field::State => "state",
            Field::Reason => "reason",
            Field::Ttl => "ttl",
            Field::Time => "time",
        }
    }

    /// Parses a comma-separated list such as `addr,port,ttl`.
    pub fn parse_list(text: &str) -> Result<Vec<Field>> {
        let mut fields = Vec::new();
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match Field::ALL.iter().find(|f| f.name() == name) {
                Some(field) => fields.push(*field),
                None => {
                    let known: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
                    bail!(
                        "unknown output field {name:?}: the fields are {}",
                        known.join(",")
                    );
                }
            }
        }
        if fields.is_empty() {
            bail!("--output-fields names no field");
        }
        Ok(fields)
    }

    /// The field's value as JSON.
    pub fn json(self, finding: &PortFinding) -> serde_json::Value {
        match self {
            Field::Addr => finding.addr.to_string().into(),
            Field::Port => finding.port.into(),
            Field::Proto => finding.proto.as_str().into(),
            Field::State => finding.state.as_str().into(),
            Field::Reason => finding.reason.as_str().into(),
            Field::Ttl => finding
                .ttl
                .map(serde_json::Value::from)
                .unwrap_or(serde_json::Value::Null),
            Field::Time => finding.time.into(),
        }
    }

    /// The field's value as plain text (CSV).
    pub fn text(self, finding: &PortFinding) -> String {
        match self {
            Field::Ttl => finding.ttl.map(|t| t.to_string()).unwrap_or_default(),
            Field::Time => format!("{:.6}", finding.time),
            other => match other.json(finding) {
                serde_json::Value::String(s) => s,
                value => value.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_rejects_unknown_names() {
        assert_eq!(
            Field::parse_list("addr,port,ttl").unwrap(),
            vec![Field::Addr, Field::Port, Field::Ttl]
        );
        assert!(Field::parse_list("addr,colour")
            .unwrap_err()
            .to_string()
            .contains("addr,port,proto"));
        assert!(Field::parse_list("").is_err());
    }
}
