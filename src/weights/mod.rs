//! GGUF weights: opt-in, verified, resumable downloads into the Hugging Face
//! cache (SPEC §6).
//!
//! * [`sources`]: the model roster (`model_sources.json`, `LLAMA_MODEL_SOURCES`).
//! * [`cache`]: the huggingface_hub cache layout (`blobs/`, `snapshots/`,
//!   `refs/`) and the `<file>` links in `$ARW_HOME/cache/models`.
//! * [`local`]: a verified copy already on disk, found without the network.
//! * [`hub`]: the hub protocol: resolve a file to commit, LFS sha256 and size.
//! * [`fetch`]: the download loop (Range resume, retries, stall detection,
//!   mirror fallback, streaming sha256, fsync + rename).
//! * [`verify`]: sha256 of whole files and the record of past verifications.
//! * [`fit`]: free disk and memory against the model before downloading.
//! * [`jobs`]: daemon-owned downloads that outlive the client that asked.
//! * [`service`]: one request (list, path, verify, fetch), whatever transport
//!   carried it.
//!
//! This module resolves, per request, everything that depends on the
//! client's environment: cache directory, endpoint, token, opt-in, timeouts.

pub mod cache;
pub mod checklist;
pub mod download;
pub mod fetch;
pub mod fit;
pub mod hub;
pub mod inventory;
pub mod jobs;
pub mod local;
pub mod service;
pub mod sources;
pub mod verify;

use crate::knobs::Knobs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public hub, unless `HF_ENDPOINT` says otherwise.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A hub access token. It has no `Display`, and `Debug` hides it: the only
/// way out is [`Token::bearer`], for an `Authorization` header.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

