//! Health probes: `GET <endpoint><path>` with a timeout, read the way
//! llama-server means it (200 ready, 503 still loading).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Observer = Box<dyn Fn(&str, Duration, &Probe) + Send + Sync>;

/// Where probe timings go: the daemon's metrics. A hook rather than a
/// parameter, because the supervisor sits below the daemon and knows
/// nothing of what is measured for; unset (unit tests), timings go nowhere.
static OBSERVER: OnceLock<Observer> = OnceLock::new();

/// Sets the one observer of this process; a second call is ignored.
pub fn on_probe(observer: impl Fn(&str, Duration, &Probe) + Send + Sync + 'static) {
    let _ = OBSERVER.set(Box::new(observer));
}

/// One probe's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// 200: serving.
    Ready,
    /// 503: up but still loading the model.
    Loading,
    /// Anything else: refused, timed out, unexpected status.
    Failed(String),
}

/// A client that never goes through a proxy: runtimes live on this host,
/// and `HTTP_PROXY` in the operator's shell must not reroute probes.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().pool_max_idle_per_host(1).build().expect("a plain HTTP client always builds")
}

impl Probe {
    /// The metrics label of this verdict.
    pub fn verdict(&self) -> &'static str {
        match self {
            Probe::Ready => "ready",
            Probe::Loading => "loading",
            Probe::Failed(_) => "failed",
        }
    }
}

/// [`probe`] of `runtime`, timed for the observer.
pub async fn probe_timed(client: &reqwest::Client, runtime: &str, url: &str, timeout: Duration) -> Probe {
    let started = Instant::now();
    let verdict = probe(client, url, timeout).await;
    if let Some(observe) = OBSERVER.get() {
        observe(runtime, started.elapsed(), &verdict);
    }
    verdict
}

pub async fn probe(client: &reqwest::Client, url: &str, timeout: Duration) -> Probe {
    match client.get(url).timeout(timeout).send().await {
        Ok(resp) => match resp.status().as_u16() {
            200 => Probe::Ready,
            503 => Probe::Loading,
            other => Probe::Failed(format!("health answered HTTP {other}")),
        },
        Err(e) if e.is_timeout() => Probe::Failed(format!("health probe timed out after {} ms", timeout.as_millis())),
        Err(e) if e.is_connect() => Probe::Failed("health endpoint refused the connection".to_string()),
        Err(e) => Probe::Failed(format!("health probe failed: {e}")),
    }
}
