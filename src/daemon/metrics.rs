//! What the daemon counts for `/metrics` (SPEC §7) beyond what the
//! supervisor's snapshot already holds: exits by cause (from `runtime.exit`
//! events — the snapshot keeps only the last exit), health-probe latencies,
//! proxied requests with their durations, generation speed, smoke outcomes,
//! and weights bytes and verifications. The daemon's own work writes here;
//! a scrape only reads.
//!
//! Per-runtime figures live only while the runtime is registered (a
//! `models.changed` from the registry drops the rest), so smoke runs, which
//! register a runtime each, do not grow the exposition without end.

use super::Ctx;
use crate::bus::Subscription;
use crate::protocol::events::{topic, RuntimeExit, TopicFilter};
use crate::protocol::smoke::{Mode, Outcome, SmokeReport};
use crate::protocol::{ModelStatus, WeightsAction, WeightsReport};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Health probes answer in well under a millisecond on loopback; a slow
/// one is near its `timeout_ms` (1 s by default).
const PROBE_BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
/// Proxied requests: from a cached health answer to a long generation.
const REQUEST_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// `arw_smoke_runs_total` labels.
pub type SmokeLabels = [(&'static str, &'static str); 2];
/// `arw_weights_verify_total` labels.
pub type VerifyLabels = [(&'static str, &'static str); 1];

/// What is kept about one registered runtime.
#[derive(Debug, Default)]
pub struct PerRuntime {
    /// `runtime.exit` events by cause (`exited`, `signaled`, …).
    pub exits: BTreeMap<String, u64>,
    /// Probe latencies by verdict (`ready`, `loading`, `failed`).
    pub probes: BTreeMap<&'static str, Histogram>,
    /// Proxied requests by (route, status); status 0: no answer.
    pub requests: BTreeMap<(String, u16), u64>,
    /// Their durations by route.
    pub durations: BTreeMap<String, Histogram>,
    /// The model and generation speed of the newest completion that said.
    pub throughput: Option<(String, f64)>,
}

#[derive(Debug)]
pub struct Recorder {
    runtimes: Mutex<HashMap<String, PerRuntime>>,
    /// Smoke runs by mode and outcome; every pair is present from the start.
    pub smoke_runs: Family<SmokeLabels, Counter>,
    /// Bytes written by completed downloads.
    pub weights_downloaded: Counter,
    /// Files hashed and compared: `verified`, `mismatch`, `unverified`.
    pub weights_verify: Family<VerifyLabels, Counter>,
    /// Size of each model file on disk, as the newest weights report said.
    weights_cached: Mutex<BTreeMap<(String, String), u64>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        let smoke_runs = Family::default();
        for mode in [Mode::Stub, Mode::Real, Mode::Gpu, Mode::Vision] {
            for outcome in [Outcome::Passed, Outcome::Failed, Outcome::Skipped, Outcome::Downgraded] {
                let _ = smoke_runs.get_or_create(&[("mode", mode.as_str()), ("outcome", outcome.as_str())]);
            }
        }
        let weights_verify = Family::default();
        for result in ["verified", "mismatch", "unverified"] {
            let _ = weights_verify.get_or_create(&[("result", result)]);
        }
        Recorder {
            runtimes: Mutex::default(),
            smoke_runs,
            weights_downloaded: Counter::default(),
            weights_verify,
            weights_cached: Mutex::default(),
        }
    }

    /// Read access for the exposition.
    pub fn runtimes(&self) -> MutexGuard<'_, HashMap<String, PerRuntime>> {
        self.runtimes.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn weights_cached(&self) -> BTreeMap<(String, String), u64> {
        self.weights_cached.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One health probe of `runtime`, with its verdict.
    pub fn probe(&self, runtime: &str, took: Duration, verdict: &'static str) {
        let mut all = self.runtimes();
        let per = all.entry(runtime.to_string()).or_default();
        per.probes.entry(verdict).or_insert_with(|| Histogram::new(PROBE_BUCKETS)).observe(took.as_secs_f64());
    }

    /// One request proxied to `runtime`; `status` 0 when it did not answer.
    pub fn request(&self, runtime: &str, route: &str, status: u16, took: Duration) {
        let mut all = self.runtimes();
        let per = all.entry(runtime.to_string()).or_default();
        *per.requests.entry((route.to_string(), status)).or_default() += 1;
        if !per.durations.contains_key(route) {
            per.durations.insert(route.to_string(), Histogram::new(REQUEST_BUCKETS));
        }
        per.durations[route].observe(took.as_secs_f64());
    }

    /// Generation speed of a completion `runtime` served with `model`.
    pub fn throughput(&self, runtime: &str, model: &str, tokens_per_second: f64) {
        if tokens_per_second.is_finite() && tokens_per_second >= 0.0 {
            self.runtimes().entry(runtime.to_string()).or_default().throughput =
                Some((model.to_string(), tokens_per_second));
        }
    }

    pub fn smoke(&self, report: &SmokeReport) {
        self.smoke_runs.get_or_create(&[("mode", report.mode.as_str()), ("outcome", report.outcome.as_str())]).inc();
    }

    /// Bytes downloaded, files hashed, and what is on disk, from one report.
    pub fn weights(&self, report: &WeightsReport) {
        let mut cached = self.weights_cached.lock().unwrap_or_else(|p| p.into_inner());
        for m in &report.models {
            let key = (m.repo.clone(), m.file.clone());
            match m.status {
                ModelStatus::Downloaded => {
                    let size = m.size.unwrap_or(0);
                    self.weights_downloaded.inc_by(size.saturating_sub(m.resumed_from.unwrap_or(0)));
                    // Hashed while it streamed in, and checked before it was kept.
                    self.weights_verify.get_or_create(&[("result", "verified")]).inc();
                }
                ModelStatus::Verified => {
                    self.weights_verify.get_or_create(&[("result", "verified")]).inc();
                }
                ModelStatus::Mismatch => {
                    self.weights_verify.get_or_create(&[("result", "mismatch")]).inc();
                }
                ModelStatus::Unverified => {
                    self.weights_verify.get_or_create(&[("result", "unverified")]).inc();
                }
                _ => {}
            }
            match (m.status, m.size) {
                (ModelStatus::Missing, _) => {
                    cached.remove(&key);
                }
                // A fetch that found a mismatch deleted the download.
                (ModelStatus::Mismatch, _) if report.action == WeightsAction::Fetch => {
                    cached.remove(&key);
                }
                (
                    ModelStatus::Cached
                    | ModelStatus::Downloaded
                    | ModelStatus::Local
                    | ModelStatus::Verified
                    | ModelStatus::Unverified
                    | ModelStatus::Mismatch,
                    Some(size),
                ) => {
                    cached.insert(key, size);
                }
                _ => {}
            }
        }
    }

    fn on_exit(&self, exit: &RuntimeExit) {
        let cause = serde_json::to_value(exit.exit.cause).ok().and_then(|v| v.as_str().map(str::to_string));
        let mut all = self.runtimes();
        *all.entry(exit.runtime.clone()).or_default().exits.entry(cause.unwrap_or_default()).or_default() += 1;
    }

    /// Forgets runtimes that left the registry.
    fn retain(&self, registered: &[String]) {
        self.runtimes().retain(|id, _| registered.iter().any(|r| r == id));
    }
}

