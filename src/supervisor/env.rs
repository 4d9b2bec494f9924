//! The environment a runtime starts with: a documented minimum, not
//! whatever shell happened to start the daemon.
//!
//! A runtime gets, from the environment of the command that asked for the
//! start (the daemon's own for auto-starts and automatic restarts):
//!
//! - `PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL`, `LANG`, `LANGUAGE`, `LC_*`,
//!   `TZ`, `TMPDIR`, `LD_LIBRARY_PATH` — what any program expects;
//! - `XDG_CACHE_HOME`, `LLAMA_CACHE` — where llama.cpp keeps `-hf` downloads;
//! - `LLAMA_ARG_*`, `LLAMA_LOG_*`, `GGML_*` — llama.cpp's own settings;
//! - `CUDA_*`, `NVIDIA_*`, `ROCR_*`, `HIP_*`, `HSA_*`, `OMP_*`, `VK_*`,
//!   `ONEAPI_*`, `SYCL_*` — device selection for the GPU backends;
//!
//! then the manifest's `env` on top (its values may use `${VAR}` and
//! `{port}`, like `args`). Nothing else: an `HF_TOKEN` or API key in the
//! daemon's shell reaches a runtime only when its manifest says
//! `env = { HF_TOKEN = "${HF_TOKEN}" }`.

use std::collections::BTreeMap;

/// Passed through by exact name.
pub const NAMES: &[&str] = &[
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

/// Passed through by prefix.
pub const PREFIXES: &[&str] = &[
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

/// Whether `name` is in the documented minimum.
pub fn passes(name: &str) -> bool {
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The runtime's whole environment: the minimum taken from `vars`, then the
/// manifest's (already expanded) `env`.
pub fn build(vars: &BTreeMap<String, String>, manifest: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> =
        vars.iter().filter(|(k, _)| passes(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    env.extend(manifest.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets and unrelated variables stay out; the minimum and the
    /// manifest's entries get in, the manifest winning.
    #[test]
    fn minimum_plus_manifest() {
        let vars: BTreeMap<String, String> = [
            ("PATH", "/bin"),
            ("HF_TOKEN", "hf_secret"),
            ("OPENAI_API_KEY", "sk"),
            ("LC_ALL", "C"),
            ("CUDA_VISIBLE_DEVICES", "0"),
            ("LLAMA_ARG_CTX_SIZE", "512"),
            ("RANDOM_THING", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let manifest: BTreeMap<String, String> = [("HF_TOKEN", "asked"), ("LC_ALL", "en_US.UTF-8")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = build(&vars, &manifest);
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(keys, ["CUDA_VISIBLE_DEVICES", "HF_TOKEN", "LC_ALL", "LLAMA_ARG_CTX_SIZE", "PATH"]);
        assert_eq!(env["HF_TOKEN"], "asked");
        assert_eq!(env["LC_ALL"], "en_US.UTF-8");
        assert!(!build(&vars, &BTreeMap::new()).contains_key("HF_TOKEN"));
    }
}
