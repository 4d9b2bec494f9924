//! Environment knobs belong to the command they are set on, not to the daemon.
//!
//! The client sends its whole environment with every request, and the
//! daemon reads a request's knobs from that alone (SPEC §1): so
//! `LLAMA_ALLOW_DOWNLOADS=1 arw runtime weights` works against a daemon that
//! another shell started long ago, a knob that this command did not set is
//! unset for it, and `${ANY_VAR}` in a manifest expands from the shell that
//! asked. The daemon's own environment (inherited from the shell that
//! started it) is the fallback for what no command asked for: runtimes it
//! auto-starts, the matrix it publishes by itself.

use std::collections::BTreeMap;

/// This process's environment, to send with a request.
pub fn capture() -> BTreeMap<String, String> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

/// Where one piece of work reads its knobs from.
#[derive(Clone, Default)]
pub struct Knobs {
    /// `None`: the daemon's own environment.
    request: Option<BTreeMap<String, String>>,
}

impl std::fmt::Debug for Knobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.request {
            Some(map) => f.debug_list().entries(map.keys()).finish(),
            None => f.write_str("<daemon environment>"),
        }
    }
}

impl Knobs {
    /// A request's environment, as the client sent it.
    pub fn new(request: BTreeMap<String, String>) -> Knobs {
        Knobs { request: Some(request) }
    }

    /// Only the daemon's own environment.
    pub fn daemon() -> Knobs {
        Knobs { request: None }
    }

    /// Every variable this work sees: the request's, else the daemon's.
    pub fn vars(&self) -> BTreeMap<String, String> {
        self.request.clone().unwrap_or_else(capture)
    }

    pub fn get(&self, name: &str) -> Option<String> {
        match &self.request {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
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

    /// A request sees its own environment only: what the command did not
    /// set is unset, whatever the daemon's environment holds.
    #[test]
    fn request_environment_is_authoritative() {
        let mut req = BTreeMap::new();
        req.insert("LLAMA_SERVER_BIN".to_string(), "/from/request".to_string());
        let knobs = Knobs::new(req);
        assert_eq!(knobs.get("LLAMA_SERVER_BIN").as_deref(), Some("/from/request"));
        assert_eq!(knobs.get("PATH"), None, "not sent, so not set for this request");
        assert!(Knobs::daemon().get("PATH").is_some(), "the daemon's own work reads its environment");
        assert!(capture().contains_key("PATH"));
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
