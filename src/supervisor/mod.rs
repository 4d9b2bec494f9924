//! The supervisor: one task that owns every runtime's state.
//!
//! Everything that happens to a runtime arrives here as a [`Msg`]: operator
//! commands (restore, reload, shutdown) and events from the per-process
//! watcher tasks (exit, health probe, start-up deadline) and timers (backoff,
//! window reset, kill escalation). The actor applies them in order and
//! publishes a fresh [`SupervisorView`] on a watch channel; the matrix and
//! `--watch` streams follow that channel. Nothing else mutates runtime state,
//! so there are no locks and no races between a crash and a restore.

pub mod budget;
pub mod env;
mod guard;
mod handle;
pub mod health;
mod lifecycle;
pub mod logfile;
pub mod process;
mod reason;
mod resume;
mod runtime;
mod watcher;

pub use handle::{Handle, Msg, RestoreTicket, StartTicket, StopTicket};
pub use reason::OPERATOR_STOPPED;

use crate::journal::{self, Record};
use crate::knobs::Knobs;
use crate::protocol::status::{ExitCause, State, SupervisorView};
use crate::protocol::{ErrorBody, ErrorKind, ReloadReport, RestoreRequest};
use crate::registry::Registry;
use budget::RestartKind;
use health::Probe;
use reason::Reason;
pub use runtime::{checked_log_path, log_path};
use runtime::{Running, Runtime};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot, watch};

/// SIGTERM first; SIGKILL the group if it is still there after this.
const STOP_GRACE: Duration = Duration::from_secs(5);

struct Supervisor {
    runtimes: Vec<Runtime>,
    origin: String,
    logs_dir: PathBuf,
    tx: mpsc::UnboundedSender<Msg>,
    view_tx: watch::Sender<Arc<SupervisorView>>,
    http: reqwest::Client,
    shutdown_reply: Option<oneshot::Sender<()>>,
    /// Where lifecycle events go to be journaled (SPEC §10).
    journal: journal::Sink,
}

/// Starts the actor with `registry` and what the journal `restored` of the
/// last daemon; runtimes with `auto_start` launch at once, unless the
/// journal says their budget is spent. Lifecycle events go to `journal`.
pub fn start(registry: Registry, logs_dir: PathBuf, journal: journal::Sink, mut restored: journal::Restored) -> Handle {
    let (tx, rx) = mpsc::unbounded_channel();
    let empty = SupervisorView {
        generated_at: crate::time::now_rfc3339(),
        registry_origin: registry.origin.clone(),
        runtimes: vec![],
    };
    let (view_tx, view_rx) = watch::channel(Arc::new(empty));
    let mut sup = Supervisor {
        runtimes: Vec::new(),
        origin: registry.origin.clone(),
        logs_dir,
        tx: tx.clone(),
        view_tx,
        http: health::client(),
        shutdown_reply: None,
        journal,
    };
    for spec in registry.runtimes {
        let mut rt = Runtime::new(spec);
        if let Some(r) = restored.runtimes.remove(&rt.spec.id) {
            resume::apply(&mut rt, r);
        }
        sup.runtimes.push(rt);
    }
    tokio::spawn(sup.run(rx));
    Handle { tx, view: view_rx }
}

