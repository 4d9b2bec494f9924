//! Environment knobs that belong to a command, not to the daemon.
//!
//! The client forwards these with every request; the daemon looks them up in
//! the request first and falls back to its own environment (SPEC §1), so
//! `LLAMA_ALLOW_DOWNLOADS=1 arw runtime weights` works against a daemon that
//! another shell started long ago.

use std::collections::BTreeMap;

/// Prefixes and names forwarded from the client's environment.
const PREFIXES: &[&str] = &["LLAMA_", "RUNTIME_SMOKE_", "SMOKE_", "HF_", "VISION_SMOKE_", "ARW_SMOKE_"];
const NAMES: &[&str] = &[
    "MODE",
    "HUGGINGFACEHUB_API_TOKEN",
    "ARW_NODE_ID",
    "ARW_RUNTIME_MATRIX_TTL_SECS",
    "XDG_CACHE_HOME",
    // runtime weights (SPEC §6)
    "ARW_MODEL_SOURCES",
    "ARW_WEIGHTS_STALL_SECS",
    "ARW_WEIGHTS_RETRIES",
    "ARW_WEIGHTS_BACKOFF_MS",
    "XDG_CONFIG_HOME",
];

pub fn is_forwarded(name: &str) -> bool {
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The knobs set in this process's environment.
pub fn capture() -> BTreeMap<String, String> {
    std::env::vars().filter(|(k, _)| is_forwarded(k)).collect()
}

/// Lookup of a knob for one request: the request's value, else the daemon's.
#[derive(Clone, Default)]
pub struct Knobs {
    request: BTreeMap<String, String>,
}

impl std::fmt::Debug for Knobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.request.keys()).finish()
    }
}

impl Knobs {
    pub fn new(request: BTreeMap<String, String>) -> Knobs {
        Knobs { request }
    }

    /// Only the daemon's own environment.
    pub fn daemon() -> Knobs {
        Knobs::default()
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.request.get(name).cloned().or_else(|| std::env::var(name).ok())
    }

    /// A knob that is set and not empty.
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    /// `1`, `true`, `yes`, `on` (any case) are true.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
            .unwrap_or(false)
    }

    /// The first of `names` that is set, parsed; a value that does not parse
    /// is an error naming the variable rather than a silent default.
    pub fn parsed<T: std::str::FromStr>(&self, names: &[&str]) -> Result<Option<T>, String> {
        for name in names {
            if let Some(raw) = self.non_empty(name) {
                return raw.trim().parse().map(Some).map_err(|_| format!("`{name}={raw}` is not a valid value"));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request values win over the daemon's environment; names outside the
    /// knob set are not forwarded.
    #[test]
    fn request_wins_and_filter_holds() {
        let mut req = BTreeMap::new();
        req.insert("LLAMA_SERVER_BIN".to_string(), "/from/request".to_string());
        let knobs = Knobs::new(req);
        assert_eq!(knobs.get("LLAMA_SERVER_BIN").as_deref(), Some("/from/request"));
        assert!(!is_forwarded("PATH"));
        assert!(is_forwarded("LLAMA_GPU_SIMULATE"));
        assert!(is_forwarded("HF_TOKEN"));
        assert!(!is_forwarded("ARW_HOME"));
        assert!(!is_forwarded("SSH_AUTH_SOCK"));
    }

    /// Timeouts resolve in the order given, and garbage is an error.
    #[test]
    fn parsed_precedence_and_errors() {
        let mut req = BTreeMap::new();
        req.insert("SMOKE_TIMEOUT_SECS".to_string(), "30".to_string());
        req.insert("RUNTIME_SMOKE_TIMEOUT_SECS".to_string(), "5".to_string());
        let knobs = Knobs::new(req.clone());
        let v: Option<u64> = knobs.parsed(&["RUNTIME_SMOKE_TIMEOUT_SECS", "SMOKE_TIMEOUT_SECS"]).unwrap();
        assert_eq!(v, Some(5));
        req.insert("RUNTIME_SMOKE_TIMEOUT_SECS".to_string(), "soon".to_string());
        let knobs = Knobs::new(req);
        let err = knobs.parsed::<u64>(&["RUNTIME_SMOKE_TIMEOUT_SECS"]).unwrap_err();
        assert!(err.contains("RUNTIME_SMOKE_TIMEOUT_SECS=soon"), "{err}");
    }
}
