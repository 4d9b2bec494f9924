//! The runtime quick actions (SPEC §10): `start`, `stop`, `logs`,
//! `reload [ID]` — their requests and what they report.

use super::status::{BudgetView, ExitRecord, RestoreOutcome, State};
use serde::{Deserialize, Serialize};

/// Payload of [`super::Request::Start`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartRequest {
    pub id: String,
    /// How long to wait for the runtime to become ready.
    #[serde(default = "default_wait")]
    pub wait_ms: u64,
}

fn default_wait() -> u64 {
    120_000
}

/// What a start did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StartReport {
    pub id: String,
    /// `ready`, `failed` or `timeout`, as for a restore.
    pub outcome: RestoreOutcome,
    /// It was running (or on its way up) before this request: nothing new
    /// was started.
    pub already_running: bool,
    pub state: State,
    pub message: String,
    pub pid: Option<u32>,
    pub restart_budget: BudgetView,
    pub ready_ms: Option<u64>,
}

/// Payload of [`super::Request::Stop`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopRequest {
    pub id: String,
}

/// How a stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopOutcome {
    /// It was running (or about to restart) and is offline now.
    Stopped,
    /// It was offline already; nothing changed.
    AlreadyStopped,
}

/// What a stop did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopReport {
    pub id: String,
    pub outcome: StopOutcome,
    pub state: State,
    pub message: String,
    /// The process that was stopped, if one was running.
    pub pid: Option<u32>,
    /// Whether every process of its group was seen gone before this answer.
    pub group_gone: bool,
    /// The exit the stop caused (cause `stopped`).
    pub exit: Option<ExitRecord>,
    /// An `auto_start` runtime stays stopped too, until `arw runtime start`.
    pub auto_start: bool,
    /// Untouched by a stop: shown so that is visible.
    pub restart_budget: BudgetView,
}

/// Payload of [`super::Request::Logs`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogsRequest {
    pub id: String,
    /// How many of the last lines to send first.
    pub lines: usize,
    /// Keep sending new lines (as [`super::Event::LogLines`]) until the
    /// client hangs up, across restarts and rotations.
    #[serde(default)]
    pub follow: bool,
}

/// The tail of one runtime's log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogsReport {
    pub id: String,
    pub path: String,
    /// False when the runtime never ran with this `ARW_HOME` (no file yet).
    pub exists: bool,
    pub lines: Vec<String>,
}

/// Payload of [`super::Request::RuntimeReload`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeReloadRequest {
    /// Apply only this runtime's entry; `None`: the whole manifest.
    #[serde(default)]
    pub id: Option<String>,
    /// How long to wait for the restarted runtimes to be ready, together.
    #[serde(default = "default_wait")]
    pub wait_ms: u64,
}

/// How one runtime restarted by a reload came back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReloadRestart {
    pub id: String,
    /// `ready`, `failed` or `timeout`.
    pub outcome: RestoreOutcome,
    pub state: State,
    pub message: String,
    pub ready_ms: Option<u64>,
}
