//! `arw runtime smoke`: proves daemon → supervisor → runtime → chat → matrix
//! on this machine, and never reports `passed` for a run that did not
//! really happen (SPEC §5).
//!
//! The run lives in the daemon: it writes a manifest for the runtime into
//! the run's workspace, registers it with the supervisor, waits for ready,
//! chats through the daemon's proxy (so HTTP telemetry counts it), checks a
//! pushed `runtime.updated` matrix, then unregisters the runtime and waits
//! until its process group is gone. A timeout drops the run wherever it is
//! and the same cleanup runs.

pub mod gpulog;
pub mod guard;
mod plan;
mod stages;
pub mod workspace;

use crate::accel::GpuInventory;
use crate::knobs::Knobs;
use crate::protocol::smoke::{Mode, Outcome, SmokeReport, Stage, StageOutcome};
use crate::protocol::{ChatReply, ErrorBody, SmokeRequest, StatusReport};
use crate::supervisor;
use serde_json::Value;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// What a smoke run borrows from the daemon it runs in.
pub struct Host<'a> {
    pub supervisor: &'a supervisor::Handle,
    pub runtimes: &'a dyn Runtimes,
    /// The daemon's event bus: the run waits for pushed `runtime.updated`.
    pub events: &'a crate::bus::Bus,
    /// `$ARW_HOME/cache`, for the weights checklist.
    pub cache_dir: PathBuf,
    /// The latest GPU sample.
    pub gpus: GpuInventory,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Requests to a registered runtime, counted in the matrix like any other
/// (the daemon's forwarder implements it).
pub trait Runtimes: Sync {
    fn post_json<'a>(
        &'a self,
        runtime: &'a str,
        route: &'a str,
        body: &'a Value,
    ) -> BoxFuture<'a, Result<(u16, Value), ErrorBody>>;
    fn chat<'a>(&'a self, runtime: &'a str, body: Value) -> BoxFuture<'a, Result<ChatReply, ErrorBody>>;
}

/// A 4×3 RGB PNG for the vision probe.
pub const TINY_PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 4, 0, 0, 0, 3, 8, 2, 0, 0, 0, 59, 150, 57,
    145, 0, 0, 0, 42, 73, 68, 65, 84, 120, 218, 13, 199, 49, 1, 0, 48, 12, 195, 48, 3, 43, 136, 192, 233, 105, 40, 1,
    81, 128, 155, 62, 1, 14, 46, 30, 66, 156, 184, 241, 242, 83, 167, 110, 189, 250, 0, 227, 183, 13, 249, 193, 59, 68,
    246, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// Default timeout when no knob says otherwise.
const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// Why a run stopped before the end.
enum Halt {
    Failed(String),
    Skipped(String),
}

struct Run<'a> {
    host: &'a Host<'a>,
    knobs: Knobs,
    req: SmokeRequest,
    report: SmokeReport,
    started: Instant,
    started_at: SystemTime,
    stages: mpsc::UnboundedSender<Stage>,
    events: crate::bus::Subscription,
    registered: Vec<String>,
    /// Set when the guard or a missing GPU sent us down the simulated path.
    downgraded: Option<String>,
    /// The newest pushed update seen, so a later check need not wait for another.
    last_update: Option<Arc<StatusReport>>,
    /// The step under way, so a timeout can say where the run hung.
    step: &'static str,
    step_started: Instant,
    /// Held for the run's life: pruning by other runs skips a locked workspace.
    workspace_lock: Option<std::fs::File>,
}

/// Runs one smoke and returns its report; stages go to `stages` as they end.
/// `stop` resolves, with the reason, when the run must end now: the daemon
/// is shutting down, or the client that asked went away (Ctrl-C).
pub async fn run(
    host: &Host<'_>,
    req: SmokeRequest,
    knobs: Knobs,
    stages: mpsc::UnboundedSender<Stage>,
    stop: impl Future<Output = String>,
) -> SmokeReport {
    let started_at = SystemTime::now();
    let report = SmokeReport {
        mode: req.mode,
        ran: req.mode.as_str().to_string(),
        outcome: Outcome::Failed,
        reason: None,
        run_id: String::new(),
        workspace: None,
        started_at: crate::time::rfc3339(started_at),
        duration_ms: 0,
        stages: Vec::new(),
        runtime_id: None,
        runtime_pid: None,
        runtime_log: None,
        readiness_ms: None,
        first_token_ms: None,
        tokens_per_second: None,
        memory_guard: None,
        memory: None,
        gpu: None,
        checklist: None,
        matrix: None,
    };
    let mut run = Run {
        host,
        events: host.events.subscribe(
            None,
            crate::protocol::events::TopicFilter::parse(crate::protocol::events::topic::RUNTIME_UPDATED)
                .expect("a valid topic"),
        ),
        knobs,
        req,
        report,
        started: Instant::now(),
        started_at,
        stages,
        registered: Vec::new(),
        downgraded: None,
        last_update: None,
        step: "start",
        step_started: Instant::now(),
        workspace_lock: None,
    };
    let timeout = run.timeout();
    tokio::pin!(stop);
    let result = match timeout {
        Err(e) => Err(Halt::Failed(e)),
        Ok(limit) => {
            // The run ends at its timeout or when the daemon shuts down,
            // whichever comes first, and says which stage it was cut in.
            let deadline = async {
                match limit {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => std::future::pending().await,
                }
            };
            let cut = tokio::select! {
                r = run.execute() => Ok(r),
                _ = deadline => Err(format!("timeout after {}s", limit.unwrap_or_default().as_secs())),
                why = &mut stop => Err(why),
            };
            cut.unwrap_or_else(|why| {
                let (step, since) = (run.step, run.step_started);
                run.record(step, StageOutcome::Failed, since, format!("cut short: {why}"));
                Err(Halt::Failed(format!("{why} in stage `{step}`")))
            })
        }
    };
    let (outcome, reason) = match result {
        Ok(()) => match run.downgraded.clone() {
            Some(why) => (Outcome::Downgraded, Some(why)),
            None => (Outcome::Passed, None),
        },
        Err(Halt::Failed(why)) => (Outcome::Failed, Some(why)),
        Err(Halt::Skipped(why)) => (Outcome::Skipped, Some(why)),
    };
    run.cleanup().await;
    run.report.outcome = outcome;
    run.report.reason = reason;
    run.report.duration_ms = run.started.elapsed().as_millis() as u64;
    run.write_result();
    run.report
}

