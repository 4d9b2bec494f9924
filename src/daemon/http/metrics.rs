//! `GET /metrics`: the Prometheus exposition (SPEC §7), encoded by
//! `prometheus-client`, every family prefixed `arw_` and labelled `node`.
//!
//! Read from memory only: the newest status document the feed published
//! (runtime states, budgets, restart totals, the matrix's TTL and age) and
//! what the daemon recorded as it worked ([`crate::daemon::metrics`]). A
//! scrape starts nothing, calls no runtime, publishes no event and is not
//! a client of the idle timer.
//!
//! A scraper that asks for OpenMetrics (Prometheus does) gets it; anyone
//! else (curl, `promtool check metrics`) gets the Prometheus text format.

use super::Http;
use crate::daemon::metrics::Recorder;
use crate::protocol::status::State as RuntimeState;
use crate::protocol::StatusReport;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// As the crate's examples serve OpenMetrics.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub struct Metrics {
    registry: Registry,
    /// The last exposition's size: the next one's buffer is allocated once.
    last_len: AtomicUsize,
}

impl Metrics {
    pub fn new(ctx: &crate::daemon::Ctx) -> Metrics {
        let node = crate::daemon::feed::MatrixKnobs::daemon().node_id;
        let mut registry =
            Registry::with_prefix_and_labels("arw", [(Cow::Borrowed("node"), Cow::Owned(node))].into_iter());
        let build = vec![
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("build", ctx.build_id.clone()),
            ("protocol", crate::protocol::PROTOCOL_VERSION.to_string()),
        ];
        registry.register("build", "The daemon's version, build id and protocol version", Info::new(build));
        let recorder = &ctx.metrics;
        registry.register("smoke_runs", "Smoke runs by mode and outcome", recorder.smoke_runs.clone());
        registry.register_with_unit(
            "weights_downloaded",
            "Bytes written by completed weights downloads",
            Unit::Bytes,
            recorder.weights_downloaded.clone(),
        );
        registry.register(
            "weights_verify",
            "Weights files hashed and compared with their sha256: verified, mismatch, or unverified (nothing to compare with)",
            recorder.weights_verify.clone(),
        );
        registry.register_collector(Box::new(Snapshot { reports: ctx.feed.subscribe(), recorder: recorder.clone() }));
        Metrics { registry, last_len: AtomicUsize::new(16 * 1024) }
    }

    fn encode(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(self.last_len.load(Ordering::Relaxed) + 1024);
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        }
        self.last_len.store(out.len(), Ordering::Relaxed);
        Ok(out)
    }
}

pub async fn scrape(State(http): State<Arc<Http>>, headers: HeaderMap) -> Response<Body> {
    // Only in the daemon's first moments has the feed published nothing yet.
    if http.ctx.feed.subscribe().borrow().is_none() {
        let _ = http.ctx.feed.current(&http.ctx).await;
    }
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match http.metrics.encode(openmetrics) {
        Ok(text) => {
            let mut resp = Response::new(Body::from(text));
            let kind =
                if openmetrics { OPENMETRICS } else { prometheus_client::encoding::prometheus_text::CONTENT_TYPE };
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
            resp
        }
        Err(_) => super::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "metrics_failed",
            "the metrics could not be encoded; this is a bug, please report it with `arw daemon logs`",
        ),
    }
}

/// The families read from the newest status document, joined with what
/// the recorder holds for the runtimes in it.
#[derive(Debug)]
struct Snapshot {
    reports: watch::Receiver<Option<Arc<StatusReport>>>,
    recorder: Arc<Recorder>,
}

impl Collector for Snapshot {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(report) = self.reports.borrow().clone() else { return Ok(()) };
        let runtimes = &report.supervisor.runtimes;
        let who = |rt: &crate::protocol::status::RuntimeView| {
            [
                ("runtime", rt.id.clone()),
                ("adapter", rt.adapter.as_str().into()),
                ("accelerator", rt.accelerator.as_str().into()),
            ]
        };

        let mut m = enc.encode_descriptor(
            "runtime_state",
            "1 for the state the runtime is in, 0 for the other five.",
            None,
            MetricType::Gauge,
        )?;
        for rt in runtimes {
            let base = who(rt);
            for state in RuntimeState::ALL {
                let labels = (base.clone(), [("state", state.as_str())]);
                ConstGauge::new(i64::from(rt.state == state)).encode(m.encode_family(&labels)?)?;
            }
        }

        let mut m = enc.encode_descriptor(
            "runtime_restart_budget_remaining",
            "Automatic restarts left in the runtime's current restart window.",
            None,
            MetricType::Gauge,
        )?;
        for rt in runtimes {
            ConstGauge::new(i64::from(rt.restart_budget.remaining)).encode(m.encode_family(&who(rt))?)?;
        }

