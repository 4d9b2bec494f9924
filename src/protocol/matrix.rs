//! The runtime matrix payload (SPEC §3): field names are a contract with
//! dashboards, scrapers and other nodes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matrix {
    pub items: BTreeMap<String, NodeEntry>,
    pub ttl_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeEntry {
    pub status: Status,
    pub runtime: RuntimeRollup,
    pub accelerators: BTreeMap<String, AcceleratorRollup>,
    pub http: HttpSummary,
}

/// The node badge with its accessible strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub code: StatusCode,
    pub severity: Severity,
    pub severity_label: String,
    pub label: String,
    pub detail: Vec<String>,
    pub aria_hint: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeRollup {
    pub total: u32,
    pub updated: String,
    pub states: BTreeMap<String, u32>,
    pub restart_pressure: RestartPressure,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestartPressure {
    /// Runtimes with at least one restart in their current window.
    pub runtimes_with_restarts: u32,
    /// Runtimes whose budget is spent.
    pub exhausted: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AcceleratorRollup {
    pub available: bool,
    pub runtimes: u32,
    /// Only the states that occur, e.g. `{"ready": 1}`.
    pub states: BTreeMap<String, u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<GpuDevice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<GpuSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The node badge's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCode {
    Ok,
    Warn,
    Error,
    /// Nothing registered.
    Unknown,
}

impl StatusCode {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusCode::Ok => "ok",
            StatusCode::Warn => "warn",
            StatusCode::Error => "error",
            StatusCode::Unknown => "unknown",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            StatusCode::Error => Severity::Error,
            StatusCode::Warn => Severity::Warn,
            StatusCode::Ok | StatusCode::Unknown => Severity::Info,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warn,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }

    /// The human word screen readers and badges show.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "Info",
            Severity::Warn => "Warning",
            Severity::Error => "Error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuDevice {
    pub index: u32,
    pub name: String,
    pub memory_total_bytes: Option<u64>,
    pub memory_used_bytes: Option<u64>,
    pub utilization_pct: Option<u32>,
    pub simulated: bool,
}

/// Where the GPU list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuSource {
    Nvml,
    Simulated,
    /// No driver (or not sampled yet).
    None,
}

/// The `http` block of the matrix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpSummary {
    pub requests_total: u64,
    /// 5xx answers (and requests that got no answer) since the daemon started.
    pub errors_total: u64,
    /// 5xx share of the requests in the last `window_secs`.
    pub error_rate: f64,
    pub window_secs: u64,
    pub window_requests: u64,
    pub window_errors: u64,
    pub slow_routes: Vec<SlowRoute>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowRoute {
    pub route: String,
    pub requests: u64,
    pub mean_ms: u64,
    pub max_ms: u64,
}
