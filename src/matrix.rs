//! The runtime matrix read-model (SPEC §3): a pure function from the
//! supervisor snapshot, GPU inventory and HTTP telemetry to the payload
//! dashboards and `runtime status` read. Field names are a contract.

use crate::accel::GpuInventory;
use crate::protocol::matrix::{
    AcceleratorRollup, HttpSummary, Matrix, NodeEntry, RestartPressure, RuntimeRollup, Status, StatusCode,
};
use crate::protocol::status::{State, SupervisorView};
use crate::registry::Accelerator;
use std::collections::BTreeMap;

/// A 5xx share above this (with enough traffic to mean something) warns.
const ERROR_RATE_WARN: f64 = 0.05;
const ERROR_RATE_MIN_REQUESTS: u64 = 5;

/// Everything one matrix computation needs.
pub struct Inputs<'a> {
    pub node_id: &'a str,
    pub supervisor: &'a SupervisorView,
    pub gpus: &'a GpuInventory,
    pub http: HttpSummary,
    pub ttl_seconds: u64,
    pub updated: String,
    /// Problems of the daemon itself (a broken manifest on disk): warnings.
    pub notes: Vec<String>,
}

pub fn compute(inputs: Inputs<'_>) -> Matrix {
    let runtimes = &inputs.supervisor.runtimes;
    let mut states: BTreeMap<String, u32> = State::ALL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
    let mut pressure = RestartPressure::default();
    for rt in runtimes {
        *states.entry(rt.state.as_str().to_string()).or_default() += 1;
        if rt.restart_budget.used > 0 {
            pressure.runtimes_with_restarts += 1;
        }
        if rt.restart_budget.exhausted {
            pressure.exhausted += 1;
        }
    }

    let mut accelerators = BTreeMap::new();
    for (key, kind) in [("cpu", Accelerator::Cpu), ("gpu", Accelerator::Gpu), ("npu", Accelerator::Npu)] {
        let mut mix: BTreeMap<String, u32> = BTreeMap::new();
        let mut count = 0;
        for rt in runtimes.iter().filter(|r| r.accelerator == kind) {
            count += 1;
            *mix.entry(rt.state.as_str().to_string()).or_default() += 1;
        }
        let rollup = match kind {
            Accelerator::Cpu => AcceleratorRollup {
                available: true,
                runtimes: count,
                states: mix,
                devices: vec![],
                source: None,
                note: None,
            },
            Accelerator::Gpu => AcceleratorRollup {
                available: !inputs.gpus.devices.is_empty(),
                runtimes: count,
                states: mix,
                devices: inputs.gpus.devices.clone(),
                source: Some(inputs.gpus.source),
                note: inputs.gpus.note.clone(),
            },
            Accelerator::Npu => AcceleratorRollup {
                available: false,
                runtimes: count,
                states: mix,
                devices: vec![],
                source: None,
                note: Some("NPU detection is not supported yet".to_string()),
            },
        };
        accelerators.insert(key.to_string(), rollup);
    }

    let status = derive_status(inputs.supervisor, &pressure, &inputs.http, &inputs.notes);
    let entry = NodeEntry {
        status,
        runtime: RuntimeRollup {
            total: runtimes.len() as u32,
            updated: inputs.updated,
            states,
            restart_pressure: pressure,
        },
        accelerators,
        http: inputs.http,
    };
    let mut items = BTreeMap::new();
    items.insert(inputs.node_id.to_string(), entry);
    Matrix { items, ttl_seconds: inputs.ttl_seconds.max(1) }
}

