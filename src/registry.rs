//! Runtime registry: TOML manifests turned into validated [`RuntimeSpec`]s.
//!
//! The manifest is read into a tree that remembers where every key and value
//! sits, then checked by hand rather than with `#[derive(Deserialize)]`:
//! serde knows the failing value but not its full key path, and SPEC §2 wants
//! every complaint on one line naming file, line, column and key
//! (`runtime[1].health.timeout_ms`) plus a hint. Nothing here expands
//! `{port}` or `${VAR}`; that happens at start, against the requesting
//! client's environment.

use std::collections::BTreeMap;
use std::fmt::{self, Display};
use std::ops::{Range, RangeBounds};
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The shipped manifest; `load` falls back to it when no user file exists.
pub const DEFAULT_MANIFEST: &str = include_str!("../configs/runtime/runtimes.toml");

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Registry {
    pub daemon: DaemonSettings,
    pub runtimes: Vec<RuntimeSpec>,
    /// File path, or "embedded default".
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaemonSettings {
    /// 0 = never exit on idle.
    pub idle_timeout_secs: u64,
    pub matrix_ttl_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuntimeSpec {
    pub id: String,
    pub name: String,
    pub adapter: Adapter,
    pub command: String,
    /// May contain `{port}` and `${VAR}`, both substituted at start.
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub host: String,
    /// `None`: the daemon picks a free port at each start.
    pub port: Option<u16>,
    pub accelerator: Accelerator,
    pub modalities: Vec<Modality>,
    pub auto_start: bool,
    pub startup_timeout_ms: u64,
    pub health: HealthSpec,
    pub restart: RestartPolicy,
}

/// Closed sets of manifest keywords; each variant serializes as its keyword.
/// `Deserialize` is for protocol payloads that embed them, not for manifests.
macro_rules! keywords {
    ($name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl Keyword for $name {
            const ALL: &'static [Self] = $name::ALL;
            fn as_str(self) -> &'static str {
                self.as_str()
            }
        }
    };
}

/// Lets one parser serve every keyword enum.
trait Keyword: Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
}

keywords!(Adapter { LlamaCpp = "llama.cpp", Stub = "stub", Process = "process", Llava = "llava" });
keywords!(Accelerator { Cpu = "cpu", Gpu = "gpu", Npu = "npu" });
keywords!(Modality { Text = "text", Vision = "vision", Audio = "audio" });

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSpec {
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    /// Consecutive failed probes, after the first ready, before `error`.
    pub failure_threshold: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestartPolicy {
    /// Automatic restarts per window; 0 = never restart automatically.
    pub max_restarts: u32,
    pub window_secs: u64,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for HealthSpec {
    fn default() -> Self {
        HealthSpec { path: "/health".into(), interval_ms: 2000, timeout_ms: 1000, failure_threshold: 3 }
    }
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy { max_restarts: 3, window_secs: 600, backoff_initial_ms: 1000, backoff_max_ms: 30_000 }
    }
}

impl Registry {
    pub fn get(&self, id: &str) -> Option<&RuntimeSpec> {
        self.runtimes.iter().find(|r| r.id == id)
    }
}

impl RuntimeSpec {
    /// Base URL for `port`: the configured one, or the one picked at start.
    pub fn endpoint(&self, port: u16) -> String {
        match self.host.contains(':') {
            true => format!("http://[{}]:{port}", self.host),
            false => format!("http://{}:{port}", self.host),
        }
    }

    pub fn uses_port_placeholder(&self) -> bool {
        self.args.iter().any(|a| a.contains("{port}"))
    }
}

/// Every variant displays as one line, fit for stderr or a reload event.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{}: cannot read runtime registry: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{origin}:{line}:{column}: {message} (key `{key}`); {hint}")]
    Invalid { origin: String, line: usize, column: usize, key: String, message: String, hint: String },
}

pub fn parse(text: &str, origin: &str) -> Result<Registry, RegistryError> {
    let doc = Doc { text, origin };
    let root: Node = toml::from_str(text).map_err(|e| doc.syntax_error(&e))?;
    doc.registry(&root)
}

pub fn load_file(path: &Path) -> Result<Registry, RegistryError> {
    let text =
        std::fs::read_to_string(path).map_err(|error| RegistryError::Read { path: path.to_path_buf(), error })?;
    parse(&text, &path.display().to_string())
}

