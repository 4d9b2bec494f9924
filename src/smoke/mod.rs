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
pub mod workspace;

use crate::accel::GpuInventory;
use crate::knobs::Knobs;
use crate::protocol::smoke::{MemoryReport, Mode, Outcome, SmokeReport, Stage, StageOutcome};
use crate::protocol::status::{State, SupervisorView};
use crate::protocol::{ChatReply, ErrorBody, Event, RestoreRequest, SmokeRequest, StatusReport};
use crate::supervisor;
use plan::Plan;
use serde_json::{json, Value};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{broadcast, mpsc};

/// What a smoke run borrows from the daemon it runs in.
pub struct Host<'a> {
    pub supervisor: &'a supervisor::Handle,
    pub runtimes: &'a dyn Runtimes,
    /// The daemon's event bus: the run waits for pushed `runtime.updated`.
    pub events: &'a broadcast::Sender<Event>,
    /// `$ARW_HOME/cache`, for the weights checklist.
    pub cache_dir: PathBuf,
    /// The latest GPU sample.
    pub gpus: GpuInventory,
    /// Turns true when the daemon starts shutting down.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
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
/// How long to wait for a pushed matrix update that includes the run.
const MATRIX_WAIT: Duration = Duration::from_secs(7);

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
    events: broadcast::Receiver<Event>,
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
pub async fn run(
    host: &Host<'_>,
    req: SmokeRequest,
    knobs: Knobs,
    stages: mpsc::UnboundedSender<Stage>,
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
        events: host.events.subscribe(),
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
    let mut shutdown = host.shutdown.clone();
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
                _ = shutdown.wait_for(|s| *s) => Err("the daemon shut down (`arw daemon stop` or a signal)".to_string()),
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

    /// Binding and reaching 127.0.0.1 must work, or nothing here can run.
    fn check_loopback(&mut self) -> Result<(), Halt> {
        let t = Instant::now();
        let probe = std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| {
            let addr = listener.local_addr()?;
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        });
        match probe {
            Ok(_) => {
                self.pass("loopback", t, "bound and reached 127.0.0.1");
                Ok(())
            }
            Err(e) => {
                let why = format!("loopback is blocked here ({e})");
                if self.knobs.flag("RUNTIME_SMOKE_REQUIRE_LOOPBACK") {
                    Err(self.fail("loopback", t, format!("{why} and RUNTIME_SMOKE_REQUIRE_LOOPBACK=1")))
                } else {
                    Err(self.skip("loopback", t, why))
                }
            }
        }
    }

    fn prepare_workspace(&mut self) -> Result<(), Halt> {
        let t = Instant::now();
        let pin = self.knobs.flag("RUNTIME_SMOKE_KEEP_TMP");
        let mut ws = match workspace::create(&self.req.root, pin) {
            Ok(ws) => ws,
            Err(e) => {
                let root = self.req.root.display().to_string();
                return Err(self.fail("workspace", t, format!("cannot create a run directory under `{root}`: {e}")));
            }
        };
        let keep = match self.knobs.parsed::<usize>(&["RUNTIME_SMOKE_KEEP_RECENT"]) {
            Ok(k) => k.unwrap_or(6),
            Err(e) => return Err(self.fail("workspace", t, e)),
        };
        let max_age = match self.knobs.parsed::<u64>(&["RUNTIME_SMOKE_RETENTION_SECS"]) {
            Ok(s) => s.map(Duration::from_secs),
            Err(e) => return Err(self.fail("workspace", t, e)),
        };
        let pruned = workspace::prune(&self.req.root, &ws.dir, keep, max_age);
        self.workspace_lock = ws.lock.take();
        self.report.run_id = ws.run_id;
        self.report.workspace = Some(ws.dir.display().to_string());
        let detail = format!("{} (pruned {} old run(s), keeping {keep})", ws.dir.display(), pruned.len());
        self.pass("workspace", t, detail);
        Ok(())
    }

    fn workspace(&self) -> std::path::PathBuf {
        self.report.workspace.clone().map(Into::into).unwrap_or_else(|| self.req.root.clone())
    }

    /// Registers the planned runtime from a manifest written into the
    /// workspace, and waits until it is ready.
    async fn launch(&mut self, plan: &Plan) -> Result<(), Halt> {
        let t = Instant::now();
        let id = format!("smoke-{}-{}", plan.ran, self.report.run_id.rsplit('-').next().unwrap_or("run"));
        let ws = self.workspace();
        let manifest_path = ws.join("manifest.toml");
        let text = plan.manifest(&id);
        // The record on disk shows secret-looking values as `***`; the
        // runtime is registered from the text itself.
        let shown = crate::redact::manifest(&text, &self.knobs.vars());
        if let Err(e) = std::fs::write(&manifest_path, shown) {
            return Err(self.fail("launch", t, format!("cannot write `{}`: {e}", manifest_path.display())));
        }
        let registry = match crate::registry::parse(&text, &manifest_path.display().to_string()) {
            Ok(r) => r,
            Err(e) => return Err(self.fail("launch", t, format!("generated manifest is invalid: {e}"))),
        };
        let spec = registry.runtimes.into_iter().next().expect("the manifest has one runtime");
        let log = ws.join("runtime.log");
        self.report.runtime_id = Some(id.clone());
        self.report.runtime_log = Some(log.display().to_string());
        if let Err(e) = self.host.supervisor.register(spec, self.knobs.clone(), log).await {
            return Err(self.fail("launch", t, e.message));
        }
        self.registered.push(id.clone());
        self.pass("launch", t, format!("registered `{id}` from {}", manifest_path.display()));

        let t = Instant::now();
        let mut views = self.host.supervisor.subscribe();
        loop {
            let snapshot = views.borrow_and_update().clone();
            if let Some(rt) = snapshot.runtime(&id) {
                self.report.runtime_pid = rt.pid.or(self.report.runtime_pid);
                match rt.state {
                    State::Ready => {
                        let ms = t.elapsed().as_millis() as u64;
                        self.report.readiness_ms = Some(ms);
                        let detail =
                            format!("{} answered /health 200 after {ms} ms", rt.endpoint.clone().unwrap_or_default());
                        self.pass("ready", t, detail);
                        return Ok(());
                    }
                    State::Error | State::Offline => {
                        let mut why = rt.reason.clone().unwrap_or_else(|| "failed".into());
                        if let Some(exit) = &rt.last_exit {
                            why = exit.detail.clone();
                            if let Some(line) = &exit.error_line {
                                why.push_str(&format!(": {line}"));
                            }
                        }
                        return Err(self.fail("ready", t, why));
                    }
                    _ => {}
                }
            }
            if views.changed().await.is_err() {
                return Err(self.fail("ready", t, "the supervisor stopped"));
            }
        }
    }

    /// A real server proves itself with one generated token.
    async fn first_token(&mut self) -> Result<(), Halt> {
        let t = Instant::now();
        let id = self.report.runtime_id.clone().unwrap_or_default();
        let body = json!({"prompt": "Hello", "n_predict": 1, "cache_prompt": false});
        match self.host.runtimes.post_json(&id, "/completion", &body).await {
            Ok((200, v)) if v["tokens_predicted"].as_u64().unwrap_or(0) >= 1 || v["content"].is_string() => {
                let ms = t.elapsed().as_millis() as u64;
                self.report.first_token_ms = Some(ms);
                self.pass(
                    "first-token",
                    t,
                    format!("1-token completion in {ms} ms: {:?}", v["content"].as_str().unwrap_or_default()),
                );
                Ok(())
            }
            Ok((status, v)) => Err(self.fail("first-token", t, format!("HTTP {status}: {v}"))),
            Err(e) => Err(self.fail("first-token", t, e.message)),
        }
    }

    async fn chat(&mut self, stream: bool) -> Result<(), Halt> {
        let t = Instant::now();
        let name = if stream { "chat-stream" } else { "chat" };
        let id = self.report.runtime_id.clone().unwrap_or_default();
        let body = json!({
            "messages": [{"role": "user", "content": "Say hello in five words."}],
            "max_tokens": 16,
            "stream": stream,
        });
        let reply = match self.host.runtimes.chat(&id, body).await {
            Ok(r) => r,
            Err(e) => return Err(self.fail(name, t, e.message)),
        };
        if reply.status != 200 {
            return Err(self.fail(name, t, format!("HTTP {}: {}", reply.status, reply.body)));
        }
        let text = reply.text().unwrap_or_default().to_string();
        let tokens = reply.body["usage"]["completion_tokens"].as_u64().unwrap_or(0);
        if text.is_empty() && tokens == 0 {
            return Err(self.fail(name, t, format!("the reply has no content: {}", reply.body)));
        }
        if !stream {
            let per_second = reply.body["timings"]["predicted_per_second"]
                .as_f64()
                .or_else(|| (reply.elapsed_ms > 0).then(|| tokens as f64 * 1000.0 / reply.elapsed_ms as f64));
            self.report.tokens_per_second = per_second;
        }
        let short: String = text.chars().take(60).collect();
        self.pass(name, t, format!("{tokens} token(s) through the daemon in {} ms: {short:?}", reply.elapsed_ms));
        Ok(())
    }

    fn check_offload(&mut self, plan: &Plan) -> Result<(), Halt> {
        let t = Instant::now();
        let log = self.report.runtime_log.clone().unwrap_or_default();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let gpu = gpulog::parse(&text);
        self.report.gpu = Some(gpu.clone());
        if !gpu.offloaded() {
            let why = format!(
                "the runtime log shows no layers offloaded to a GPU ({log}){}",
                if plan.simulated { "" } else { "; is this llama-server built with CUDA/Vulkan/Metal?" }
            );
            return Err(self.fail("gpu-offload", t, why));
        }
        let detail = format!(
            "offloaded {}/{} layers to {}",
            gpu.offloaded_layers.unwrap_or(0),
            gpu.total_layers.unwrap_or(0),
            gpu.devices.join(", ")
        );
        self.pass("gpu-offload", t, detail);
        Ok(())
    }

    async fn describe(&mut self) -> Result<(), Halt> {
        use base64::{engine::general_purpose::STANDARD, Engine};
        let t = Instant::now();
        let id = self.report.runtime_id.clone().unwrap_or_default();
        let body = json!({"image": STANDARD.encode(TINY_PNG), "prompt": "Describe this image."});
        match self.host.runtimes.post_json(&id, "/describe", &body).await {
            Ok((200, v)) if v["width"] == 4 && v["height"] == 3 => {
                let text = v["description"].as_str().unwrap_or_default().to_string();
                self.pass("describe", t, format!("/describe answered {text:?}"));
                Ok(())
            }
            Ok((status, v)) => Err(self.fail("describe", t, format!("unexpected answer HTTP {status}: {v}"))),
            Err(e) => Err(self.fail("describe", t, e.message)),
        }
    }

    /// Forces a restore and follows pushed `runtime.updated` events until the
    /// runtime is ready again with its new generation.
    async fn restore_and_watch(&mut self) -> Result<(), Halt> {
        let t = Instant::now();
        let id = self.report.runtime_id.clone().unwrap_or_default();
        let req = RestoreRequest { id: id.clone(), dry_run: false, force: true, wait_ms: 0 };
        let ticket = match self.host.supervisor.restore(req, self.knobs.clone()).await {
            Ok(t) => t,
            Err(e) => return Err(self.fail("restore", t, e.message)),
        };
        self.pass("restore", t, format!("forced restore of `{id}` (generation {})", ticket.generation));
        let t = Instant::now();
        let mut saw_not_ready = false;
        loop {
            let view = match self.next_update().await {
                Some(v) => v,
                None => return Err(self.fail("recovered", t, "the matrix feed ended")),
            };
            let Some(rt) = view.runtime(&id) else { continue };
            saw_not_ready |= rt.state != State::Ready || rt.generation >= ticket.generation;
            if rt.generation >= ticket.generation && rt.state == State::Ready && saw_not_ready {
                self.report.runtime_pid = rt.pid;
                self.pass(
                    "recovered",
                    t,
                    format!("runtime.updated showed `{id}` ready again (pid {})", rt.pid.unwrap_or(0)),
                );
                return Ok(());
            }
            if rt.generation >= ticket.generation && rt.state == State::Error {
                let why = rt.reason.clone().unwrap_or_default();
                return Err(self.fail("recovered", t, format!("`{id}` failed after the restore: {why}")));
            }
        }
    }

    async fn next_update(&mut self) -> Option<SupervisorView> {
        let report = next_report(&mut self.events).await?;
        let view = report.supervisor.clone();
        self.last_update = Some(report);
        Some(view)
    }

    /// A pushed `runtime.updated` newer than the run's start must count the
    /// runtime and carry every accessible string.
    async fn check_matrix(&mut self) -> Result<(), Halt> {
        let t = Instant::now();
        let id = self.report.runtime_id.clone().unwrap_or_default();
        let deadline = tokio::time::Instant::now() + MATRIX_WAIT;
        let started_at = self.started_at;
        let shows_run = |r: &StatusReport| {
            let fresh = r
                .matrix
                .items
                .values()
                .any(|n| crate::time::parse(&n.runtime.updated).is_some_and(|u| u >= started_at));
            fresh && r.supervisor.runtime(&id).is_some_and(|rt| rt.state == State::Ready)
        };
        let mut pending = self.last_update.take();
        let report = loop {
            let next = match pending.take() {
                Some(r) => Ok(Some(r)),
                None => tokio::time::timeout_at(deadline, next_report(&mut self.events)).await,
            };
            match next {
                Ok(Some(r)) => {
                    if shows_run(&r) {
                        break r;
                    }
                }
                Ok(None) => return Err(self.fail("matrix", t, "the matrix feed ended")),
                Err(_) => {
                    let why = format!("no runtime.updated showing `{id}` ready within {}s", MATRIX_WAIT.as_secs());
                    return Err(self.fail("matrix", t, why));
                }
            }
        };
        let problems = crate::matrix::problems(&report.matrix, &report.supervisor);
        self.report.matrix = Some(report.matrix.clone());
        if !problems.is_empty() {
            return Err(self.fail("matrix", t, problems.join("; ")));
        }
        let (node, entry) = report.matrix.items.iter().next().expect("checked above");
        let detail = format!(
            "node {node}: {} · {} runtime(s) · ttl {}s · updated {}",
            entry.status.label, entry.runtime.total, report.matrix.ttl_seconds, entry.runtime.updated
        );
        self.pass("matrix", t, detail);
        Ok(())
    }

    fn measure_memory(&mut self, plan: &Plan) {
        let t = Instant::now();
        let measured = self.report.runtime_pid.and_then(peak_rss);
        let predicted = plan.estimate.as_ref().map(|e| e.total_bytes);
        let error_pct = match (predicted, measured) {
            (Some(p), Some(m)) if m > 0 => Some((p as f64 - m as f64) / m as f64 * 100.0),
            _ => None,
        };
        let mib = |b: Option<u64>| b.map(|b| format!("{:.1} MiB", b as f64 / 1048576.0)).unwrap_or("?".into());
        let detail = format!(
            "predicted {} (n_ctx {}), seed formula {}, measured peak RSS {}{}",
            mib(predicted),
            plan.n_ctx.map(|n| n.to_string()).unwrap_or("?".into()),
            mib(plan.seed_estimate),
            mib(measured),
            error_pct.map(|e| format!(" ({e:+.1}%)")).unwrap_or_default()
        );
        self.report.memory = Some(MemoryReport {
            n_ctx: plan.n_ctx,
            predicted_bytes: predicted,
            seed_estimate_bytes: plan.seed_estimate,
            measured_peak_rss_bytes: measured,
            error_pct,
        });
        self.pass("memory", t, detail);
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

/// The next pushed `runtime.updated`, skipping other events and lag.
async fn next_report(events: &mut broadcast::Receiver<Event>) -> Option<Arc<StatusReport>> {
    loop {
        match events.recv().await {
            Ok(Event::RuntimeUpdated(report)) => return Some(report),
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// Peak RSS (VmHWM) of a live process.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}
