//! What a script said, as the writers show it: NSE's rules for turning an action's
//! return values into text (a string as it is; a table as indented `key: value`
//! lines) and into structure (XML's `<elem>` and `<table>`, JSON).

use mlua::{MultiValue, Table, Value};
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

/// The most nesting read from a returned table (a table that contains itself).
const MAX_DEPTH: usize = 16;

impl ScriptOutput {
    /// What an action's return values mean: nothing (nil), a string, a table, or a
    /// table and the string to show for it.
    pub fn from_lua(id: &str, values: MultiValue) -> mlua::Result<Option<Self>> {
        let mut values = values.into_iter();
        let first = values.next().unwrap_or(Value::Nil);
        let second = values.next().unwrap_or(Value::Nil);
        let (table, text) = match (&first, &second) {
            (Value::Table(t), Value::String(s)) => {
                (Some(read_table(t, 0)?), Some(s.to_str()?.to_string()))
            }
            (Value::Table(t), _) => (Some(read_table(t, 0)?), None),
            (Value::Nil, _) => return Ok(None),
            (other, _) => (None, Some(to_text(other)?)),
        };
        let output = match (&text, &table) {
            (Some(text), _) => text.clone(),
            (None, Some(entries)) => format_table(entries, 1),
            (None, None) => return Ok(None),
        };
        if output.is_empty() && table.as_ref().is_none_or(|t| t.is_empty()) {
            return Ok(None);
        }
        Ok(Some(ScriptOutput {
            id: id.to_string(),
            output,
            table,
        }))
    }

    /// NSE's lines under a port or host: `|_id: text` for one line, else `| id: …`,
    /// `| …` and `|_…` for the last.
    pub fn normal_lines(&self) -> Vec<String> {
        let lines: Vec<&str> = self.output.lines().collect();
        if lines.len() <= 1 {
            return vec![format!("|_{}: {}", self.id, lines.first().unwrap_or(&""))];
        }
        let last = lines.len() - 1;
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| match i {
                0 => format!("| {}: {line}", self.id),
                _ if i == last => format!("|_{line}"),
                _ => format!("| {line}"),
            })
            .collect()
    }
}

fn to_text(value: &Value) -> mlua::Result<String> {
    Ok(match value {
        Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Nil => "nil".into(),
        other => other.type_name().to_string(),
    })
}

/// A Lua table as ordered entries: output tables in their order, plain tables with
/// the array part first.
fn read_table(table: &Table, depth: usize) -> mlua::Result<Vec<(Option<String>, ScriptValue)>> {
    if depth > MAX_DEPTH {
        return Ok(vec![(None, ScriptValue::Text("...".into()))]);
    }
    let lua = table.metatable();
    let ordered: Option<Table> = lua.and_then(|m| m.get("__ordered_keys").ok());
    let keys: Vec<Value> = match ordered {
        Some(keys) => keys
            .sequence_values::<Value>()
            .collect::<mlua::Result<_>>()?,
        None => {
            let mut array = Vec::new();
            let mut named = Vec::new();
            for pair in table.pairs::<Value, Value>() {
                let (k, _) = pair?;
                match k {
                    Value::Integer(_) => array.push(k),
                    _ => named.push(k),
                }
            }
            array.sort_by_key(|k| if let Value::Integer(n) = k { *n } else { 0 });
            named.sort_by_key(|k| to_text(k).unwrap_or_default());
            array.into_iter().chain(named).collect()
        }
    };
    let mut out = Vec::new();
    for key in keys {
        let value: Value = table.get(key.clone())?;
        let key = match key {
            Value::Integer(_) => None,
            other => Some(to_text(&other)?),
        };
        let value = match &value {
            Value::Table(t) => ScriptValue::Table(read_table(t, depth + 1)?),
            other => ScriptValue::Text(to_text(other)?),
        };
        out.push((key, value));
    }
    Ok(out)
}

/// NSE's text for a table: a leading newline, then `key: value` lines indented two
/// spaces a level.
fn format_table(entries: &[(Option<String>, ScriptValue)], level: usize) -> String {
    let indent = "  ".repeat(level);
    let mut out = String::new();
    for (key, value) in entries {
        out.push('\n');
        out.push_str(&indent);
        if let Some(key) = key {
            out.push_str(key);
            out.push_str(": ");
        }
        match value {
            ScriptValue::Text(text) => out.push_str(text),
            ScriptValue::Table(inner) => out.push_str(&format_table(inner, level + 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_nse_writes_them() {
        let one = ScriptOutput {
            id: "http-title".into(),
            output: "lab host web".into(),
            table: None,
        };
        assert_eq!(one.normal_lines(), vec!["|_http-title: lab host web"]);
        let many = ScriptOutput {
            id: "redis-info".into(),
            output: "\n  Version: 7.0.15\n  Mode: standalone".into(),
            table: None,
        };
        assert_eq!(
            many.normal_lines(),
            vec![
                "| redis-info: ",
                "|   Version: 7.0.15",
                "|_  Mode: standalone"
            ]
        );
    }

    #[test]
    fn tables_keep_their_order_and_nesting() {
        let lua = mlua::Lua::new();
        lua.load("stdnse = {} nmap = {}").exec().unwrap();
        lua.load(include_str!("prelude.lua")).exec().unwrap();
        let values: MultiValue = lua
            .load("local t = stdnse.output_table() t.b = 1 t.a = { 'x', 'y' } return t")
            .eval()
            .unwrap();
        let out = ScriptOutput::from_lua("s", values).unwrap().unwrap();
        assert_eq!(out.output, "\n  b: 1\n  a: \n    x\n    y");
        let values: MultiValue = lua.load("return nil").eval().unwrap();
        assert!(ScriptOutput::from_lua("s", values).unwrap().is_none());
        let values: MultiValue = lua.load("local t = {} t.self = t return t").eval().unwrap();
        assert!(ScriptOutput::from_lua("s", values).unwrap().is_some());
    }
}