pub fn embedded_default() -> Registry {
    parse(DEFAULT_MANIFEST, "embedded default").expect("embedded manifest is valid (unit-tested)")
}

/// Which manifest to read; `None` means the embedded default. A file named
/// explicitly (flag, `ARW_CONFIG`) is returned even when missing, so a typo
/// is reported instead of silently running the default.
pub fn config_path(flag: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(path) = flag.map(Path::to_path_buf).or_else(|| var("ARW_CONFIG")) {
        return Some(path);
    }
    // The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    let xdg = var("XDG_CONFIG_HOME").filter(|p| p.is_absolute());
    let home = var("HOME").map(|h| h.join(".config"));
    [xdg, home].into_iter().flatten().map(|d| d.join("arw/runtimes.toml")).find(|p| p.is_file())
}

pub fn load(flag: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Registry, RegistryError> {
    match config_path(flag, env) {
        Some(path) => load_file(&path),
        None => Ok(embedded_default()),
    }
}

// --- Position-keeping document tree -----------------------------------------
//
// `toml::Spanned<T>` cannot wrap every value: tables made implicitly by
// dotted keys (`health.path = "/x"`) carry no span and `Spanned` then fails
// with a confusing type error. So the tree requests spans through the same
// private protocol `Spanned` uses (fixed for toml 0.8 / serde_spanned 0.6;
// the tests would catch a change) and also accepts values without one.

const SPANNED: &str = "$__serde_spanned_private_Spanned";
const SPANNED_FIELDS: &[&str] =
    &["$__serde_spanned_private_start", "$__serde_spanned_private_end", "$__serde_spanned_private_value"];
const DATETIME_FIELD: &str = "$__toml_private_datetime";

/// `span` is empty when toml did not provide one.
struct Node {
    span: Range<usize>,
    value: Value,
}

struct Key {
    name: String,
    span: Range<usize>,
}

enum Value {
    String(String),
    Integer(i64),
    Float,
    Boolean(bool),
    Datetime,
    Array(Vec<Node>),
    Table(Vec<(Key, Node)>),
}

impl Value {
    fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    fn as_int(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<&[Node]> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
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

impl From<Value> for Node {
    fn from(value: Value) -> Self {
        Node { span: 0..0, value }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED, SPANNED_FIELDS, NodeVisitor)
    }
}

/// The value inside a span wrapper: asking for a span again would recurse.
struct Unwrapped;

impl<'de> DeserializeSeed<'de> for Unwrapped {
    type Value = Node;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Value::String(v.to_owned()).into())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Value::Integer(v).into())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Value::Float.into())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Value::Boolean(v).into())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items).into())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let Value::String(name) = key.value else {
                return Err(de::Error::custom("table keys must be strings"));
            };
            if name == SPANNED_FIELDS[0] {
                let start = map.next_value()?;
                map.next_key::<Node>()?;
                let end = map.next_value()?;
                map.next_key::<Node>()?;
                let inner = map.next_value_seed(Unwrapped)?;
                return Ok(Node { span: start..end, value: inner.value });
            }
            if name == DATETIME_FIELD {
                map.next_value::<de::IgnoredAny>()?;
                return Ok(Value::Datetime.into());
            }
            let mut value: Node = map.next_value()?;
            // An implicit table has no span of its own: point at its key.
            if value.span.is_empty() {
                value.span = key.span.clone();
            }
            entries.push((Key { name, span: key.span }, value));
        }
        Ok(Value::Table(entries).into())
    }
}

// --- Validation --------------------------------------------------------------

type Res<T> = Result<T, RegistryError>;

struct Doc<'a> {
    text: &'a str,
    origin: &'a str,
}

/// A table whose keys all passed its allow-list, with typed getters that
/// report a problem at the offending value (or at the table, if missing).
struct Table<'a> {
    doc: &'a Doc<'a>,
    path: String,
    span: Range<usize>,
    entries: &'a [(Key, Node)],
}

const RUNTIME_KEYS: &str = "id name adapter command args env cwd host port endpoint accelerator \
    modalities auto_start startup_timeout_ms health restart";

const ID_HINT: &str = "use a-z, 0-9, '.', '_', '-', starting with a letter or digit, ≤ 64 chars";
const PORT_HINT: &str = "use a port between 1 and 65535";
const ENDPOINT_HINT: &str = "write it as http://host:port with no path, e.g. http://127.0.0.1:8080";

