//! One supervised runtime as the actor holds it: its spec, state, budget,
//! live process and last exit, and the view of it the snapshot shows.

use super::budget::Budget;
use super::reason::Reason;
use crate::knobs::Knobs;
use crate::protocol::status::{ExitCause, ExitRecord, RestartTotals, RuntimeView, State};
use crate::registry::RuntimeSpec;
use std::path::PathBuf;
use std::time::SystemTime;
use tokio::sync::oneshot;

/// A live process of a runtime.
pub(super) struct Running {
    pub(super) pid: u32,
    pub(super) started_at: SystemTime,
    pub(super) log_offset: u64,
    pub(super) oom_before: Option<u64>,
    /// Set when arw itself stops the process, so the exit is recorded as
    /// planned rather than as a crash.
    pub(super) planned: Option<ExitCause>,
    pub(super) ready_seen: bool,
    pub(super) failures: u32,
    /// The secrets this run was given, hidden in what its exit records quote.
    pub(super) redactor: crate::redact::Redactor,
}

pub(super) struct Runtime {
    pub(super) spec: RuntimeSpec,
    pub(super) state: State,
    pub(super) reason: Option<Reason>,
    pub(super) generation: u64,
    pub(super) endpoint: Option<String>,
    pub(super) running: Option<Running>,
    pub(super) budget: Budget,
    pub(super) totals: RestartTotals,
    pub(super) last_exit: Option<ExitRecord>,
    /// Knobs of the last start, reused for automatic restarts.
    pub(super) knobs: Knobs,
    /// A start to perform as soon as the current process has exited.
    pub(super) start_after_exit: Option<Knobs>,
    /// The generation a scheduled backoff restart is for.
    pub(super) restart_scheduled: Option<u64>,
    /// The generation the last counted restore brings up: restores that
    /// arrive while it is still on its way join it instead of counting again.
    pub(super) restoring: Option<u64>,
    pub(super) ever_started: bool,
    /// Removed by a reload; dropped once its process is gone.
    pub(super) retired: bool,
    /// Registered by a request (smoke), not by the manifest: reloads keep it.
    pub(super) ephemeral: bool,
    pub(super) log_path: Option<PathBuf>,
    /// Told when a retired runtime is finally gone.
    pub(super) on_removed: Vec<oneshot::Sender<()>>,
    /// Stopped by an operator: nothing restarts it until one starts it.
    pub(super) held: bool,
    /// Operator stops waiting for the current process's exit.
    pub(super) on_stopped: Vec<oneshot::Sender<ExitRecord>>,
}

impl Runtime {
    pub(super) fn new(spec: RuntimeSpec) -> Runtime {
        Runtime {
            budget: Budget::new(spec.restart.clone()),
            state: if spec.auto_start { State::Unknown } else { State::Offline },
            reason: (!spec.auto_start).then_some(Reason::NotAutoStarted),
            spec,
            generation: 0,
            endpoint: None,
            running: None,
            totals: RestartTotals::default(),
            last_exit: None,
            knobs: Knobs::daemon(),
            start_after_exit: None,
            restart_scheduled: None,
            restoring: None,
            ever_started: false,
            retired: false,
            ephemeral: false,
            log_path: None,
            on_removed: Vec::new(),
            held: false,
            on_stopped: Vec::new(),
        }
    }

    /// The generation a restore still on its way will bring up, if any: a
    /// restore waiting for the old process to stop, or its new process not
    /// ready yet.
    pub(super) fn restore_in_flight(&self) -> Option<u64> {
        let target = self.restoring?;
        let stopping = self.start_after_exit.is_some() && target == self.generation + 1;
        let starting = target == self.generation && self.running.as_ref().is_some_and(|r| !r.ready_seen);
        (stopping || starting).then_some(target)
    }

    pub(super) fn log_path(&self, logs_dir: &std::path::Path) -> PathBuf {
        self.log_path.clone().unwrap_or_else(|| log_path(logs_dir, &self.spec.id))
    }

    pub(super) fn view(&self, now: SystemTime, logs_dir: &std::path::Path) -> RuntimeView {
        RuntimeView {
            id: self.spec.id.clone(),
            name: self.spec.name.clone(),
            adapter: self.spec.adapter,
            state: self.state,
            reason: self.reason.as_ref().map(Reason::to_string),
            accelerator: self.spec.accelerator,
            modalities: self.spec.modalities.clone(),
            endpoint: self.endpoint.clone(),
            pid: self.running.as_ref().map(|r| r.pid),
            started_at: self.running.as_ref().map(|r| crate::time::rfc3339(r.started_at)),
            uptime_secs: self
                .running
                .as_ref()
                .map(|r| now.duration_since(r.started_at).unwrap_or_default().as_secs_f64()),
            generation: self.generation,
            auto_start: self.spec.auto_start,
            last_exit: self.last_exit.clone(),
            restart_budget: self.budget.view(now),
            restarts_total: self.totals.clone(),
            log_path: self.log_path(logs_dir).display().to_string(),
            ephemeral: self.ephemeral,
        }
    }
}

pub fn log_path(logs_dir: &std::path::Path, id: &str) -> PathBuf {
    logs_dir.join(format!("{id}.log"))
}

/// The log of a runtime named on the command line: the id must be one a
/// manifest could hold, so `../../x` never names a file elsewhere.
pub fn checked_log_path(logs_dir: &std::path::Path, id: &str) -> Result<PathBuf, String> {
    if crate::registry::valid_id(id) {
        return Ok(log_path(logs_dir, id));
    }
    let shown: String = id.chars().take(64).flat_map(char::escape_debug).collect();
    Err(format!(
        "`{shown}` is not a runtime id (lower-case letters, digits, `.`, `-`, `_`, at most 64); see `arw runtime status` for the ids"
    ))
}
