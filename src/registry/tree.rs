//! The manifest as a tree that remembers where every key and value sits.
//!
//! Built from `toml_edit`'s immutable document, whose items carry byte spans
//! through its public API. Tables made implicitly by dotted keys
//! (`health.path = "/x"`) have no span of their own; they point at their key.

use std::collections::BTreeMap;
use std::ops::Range;

use toml_edit::{ImDocument, Item, TableLike};

use super::RegistryError;

/// `span` is empty when toml_edit did not provide one.
pub(super) struct Node {
    pub span: Range<usize>,
    pub value: Value,
}

pub(super) struct Key {
    pub name: String,
    pub span: Range<usize>,
}

pub(super) enum Value {
    String(String),
    Integer(i64),
    Float,
    Boolean(bool),
    Datetime,
    Array(Vec<Node>),
    Table(Vec<(Key, Node)>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Node]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// The document's root table, or the syntax error as one line.
pub(super) fn parse(text: &str, origin: &str) -> Result<Node, RegistryError> {
    let doc = ImDocument::parse(text).map_err(|e| syntax_error(text, origin, &e))?;
    Ok(item(doc.as_item()))
}

fn item(item: &Item) -> Node {
    match item {
        Item::Value(v) => value(v),
        Item::Table(t) => table(t, t.span()),
        Item::ArrayOfTables(a) => {
            let tables = a.iter().map(|t| table(t, t.span())).collect();
            Node { span: a.span().unwrap_or_default(), value: Value::Array(tables) }
        }
        // The parser never produces one; an empty table is the harmless reading.
        Item::None => Node { span: 0..0, value: Value::Table(Vec::new()) },
    }
}

fn value(v: &toml_edit::Value) -> Node {
    use toml_edit::Value as V;
    let value = match v {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(n) => Value::Integer(*n.value()),
        V::Float(_) => Value::Float,
        V::Boolean(b) => Value::Boolean(*b.value()),
        V::Datetime(_) => Value::Datetime,
        V::Array(items) => Value::Array(items.iter().map(value).collect()),
        V::InlineTable(t) => return table(t, t.span()),
    };
    Node { span: v.span().unwrap_or_default(), value }
}

fn table(t: &dyn TableLike, span: Option<Range<usize>>) -> Node {
    let entries = t
        .iter()
        .map(|(name, v)| {
            let key_span = t.key(name).and_then(|k| k.span()).unwrap_or_default();
            let mut node = item(v);
            if node.span.is_empty() {
                node.span = key_span.clone();
            }
            (Key { name: name.to_owned(), span: key_span }, node)
        })
        .collect();
    Node { span: span.unwrap_or_default(), value: Value::Table(entries) }
}

fn syntax_error(text: &str, origin: &str, e: &toml_edit::TomlError) -> RegistryError {
    let span = e.span().unwrap_or(0..0);
    // toml_edit's messages can run over several lines; ours must not.
    let lines: Vec<&str> = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let message = format!("TOML syntax error: {}", lines.join(", "));
    let hint = match message.contains("duplicate key") {
        true => "each key may appear only once per table",
        false => "close every quote and bracket; see https://toml.io for the syntax",
    };
    let (line, column) = line_col(text, span.start);
    let key = syntax_key_path(text, line);
    RegistryError::Invalid { origin: origin.to_owned(), line, column, key, message, hint: hint.to_owned() }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

pub(super) fn join(path: &str, key: &str) -> String {
    match path.is_empty() {
        true => key.to_owned(),
        false => format!("{path}.{key}"),
    }
}

/// Best-effort key path for a syntax error, which comes without a tree: the
/// last table header up to `line`, plus the key assigned on that line.
pub(super) fn syntax_key_path(text: &str, line: usize) -> String {
    let mut table = String::new();
    let mut arrays: BTreeMap<String, usize> = BTreeMap::new();
    let header = |h: &str| -> Vec<String> {
        let name = h.trim_start_matches('[').split(']').next().unwrap_or("");
        name.split('.').map(|s| s.trim().to_owned()).collect()
    };
    for (number, raw) in text.lines().take(line).enumerate() {
        let l = raw.trim();
        if l.starts_with("[[") {
            let name = header(l).join(".");
            let count = arrays.entry(name.clone()).and_modify(|n| *n += 1).or_insert(0);
            table = format!("{name}[{count}]");
        } else if l.starts_with('[') {
            let mut parts = header(l);
            if let Some(n) = arrays.get(&parts[0]) {
                parts[0] = format!("{}[{n}]", parts[0]);
            }
            table = parts.join(".");
        } else if number + 1 == line {
            let key = l.split('=').next().unwrap_or("").trim().trim_matches(['"', '\'']);
            if l.contains('=') && !key.is_empty() {
                return join(&table, key);
            }
        }
    }
    if table.is_empty() {
        table.push_str("(top level)");
    }
    table
}
