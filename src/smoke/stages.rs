//! The stages of a smoke run, in the order `Run::execute` takes them:
//! loopback, workspace, launch and ready, first token, chat (plain and
//! streamed), GPU offload, describe and restore (vision), the pushed
//! matrix, measured memory.

use super::plan::Plan;
use super::{gpulog, workspace, Halt, Run, TINY_PNG};
use crate::protocol::smoke::MemoryReport;
use crate::protocol::status::{State, SupervisorView};
use crate::protocol::{RestoreRequest, StatusReport};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long to wait for a pushed matrix update that includes the run.
const MATRIX_WAIT: Duration = Duration::from_secs(7);

impl Run<'_> {
    /// Binding and reaching 127.0.0.1 must work, or nothing here can run.
    pub(super) fn check_loopback(&mut self) -> Result<(), Halt> {
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

    pub(super) fn prepare_workspace(&mut self) -> Result<(), Halt> {
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
        let kept = if keep == 0 { "no count limit".to_string() } else { format!("keeping {keep}") };
        let detail = format!("{} (pruned {} old run(s), {kept})", ws.dir.display(), pruned.len());
        self.pass("workspace", t, detail);
        Ok(())
    }

    pub(super) fn workspace(&self) -> std::path::PathBuf {
        self.report.workspace.clone().map(Into::into).unwrap_or_else(|| self.req.root.clone())
    }

    /// Registers the planned runtime from a manifest written into the
    /// workspace, and waits until it is ready.
    pub(super) async fn launch(&mut self, plan: &Plan) -> Result<(), Halt> {
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
    pub(super) async fn first_token(&mut self) -> Result<(), Halt> {
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
            Ok((401, v)) => Err(self.fail(
                "first-token",
                t,
                format!(
                    "HTTP 401: {v}; the smoke sends no API key: leave `--api-key` out of LLAMA_SERVER_ARGS for a smoke"
                ),
            )),
            Ok((status, v)) => Err(self.fail("first-token", t, format!("HTTP {status}: {v}"))),
            Err(e) => Err(self.fail("first-token", t, e.message)),
        }
    }

    pub(super) async fn chat(&mut self, stream: bool) -> Result<(), Halt> {
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

    pub(super) fn check_offload(&mut self, plan: &Plan) -> Result<(), Halt> {
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

    pub(super) async fn describe(&mut self) -> Result<(), Halt> {
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
    pub(super) async fn restore_and_watch(&mut self) -> Result<(), Halt> {
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

    pub(super) async fn next_update(&mut self) -> Option<SupervisorView> {
        let report = next_report(&mut self.events).await?;
        let view = report.supervisor.clone();
        self.last_update = Some(report);
        Some(view)
    }

    /// A pushed `runtime.updated` newer than the run's start must count the
    /// runtime and carry every accessible string.
    pub(super) async fn check_matrix(&mut self) -> Result<(), Halt> {
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

    pub(super) fn measure_memory(&mut self, plan: &Plan) {
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
}

/// The next pushed `runtime.updated`, skipping other events and lag.
pub(super) async fn next_report(events: &mut crate::bus::Subscription) -> Option<Arc<StatusReport>> {
    loop {
        if let Some(report) = events.next_skipping_lag().await?.report.clone() {
            return Some(report);
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
