//! What a script said: NSE's rules for turning an action's return values into the
//! model's [`ScriptOutput`], its text (a string as it is; a table as indented
//! `key: value` lines) and its structure (what XML's `<elem>` and `<table>` and JSON
//! show).

use mlua::{MultiValue, Table, Value};

pub use crate::model::script::{ScriptOutput, ScriptValue};

/// The most nesting read from a returned table.
const MAX_DEPTH: usize = 16;
/// The most entries read from a returned table, all levels together.
const MAX_ENTRIES: usize = 10_000;
/// The most bytes of keys and text kept from one output.
const MAX_BYTES: usize = 1 << 20;

impl ScriptOutput {
    /// What an action's return values mean: nothing (nil), a string, a table, or a
    /// table and the string to show for it. What is kept is bounded (depth,
    /// entries, bytes; a table inside itself is read once), with a note where it
    /// was cut; no metamethod of the script's runs.
    pub fn from_lua(id: &str, values: MultiValue) -> mlua::Result<Option<Self>> {
        let mut values = values.into_iter();
        let first = values.next().unwrap_or(Value::Nil);
        let second = values.next().unwrap_or(Value::Nil);
        let mut reader = Reader::default();
        let (table, text) = match (&first, &second) {
            (Value::Table(t), Value::String(_)) => {
                (Some(reader.read_top(t)?), Some(reader.text(&second)))
            }
            (Value::Table(t), _) => (Some(reader.read_top(t)?), None),
            (Value::Nil, _) => return Ok(None),
            (other, _) => (None, Some(reader.text(other))),
        };
        let mut output = match (&text, &table) {
            (Some(text), _) => text.clone(),
            (None, Some(entries)) => format_table(entries, 1),
            (None, None) => return Ok(None),
        };
        if text.is_some() {
            if let Some(note) = reader.note() {
                output.push('\n');
                output.push_str(&note);
            }
        }
        if output.is_empty() && table.as_ref().is_none_or(|t| t.is_empty()) {
            return Ok(None);
        }
        Ok(Some(ScriptOutput {
            id: id.to_string(),
            output,
            table,
        }))
    }
}

/// Reads one output within the bounds, remembering where it had to cut.
#[derive(Default)]
struct Reader {
    entries: usize,
    bytes: usize,
    /// The tables being read (a table met again among them is a cycle).
    path: Vec<*const std::ffi::c_void>,
    /// Why the output was cut, if it was.
    cut: Option<String>,
}

impl Reader {
    fn note(&self) -> Option<String> {
        self.cut
            .as_ref()
            .map(|why| format!("... output truncated: {why}"))
    }

    /// The text of a value, within the bytes left.
    fn text(&mut self, value: &Value) -> String {
        let mut text = match value {
            Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
            Value::Integer(n) => n.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Nil => "nil".into(),
            other => other.type_name().to_string(),
        };
        let left = MAX_BYTES.saturating_sub(self.bytes);
        if text.len() > left {
            let mut end = left;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            self.cut
                .get_or_insert_with(|| format!("more than {MAX_BYTES} bytes"));
        }
        self.bytes += text.len();
        text
    }

    /// The top table, with the note at its end if it was cut.
    fn read_top(&mut self, table: &Table) -> mlua::Result<Vec<(Option<String>, ScriptValue)>> {
        let mut entries = self.read_table(table, 0)?;
        if let Some(note) = self.note() {
            entries.push((None, ScriptValue::Text(note)));
        }
        Ok(entries)
    }

    /// A Lua table as ordered entries: output tables in their order, plain tables
    /// with the array part first.
    fn read_table(
        &mut self,
        table: &Table,
        depth: usize,
    ) -> mlua::Result<Vec<(Option<String>, ScriptValue)>> {
        if depth > MAX_DEPTH {
            self.cut
                .get_or_insert_with(|| format!("nested deeper than {MAX_DEPTH} levels"));
            return Ok(vec![(None, ScriptValue::Text("...".into()))]);
        }
        let pointer = table.to_pointer();
        if self.path.contains(&pointer) {
            return Ok(vec![(
                None,
                ScriptValue::Text("(the table contains itself)".into()),
            )]);
        }
        // An output table keeps its keys and values in its metatable.
        let meta = table.metatable();
        let ordered: Option<(Table, Table)> = meta.and_then(|m| {
            match (
                m.raw_get::<Value>("__ordered_keys"),
                m.raw_get::<Value>("__ordered_values"),
            ) {
                (Ok(Value::Table(k)), Ok(Value::Table(v))) => Some((k, v)),
                _ => None,
            }
        });
        let (keys, source): (Vec<Value>, Table) = match ordered {
            Some((keys, values)) => (
                keys.sequence_values::<Value>()
                    .take(MAX_ENTRIES + 1)
                    .collect::<mlua::Result<_>>()?,
                values,
            ),
            None => {
                let mut array = Vec::new();
                let mut named = Vec::new();
                for pair in table.pairs::<Value, Value>().take(MAX_ENTRIES + 1) {
                    let (k, _) = pair?;
                    match k {
                        Value::Integer(_) => array.push(k),
                        _ => named.push(k),
                    }
                }
                array.sort_by_key(|k| if let Value::Integer(n) = k { *n } else { 0 });
                named.sort_by_key(plain_text);
                (array.into_iter().chain(named).collect(), table.clone())
            }
        };
        self.path.push(pointer);
        let mut out = Vec::new();
        for key in keys {
            if self.entries >= MAX_ENTRIES {
                self.cut
                    .get_or_insert_with(|| format!("more than {MAX_ENTRIES} entries"));
                break;
            }
            if self.bytes >= MAX_BYTES {
                self.cut
                    .get_or_insert_with(|| format!("more than {MAX_BYTES} bytes"));
                break;
            }
            self.entries += 1;
            let value: Value = source.raw_get(key.clone())?;
            let key = match key {
                Value::Integer(_) => None,
                other => Some(self.text(&other)),
            };
            let value = match &value {
                Value::Table(t) => ScriptValue::Table(self.read_table(t, depth + 1)?),
                other => ScriptValue::Text(self.text(other)),
            };
            out.push((key, value));
        }
        self.path.pop();
        Ok(out)
    }
}

/// A key's text, for sorting.
fn plain_text(value: &Value) -> String {
    match value {
        Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        other => other.type_name().to_string(),
    }
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
