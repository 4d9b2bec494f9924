//! One task per runtime process: reports its exit the moment `wait`
//! returns, and probes health fast while it starts, then every `interval_ms`.

use super::health::{self, Probe};
use super::{logfile, Msg};
use crate::registry::RuntimeSpec;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Probe cadence while a runtime is still starting: 5 ms, doubling to
/// 100 ms, so a server that loads in 20 ms is seen ready within a few ms of
/// it, and a slow one costs ten cheap probes a second.
const STARTUP_PROBE_FIRST: Duration = Duration::from_millis(5);
const STARTUP_PROBE_MAX: Duration = Duration::from_millis(100);
/// How long a runtime with no health endpoint must stay up to count as ready.
pub const NO_PROBE_SETTLE: Duration = Duration::from_secs(1);

pub struct Watch {
    pub id: String,
    pub generation: u64,
    pub child: tokio::process::Child,
    pub tx: mpsc::UnboundedSender<Msg>,
    pub http: reqwest::Client,
    pub url: Option<String>,
    pub spec: RuntimeSpec,
    /// The log the process writes to, kept under the rotation limit.
    pub log: std::path::PathBuf,
    /// A rotation failed and was logged: say it once per run, not every check.
    pub rotation_failed: bool,
    /// The log's size at the last check, to see how fast it grows.
    pub log_seen: u64,
}

/// Follows one process: its exit is reported the moment `wait` returns;
/// health is probed fast while starting, then every `interval_ms`.
pub async fn watch_process(mut w: Watch) {
    let started = Instant::now();
    let startup_deadline = Duration::from_millis(w.spec.startup_timeout_ms);
    let interval = Duration::from_millis(w.spec.health.interval_ms);
    let timeout = Duration::from_millis(w.spec.health.timeout_ms);
    let mut ready = false;
    let mut deadline_sent = false;
    let rotation = tokio::time::sleep(logfile::CHECK_EVERY);
    tokio::pin!(rotation);
    if w.url.is_none() {
        // Nothing to probe: a runtime without an endpoint counts as ready
        // once it has stayed up for a while, never merely because it started.
        if while_running(&mut w, &mut rotation, tokio::time::sleep(NO_PROBE_SETTLE)).await.is_none() {
            return;
        }
        let _ = w.tx.send(Msg::Health { id: w.id.clone(), generation: w.generation, probe: Probe::Ready });
        ready = true;
    }
    let mut startup_pause = STARTUP_PROBE_FIRST;
    loop {
        let pause = if ready { interval } else { startup_pause };
        startup_pause = (startup_pause * 2).min(STARTUP_PROBE_MAX);
        let url = w.url.clone();
        let http = w.http.clone();
        let id = w.id.clone();
        let probe = async move {
            tokio::time::sleep(pause).await;
            match &url {
                Some(url) => Some(health::probe_timed(&http, &id, url, timeout).await),
                None => std::future::pending().await,
            }
        };
        let Some(Some(result)) = while_running(&mut w, &mut rotation, probe).await else {
            return;
        };
        ready |= result == Probe::Ready;
        if !ready && !deadline_sent && started.elapsed() >= startup_deadline {
            deadline_sent = true;
            let _ = w.tx.send(Msg::StartupDeadline { id: w.id.clone(), generation: w.generation });
        }
        let _ = w.tx.send(Msg::Health { id: w.id.clone(), generation: w.generation, probe: result });
    }
}

/// Drives `work` while reporting the process's exit the moment it happens
/// and keeping its log rotated; `None` when the process exited first (its
/// exit is already reported).
async fn while_running<F: std::future::Future>(
    w: &mut Watch,
    rotation: &mut std::pin::Pin<&mut tokio::time::Sleep>,
    work: F,
) -> Option<F::Output> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            status = w.child.wait() => {
                let _ = w.tx.send(Msg::Exited { id: w.id.clone(), generation: w.generation, status });
                return None;
            }
            _ = rotation.as_mut() => {
                let next = rotate(w).await;
                rotation.as_mut().reset(tokio::time::Instant::now() + next);
            }
            out = &mut work => return Some(out),
        }
    }
}

/// Copy-truncates the log once it is past the limit, off the actor's
/// thread; returns when to look again: soon while the log grows fast.
async fn rotate(w: &mut Watch) -> Duration {
    // A stat per check; the copy only when there is something to rotate.
    let size = std::fs::symlink_metadata(&w.log).map_or(0, |m| m.len());
    let grew = size.saturating_sub(w.log_seen);
    w.log_seen = size;
    let next = if grew > logfile::FAST_GROWTH { logfile::CHECK_FAST } else { logfile::CHECK_EVERY };
    if size <= logfile::ROTATE_BYTES {
        return next;
    }
    let path = w.log.clone();
    match tokio::task::spawn_blocking(move || logfile::rotate_if_large(&path)).await {
        Ok(Ok(true)) => {
            w.log_seen = 0;
            let _ = w.tx.send(Msg::LogRotated { id: w.id.clone(), generation: w.generation });
        }
        Ok(Ok(false)) => {}
        Ok(Err(e)) if !w.rotation_failed => {
            w.rotation_failed = true;
            crate::dlog!("`{}`: cannot rotate `{}` (its log keeps growing): {e}", w.id, w.log.display());
        }
        Ok(Err(_)) | Err(_) => {}
    }
    next
}