impl Supervisor {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let now = SystemTime::now();
        for rt in &mut self.runtimes {
            // Held in `error` as the last daemon left it, until its window frees a slot.
            if let Some(Some(at)) = resume::hold(rt, now) {
                let (tx, id) = (self.tx.clone(), rt.spec.id.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(at.duration_since(SystemTime::now()).unwrap_or_default()).await;
                    let _ = tx.send(Msg::WindowReset { id });
                });
            }
        }
        let auto: Vec<String> = self
            .runtimes
            .iter()
            .filter(|r| r.spec.auto_start && r.state != State::Error && !r.held)
            .map(|r| r.spec.id.clone())
            .collect();
        for id in auto {
            self.start(&id, Knobs::daemon());
        }
        self.publish();
        while let Some(msg) = rx.recv().await {
            let changed = self.handle(msg);
            if changed {
                self.publish();
            }
            if self.shutdown_reply.is_some() && self.runtimes.iter().all(|r| r.running.is_none()) {
                if let Some(reply) = self.shutdown_reply.take() {
                    let _ = reply.send(());
                }
                return;
            }
        }
    }

    fn view(&self) -> SupervisorView {
        let now = SystemTime::now();
        SupervisorView {
            generated_at: crate::time::rfc3339(now),
            registry_origin: self.origin.clone(),
            runtimes: self.runtimes.iter().filter(|r| !r.retired).map(|r| r.view(now, &self.logs_dir)).collect(),
        }
    }

    fn publish(&self) {
        self.view_tx.send_replace(Arc::new(self.view()));
    }

    fn find(&mut self, id: &str) -> Option<&mut Runtime> {
        self.runtimes.iter_mut().find(|r| r.spec.id == id)
    }

    /// Returns whether anything visible changed.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Snapshot(reply) => {
                let _ = reply.send(self.view());
                false
            }
            Msg::Restore { req, knobs, reply } => {
                let _ = reply.send(self.restore(req, knobs));
                true
            }
            Msg::Reload { registry, reply } => {
                let _ = reply.send(self.reload(registry));
                true
            }
            Msg::Register { spec, knobs, log_path, reply } => {
                if self.runtimes.iter().any(|r| r.spec.id == spec.id) {
                    let _ = reply.send(Err(ErrorBody::new(
                        ErrorKind::BadRequest,
                        format!("a runtime with id `{}` is already registered", spec.id),
                    )));
                    return false;
                }
                let id = spec.id.clone();
                let mut rt = Runtime::new(*spec);
                rt.ephemeral = true;
                rt.log_path = Some(log_path);
                self.runtimes.push(rt);
                self.start(&id, knobs);
                let _ = reply.send(Ok(()));
                true
            }
            Msg::Unregister { id, reply } => {
                let Some(rt) = self.runtimes.iter_mut().find(|r| r.spec.id == id) else {
                    let _ = reply.send(());
                    return false;
                };
                rt.retired = true;
                rt.start_after_exit = None;
                rt.restart_scheduled = None;
                if rt.running.is_some() {
                    rt.on_removed.push(reply);
                    self.stop(&id, ExitCause::Stopped);
                } else {
                    self.runtimes.retain(|r| r.spec.id != id);
                    let _ = reply.send(());
                }
                true
            }
            Msg::Shutdown { reply } => {
                self.shutdown_reply = Some(reply);
                let ids: Vec<String> = self.runtimes.iter().map(|r| r.spec.id.clone()).collect();
                for id in ids {
                    if let Some(rt) = self.find(&id) {
                        rt.start_after_exit = None;
                        rt.restart_scheduled = None;
                    }
                    self.stop(&id, ExitCause::Stopped);
                }
                true
            }
            Msg::Exited { id, generation, status } => self.on_exit(&id, generation, status),
            Msg::Health { id, generation, probe } => self.on_health(&id, generation, probe),
            Msg::StartupDeadline { id, generation } => {
                let Some(rt) = self.find(&id) else {
                    return false;
                };
                if rt.generation != generation || rt.running.as_ref().is_none_or(|r| r.ready_seen) {
                    return false;
                }
                rt.reason = Some(Reason::StartupTimeout { ms: rt.spec.startup_timeout_ms });
                self.stop(&id, ExitCause::StartupTimeout);
                true
            }
            Msg::RestartDue { id, generation } => {
                let shutting_down = self.shutdown_reply.is_some();
                let Some(rt) = self.find(&id) else {
                    return false;
                };
                if rt.restart_scheduled != Some(generation) || rt.running.is_some() || shutting_down {
                    return false;
                }
                rt.restart_scheduled = None;
                let knobs = rt.knobs.clone();
                self.start(&id, knobs);
                true
            }
            Msg::WindowReset { id } => self.on_window_reset(&id),
            Msg::LogRotated { id, generation } => {
                if let Some(run) =
                    self.find(&id).filter(|rt| rt.generation == generation).and_then(|rt| rt.running.as_mut())
                {
                    // This run's output now starts at the top of the file.
                    run.log_offset = 0;
                }
                false
            }
            Msg::KillDeadline { id, generation } => {
                if let Some(rt) = self.find(&id) {
                    if rt.generation == generation {
                        if let Some(run) = &rt.running {
                            let _ = crate::sys::kill_group(run.pid, libc::SIGKILL);
                        }
                    }
                }
                false
            }
            Msg::Start { id, knobs, reply } => {
                let _ = reply.send(self.operator_start(&id, knobs));
                true
            }
            Msg::Stop { id, reply } => {
                let _ = reply.send(self.operator_stop(&id));
                true
            }
            Msg::ReloadOne { registry, only, reply } => {
                let _ = reply.send(self.reload_one(registry, &only));
                true
            }
        }
    }

    /// Launches a new process for `id` with a new generation.
    fn start(&mut self, id: &str, knobs: Knobs) {
        let logs_dir = self.logs_dir.clone();
        let tx = self.tx.clone();
        let http = self.http.clone();
        let journal = self.journal.clone();
        let Some(rt) = self.find(id) else { return };
        rt.generation += 1;
        rt.ever_started = true;
        rt.knobs = knobs.clone();
        let generation = rt.generation;
        let spec = rt.spec.clone();

        let port = match spec.port {
            // Someone else answering on a fixed port would pass our health
            // probe and take our chats: refuse to start instead.
            Some(p) if std::net::TcpListener::bind((spec.host.as_str(), p)).is_err() => {
                fail_to_start(
                    rt,
                    &journal,
                    format!("port {p} on {} is already in use by another process; free it or change `port`", spec.host),
                );
                return;
            }
            Some(p) => Some(p),
            None if spec.uses_port_placeholder() => match process::free_port(&spec.host) {
                Ok(p) => Some(p),
                Err(e) => {
                    fail_to_start(rt, &journal, format!("no free port on {}: {e}", spec.host));
                    return;
                }
            },
            None => None,
        };
        let vars = knobs.vars();
        let expanded: Result<Vec<String>, String> =
            spec.args.iter().map(|a| process::expand(a, port, &knobs)).collect();
        let command = process::expand(&spec.command, port, &knobs);
        let manifest_env: Result<std::collections::BTreeMap<String, String>, String> =
            spec.env.iter().map(|(k, v)| Ok((k.clone(), process::expand(v, port, &knobs)?))).collect();
        let (command, args, manifest_env) = match (command, expanded, manifest_env) {
            (Ok(c), Ok(a), Ok(e)) => (c, a, e),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                fail_to_start(rt, &journal, e);
                return;
            }
        };
        let env = env::build(&Knobs::daemon().vars(), &vars, &manifest_env);
        let mut redactor = crate::redact::Redactor::from_vars(vars.iter().chain(&manifest_env));
        redactor.learn_flags(&args);
        let mut shown = redactor.command_line(&command, &args);
        if !manifest_env.is_empty() {
            shown.push_str(&format!("` with `{}", redactor.env_line(&manifest_env)));
        }
        let log = rt.log_path(&logs_dir);
        if rt.log_path.is_none() {
            // Our own directory: private, and never a planted symlink.
            if let Err(e) = crate::fsx::ensure_private_dir(&logs_dir) {
                fail_to_start(rt, &journal, format!("cannot prepare the runtime log directory: {e}"));
                return;
            }
        }
        let oom_before = process::oom_kill_count();
        let launch = process::Launch {
            command: &command,
            args: &args,
            env: &env,
            cwd: spec.cwd.as_deref(),
            log_path: &log,
            shown,
        };
        let started = match process::spawn(launch) {
            Ok(s) => s,
            Err(e) => {
                fail_to_start(rt, &journal, e);
                return;
            }
        };
        match guard::spawn(started.pid) {
            Ok(mut g) => {
                tokio::spawn(async move {
                    let _ = g.wait().await;
                });
            }
            // The group is already gone: the exit is on its way to us.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ESRCH | libc::EPERM)) => {}
            Err(e) => crate::dlog!("`{id}`: no guard for process group {}: {e}", started.pid),
        }
        if !rt.ephemeral {
            journal.send(Record::Start { id: id.to_string(), generation, pid: started.pid, at: SystemTime::now() });
        }
        rt.endpoint = port.map(|p| spec.endpoint(p));
        rt.state = State::Starting;
        rt.reason = Some(Reason::WaitingForProbe);
        rt.running = Some(Running {
            pid: started.pid,
            started_at: SystemTime::now(),
            log_offset: started.log_offset,
            oom_before,
            planned: None,
            ready_seen: false,
            failures: 0,
            redactor,
        });
        // Without an endpoint (a plain `process` runtime) there is nothing to probe.
        let url = rt.endpoint.as_ref().map(|ep| format!("{ep}{}", spec.health.path));
        tokio::spawn(watcher::watch_process(watcher::Watch {
            id: id.to_string(),
            generation,
            child: started.child,
            tx,
            http,
            url,
            spec,
            log,
            rotation_failed: false,
            log_seen: 0,
        }));
    }

    /// Asks a running process to stop; its exit is recorded with `cause`.
    fn stop(&mut self, id: &str, cause: ExitCause) {
        let tx = self.tx.clone();
        let Some(rt) = self.find(id) else { return };
        let generation = rt.generation;
        if let Some(run) = rt.running.as_mut() {
            if run.planned.is_none() {
                run.planned = Some(cause);
            }
            let _ = crate::sys::kill_group(run.pid, libc::SIGTERM);
            let id = id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(STOP_GRACE).await;
                let _ = tx.send(Msg::KillDeadline { id, generation });
            });
        }
    }

    fn on_exit(&mut self, id: &str, generation: u64, status: std::io::Result<std::process::ExitStatus>) -> bool {
        let logs_dir = self.logs_dir.clone();
        let shutting_down = self.shutdown_reply.is_some();
        let tx = self.tx.clone();
        let journal = self.journal.clone();
        let Some(rt) = self.find(id) else {
            return false;
        };
        if rt.generation != generation {
            return false;
        }
        let Some(run) = rt.running.take() else {
            return false;
        };
        // Whatever the leader did, nothing of its group may outlive it.
        let _ = crate::sys::kill_group(run.pid, libc::SIGKILL);
        let mut log = process::log_excerpt(&rt.log_path(&logs_dir), run.log_offset);
        // A runtime that echoes its arguments or environment must not put
        // their secrets into `status`, restore messages or a smoke's result.
        log.tail = log.tail.iter().map(|l| run.redactor.redact(l)).collect();
        log.error_line = log.error_line.map(|l| run.redactor.redact(&l));
        let record = match status {
            Ok(status) => process::classify(status, run.planned, run.oom_before, log),
            Err(e) => process::spawn_failure(format!("lost track of the process: {e}")),
        };
        let planned = run.planned;
        let mut record = record;
        // `classify` knows arw stopped it, not who asked.
        if rt.held && planned == Some(ExitCause::Stopped) {
            record.detail = record.detail.replacen("stopped by arw", "stopped by the operator", 1);
        }
        for waiter in rt.on_stopped.drain(..) {
            let _ = waiter.send(record.clone());
        }
        if !rt.ephemeral {
            journal.send(Record::exit(id, generation, &record));
        }
        rt.last_exit = Some(record.clone());
        // Nothing listens there any more, whatever happens next.
        rt.endpoint = None;
        if rt.retired {
            for waiter in rt.on_removed.drain(..) {
                let _ = waiter.send(());
            }
            self.runtimes.retain(|r| !(r.spec.id == id && r.retired));
            return true;
        }
        if let Some(knobs) = rt.start_after_exit.take() {
            self.start(id, knobs);
            return true;
        }
        if rt.held {
            // Whatever else was under way (a health kill), an operator stop wins.
            rt.state = State::Offline;
            rt.reason = Some(Reason::OperatorStopped);
            return true;
        }
        if planned == Some(ExitCause::Stopped) || shutting_down {
            rt.state = State::Offline;
            rt.reason = Some(Reason::Stopped);
            return true;
        }
        // A crash (or a kill for failed health): restart within the budget.
        let now = SystemTime::now();
        if rt.budget.allows_automatic(now) {
            let delay = rt.budget.backoff(now);
            rt.budget.record(now, RestartKind::Automatic);
            rt.totals.automatic += 1;
            let used = rt.budget.used(now);
            if !rt.ephemeral {
                let detail = format!(
                    "automatic restart {used} of {} in the window, after {:.1}s",
                    rt.spec.restart.max_restarts,
                    delay.as_secs_f64()
                );
                journal.send(Record::Restart { id: id.to_string(), kind: RestartKind::Automatic, at: now, detail });
            }
            rt.state = State::Starting;
            rt.reason =
                Some(Reason::RestartScheduled { exit: record.detail, used, max: rt.spec.restart.max_restarts, delay });
            rt.restart_scheduled = Some(generation);
            let id = id.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx.send(Msg::RestartDue { id, generation });
            });
        } else {
            rt.state = State::Error;
            if rt.spec.restart.max_restarts == 0 {
                rt.reason = Some(Reason::RestartsOff { exit: record.detail });
            } else {
                rt.reason = Some(Reason::BudgetExhausted);
                if let Some(reset) = rt.budget.reset_at(now) {
                    let wait = reset.duration_since(now).unwrap_or_default();
                    let id = id.to_string();
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = tx.send(Msg::WindowReset { id });
                    });
                }
            }
        }
        true
    }

    fn on_health(&mut self, id: &str, generation: u64, probe: Probe) -> bool {
        let Some(rt) = self.find(id) else {
            return false;
        };
        if rt.generation != generation {
            return false;
        }
        let threshold = rt.spec.health.failure_threshold;
        let Some(run) = rt.running.as_mut() else {
            return false;
        };
        if run.planned.is_some() {
            return false;
        }
        let before = (rt.state, rt.reason.clone());
        match probe {
            Probe::Ready => {
                run.ready_seen = true;
                run.failures = 0;
                rt.state = State::Ready;
                rt.reason = None;
            }
            Probe::Loading if !run.ready_seen => {
                rt.state = State::Starting;
                rt.reason = Some(Reason::LoadingModel);
            }
            Probe::Failed(_) if !run.ready_seen => {
                // Still inside the start-up deadline: not answering yet is normal.
            }
            Probe::Loading | Probe::Failed(_) => {
                let why = match probe {
                    Probe::Failed(why) => why,
                    _ => "health answered 503 after being ready".to_string(),
                };
                run.failures += 1;
                rt.state = State::Degraded;
                rt.reason = Some(Reason::Unhealthy { why, failures: run.failures, threshold });
                if run.failures >= threshold {
                    self.stop(id, ExitCause::HealthTimeout);
                }
            }
        }
        let rt = self.find(id).expect("runtime exists");
        before != (rt.state, rt.reason.clone())
    }

    fn on_window_reset(&mut self, id: &str) -> bool {
        let shutting_down = self.shutdown_reply.is_some();
        let journal = self.journal.clone();
        let Some(rt) = self.find(id) else {
            return false;
        };
        let now = SystemTime::now();
        let waiting = rt.state == State::Error
            && rt.running.is_none()
            && rt.reason == Some(Reason::BudgetExhausted)
            && !shutting_down;
        if !waiting || !rt.budget.allows_automatic(now) {
            return true;
        }
        rt.budget.record(now, RestartKind::Automatic);
        rt.totals.automatic += 1;
        if !rt.ephemeral {
            let detail = "automatic restart: the window freed a slot".to_string();
            journal.send(Record::Restart { id: id.to_string(), kind: RestartKind::Automatic, at: now, detail });
        }
        let knobs = rt.knobs.clone();
        self.start(id, knobs);
        true
    }

    fn restore(&mut self, req: RestoreRequest, knobs: Knobs) -> Result<RestoreTicket, ErrorBody> {
        let known: Vec<String> = self.runtimes.iter().filter(|r| !r.retired).map(|r| r.spec.id.clone()).collect();
        let Some(rt) = self.runtimes.iter_mut().find(|r| r.spec.id == req.id && !r.retired) else {
            return Err(lifecycle::unknown_runtime(&req.id, &known));
        };
        let now = SystemTime::now();
        if !req.dry_run {
            if let Some(generation) = rt.restore_in_flight() {
                // Twenty parallel restores are one restart, not twenty.
                return Ok(RestoreTicket { generation, budget: rt.budget.view(now), state: rt.state });
            }
        }
        // The very first start of a runtime is not a restart.
        let counts = rt.ever_started;
        if counts && rt.budget.exhausted(now) && !req.force {
            return Err(lifecycle::exhausted(rt, now)
                .with_hint("wait for the window to reset, or pass `--force` to restore anyway"));
        }
        if req.dry_run {
            return Ok(RestoreTicket { generation: rt.generation, budget: rt.budget.view(now), state: rt.state });
        }
        if counts {
            rt.budget.record(now, RestartKind::Manual);
            rt.totals.manual += 1;
            if !rt.ephemeral {
                let detail = if rt.budget.exhausted(now) { "operator restore (--force)" } else { "operator restore" };
                let record =
                    Record::Restart { id: req.id.clone(), kind: RestartKind::Manual, at: now, detail: detail.into() };
                self.journal.send(record);
            }
        }
        rt.restart_scheduled = None;
        // A restore is an operator start too: it lifts a stop's hold.
        if rt.held {
            rt.held = false;
            self.journal.send(Record::Hold { id: req.id.clone(), held: false, at: now });
        }
        let generation = rt.generation + 1;
        rt.restoring = Some(generation);
        let budget = rt.budget.view(now);
        if rt.running.is_some() {
            rt.start_after_exit = Some(knobs);
            rt.state = State::Starting;
            rt.reason = Some(Reason::Restoring);
            let id = req.id.clone();
            self.stop(&id, ExitCause::Stopped);
        } else {
            self.start(&req.id, knobs);
        }
        let state = self.find(&req.id).map(|r| r.state).unwrap_or(State::Unknown);
        Ok(RestoreTicket { generation, budget, state })
    }

    fn reload(&mut self, registry: Registry) -> ReloadReport {
        let mut report = ReloadReport { origin: registry.origin.clone(), ..ReloadReport::default() };
        self.origin = registry.origin;
        let new_ids: Vec<String> = registry.runtimes.iter().map(|s| s.id.clone()).collect();
        let gone: Vec<String> = self
            .runtimes
            .iter()
            .filter(|r| !r.retired && !r.ephemeral && !new_ids.contains(&r.spec.id))
            .map(|r| r.spec.id.clone())
            .collect();
        for id in gone {
            report.removed.push(id.clone());
            let rt = self.find(&id).expect("listed above");
            if rt.running.is_some() {
                rt.retired = true;
                rt.start_after_exit = None;
                self.stop(&id, ExitCause::Stopped);
            } else {
                self.runtimes.retain(|r| r.spec.id != id);
            }
        }
        let mut order = Vec::new();
        for spec in registry.runtimes {
            let id = spec.id.clone();
            order.push(id.clone());
            match self.runtimes.iter_mut().find(|r| r.spec.id == id) {
                Some(rt) if rt.spec == spec && !rt.retired => {}
                Some(rt) => {
                    report.changed.push(id.clone());
                    rt.retired = false;
                    rt.budget.set_policy(spec.restart.clone());
                    rt.spec = spec;
                    if rt.running.is_some() && !rt.held {
                        report.restarted.push(id.clone());
                        rt.start_after_exit = Some(rt.knobs.clone());
                        self.stop(&id, ExitCause::Stopped);
                    }
                }
                None => {
                    report.added.push(id.clone());
                    let auto = spec.auto_start;
                    self.runtimes.push(Runtime::new(spec));
                    if auto {
                        self.start(&id, Knobs::daemon());
                    }
                }
            }
        }
        // Keep the manifest's order in every view; smoke runtimes go last.
        self.runtimes.sort_by_key(|r| order.iter().position(|id| *id == r.spec.id).unwrap_or(usize::MAX));
        report
    }
}

/// The reason carries the whole story (what, why, what to change); the
/// exit record says only that nothing ran, so no view repeats it twice.
fn fail_to_start(rt: &mut Runtime, journal: &journal::Sink, detail: String) {
    rt.state = State::Error;
    rt.reason = Some(Reason::StartFailed(detail.clone()));
    rt.endpoint = None;
    let record = process::spawn_failure("not started".to_string());
    if !rt.ephemeral {
        // The journal keeps why: the reason does not outlive this daemon.
        let journaled = crate::protocol::status::ExitRecord { error_line: Some(detail), ..record.clone() };
        journal.send(Record::exit(&rt.spec.id, rt.generation, &journaled));
    }
    rt.last_exit = Some(record);
}
