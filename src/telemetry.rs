//! HTTP telemetry for requests the daemon proxies to runtimes: lifetime
//! totals plus a recent window, so an old burst of errors does not keep the
//! node degraded forever and 4xx (the caller's mistake) never counts.

use crate::protocol::matrix::{HttpSummary, SlowRoute};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How far back `error_rate` and `slow_routes` look.
pub const WINDOW: Duration = Duration::from_secs(300);
/// A route whose mean latency in the window exceeds this is "slow".
pub const SLOW_THRESHOLD: Duration = Duration::from_millis(2000);
/// The window holds at most this many samples; the oldest go first.
const MAX_SAMPLES: usize = 10_000;

#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    route: String,
    status: u16,
    elapsed: Duration,
}

#[derive(Debug, Default)]
pub struct HttpTelemetry {
    samples: VecDeque<Sample>,
    requests_total: u64,
    errors_total: u64,
}

/// Status 0 stands for "no answer" (connection refused, timeout).
pub fn is_error(status: u16) -> bool {
    status == 0 || status >= 500
}

impl HttpTelemetry {
    pub fn record(&mut self, route: &str, status: u16, elapsed: Duration) {
        self.record_at(Instant::now(), route, status, elapsed);
    }

    fn record_at(&mut self, at: Instant, route: &str, status: u16, elapsed: Duration) {
        self.requests_total += 1;
        if is_error(status) {
            self.errors_total += 1;
        }
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(Sample { at, route: route.to_string(), status, elapsed });
    }

    pub fn summary(&self, now: Instant) -> HttpSummary {
        let recent: Vec<&Sample> =
            self.samples.iter().filter(|s| now.saturating_duration_since(s.at) < WINDOW).collect();
        let window_errors = recent.iter().filter(|s| is_error(s.status)).count() as u64;
        let mut by_route: BTreeMap<&str, (u64, Duration, Duration)> = BTreeMap::new();
        for s in &recent {
            let entry = by_route.entry(&s.route).or_default();
            entry.0 += 1;
            entry.1 += s.elapsed;
            entry.2 = entry.2.max(s.elapsed);
        }
        let slow_routes = by_route
            .into_iter()
            .filter_map(|(route, (n, sum, max))| {
                let mean = sum / n as u32;
                (mean > SLOW_THRESHOLD).then(|| SlowRoute {
                    route: route.to_string(),
                    requests: n,
                    mean_ms: mean.as_millis() as u64,
                    max_ms: max.as_millis() as u64,
                })
            })
            .collect();
        HttpSummary {
            requests_total: self.requests_total,
            errors_total: self.errors_total,
            error_rate: if recent.is_empty() { 0.0 } else { window_errors as f64 / recent.len() as f64 },
            window_secs: WINDOW.as_secs(),
            window_requests: recent.len() as u64,
            window_errors,
            slow_routes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4xx never counts as an error; 5xx counts; old errors leave the window.
    #[test]
    fn errors_are_5xx_in_the_window() {
        let mut t = HttpTelemetry::default();
        let start = Instant::now();
        t.record_at(start, "/v1/chat/completions", 500, Duration::from_millis(5));
        t.record_at(start, "/v1/chat/completions", 404, Duration::from_millis(5));
        let s = t.summary(start);
        assert_eq!((s.requests_total, s.errors_total, s.window_errors), (2, 1, 1));
        assert!((s.error_rate - 0.5).abs() < 1e-9);
        let later = start + WINDOW + Duration::from_secs(1);
        t.record_at(later, "/v1/chat/completions", 200, Duration::from_millis(5));
        let s = t.summary(later);
        assert_eq!(s.error_rate, 0.0, "errors older than the window no longer count");
        assert_eq!(s.errors_total, 1, "lifetime total keeps them");
    }

    /// A route is slow when its mean latency in the window is over the threshold.
    #[test]
    fn slow_routes_by_mean_latency() {
        let mut t = HttpTelemetry::default();
        let now = Instant::now();
        t.record_at(now, "/slow", 200, SLOW_THRESHOLD * 2);
        t.record_at(now, "/fast", 200, Duration::from_millis(1));
        let s = t.summary(now);
        assert_eq!(s.slow_routes.len(), 1);
        assert_eq!(s.slow_routes[0].route, "/slow");
    }
}
