//! Typed reads from the manifest tree, each failure one [`RegistryError`]
//! pointing at the offending value (or at its table, when a key is missing).

use std::fmt::Display;
use std::ops::{Range, RangeBounds};

use super::tree::{join, line_col, Key, Node, Value};
use super::{Keyword, RegistryError};

use std::path::Path;

pub(super) type Res<T> = Result<T, RegistryError>;

pub(super) struct Doc<'a> {
    pub text: &'a str,
    pub origin: &'a str,
    /// Whether to check the manifest against this machine (a literal `cwd`
    /// exists). Off for `parse`, so text-only callers do not depend on the
    /// filesystem.
    pub check_host: bool,
    /// The manifest file's directory: relative `cwd`s and `./commands` in
    /// it mean paths next to the file, not wherever the daemon started.
    pub base: Option<&'a Path>,
}

/// A table whose keys all passed its allow-list, with typed getters that
/// report a problem at the offending value (or at the table, if missing).
pub(super) struct Table<'a> {
    pub doc: &'a Doc<'a>,
    pub path: String,
    pub span: Range<usize>,
    pub entries: &'a [(Key, Node)],
}

impl<'a> Table<'a> {
    /// `allowed` is a space-separated key list.
    pub(super) fn new(doc: &'a Doc, node: &'a Node, path: String, allowed: &str, hint: &str) -> Res<Self> {
        let Value::Table(entries) = &node.value else {
            return Err(doc.type_error(node, &path, "a table", hint));
        };
        let allowed: Vec<&str> = allowed.split_whitespace().collect();
        if let Some((k, _)) = entries.iter().find(|(k, _)| !allowed.contains(&&*k.name)) {
            let message = format!("unknown key `{}`", k.name);
            let hint = format!("expected one of: {}", allowed.join(", "));
            return Err(doc.err(&k.span, &join(&path, &k.name), message, hint));
        }
        Ok(Table { doc, path, span: node.span.clone(), entries })
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    pub(super) fn key(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The value of `key` if written, else the table (for a missing key).
    pub(super) fn span_of(&self, key: &str) -> &Range<usize> {
        self.get(key).map_or(&self.span, |n| &n.span)
    }

    pub(super) fn fail(&self, key: &str, message: impl Display, hint: impl Display) -> RegistryError {
        self.doc.err(self.span_of(key), &self.key(key), message, hint)
    }

    /// `Some(value)` if `key` is written and `cast` accepts it; `want` names
    /// the accepted type in the error otherwise.
    pub(super) fn field<T>(
        &self,
        key: &str,
        want: &str,
        hint: &str,
        cast: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Res<Option<T>> {
        let Some(node) = self.get(key) else {
            return Ok(None);
        };
        let wrong_type = || self.doc.type_error(node, &self.key(key), want, hint);
        cast(&node.value).ok_or_else(wrong_type).map(Some)
    }

    pub(super) fn string(&self, key: &str, hint: &str) -> Res<Option<String>> {
        let value = self.field(key, "a string", hint, Value::as_str)?;
        if value.is_some_and(|s| s.trim().is_empty()) {
            return Err(self.fail(key, "must not be empty", hint));
        }
        Ok(value.map(str::to_owned))
    }

    pub(super) fn required(&self, key: &str, hint: &str) -> Res<String> {
        let missing = || self.fail(key, format!("missing required key `{key}`"), hint);
        self.string(key, hint)?.ok_or_else(missing)
    }

    pub(super) fn uint(&self, key: &str, range: impl RangeBounds<u64>, hint: &str) -> Res<Option<u64>> {
        let Some(n) = self.field(key, "an integer", hint, Value::as_int)? else {
            return Ok(None);
        };
        match u64::try_from(n) {
            Ok(v) if range.contains(&v) => Ok(Some(v)),
            _ => Err(self.fail(key, format!("{n} is out of range"), hint)),
        }
    }

    pub(super) fn boolean(&self, key: &str) -> Res<Option<bool>> {
        self.field(key, "a boolean", "write true or false, unquoted", Value::as_bool)
    }

    /// Elements paired with their key paths (`args[2]`).
    pub(super) fn array(&self, key: &str, hint: &str) -> Res<Option<Vec<(&'a Node, String)>>> {
        let items = self.field(key, "an array", hint, Value::as_array)?;
        let path = |i| format!("{}[{i}]", self.key(key));
        Ok(items.map(|items| items.iter().enumerate().map(|(i, n)| (n, path(i))).collect()))
    }

    pub(super) fn keyword<T: Keyword>(&self, key: &str) -> Res<Option<T>> {
        self.get(key).map(|n| self.doc.keyword(n, &self.key(key))).transpose()
    }

    pub(super) fn table(&self, key: &str, allowed: &str) -> Res<Option<Table<'a>>> {
        let Some(node) = self.get(key) else {
            return Ok(None);
        };
        let hint = format!("write it as a [{}] section or an inline table", self.key(key));
        Table::new(self.doc, node, self.key(key), allowed, &hint).map(Some)
    }
}

impl Doc<'_> {
    pub(super) fn err(
        &self,
        span: &Range<usize>,
        key: &str,
        message: impl Display,
        hint: impl Display,
    ) -> RegistryError {
        let (line, column) = line_col(self.text, span.start);
        RegistryError::Invalid {
            origin: self.origin.to_owned(),
            line,
            column,
            key: key.to_owned(),
            message: message.to_string(),
            hint: hint.to_string(),
        }
    }

    pub(super) fn type_error(&self, node: &Node, key: &str, want: &str, hint: &str) -> RegistryError {
        let message = format!("expected {want}, found {}", node.value.kind());
        self.err(&node.span, key, message, hint)
    }

    pub(super) fn keyword<T: Keyword>(&self, node: &Node, key: &str) -> Res<T> {
        let names: Vec<&str> = T::ALL.iter().map(|k| k.as_str()).collect();
        let hint = format!("expected one of: {}", names.join(", "));
        let Value::String(s) = &node.value else {
            return Err(self.type_error(node, key, "a string", &hint));
        };
        let found = T::ALL.iter().copied().find(|k| k.as_str() == s);
        found.ok_or_else(|| self.err(&node.span, key, format!("unknown value `{s}`"), hint))
    }
}
