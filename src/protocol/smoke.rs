//! What a smoke run reports (SPEC §5): the mode asked for, stages, the one
//! outcome, and the measurements behind it. Also written to the run's
//! workspace as `result.json`.

use serde::{Deserialize, Serialize};

/// Which path to exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Built-in stub llama endpoint; needs nothing.
    Stub,
    /// A real llama-server (`LLAMA_SERVER_BIN`) with `LLAMA_MODEL_PATH`.
    Real,
    /// llama-server with GPU offload (`LLAMA_GPU_SIMULATE=1`: the stub's GPU lines).
    Gpu,
    /// A stub llava runtime: describe an image, force a restore, watch it recover.
    Vision,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Stub => "stub",
            Mode::Real => "real",
            Mode::Gpu => "gpu",
            Mode::Vision => "vision",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        <Mode as clap::ValueEnum>::from_str(s.trim(), true).ok()
    }
}

/// The single verdict of a run. Only `passed` means the chain really worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed,
    /// The run could not happen here (no loopback, no weights).
    Skipped,
    /// It ran, but on the simulated GPU because the real path could not run.
    Downgraded,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Downgraded => "downgraded",
        }
    }
}

/// One step of the run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    pub outcome: StageOutcome,
    pub ms: u64,
    pub detail: String,
}

/// The memory guard's arithmetic (SPEC §5), shown whether or not it tripped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuardReport {
    pub model_path: String,
    pub model_bytes: u64,
    pub mem_available_bytes: u64,
    pub mem_source: String,
    pub factor: f64,
    pub overhead_gb: f64,
    pub reserve_gb: f64,
    /// `size × factor + overhead`.
    pub seed_required_bytes: u64,
    /// `MemAvailable − reserve`.
    pub usable_bytes: u64,
    pub shortfall_bytes: u64,
    /// KV-aware estimate from the GGUF header, when readable.
    pub estimate: Option<MemoryEstimate>,
    pub decision: GuardDecision,
}

/// Predicted vs measured memory of the runtime process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemoryReport {
    pub n_ctx: Option<u32>,
    pub predicted_bytes: Option<u64>,
    pub seed_estimate_bytes: Option<u64>,
    /// Peak RSS (VmHWM) of the runtime process before it was stopped.
    pub measured_peak_rss_bytes: Option<u64>,
    /// (predicted − measured) / measured × 100.
    pub error_pct: Option<f64>,
}

/// What the runtime log says about GPU offload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuReport {
    pub devices: Vec<String>,
    pub offloaded_layers: Option<u32>,
    pub total_layers: Option<u32>,
    /// `(buffer, MiB)` from "model buffer size" lines, e.g. `("CUDA0", 601.04)`.
    pub buffers: Vec<(String, f64)>,
    pub simulated: bool,
}

impl GpuReport {
    pub fn offloaded(&self) -> bool {
        self.offloaded_layers.is_some_and(|n| n > 0)
    }
}

/// The whole result of `arw runtime smoke`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmokeReport {
    pub mode: Mode,
    /// The path that actually ran (`gpu` downgraded runs `simulated-gpu`).
    pub ran: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub run_id: String,
    pub workspace: Option<String>,
    pub started_at: String,
    pub duration_ms: u64,
    pub stages: Vec<Stage>,
    pub runtime_id: Option<String>,
    pub runtime_pid: Option<u32>,
    pub runtime_log: Option<String>,
    pub readiness_ms: Option<u64>,
    pub first_token_ms: Option<u64>,
    pub tokens_per_second: Option<f64>,
    pub memory_guard: Option<GuardReport>,
    pub memory: Option<MemoryReport>,
    pub gpu: Option<GpuReport>,
    /// Printed when real mode has no weights (SPEC §6 checklist).
    pub checklist: Option<Vec<String>>,
    /// The matrix snapshot the run checked.
    pub matrix: Option<super::matrix::Matrix>,
}

/// How one stage of a run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageOutcome {
    Passed,
    Failed,
    Skipped,
}

impl StageOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            StageOutcome::Passed => "passed",
            StageOutcome::Failed => "failed",
            StageOutcome::Skipped => "skipped",
        }
    }
}

/// What the memory guard decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardDecision {
    /// The model fits.
    Ok,
    /// It does not fit: run the simulated GPU path instead.
    Downgrade,
    /// It does not fit, but `RUNTIME_SMOKE_ALLOW_HIGH_MEM=1` says run anyway.
    Bypassed,
    /// It does not fit and `LLAMA_GPU_REQUIRE_REAL=1` forbids a downgrade.
    Abort,
}

impl GuardDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            GuardDecision::Ok => "ok",
            GuardDecision::Downgrade => "downgrade",
            GuardDecision::Bypassed => "bypassed",
            GuardDecision::Abort => "abort",
        }
    }
}

/// An estimate of llama-server's peak resident memory, broken down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    /// Context size the estimate is for, as llama.cpp will allocate it: the
    /// requested size rounded up to a multiple of 256 (`gguf::N_CTX_PAD`).
    pub n_ctx: u32,
    pub weights_bytes: u64,
    pub kv_cache_bytes: u64,
    pub compute_bytes: u64,
    pub overhead_bytes: u64,
    pub total_bytes: u64,
}