/// The topics [`count_events`] reads.
pub fn events_filter() -> TopicFilter {
    TopicFilter::parse(&format!("{},{}", topic::RUNTIME_EXIT, topic::MODELS_CHANGED)).expect("valid topics")
}

/// Counts exits from the bus. `sub` is taken before the daemon publishes
/// its first event, so none is missed; a reader that falls behind resumes
/// from the last id it saw.
pub async fn count_events(ctx: Arc<Ctx>, mut sub: Subscription) {
    let mut last = None;
    loop {
        match sub.next().await {
            Ok(Some(entry)) => {
                last = Some(entry.id);
                let env = entry.envelope();
                match entry.topic.as_str() {
                    topic::RUNTIME_EXIT => {
                        if let Ok(exit) = serde_json::from_str::<RuntimeExit>(env.data.get()) {
                            ctx.metrics.on_exit(&exit);
                        }
                    }
                    topic::MODELS_CHANGED => {
                        #[derive(serde::Deserialize)]
                        struct Registry {
                            why: String,
                            #[serde(default)]
                            runtimes: Vec<String>,
                        }
                        if let Ok(r) = serde_json::from_str::<Registry>(env.data.get()) {
                            if r.why == "registry" {
                                ctx.metrics.retain(&r.runtimes);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Ok(None) => return,
            Err(_) => sub = ctx.bus.subscribe(last, events_filter()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ModelReport;

    fn report(action: WeightsAction, models: Vec<ModelReport>) -> WeightsReport {
        WeightsReport {
            action,
            dry_run: false,
            ok: true,
            cache_dir: String::new(),
            link_dir: String::new(),
            sources: String::new(),
            models,
            checklist: None,
            problems: vec![],
        }
    }

    fn model(file: &str, status: ModelStatus, size: u64, resumed_from: Option<u64>) -> ModelReport {
        ModelReport {
            repo: "org/repo".into(),
            file: file.into(),
            status,
            size: Some(size),
            resumed_from,
            ..Default::default()
        }
    }

    /// A download counts the bytes it wrote (not those resumed) and one
    /// verification; a later mismatch in `verify` is counted too.
    #[test]
    fn weights_reports_feed_bytes_and_verify_results() {
        let r = Recorder::new();
        r.weights(&report(WeightsAction::Fetch, vec![model("a.gguf", ModelStatus::Downloaded, 1000, Some(400))]));
        assert_eq!(r.weights_downloaded.get(), 600);
        assert_eq!(r.weights_verify.get_or_create(&[("result", "verified")]).get(), 1);
        r.weights(&report(WeightsAction::Verify, vec![model("a.gguf", ModelStatus::Mismatch, 1000, None)]));
        assert_eq!(r.weights_verify.get_or_create(&[("result", "mismatch")]).get(), 1);
        assert_eq!(r.weights_cached().get(&("org/repo".into(), "a.gguf".into())), Some(&1000));
        r.weights(&report(WeightsAction::List, vec![model("a.gguf", ModelStatus::Missing, 1000, None)]));
        assert!(r.weights_cached().is_empty());
        // A reuse of a file verified earlier hashes nothing.
        r.weights(&report(WeightsAction::Fetch, vec![model("a.gguf", ModelStatus::Cached, 1000, None)]));
        assert_eq!(r.weights_verify.get_or_create(&[("result", "verified")]).get(), 1);
    }

    /// Figures of a runtime that left the registry are dropped.
    #[test]
    fn retain_forgets_unregistered_runtimes() {
        let r = Recorder::new();
        r.request("keep", "/v1/chat/completions", 200, Duration::from_millis(3));
        r.request("gone", "/v1/chat/completions", 500, Duration::from_millis(3));
        r.retain(&["keep".to_string()]);
        let all = r.runtimes();
        assert_eq!(all.len(), 1);
        assert_eq!(all["keep"].requests[&("/v1/chat/completions".to_string(), 200)], 1);
    }
}
