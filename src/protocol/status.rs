//! What `runtime status --json` prints: the supervisor's snapshot (every
//! runtime, its state, last exit and restart budget) beside the matrix, and
//! what a restore reports.

use serde::{Deserialize, Serialize};

/// Closed sets of manifest keywords; each variant serializes as its keyword.
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
    };
}

keywords!(Adapter { LlamaCpp = "llama.cpp", Stub = "stub", Process = "process", Llava = "llava" });
keywords!(Accelerator { Cpu = "cpu", Gpu = "gpu", Npu = "npu" });
keywords!(Modality { Text = "text", Vision = "vision", Audio = "audio" });

/// Status payload; `matrix` is the SPEC §3 document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    pub supervisor: SupervisorView,
    pub matrix: super::matrix::Matrix,
}

/// What a restore did, or would do with `dry_run`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreReport {
    pub id: String,
    pub dry_run: bool,
    pub outcome: RestoreOutcome,
    pub state: State,
    pub message: String,
    pub restart_budget: BudgetView,
    pub ready_ms: Option<u64>,
}

/// How a restore ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestoreOutcome {
    /// The runtime came back and passed its health probe.
    Ready,
    /// It was restarted but did not become ready (it exited, or failed its probe).
    Failed,
    /// It was restarted and still not ready when the wait ran out.
    Timeout,
    /// `dry_run`: the budget allows a restore now.
    Allowed,
    /// The budget is spent (exit code 4); `--force` overrides.
    Exhausted,
}

impl RestoreOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreOutcome::Ready => "ready",
            RestoreOutcome::Failed => "failed",
            RestoreOutcome::Timeout => "timeout",
            RestoreOutcome::Allowed => "allowed",
            RestoreOutcome::Exhausted => "exhausted",
        }
    }
}

/// Lifecycle state of one runtime (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Unknown,
    Starting,
    Ready,
    Degraded,
    Error,
    /// Stopped on purpose (or never started: `auto_start = false`).
    Offline,
}

impl State {
    pub const ALL: [State; 6] =
        [State::Ready, State::Starting, State::Degraded, State::Error, State::Offline, State::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Unknown => "unknown",
            State::Starting => "starting",
            State::Ready => "ready",
            State::Degraded => "degraded",
            State::Error => "error",
            State::Offline => "offline",
        }
    }
}

/// Why a runtime process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitCause {
    /// Exited by itself with a status code.
    Exited,
    /// Killed by a signal nobody in arw sent.
    Signaled,
    /// Killed by the kernel's OOM killer (cgroup `memory.events`).
    OomKilled,
    /// arw killed it after health probes kept failing.
    HealthTimeout,
    /// arw killed it because it never became ready within `startup_timeout_ms`.
    StartupTimeout,
    /// The command could not be started at all.
    SpawnFailed,
    /// Stopped on purpose: restore, reload, shutdown.
    Stopped,
    /// The daemon supervising it died (SIGKILL, crash, power loss); its
    /// process group died with it. Found in the journal by the next daemon.
    DaemonLost,
}

/// One recorded exit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExitRecord {
    pub at: String,
    pub cause: ExitCause,
    pub code: Option<i32>,
    pub signal: Option<String>,
    /// One line for humans: "exited with code 1", "killed by SIGKILL", ...
    pub detail: String,
    /// The runtime's own last log lines before it died.
    pub stderr_tail: Vec<String>,
    /// The first line of this run's log that reads as an error: usually the
    /// root cause ("failed to open GGUF file ..."), where the tail shows
    /// only its consequences.
    #[serde(default)]
    pub error_line: Option<String>,
}

/// Restart budget as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetView {
    pub max_restarts: u32,
    pub window_secs: u64,
    /// Automatic restarts in the window (what `max_restarts` limits).
    pub used: u32,
    pub remaining: u32,
    /// When the oldest restart in the window expires (RFC 3339), if any.
    pub reset_at: Option<String>,
    /// Automatic restarts in the window.
    pub automatic: u32,
    /// Operator restores in the window.
    pub manual: u32,
    pub exhausted: bool,
}

/// One runtime in the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeView {
    pub id: String,
    pub name: String,
    pub adapter: Adapter,
    pub state: State,
    /// Why it is in this state, e.g. "restart budget exhausted".
    pub reason: Option<String>,
    pub accelerator: Accelerator,
    pub modalities: Vec<Modality>,
    pub endpoint: Option<String>,
    pub pid: Option<u32>,
    pub started_at: Option<String>,
    pub uptime_secs: Option<f64>,
    /// Increments on every start; lets a restore wait for its own attempt.
    pub generation: u64,
    pub auto_start: bool,
    pub last_exit: Option<ExitRecord>,
    pub restart_budget: BudgetView,
    /// Lifetime totals (the budget only counts the window).
    pub restarts_total: RestartTotals,
    pub log_path: String,
    /// Registered by a smoke run rather than the manifest.
    #[serde(default)]
    pub ephemeral: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RestartTotals {
    pub automatic: u64,
    pub manual: u64,
}

/// Everything the supervisor knows, at one instant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupervisorView {
    pub generated_at: String,
    pub registry_origin: String,
    pub runtimes: Vec<RuntimeView>,
}

impl SupervisorView {
    pub fn runtime(&self, id: &str) -> Option<&RuntimeView> {
        self.runtimes.iter().find(|r| r.id == id)
    }
}