fn join(path: &str, key: &str) -> String {
    match path.is_empty() {
        true => key.to_owned(),
        false => format!("{path}.{key}"),
    }
}

impl<'a> Table<'a> {
    /// `allowed` is a space-separated key list.
    fn new(doc: &'a Doc, node: &'a Node, path: String, allowed: &str, hint: &str) -> Res<Self> {
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

    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries.iter().find(|(k, _)| k.name == key).map(|(_, v)| v)
    }

    fn key(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The value of `key` if written, else the table (for a missing key).
    fn span_of(&self, key: &str) -> &Range<usize> {
        self.get(key).map_or(&self.span, |n| &n.span)
    }

    fn fail(&self, key: &str, message: impl Display, hint: impl Display) -> RegistryError {
        self.doc.err(self.span_of(key), &self.key(key), message, hint)
    }

    /// `Some(value)` if `key` is written and `cast` accepts it; `want` names
    /// the accepted type in the error otherwise.
    fn field<T>(&self, key: &str, want: &str, hint: &str, cast: impl FnOnce(&'a Value) -> Option<T>) -> Res<Option<T>> {
        let Some(node) = self.get(key) else {
            return Ok(None);
        };
        let wrong_type = || self.doc.type_error(node, &self.key(key), want, hint);
        cast(&node.value).ok_or_else(wrong_type).map(Some)
    }

    fn string(&self, key: &str, hint: &str) -> Res<Option<String>> {
        let value = self.field(key, "a string", hint, Value::as_str)?;
        if value.is_some_and(|s| s.trim().is_empty()) {
            return Err(self.fail(key, "must not be empty", hint));
        }
        Ok(value.map(str::to_owned))
    }

    fn required(&self, key: &str, hint: &str) -> Res<String> {
        let missing = || self.fail(key, format!("missing required key `{key}`"), hint);
        self.string(key, hint)?.ok_or_else(missing)
    }

    fn uint(&self, key: &str, range: impl RangeBounds<u64>, hint: &str) -> Res<Option<u64>> {
        let Some(n) = self.field(key, "an integer", hint, Value::as_int)? else {
            return Ok(None);
        };
        match u64::try_from(n) {
            Ok(v) if range.contains(&v) => Ok(Some(v)),
            _ => Err(self.fail(key, format!("{n} is out of range"), hint)),
        }
    }

    fn boolean(&self, key: &str) -> Res<Option<bool>> {
        self.field(key, "a boolean", "write true or false, unquoted", Value::as_bool)
    }

    /// Elements paired with their key paths (`args[2]`).
    fn array(&self, key: &str, hint: &str) -> Res<Option<Vec<(&'a Node, String)>>> {
        let items = self.field(key, "an array", hint, Value::as_array)?;
        let path = |i| format!("{}[{i}]", self.key(key));
        Ok(items.map(|items| items.iter().enumerate().map(|(i, n)| (n, path(i))).collect()))
    }

    fn keyword<T: Keyword>(&self, key: &str) -> Res<Option<T>> {
        self.get(key).map(|n| self.doc.keyword(n, &self.key(key))).transpose()
    }

    fn table(&self, key: &str, allowed: &str) -> Res<Option<Table<'a>>> {
        let Some(node) = self.get(key) else {
            return Ok(None);
        };
        let hint = format!("write it as a [{}] section or an inline table", self.key(key));
        Table::new(self.doc, node, self.key(key), allowed, &hint).map(Some)
    }
}

impl Doc<'_> {
    fn err(&self, span: &Range<usize>, key: &str, message: impl Display, hint: impl Display) -> RegistryError {
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

    fn type_error(&self, node: &Node, key: &str, want: &str, hint: &str) -> RegistryError {
        let message = format!("expected {want}, found {}", node.value.kind());
        self.err(&node.span, key, message, hint)
    }

    fn keyword<T: Keyword>(&self, node: &Node, key: &str) -> Res<T> {
        let names: Vec<&str> = T::ALL.iter().map(|k| k.as_str()).collect();
        let hint = format!("expected one of: {}", names.join(", "));
        let Value::String(s) = &node.value else {
            return Err(self.type_error(node, key, "a string", &hint));
        };
        let found = T::ALL.iter().copied().find(|k| k.as_str() == s);
        found.ok_or_else(|| self.err(&node.span, key, format!("unknown value `{s}`"), hint))
    }

    fn syntax_error(&self, e: &toml::de::Error) -> RegistryError {
        let span = e.span().unwrap_or(0..0);
        // toml's messages can run over several lines; ours must not.
        let lines: Vec<&str> = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let message = format!("TOML syntax error: {}", lines.join(", "));
        let hint = match message.contains("duplicate key") {
            true => "each key may appear only once per table",
            false => "close every quote and bracket; see https://toml.io for the syntax",
        };
        let key = syntax_key_path(self.text, line_col(self.text, span.start).0);
        self.err(&span, &key, message, hint)
    }

    fn registry(&self, root: &Node) -> Res<Registry> {
        let top = Table::new(self, root, String::new(), "daemon runtime", "")?;
        let (mut idle_timeout_secs, mut matrix_ttl_secs) = (900, 60);
        if let Some(d) = top.table("daemon", "idle_timeout_secs matrix_ttl_secs")? {
            let idle_hint = "use whole seconds; 0 keeps the daemon alive forever";
            let idle = d.uint("idle_timeout_secs", .., idle_hint)?;
            let ttl = d.uint("matrix_ttl_secs", 1.., "use whole seconds, at least 1")?;
            idle_timeout_secs = idle.unwrap_or(idle_timeout_secs);
            matrix_ttl_secs = ttl.unwrap_or(matrix_ttl_secs);
        }
        let mut runtimes: Vec<RuntimeSpec> = Vec::new();
        let mut id_offsets = BTreeMap::new();
        let hint = "declare each runtime in its own [[runtime]] section (double brackets)";
        for (node, path) in top.array("runtime", hint)?.unwrap_or_default() {
            let f = Table::new(self, node, path, RUNTIME_KEYS, hint)?;
            let spec = self.runtime(&f)?;
            if let Some(&first) = id_offsets.get(&spec.id) {
                let line = line_col(self.text, first).0;
                let hint = format!("ids must be unique; `{}` is first defined at line {line}", spec.id);
                return Err(f.fail("id", "duplicate runtime id", hint));
            }
            id_offsets.insert(spec.id.clone(), f.span_of("id").start);
            runtimes.push(spec);
        }
        let daemon = DaemonSettings { idle_timeout_secs, matrix_ttl_secs };
        let origin = self.origin.to_owned();
        Ok(Registry { daemon, runtimes, origin })
    }

    fn runtime(&self, f: &Table) -> Res<RuntimeSpec> {
        let id = f.required("id", ID_HINT)?;
        if !valid_id(&id) {
            return Err(f.fail("id", format!("invalid id `{id}`"), ID_HINT));
        }
        let name = f.string("name", "a display name, e.g. \"llama.cpp server\"")?;
        let adapter_hint = "add adapter = \"llama.cpp\" (or stub, process, llava)";
        let missing_adapter = || f.fail("adapter", "missing required key `adapter`", adapter_hint);
        let adapter = f.keyword("adapter")?.ok_or_else(missing_adapter)?;
        let command = f.required("command", "name the program to run, e.g. \"llama-server\"")?;
        if let Err(problem) = check_placeholders(&command) {
            return Err(f.fail("command", problem, "write variables as ${NAME}"));
        }
        let args = self.args(f)?;
        let env = self.env(f)?;
        let cwd = f.string("cwd", "a directory, e.g. \"/srv/models\"")?;
        let (host, port) = self.address(f)?;
        let needs_port = matches!(adapter, Adapter::LlamaCpp | Adapter::Llava);
        if port.is_none() && needs_port && !args.iter().any(|a| a.contains("{port}")) {
            let message = "no port is set and args do not contain {port}";
            let hint = "set `port`, or pass \"{port}\" in args so the server listens where arw looks";
            return Err(f.fail("port", message, hint));
        }
        let startup_hint = "use whole milliseconds, at least 1 (large models load for minutes)";
        let startup_timeout_ms = f.uint("startup_timeout_ms", 1.., startup_hint)?;
        Ok(RuntimeSpec {
            name: name.unwrap_or_else(|| id.clone()),
            id,
            adapter,
            command,
            args,
            env,
            cwd: cwd.map(PathBuf::from),
            host,
            port,
            accelerator: f.keyword("accelerator")?.unwrap_or(Accelerator::Cpu),
            modalities: self.modalities(f)?,
            auto_start: f.boolean("auto_start")?.unwrap_or(true),
            startup_timeout_ms: startup_timeout_ms.unwrap_or(120_000),
            health: self.health(f)?,
            restart: self.restart(f)?,
        })
    }

    fn args(&self, f: &Table) -> Res<Vec<String>> {
        let hint = "a list of strings, e.g. [\"--port\", \"{port}\"]";
        let mut args = Vec::new();
        for (node, path) in f.array("args", hint)?.unwrap_or_default() {
            let Value::String(arg) = &node.value else {
                return Err(self.type_error(node, &path, "a string", hint));
            };
            if let Err(problem) = check_placeholders(arg) {
                return Err(self.err(&node.span, &path, problem, "write variables as ${NAME}"));
            }
            args.push(arg.clone());
        }
        Ok(args)
    }

    /// Not a [`Table`]: any variable name is allowed.
    fn env(&self, f: &Table) -> Res<BTreeMap<String, String>> {
        let mut env = BTreeMap::new();
        let Some(node) = f.get("env") else {
            return Ok(env);
        };
        let Value::Table(entries) = &node.value else {
            let hint = "write it as env = { NAME = \"value\" }";
            return Err(self.type_error(node, &f.key("env"), "a table", hint));
        };
        for (k, v) in entries {
            let path = f.key(&format!("env.{}", k.name));
            if k.name.is_empty() || k.name.contains(['=', '\0']) {
                let hint = "names must be non-empty, without '=' or NUL";
                return Err(self.err(&k.span, &path, "invalid variable name", hint));
            }
            let Value::String(val) = &v.value else {
                return Err(self.type_error(v, &path, "a string", "quote the value"));
            };
            env.insert(k.name.clone(), val.clone());
        }
        Ok(env)
    }

    /// `endpoint` is another spelling of `host` + `port`; both may be given
    /// only if they agree.
    fn address(&self, f: &Table) -> Res<(String, Option<u16>)> {
        let host_hint = "a host name or IP address, e.g. \"127.0.0.1\"";
        let host = f.string("host", host_hint)?;
        if let Some(h) = host.as_ref().filter(|h| !valid_host(h)) {
            return Err(f.fail("host", format!("invalid host `{h}`"), host_hint));
        }
        let port = f.uint("port", 1..=65535, PORT_HINT)?.map(|p| p as u16);
        let Some(url) = f.string("endpoint", ENDPOINT_HINT)? else {
            return Ok((host.unwrap_or_else(|| "127.0.0.1".into()), port));
        };
        let bad_url = |problem| f.fail("endpoint", problem, ENDPOINT_HINT);
        let (url_host, url_port) = parse_endpoint(&url).map_err(bad_url)?;
        let conflicts = [("host", host.is_some_and(|h| h != url_host)), ("port", port.is_some_and(|p| p != url_port))];
        if let Some((key, _)) = conflicts.into_iter().find(|(_, conflict)| *conflict) {
            let hint = "give either endpoint or host/port, or make them agree";
            return Err(f.fail(key, format!("conflicts with endpoint `{url}`"), hint));
        }
        Ok((url_host, Some(url_port)))
    }

    fn modalities(&self, f: &Table) -> Res<Vec<Modality>> {
        let hint = "a non-empty list drawn from: text, vision, audio";
        let Some(items) = f.array("modalities", hint)? else {
            return Ok(vec![Modality::Text]);
        };
        let mut modalities = Vec::new();
        for (node, path) in items {
            let modality = self.keyword(node, &path)?;
            if modalities.contains(&modality) {
                return Err(self.err(&node.span, &path, "modality listed twice", "list each once"));
            }
            modalities.push(modality);
        }
        if modalities.is_empty() {
            return Err(f.fail("modalities", "must not be empty", hint));
        }
        Ok(modalities)
    }

    fn health(&self, runtime: &Table) -> Res<HealthSpec> {
        let mut h = HealthSpec::default();
        let keys = "path interval_ms timeout_ms failure_threshold";
        let Some(f) = runtime.table("health", keys)? else {
            return Ok(h);
        };
        let path_hint = "an HTTP path starting with '/', e.g. \"/health\"";
        if let Some(path) = f.string("path", path_hint)? {
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                return Err(f.fail("path", format!("invalid health path `{path}`"), path_hint));
            }
            h.path = path;
        }
        let interval = f.uint("interval_ms", 50.., "use whole milliseconds, at least 50")?;
        let timeout = f.uint("timeout_ms", 10.., "use whole milliseconds, at least 10")?;
        let threshold_hint = "use a whole number of probes, at least 1";
        let threshold = f.uint("failure_threshold", 1..=u32::MAX as u64, threshold_hint)?;
        h.interval_ms = interval.unwrap_or(h.interval_ms);
        h.timeout_ms = timeout.unwrap_or(h.timeout_ms);
        h.failure_threshold = threshold.map_or(h.failure_threshold, |t| t as u32);
        if h.timeout_ms > h.interval_ms {
            // Blame the value the user wrote; a default is not their mistake.
            let key = timeout.map_or("interval_ms", |_| "timeout_ms");
            let (timeout, interval) = (h.timeout_ms, h.interval_ms);
            let message = format!("timeout_ms ({timeout}) exceeds interval_ms ({interval})");
            let hint = "probes must not overlap; keep timeout_ms <= interval_ms";
            return Err(f.fail(key, message, hint));
        }
        Ok(h)
    }

