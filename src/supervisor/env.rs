//! The environment a runtime starts with: a documented minimum, not
//! whatever shell happened to start the daemon.
//!
//! A runtime gets, from the environment of the command that asked for the
//! start (the daemon's own for auto-starts and automatic restarts):
//!
//! - `PATH`, `HOME`, `USER`, `LOGNAME`, `SHELL`, `LANG`, `LANGUAGE`, `LC_*`,
//!   `TZ`, `TMPDIR`, `LD_LIBRARY_PATH` — what any program expects (a request
//!   that does not carry one gets the daemon's own: nothing secret, and a
//!   runtime without `PATH` would not start);
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

/// Whether `name` is in the documented minimum (the list lives with the
/// knobs: the client sends these too, so a command's settings reach the
/// runtime it starts).
pub use crate::knobs::runtime_var as passes;

/// Basics a request may leave out; the daemon's own value then stands in.
fn basic(name: &str) -> bool {
    crate::knobs::RUNTIME_NAMES.contains(&name) || name.starts_with("LC_")
}

/// The runtime's whole environment: the daemon's basics, the minimum from
/// `work` (the requesting command's variables) over them, then the
/// manifest's (already expanded) `env`.
pub fn build(
    daemon: &BTreeMap<String, String>,
    work: &BTreeMap<String, String>,
    manifest: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let pick = |vars: &BTreeMap<String, String>, keep: fn(&str) -> bool| {
        vars.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>()
    };
    let mut env: BTreeMap<String, String> = pick(daemon, basic).into_iter().collect();
    env.extend(pick(work, passes));
    env.extend(manifest.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Secrets and unrelated variables stay out; the minimum and the
    /// manifest's entries get in, the manifest winning; a request without
    /// `PATH` gets the daemon's, but never the daemon's tuning knobs.
    #[test]
    fn minimum_plus_manifest() {
        let work = map(&[
            ("PATH", "/bin"),
            ("HF_TOKEN", "hf_secret"),
            ("OPENAI_API_KEY", "sk"),
            ("LC_ALL", "C"),
            ("CUDA_VISIBLE_DEVICES", "0"),
            ("LLAMA_ARG_CTX_SIZE", "512"),
            ("RANDOM_THING", "x"),
        ]);
        let manifest = map(&[("HF_TOKEN", "asked"), ("LC_ALL", "en_US.UTF-8")]);
        let env = build(&BTreeMap::new(), &work, &manifest);
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(keys, ["CUDA_VISIBLE_DEVICES", "HF_TOKEN", "LC_ALL", "LLAMA_ARG_CTX_SIZE", "PATH"]);
        assert_eq!(env["HF_TOKEN"], "asked");
        assert_eq!(env["LC_ALL"], "en_US.UTF-8");
        assert!(!build(&BTreeMap::new(), &work, &BTreeMap::new()).contains_key("HF_TOKEN"));

        let daemon =
            map(&[("PATH", "/daemon/bin"), ("HOME", "/home/d"), ("CUDA_VISIBLE_DEVICES", "1"), ("HF_TOKEN", "d")]);
        let env = build(&daemon, &map(&[("PATH", "/request/bin")]), &BTreeMap::new());
        assert_eq!(env, map(&[("HOME", "/home/d"), ("PATH", "/request/bin")]));
    }
}