        let mut m = enc.encode_descriptor(
            "runtime_restart_budget_exhausted",
            "1 when the restart budget is spent (the runtime stays in error until the window resets or a restore).",
            None,
            MetricType::Gauge,
        )?;
        for rt in runtimes {
            ConstGauge::new(i64::from(rt.restart_budget.exhausted)).encode(m.encode_family(&who(rt))?)?;
        }

        let mut m = enc.encode_descriptor(
            "runtime_restarts",
            "Restarts of the runtime (the supervisor's lifetime totals): automatic (within the budget) or manual (a restore).",
            None,
            MetricType::Counter,
        )?;
        for rt in runtimes {
            let base = who(rt);
            for (kind, n) in [("automatic", rt.restarts_total.automatic), ("manual", rt.restarts_total.manual)] {
                ConstCounter::new(n).encode(m.encode_family(&(base.clone(), [("kind", kind)]))?)?;
            }
        }

        let recorded = self.recorder.runtimes();
        let mut m = enc.encode_descriptor(
            "runtime_exits",
            "Runtime process exits by cause (exited, signaled, oom_killed, health_timeout, startup_timeout, spawn_failed, stopped).",
            None,
            MetricType::Counter,
        )?;
        for rt in runtimes {
            let Some(per) = recorded.get(&rt.id) else { continue };
            let base = who(rt);
            for (cause, n) in &per.exits {
                ConstCounter::new(*n).encode(m.encode_family(&(base.clone(), [("cause", cause.as_str())]))?)?;
            }
        }

        let mut m = enc.encode_descriptor(
            "runtime_health_probe_duration",
            "Health probe latency by verdict (ready, loading, failed).",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for rt in runtimes {
            let Some(per) = recorded.get(&rt.id) else { continue };
            let base = who(rt);
            for (verdict, h) in &per.probes {
                h.encode(m.encode_family(&(base.clone(), [("outcome", *verdict)]))?)?;
            }
        }

        let mut m = enc.encode_descriptor(
            "http_requests",
            "Requests the daemon forwarded to a runtime, by upstream route and HTTP status (0: no answer).",
            None,
            MetricType::Counter,
        )?;
        for rt in runtimes {
            let Some(per) = recorded.get(&rt.id) else { continue };
            for ((route, code), n) in &per.requests {
                let labels = [("runtime", rt.id.as_str()), ("route", route.as_str()), ("code", &code.to_string())];
                ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
            }
        }

        let mut m = enc.encode_descriptor(
            "http_request_duration",
            "Duration of requests forwarded to a runtime, to the end of the answer.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for rt in runtimes {
            let Some(per) = recorded.get(&rt.id) else { continue };
            for (route, h) in &per.durations {
                h.encode(m.encode_family(&[("runtime", rt.id.as_str()), ("route", route.as_str())])?)?;
            }
        }

        let mut m = enc.encode_descriptor(
            "runtime_tokens_per_second",
            "Generation speed of the newest completion a runtime served (its own timings, else tokens over wall time).",
            None,
            MetricType::Gauge,
        )?;
        for rt in runtimes {
            let Some((model, per_second)) = recorded.get(&rt.id).and_then(|p| p.throughput.as_ref()) else { continue };
            let labels =
                [("runtime", rt.id.as_str()), ("model", model.as_str()), ("accelerator", rt.accelerator.as_str())];
            ConstGauge::new(*per_second).encode(m.encode_family(&labels)?)?;
        }
        drop(recorded);

        let mut m = enc.encode_descriptor(
            "weights_cached",
            "Size of each model file on disk, as the newest weights report said.",
            Some(&Unit::Bytes),
            MetricType::Gauge,
        )?;
        for ((repo, file), bytes) in self.recorder.weights_cached() {
            let labels = [("repo", repo.as_str()), ("file", file.as_str())];
            ConstGauge::new(bytes as i64).encode(m.encode_family(&labels)?)?;
        }

        let matrix = &report.matrix;
        let m = enc.encode_descriptor(
            "matrix_ttl",
            "How long a matrix snapshot stays fresh (ttl_seconds).",
            Some(&Unit::Seconds),
            MetricType::Gauge,
        )?;
        ConstGauge::new(matrix.ttl_seconds as i64).encode(m)?;

        if let Some(entry) = matrix.items.values().next() {
            let updated = crate::time::parse(&entry.runtime.updated)
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0.0, |d| d.as_secs_f64());
            let m = enc.encode_descriptor(
                "matrix_updated_timestamp",
                "When the newest matrix was computed (Unix time).",
                Some(&Unit::Seconds),
                MetricType::Gauge,
            )?;
            ConstGauge::new(updated).encode(m)?;

            let mut m = enc.encode_descriptor(
                "node_status",
                "1 for the node badge's status code (ok, warn, error, unknown), 0 for the others.",
                None,
                MetricType::Gauge,
            )?;
            for code in ["ok", "warn", "error", "unknown"] {
                let now = i64::from(entry.status.code.as_str() == code);
                ConstGauge::new(now).encode(m.encode_family(&[("code", code)])?)?;
            }
        }
        Ok(())
    }
}