    fn restart(&self, runtime: &Table) -> Res<RestartPolicy> {
        let mut r = RestartPolicy::default();
        let keys = "max_restarts window_secs backoff_initial_ms backoff_max_ms";
        let Some(f) = runtime.table("restart", keys)? else {
            return Ok(r);
        };
        let max_hint = "use a whole number; 0 disables automatic restarts";
        let max = f.uint("max_restarts", ..=u32::MAX as u64, max_hint)?;
        let window = f.uint("window_secs", 1.., "use whole seconds, at least 1")?;
        let initial = f.uint("backoff_initial_ms", .., "use whole milliseconds")?;
        let ceiling = f.uint("backoff_max_ms", .., "use whole milliseconds")?;
        r.max_restarts = max.map_or(r.max_restarts, |n| n as u32);
        r.window_secs = window.unwrap_or(r.window_secs);
        r.backoff_initial_ms = initial.unwrap_or(r.backoff_initial_ms);
        r.backoff_max_ms = ceiling.unwrap_or(r.backoff_max_ms);
        if r.backoff_max_ms < r.backoff_initial_ms {
            let key = ceiling.map_or("backoff_initial_ms", |_| "backoff_max_ms");
            let (max, initial) = (r.backoff_max_ms, r.backoff_initial_ms);
            let message = format!("backoff_max_ms ({max}) is below backoff_initial_ms ({initial})");
            return Err(f.fail(key, message, "keep backoff_max_ms >= backoff_initial_ms"));
        }
        Ok(r)
    }
}