/// The badge: worst condition wins; every branch says why in `detail`.
fn derive_status(sup: &SupervisorView, pressure: &RestartPressure, http: &HttpSummary, notes: &[String]) -> Status {
    let rts = &sup.runtimes;
    if rts.is_empty() {
        let mut detail = vec!["Register a runtime in runtimes.toml to start supervising it".to_string()];
        detail.extend(notes.iter().cloned());
        return status(StatusCode::Unknown, "Unknown - No runtimes registered", detail);
    }
    let mut errors = Vec::new();
    for rt in rts {
        if rt.state == State::Error {
            let why = rt.reason.clone().unwrap_or_else(|| "failed".to_string());
            errors.push(format!("{}: {why}", rt.id));
        } else if rt.restart_budget.exhausted {
            errors.push(format!("{}: restart budget exhausted, no automatic restarts left", rt.id));
        }
    }
    if !errors.is_empty() {
        errors.extend(notes.iter().cloned());
        return status(StatusCode::Error, "Error - Runtime failures detected", errors);
    }

    let mut warnings = Vec::new();
    for rt in rts {
        match rt.state {
            State::Degraded => warnings.push(format!(
                "{}: degraded ({})",
                rt.id,
                rt.reason.clone().unwrap_or_else(|| "health probes failing".to_string())
            )),
            State::Starting => warnings.push(format!("{}: starting", rt.id)),
            State::Unknown => warnings.push(format!("{}: state unknown", rt.id)),
            _ => {}
        }
        let b = &rt.restart_budget;
        if b.used > 0 && !b.exhausted {
            warnings.push(format!("{}: {} of {} restarts used in the last window", rt.id, b.used, b.max_restarts));
        }
    }
    if http.window_requests >= ERROR_RATE_MIN_REQUESTS && http.error_rate > ERROR_RATE_WARN {
        warnings.push(format!("HTTP 5xx rate {:.1}% over the last {}s", http.error_rate * 100.0, http.window_secs));
    }
    for slow in &http.slow_routes {
        warnings.push(format!("{} is slow: mean {} ms", slow.route, slow.mean_ms));
    }
    let runtime_warnings = warnings.len();
    warnings.extend(notes.iter().cloned());
    if !warnings.is_empty() {
        if runtime_warnings == 0 {
            return status(StatusCode::Warn, "Warning - Daemon configuration needs attention", warnings);
        }
        let only_starting = rts.iter().all(|r| matches!(r.state, State::Starting | State::Ready | State::Offline))
            && pressure.runtimes_with_restarts == 0
            && http.slow_routes.is_empty()
            && !(http.window_requests >= ERROR_RATE_MIN_REQUESTS && http.error_rate > ERROR_RATE_WARN);
        let label = if only_starting {
            "Starting - Waiting for runtimes to become ready"
        } else {
            "Degraded - Runtime telemetry needs attention"
        };
        return status(StatusCode::Warn, label, warnings);
    }

    if rts.iter().all(|r| r.state == State::Offline) {
        return status(
            StatusCode::Ok,
            "Idle - No runtimes running",
            vec![format!("{} runtime(s) registered, all stopped on purpose", rts.len())],
        );
    }
    status(StatusCode::Ok, "Ready - Runtime telemetry nominal", vec!["Running within expected ranges".to_string()])
}

fn status(code: StatusCode, label: &str, detail: Vec<String>) -> Status {
    let severity = code.severity();
    let aria_hint = format!("Runtime status {label}. {}", detail.join(". "));
    Status { code, severity, severity_label: severity.label().to_string(), label: label.to_string(), detail, aria_hint }
}

/// `ARW_NODE_ID`, else the hostname. A node id is a key in the matrix and
/// a word on the badge line: control characters and spaces are refused.
pub fn node_id(knobs: &crate::knobs::Knobs) -> Result<String, String> {
    match knobs.non_empty("ARW_NODE_ID") {
        None => Ok(hostname()),
        Some(id) => {
            let id = id.trim().to_string();
            if id.chars().any(|c| c.is_control() || c.is_whitespace()) || id.chars().count() > 253 {
                Err(format!(
                    "`ARW_NODE_ID={}` is not a usable node id: use up to 253 printable characters without spaces",
                    crate::text::quote(&id, 60)
                ))
            } else {
                Ok(id)
            }
        }
    }
}

pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: buf is writable for its full length; gethostname NUL-terminates
    // within it on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let name = String::from_utf8_lossy(&buf[..end]).trim().to_string();
        if !name.is_empty() {
            return name;
        }
    }
    "local".to_string()
}

/// Everything wrong with a matrix snapshot, per SPEC §3's promises.
pub fn problems(matrix: &Matrix, supervisor: &SupervisorView) -> Vec<String> {
    let mut problems = Vec::new();
    if matrix.ttl_seconds == 0 {
        problems.push("ttl_seconds is 0".to_string());
    }
    let Some((node, entry)) = matrix.items.iter().next() else {
        return vec!["the matrix has no node".to_string()];
    };
    let s = &entry.status;
    for (field, value) in [("label", &s.label), ("severity_label", &s.severity_label), ("aria_hint", &s.aria_hint)] {
        if value.trim().is_empty() {
            problems.push(format!("status.{field} is empty for node {node}"));
        }
    }
    if s.detail.is_empty() || s.detail.iter().any(|d| d.trim().is_empty()) {
        problems.push("status.detail is empty".to_string());
    }
    let expected_hint = format!("Runtime status {}. {}", s.label, s.detail.join(". "));
    if s.aria_hint != expected_hint {
        problems.push(format!("aria_hint {:?} is not composed from label and detail", s.aria_hint));
    }
    if entry.runtime.total as usize != supervisor.runtimes.len() {
        problems.push(format!(
            "runtime.total is {} but the supervisor has {}",
            entry.runtime.total,
            supervisor.runtimes.len()
        ));
    }
    problems
}

#[cfg(test)]
mod tests;