impl Run<'_> {
    /// `RUNTIME_SMOKE_TIMEOUT_SECS`, else `SMOKE_TIMEOUT_SECS`, else 600; 0 disables.
    fn timeout(&self) -> Result<Option<Duration>, String> {
        let secs = match self.req.timeout_secs {
            Some(s) => s,
            None => self
                .knobs
                .parsed::<u64>(&["RUNTIME_SMOKE_TIMEOUT_SECS", "SMOKE_TIMEOUT_SECS"])?
                .unwrap_or(DEFAULT_TIMEOUT_SECS),
        };
        Ok((secs > 0).then(|| Duration::from_secs(secs)))
    }

    fn record(&mut self, name: &str, outcome: StageOutcome, since: Instant, detail: impl Into<String>) {
        let stage =
            Stage { name: name.to_string(), outcome, ms: since.elapsed().as_millis() as u64, detail: detail.into() };
        let _ = self.stages.send(stage.clone());
        self.report.stages.push(stage);
    }

    fn pass(&mut self, name: &str, since: Instant, detail: impl Into<String>) {
        self.record(name, StageOutcome::Passed, since, detail);
    }

    fn fail(&mut self, name: &str, since: Instant, why: impl Into<String>) -> Halt {
        let why = why.into();
        self.record(name, StageOutcome::Failed, since, why.clone());
        Halt::Failed(format!("{name}: {why}"))
    }

    fn skip(&mut self, name: &str, since: Instant, why: impl Into<String>) -> Halt {
        let why = why.into();
        self.record(name, StageOutcome::Skipped, since, why.clone());
        Halt::Skipped(why)
    }

    async fn execute(&mut self) -> Result<(), Halt> {
        self.begin("loopback");
        self.check_loopback()?;
        self.begin("workspace");
        self.prepare_workspace()?;
        self.begin("plan");
        let plan = self.plan().await?;
        self.begin("ready");
        self.launch(&plan).await?;
        if plan.real {
            self.begin("first-token");
            self.first_token().await?;
        }
        self.begin("chat");
        self.chat(false).await?;
        self.begin("chat-stream");
        self.chat(true).await?;
        if plan.gpu {
            self.begin("gpu-offload");
            self.check_offload(&plan)?;
        }
        if plan.vision {
            self.begin("describe");
            self.describe().await?;
            self.begin("recovered");
            self.restore_and_watch().await?;
        }
        self.begin("matrix");
        self.check_matrix().await?;
        if plan.real {
            self.measure_memory(&plan);
        }
        Ok(())
    }

    fn begin(&mut self, step: &'static str) {
        self.step = step;
        self.step_started = Instant::now();
    }

    /// Unregisters every runtime the run started and confirms the process is gone.
    async fn cleanup(&mut self) {
        let t = Instant::now();
        for id in std::mem::take(&mut self.registered) {
            self.host.supervisor.unregister(&id).await;
        }
        if let Some(pid) = self.report.runtime_pid {
            if crate::sys::process_exists(pid) {
                self.record("cleanup", StageOutcome::Failed, t, format!("runtime pid {pid} is still alive"));
                return;
            }
        }
        if self.report.runtime_id.is_some() {
            self.pass("cleanup", t, "runtime stopped, process group gone");
        }
    }

    /// `result.json` is part of the run's promise: a run whose result could
    /// not be written has failed, whatever the stages said.
    fn write_result(&mut self) {
        let Some(ws) = self.report.workspace.clone() else { return };
        let path = std::path::Path::new(&ws).join("result.json");
        let written = serde_json::to_string_pretty(&self.report)
            .map_err(std::io::Error::other)
            .and_then(|text| std::fs::write(&path, text));
        if let Err(e) = written {
            let why = format!("cannot write `{}`: {e}", path.display());
            crate::dlog!("smoke: {why}");
            let t = Instant::now();
            self.record("result", StageOutcome::Failed, t, why.clone());
            self.report.outcome = Outcome::Failed;
            self.report.reason = Some(format!("result: {why}"));
        }
    }
}
