//! Environment knobs belong to the command they are set on, not to the daemon.
//!
//! The client sends the variables a request may need — the knob prefixes
//! SPEC §1 lists, the few standard ones paths derive from, and the
//! variables the daemon's manifest references as `${VAR}` (the daemon names
//! them in its welcome) — and the daemon reads a request's knobs from that
//! alone: so
//! `LLAMA_ALLOW_DOWNLOADS=1 arw runtime weights` works against a daemon that
//! another shell started long ago, a knob that this command did not set is
//! unset for it, and `${ANY_VAR}` in a manifest expands from the shell that
//! asked. The daemon's own environment (inherited from the shell that
//! started it) is the fallback for what no command asked for: runtimes it
//! auto-starts, the matrix it publishes by itself.

use std::collections::BTreeMap;

/// Prefixes of the knobs arw reads (SPEC §1), and of the GPU selection
/// variables a runtime started for this request should see.
const PREFIXES: &[&str] = &[
    "ARW_",
    "LLAMA_",
    "RUNTIME_SMOKE_",
    "SMOKE_",
    "VISION_SMOKE_",
    "HF_",
    "HUGGINGFACE",
    "CUDA_",
    "HIP_",
    "ROCR_",
    "GGML_",
];
/// Standard variables paths and command lookup derive from.
const STANDARD: &[&str] = &["MODE", "PATH", "HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"];
/// A runtime's environment, by exact name.
pub const RUNTIME_NAMES: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "LD_LIBRARY_PATH",
    "XDG_CACHE_HOME",
    "LLAMA_CACHE",
];

/// A runtime's environment, by prefix.
pub const RUNTIME_PREFIXES: &[&str] = &[
    "LC_",
    "LLAMA_ARG_",
    "LLAMA_LOG_",
    "GGML_",
    "CUDA_",
    "NVIDIA_",
    "ROCR_",
    "HIP_",
    "HSA_",
    "OMP_",
    "VK_",
    "ONEAPI_",
    "SYCL_",
];

/// Whether `name` is part of a runtime's environment (see
/// `supervisor::env`): what any program expects, llama.cpp's own settings,
/// GPU backends' device selection.
pub fn runtime_var(name: &str) -> bool {
    RUNTIME_NAMES.contains(&name) || RUNTIME_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Credentials: sent only with requests that use them (weights), or when
/// the daemon's manifest references them (`env = { HF_TOKEN = "${HF_TOKEN}" }`).
pub const TOKENS: &[&str] = &["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"];

/// The part of this process's environment a request sends: knob prefixes,
/// standard path variables and `env_refs` (what the daemon's manifest
/// references); tokens only when `with_tokens`. Nothing else leaves the
/// client, so an unrelated `AWS_SECRET_ACCESS_KEY` never reaches a daemon.
pub fn capture(env_refs: &[String], with_tokens: bool) -> BTreeMap<String, String> {
    // Names are checked before anything is copied: most of a shell's
    // environment is not sent, and this runs on every command.
    let vars = std::env::vars_os().filter_map(|(k, v)| {
        let name = k.to_str()?;
        wanted(name, env_refs, with_tokens).then(|| Some((k.into_string().ok()?, v.into_string().ok()?)))?
    });
    vars.collect()
}

/// The daemon's own secret: read from its environment when it starts, never
/// sent with a request (a command cannot change it for a running daemon).
pub const DAEMON_SECRETS: &[&str] = &["ARW_ADMIN_TOKEN"];

fn wanted(name: &str, env_refs: &[String], with_tokens: bool) -> bool {
    if DAEMON_SECRETS.contains(&name) {
        return false;
    }
    if TOKENS.contains(&name) {
        return with_tokens || env_refs.iter().any(|r| r == name);
    }
    PREFIXES.iter().any(|p| name.starts_with(p))
        || STANDARD.contains(&name)
        || runtime_var(name)
        || env_refs.iter().any(|r| r == name)
}

#[cfg(test)]
fn select(
    vars: impl Iterator<Item = (String, String)>,
    env_refs: &[String],
    with_tokens: bool,
) -> BTreeMap<String, String> {
    vars.filter(|(k, _)| wanted(k, env_refs, with_tokens)).collect()
}

/// The variables `${VAR}` in these arguments name, sorted, once each.
pub fn referenced_vars<'a>(args: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut names = std::collections::BTreeSet::new();
    for arg in args {
        let mut rest = arg.as_str();
        while let Some(pos) = rest.find("${") {
            let after = &rest[pos + 2..];
            let Some(end) = after.find('}') else { break };
            names.insert(after[..end].to_string());
            rest = &after[end + 1..];
        }
    }
    names.into_iter().collect()
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
        self.request.clone().unwrap_or_else(|| {
            std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
        })
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
        assert!(capture(&[], false).contains_key("PATH"));
    }

    /// Only knob prefixes, standard paths and referenced names are sent;
    /// tokens only when asked for.
    #[test]
    fn capture_sends_only_what_requests_need() {
        let env = || {
            [("ARW_NODE_ID", "n"), ("AWS_SECRET_ACCESS_KEY", "s"), ("REFERENCED", "y"), ("HF_TOKEN", "hf_test")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
        };
        let plain = select(env(), &[], false);
        assert!(plain.contains_key("ARW_NODE_ID"), "ARW_ is a knob prefix");
        assert!(!plain.contains_key("AWS_SECRET_ACCESS_KEY"));
        assert!(!plain.contains_key("REFERENCED"));
        assert!(!plain.contains_key("HF_TOKEN"));
        let with_admin = select([("ARW_ADMIN_TOKEN".to_string(), "t".to_string())].into_iter(), &[], true);
        assert!(with_admin.is_empty(), "the admin token never travels with a request");
        let asked = select(env(), &["HF_TOKEN".to_string()], false);
        assert!(asked.contains_key("HF_TOKEN"), "a manifest that references the token gets it");
        let refs = select(env(), &["REFERENCED".to_string()], true);
        assert_eq!(refs.get("REFERENCED").map(String::as_str), Some("y"));
        assert_eq!(refs.get("HF_TOKEN").map(String::as_str), Some("hf_test"));
    }

    /// `${VAR}` names are found in any position, once each.
    #[test]
    fn referenced_vars_are_collected() {
        let args = ["-m".to_string(), "${MODEL}".to_string(), "a${X}b${MODEL}".to_string(), "${open".to_string()];
        assert_eq!(referenced_vars(&args), vec!["MODEL".to_string(), "X".to_string()]);
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
