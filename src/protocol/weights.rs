//! Wire vocabulary of `arw runtime weights` (SPEC §6): the request, the
//! report the daemon answers with, and the progress events it pushes while a
//! download or a verification runs.
//!
//! None of these types carries a token: the client's `HF_TOKEN` travels only
//! in [`super::RequestFrame::env`], whose `Debug` shows names, never values.

use serde::{Deserialize, Serialize};

/// What `runtime weights` should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightsAction {
    /// Make one model available locally: reuse a verified copy, else download.
    Fetch,
    /// What is cached, how big, verified or not, where.
    List,
    /// Re-hash cached files and compare with their expected sha256.
    Verify,
    /// The local path to point `LLAMA_MODEL_PATH` at.
    Path,
}

/// Payload of [`super::Request::Weights`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WeightsRequest {
    pub action: WeightsAction,
    /// `repo::file`, a file name or a repo; `None` means the source roster.
    #[serde(default)]
    pub model: Option<String>,
    /// Report what a fetch would do (size, disk and memory fit) and stop.
    #[serde(default)]
    pub dry_run: bool,
    /// `--allow-downloads`; `LLAMA_ALLOW_DOWNLOADS=1` in the knobs also opts in.
    #[serde(default)]
    pub allow_downloads: bool,
    /// Absolute directory for the `<file>` link instead of `$ARW_HOME/cache/models`.
    #[serde(default)]
    pub dir: Option<String>,
    /// The client's working directory: relative paths in knobs resolve against it.
    #[serde(default)]
    pub cwd: Option<String>,
}

/// Answer to [`super::Request::Weights`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WeightsReport {
    pub action: WeightsAction,
    pub dry_run: bool,
    /// True when the action achieved what was asked; the CLI exits 1 otherwise.
    pub ok: bool,
    /// The Hugging Face hub cache in use (`HF_HUB_CACHE`, `$HF_HOME/hub`, ...).
    pub cache_dir: String,
    /// Where `<file>` links go (`$ARW_HOME/cache/models` or `--dir`).
    pub link_dir: String,
    /// Where the roster came from: `embedded default`, a file, `LLAMA_MODEL_SOURCES`.
    pub sources: String,
    pub models: Vec<ModelReport>,
    /// Set when nothing could happen without the user: opt-in or token missing.
    #[serde(default)]
    pub checklist: Option<Checklist>,
    /// What could not be looked at (an unreadable cache directory, say);
    /// any entry makes `ok` false.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// One model's outcome.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelReport {
    pub repo: String,
    pub file: String,
    pub revision: String,
    pub status: ModelStatus,
    /// One sentence for humans: what happened, and what to do when it failed.
    pub message: String,
    #[serde(default)]
    pub commit: Option<String>,
    /// The sha256 the file has (after hashing) or must have.
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
    /// The file in the Hugging Face cache (`snapshots/<commit>/<file>`), or a
    /// plain file in the link directory that was reused.
    #[serde(default)]
    pub path: Option<String>,
    /// `<link_dir>/<file>`, pointing at `path`.
    #[serde(default)]
    pub link: Option<String>,
    /// `symlink` or `copy`.
    #[serde(default)]
    pub link_kind: Option<String>,
    /// The sha256 was checked (now, or earlier with the file unchanged since).
    #[serde(default)]
    pub verified: bool,
    /// RFC 3339 time of the last successful verification.
    #[serde(default)]
    pub verified_at: Option<String>,
    /// `hub` or the mirror URL the bytes came from.
    #[serde(default)]
    pub source: Option<String>,
    /// Bytes already on disk when this download resumed.
    #[serde(default)]
    pub resumed_from: Option<u64>,
    #[serde(default)]
    pub fit: Option<Fit>,
}

/// What became of one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelStatus {
    /// In the HF cache (or reused at the link spot), verified.
    Cached,
    /// Downloaded and verified by this request.
    Downloaded,
    /// A dry run that would download.
    WouldDownload,
    /// A roster model with nothing on disk.
    Missing,
    /// A plain file in the link directory (`list`, `path`).
    Local,
    /// `verify`: the sha256 matches.
    Verified,
    /// The bytes are not the ones they must be.
    Mismatch,
    /// `verify`: hashed, but nothing to compare with.
    Unverified,
    /// Downloads are off (or `HF_HUB_OFFLINE` is set).
    NeedsOptIn,
    /// The hub wants a token this request did not have (or refused it).
    NeedsToken,
    /// Anything else that went wrong; a report nobody filled in says so too.
    #[default]
    Failed,
}

impl ModelStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStatus::Cached => "cached",
            ModelStatus::Downloaded => "downloaded",
            ModelStatus::WouldDownload => "would_download",
            ModelStatus::Missing => "missing",
            ModelStatus::Local => "local",
            ModelStatus::Verified => "verified",
            ModelStatus::Mismatch => "mismatch",
            ModelStatus::Unverified => "unverified",
            ModelStatus::NeedsOptIn => "needs_opt_in",
            ModelStatus::NeedsToken => "needs_token",
            ModelStatus::Failed => "failed",
        }
    }

    /// Whether the model is not where it was asked to be.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            ModelStatus::Mismatch
                | ModelStatus::Failed
                | ModelStatus::NeedsToken
                | ModelStatus::NeedsOptIn
                | ModelStatus::Missing
                | ModelStatus::Unverified
        )
    }
}

impl std::fmt::Display for ModelStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Would the model fit on this machine?
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fit {
    pub disk: DiskFit,
    pub memory: MemoryFit,
}

/// Free space where the blob will be written.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DiskFit {
    pub dir: String,
    pub free_bytes: u64,
    /// Bytes still to write (the size minus what an interrupted run left).
    pub needed_bytes: u64,
    pub fits: bool,
}

/// Predicted llama-server memory against `MemAvailable`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryFit {
    #[serde(default)]
    pub available_bytes: Option<u64>,
    pub estimate_bytes: u64,
    /// `gguf` (header read with a Range request) or `size` (file size × factor).
    pub method: String,
    /// Context size the GGUF estimate is for.
    #[serde(default)]
    pub n_ctx: Option<u32>,
    /// `None` when `MemAvailable` is unknown.
    #[serde(default)]
    pub fits: Option<bool>,
}

/// What the user has to do before arw may download.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checklist {
    /// Why nothing was downloaded.
    pub reason: String,
    /// Whether a token was found (`HF_TOKEN`, `HUGGINGFACEHUB_API_TOKEN`, token file).
    pub token_found: bool,
    /// The numbered steps, in order.
    pub steps: Vec<String>,
    /// The exact command that downloads.
    pub command: String,
    pub mirrors: Vec<String>,
    /// Where `LLAMA_MODEL_PATH` should point once the file is there.
    pub model_path: String,
}

/// Pushed while a fetch or verify runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WeightsProgress {
    pub repo: String,
    pub file: String,
    /// `resolving`, `fit`, `downloading`, `retrying`, `waiting`, `verifying`, `done`.
    pub phase: String,
    /// Bytes on disk (downloading) or hashed (verifying).
    pub done_bytes: u64,
    #[serde(default)]
    pub total_bytes: Option<u64>,
    /// `hub` or a mirror URL.
    #[serde(default)]
    pub source: Option<String>,
    /// Attempt number against the current source, from 1.
    #[serde(default)]
    pub attempt: u32,
    /// A line worth showing as it is (retry reasons, fit verdicts).
    #[serde(default)]
    pub message: Option<String>,
}