pub fn valid_id(id: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    id.len() <= 64 && id.starts_with(alnum) && id.chars().all(|c| alnum(c) || ".-_".contains(c))
}

fn valid_host(host: &str) -> bool {
    !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || "/@?#[]".contains(c))
}

/// Rejects a `${` that does not form `${NAME}`, so the typo fails at load
/// rather than reaching the runtime as a literal argument.
fn check_placeholders(arg: &str) -> Result<(), String> {
    let mut rest = arg;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let name = &after[..after.find('}').ok_or("unterminated `${`")?];
        let first_ok = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("invalid variable reference `${{{name}}}`"));
        }
        rest = &after[name.len() + 1..];
    }
    Ok(())
}

fn parse_endpoint(url: &str) -> Result<(String, u16), String> {
    let rest = url.strip_prefix("http://").ok_or(format!("endpoint `{url}` is not http://"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return Err(format!("endpoint `{url}` has a path, query or user part"));
    }
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").ok_or(format!("endpoint `{url}` has no port"))?,
        None => authority.rsplit_once(':').ok_or(format!("endpoint `{url}` has no port"))?,
    };
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("endpoint `{url}` has an invalid port")),
        Ok(_) if !valid_host(host) => Err(format!("endpoint `{url}` has an invalid host")),
        Ok(port) => Ok((host.to_owned(), port)),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (before.matches('\n').count() + 1, before[line_start..].chars().count() + 1)
}

/// Best-effort key path for a syntax error, which comes without a tree: the
/// last table header up to `line`, plus the key assigned on that line.
fn syntax_key_path(text: &str, line: usize) -> String {
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

#[cfg(test)]
mod tests;