impl Token {
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

/// Network behaviour, from `ARW_WEIGHTS_*` knobs.
#[derive(Debug, Clone)]
pub struct NetSettings {
    /// No byte for this long → the attempt counts as stalled and is retried.
    pub stall: Duration,
    /// Attempts per source after the first, before moving to the next mirror.
    pub retries: u32,
    /// First backoff; doubles per failed attempt, capped at 30 s.
    pub backoff: Duration,
}

/// Everything a weights request needs from its environment.
#[derive(Debug, Clone)]
pub struct WeightsEnv {
    /// The huggingface_hub cache (`.../hub`).
    pub cache_dir: PathBuf,
    /// Where `<file>` links go.
    pub link_dir: PathBuf,
    /// Hub base URL, without a trailing slash.
    pub endpoint: String,
    pub token: Option<Token>,
    /// Which variable or file the token came from (never its value).
    pub token_source: Option<String>,
    /// `LLAMA_ALLOW_DOWNLOADS=1` or `--allow-downloads`.
    pub allow_downloads: bool,
    /// `HF_HUB_OFFLINE=1`: never touch the network, opt-in or not.
    pub offline: bool,
    pub net: NetSettings,
    /// Context size for the memory estimate (`LLAMA_ARG_CTX_SIZE`, 0 = training context).
    pub n_ctx: u32,
    /// Record of verified files (`$ARW_HOME/cache/weights-verified.json`).
    pub stamps: PathBuf,
}

impl WeightsEnv {
    /// Resolves the request's knobs; relative paths are relative to `cwd`.
    pub fn resolve(
        knobs: &Knobs,
        cwd: &Path,
        dir: Option<&str>,
        allow_flag: bool,
        arw_cache: &Path,
    ) -> Result<WeightsEnv, String> {
        let path = |v: String| cwd.join(v);
        let hf_home = knobs
            .non_empty("HF_HOME")
            .map(path)
            .or_else(|| knobs.non_empty("XDG_CACHE_HOME").map(|x| path(x).join("huggingface")))
            .unwrap_or_else(|| crate::paths::home_dir().join(".cache/huggingface"));
        let cache_dir = knobs
            .non_empty("HF_HUB_CACHE")
            .or_else(|| knobs.non_empty("HUGGINGFACE_HUB_CACHE"))
            .map(path)
            .unwrap_or_else(|| hf_home.join("hub"));
        let (token, token_source) = find_token(knobs, &hf_home, cwd);
        let endpoint =
            knobs.non_empty("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.into()).trim_end_matches('/').to_string();
        reqwest::Url::parse(&endpoint).map_err(|e| format!("`HF_ENDPOINT={endpoint}` is not a URL: {e}"))?;
        let secs =
            |name: &str, default: u64| -> Result<u64, String> { Ok(knobs.parsed::<u64>(&[name])?.unwrap_or(default)) };
        let net = NetSettings {
            stall: Duration::from_secs(secs("ARW_WEIGHTS_STALL_SECS", 30)?.max(1)),
            retries: secs("ARW_WEIGHTS_RETRIES", 5)? as u32,
            backoff: Duration::from_millis(secs("ARW_WEIGHTS_BACKOFF_MS", 500)?),
        };
        let n_ctx = knobs.parsed::<u32>(&["LLAMA_ARG_CTX_SIZE"])?.unwrap_or(0);
        Ok(WeightsEnv {
            cache_dir,
            link_dir: dir.map(|d| cwd.join(d)).unwrap_or_else(|| arw_cache.join("models")),
            endpoint,
            token,
            token_source,
            allow_downloads: allow_flag || knobs.flag("LLAMA_ALLOW_DOWNLOADS"),
            offline: knobs.flag("HF_HUB_OFFLINE"),
            net,
            n_ctx,
            stamps: arw_cache.join("weights-verified.json"),
        })
    }

    /// Whether this request may use the network at all.
    pub fn network_allowed(&self) -> bool {
        self.allow_downloads && !self.offline
    }
}

/// `HF_TOKEN`, else `HUGGINGFACEHUB_API_TOKEN`, else the token file
/// (`HF_TOKEN_PATH`, else `$HF_HOME/token`), as huggingface_hub does.
fn find_token(knobs: &Knobs, hf_home: &Path, cwd: &Path) -> (Option<Token>, Option<String>) {
    for name in ["HF_TOKEN", "HUGGINGFACEHUB_API_TOKEN"] {
        if let Some(t) = knobs.non_empty(name) {
            return (Some(Token(t.trim().to_string())), Some(name.to_string()));
        }
    }
    let file = knobs.non_empty("HF_TOKEN_PATH").map(|p| cwd.join(p)).unwrap_or_else(|| hf_home.join("token"));
    // Bounded and non-blocking, like every file a request names.
    match crate::registry::read_config_file(&file, 64 * 1024) {
        Ok(t) if !t.trim().is_empty() => (Some(Token(t.trim().to_string())), Some(file.display().to_string())),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> WeightsEnv {
        let map: BTreeMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        WeightsEnv::resolve(&Knobs::new(map), Path::new("/work"), None, false, Path::new("/arw/cache")).unwrap()
    }

    /// `HF_HUB_CACHE` beats `HF_HOME`, which beats `XDG_CACHE_HOME`.
    #[test]
    fn cache_dir_precedence() {
        let e = env(&[("HF_HUB_CACHE", "/a"), ("HF_HOME", "/b"), ("XDG_CACHE_HOME", "/c")]);
        assert_eq!(e.cache_dir, Path::new("/a"));
        let e = env(&[("HF_HOME", "rel"), ("XDG_CACHE_HOME", "/c")]);
        assert_eq!(e.cache_dir, Path::new("/work/rel/hub"));
        let e = env(&[("XDG_CACHE_HOME", "/c")]);
        assert_eq!(e.cache_dir, Path::new("/c/huggingface/hub"));
        assert_eq!(e.link_dir, Path::new("/arw/cache/models"));
    }

    /// The token's Debug never shows its value; the source is named.
    #[test]
    fn token_is_hidden() {
        let e = env(&[("HUGGINGFACEHUB_API_TOKEN", "hf_sekrit")]);
        let shown = format!("{e:?}");
        assert!(!shown.contains("hf_sekrit"), "{shown}");
        assert_eq!(e.token_source.as_deref(), Some("HUGGINGFACEHUB_API_TOKEN"));
        assert_eq!(e.token.unwrap().bearer(), "Bearer hf_sekrit");
    }

    /// Opt-in comes from the flag or `LLAMA_ALLOW_DOWNLOADS`; offline wins.
    #[test]
    fn opt_in_and_offline() {
        assert!(!env(&[]).network_allowed());
        assert!(env(&[("LLAMA_ALLOW_DOWNLOADS", "1")]).network_allowed());
        assert!(!env(&[("LLAMA_ALLOW_DOWNLOADS", "1"), ("HF_HUB_OFFLINE", "1")]).network_allowed());
    }
}
