//! Runtime registry: TOML manifests turned into validated [`RuntimeSpec`]s.
//!
//! The manifest is read (`read`, bounded) into a tree that remembers where
//! every key and value sits (`tree`), then checked by hand (`table`,
//! `validate`, `checks`) rather than with `#[derive(Deserialize)]`: serde
//! knows the failing value but not its full key path, and SPEC §2 wants every
//! complaint on one line naming file, line, column and key
//! (`runtime[1].health.timeout_ms`) plus a hint. Nothing here expands
//! `{port}` or `${VAR}`; that happens at start, against the requesting
//! client's environment.

mod checks;
pub use checks::valid_id;
mod read;
mod table;
mod tree;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use read::{read_config_file, ReadError, CONFIG_CAP_BYTES};
use table::Doc;

/// The shipped manifest; `load` falls back to it when no user file exists.
pub const DEFAULT_MANIFEST: &str = include_str!("../../configs/runtime/runtimes.toml");

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
    /// `ADDRESS:PORT` for the HTTP surface (SPEC §7); off when unset.
    pub http_listen: Option<String>,
    /// The admin token's file, resolved beside the manifest.
    pub admin_token_file: Option<PathBuf>,
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

pub use crate::protocol::status::{Accelerator, Adapter, Modality};

/// Lets one parser serve every keyword enum (the enums are wire vocabulary,
/// so they live in `protocol`; the manifest reads them by keyword).
trait Keyword: Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
}

macro_rules! keyword {
    ($($name:ident),+) => {$(
        impl Keyword for $name {
            const ALL: &'static [Self] = $name::ALL;
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }
    )+};
}

keyword!(Adapter, Accelerator, Modality);

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
    #[error("{}: cannot read runtime registry: {error}; {}", path.display(), read_hint(error))]
    Read { path: PathBuf, error: ReadError },
    #[error("{origin}:{line}:{column}: {message} (key `{key}`); {hint}")]
    Invalid { origin: String, line: usize, column: usize, key: String, message: String, hint: String },
}

fn read_hint(error: &ReadError) -> &'static str {
    match error {
        ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
            "create it, or name another with `--config` or `ARW_CONFIG`"
        }
        ReadError::Io(_) => "check the file's permissions",
        ReadError::NotRegular(_) => "replace it with a regular file, or name one with `--config` or `ARW_CONFIG`",
        ReadError::TooLarge(_) => {
            "even a manifest of 10 000 runtimes is about 1 MiB; check that the path names the right file"
        }
        ReadError::NotUtf8(_) => "save the manifest as UTF-8",
    }
}

/// Validates manifest text alone; see [`load_file`] for the checks against
/// this machine.
pub fn parse(text: &str, origin: &str) -> Result<Registry, RegistryError> {
    Doc { text, origin, check_host: false, base: None }.registry(&tree::parse(text, origin)?)
}

/// Reads and validates a manifest file, and checks that each literal `cwd`
/// is a directory here.
pub fn load_file(path: &Path) -> Result<Registry, RegistryError> {
    let read_error = |error| RegistryError::Read { path: path.to_path_buf(), error };
    let text = read_config_file(path, CONFIG_CAP_BYTES).map_err(read_error)?;
    let origin = path.display().to_string();
    let base = path.parent().map(|d| {
        std::fs::canonicalize(if d.as_os_str().is_empty() { Path::new(".") } else { d })
            .or_else(|_| std::path::absolute(d))
            .unwrap_or_else(|_| d.to_path_buf())
    });
    Doc { text: &text, origin: &origin, check_host: true, base: base.as_deref() }
        .registry(&tree::parse(&text, &origin)?)
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
    // Anything there counts, so a FIFO or a directory in its place is
    // reported rather than silently replaced by the default.
    [xdg, home].into_iter().flatten().map(|d| d.join("arw/runtimes.toml")).find(|p| p.exists())
}

pub fn load(flag: Option<&Path>, env: impl Fn(&str) -> Option<String>) -> Result<Registry, RegistryError> {
    match config_path(flag, env) {
        Some(path) => load_file(&path),
        None => Ok(embedded_default()),
    }
}

#[cfg(test)]
use {
    checks::{check_placeholders, hosts_overlap, parse_endpoint},
    std::fmt,
    tree::{line_col, syntax_key_path},
};

#[cfg(test)]
mod tests;
