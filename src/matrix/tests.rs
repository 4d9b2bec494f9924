use super::*;
use crate::protocol::status::{BudgetView, RestartTotals, RuntimeView};
use crate::registry::{Accelerator, Adapter, Modality};

fn budget(used: u32, max: u32) -> BudgetView {
    BudgetView {
        max_restarts: max,
        window_secs: 600,
        used,
        remaining: max.saturating_sub(used),
        reset_at: None,
        automatic: used,
        manual: 0,
        exhausted: max > 0 && used >= max,
    }
}

fn rt(id: &str, state: State, accel: Accelerator, used: u32) -> RuntimeView {
    RuntimeView {
        id: id.into(),
        name: id.into(),
        adapter: Adapter::Stub,
        state,
        reason: None,
        accelerator: accel,
        modalities: vec![Modality::Text],
        endpoint: None,
        pid: None,
        started_at: None,
        uptime_secs: None,
        generation: 1,
        auto_start: true,
        last_exit: None,
        restart_budget: budget(used, 3),
        restarts_total: RestartTotals::default(),
        log_path: String::new(),
        ephemeral: false,
    }
}

fn matrix(runtimes: Vec<RuntimeView>, http: HttpSummary) -> Matrix {
    matrix_with_notes(runtimes, http, vec![])
}

fn matrix_with_notes(runtimes: Vec<RuntimeView>, http: HttpSummary, notes: Vec<String>) -> Matrix {
    let sup = SupervisorView { generated_at: String::new(), registry_origin: "test".into(), runtimes };
    compute(Inputs {
        node_id: "node-a",
        supervisor: &sup,
        gpus: &GpuInventory::none("no driver"),
        http,
        ttl_seconds: 60,
        updated: "2025-10-04T12:34:56.789Z".into(),
        notes,
    })
}

fn status_of(m: &Matrix) -> &Status {
    &m.items["node-a"].status
}

/// All ready → ok/info with the seed's exact strings.
#[test]
fn all_ready_is_ok() {
    let m = matrix(vec![rt("a", State::Ready, Accelerator::Cpu, 0)], HttpSummary::default());
    let s = status_of(&m);
    assert_eq!((s.code.as_str(), s.severity.as_str(), s.severity_label.as_str()), ("ok", "info", "Info"));
    assert_eq!(s.label, "Ready - Runtime telemetry nominal");
    assert_eq!(s.detail, vec!["Running within expected ranges"]);
    assert_eq!(s.aria_hint, "Runtime status Ready - Runtime telemetry nominal. Running within expected ranges");
    assert_eq!(m.ttl_seconds, 60);
    let entry = &m.items["node-a"];
    assert_eq!(entry.runtime.total, 1);
    assert_eq!(entry.runtime.states["ready"], 1);
    assert_eq!(entry.runtime.states.len(), 6, "every state is counted, zeros included");
    assert_eq!(entry.accelerators["cpu"].states["ready"], 1);
    assert!(!entry.accelerators["gpu"].available);
}

/// Restart pressure warns; an exhausted budget or an error state is an error.
#[test]
fn pressure_warns_and_exhaustion_errors() {
    let m = matrix(vec![rt("a", State::Ready, Accelerator::Cpu, 1)], HttpSummary::default());
    assert_eq!(status_of(&m).code.as_str(), "warn");
    assert_eq!(m.items["node-a"].runtime.restart_pressure.runtimes_with_restarts, 1);

    let mut failed = rt("b", State::Error, Accelerator::Gpu, 3);
    failed.reason = Some("restart budget exhausted".into());
    let m = matrix(vec![rt("a", State::Ready, Accelerator::Cpu, 0), failed], HttpSummary::default());
    let s = status_of(&m);
    assert_eq!((s.code.as_str(), s.severity_label.as_str()), ("error", "Error"));
    assert!(s.detail.iter().any(|d| d.contains("b: restart budget exhausted")), "{:?}", s.detail);
    assert_eq!(m.items["node-a"].runtime.restart_pressure.exhausted, 1);
    assert_eq!(m.items["node-a"].accelerators["gpu"].states["error"], 1);
}

/// A node that recovers goes back to ok: nothing is latched.
#[test]
fn recovery_returns_to_ok() {
    let m = matrix(vec![rt("a", State::Degraded, Accelerator::Cpu, 0)], HttpSummary::default());
    assert_eq!(status_of(&m).code.as_str(), "warn");
    let m = matrix(vec![rt("a", State::Ready, Accelerator::Cpu, 0)], HttpSummary::default());
    assert_eq!(status_of(&m).code.as_str(), "ok");
}

/// No runtimes → unknown, still with accessible strings.
#[test]
fn empty_is_unknown_with_strings() {
    let m = matrix(vec![], HttpSummary::default());
    let s = status_of(&m);
    assert_eq!(s.code.as_str(), "unknown");
    assert!(!s.label.is_empty() && !s.detail.is_empty() && !s.severity_label.is_empty());
    assert_eq!(s.aria_hint, format!("Runtime status {}. {}", s.label, s.detail.join(". ")));
}

/// A 5xx rate over the threshold warns; a quiet window does not.
#[test]
fn http_error_rate_warns() {
    let http = HttpSummary { window_requests: 10, window_errors: 3, error_rate: 0.3, ..Default::default() };
    let m = matrix(vec![rt("a", State::Ready, Accelerator::Cpu, 0)], http);
    assert_eq!(status_of(&m).code.as_str(), "warn");
    assert!(status_of(&m).detail.iter().any(|d| d.contains("5xx")));
}

/// The serialized payload has the seed's field names.
#[test]
fn payload_field_names() {
    let m = matrix(vec![rt("a", State::Ready, Accelerator::Cpu, 0)], HttpSummary::default());
    let v = serde_json::to_value(&m).unwrap();
    let node = &v["items"]["node-a"];
    for key in ["code", "severity", "severity_label", "label", "detail", "aria_hint"] {
        assert!(node["status"].get(key).is_some(), "status.{key} missing");
    }
    for key in ["total", "updated", "states", "restart_pressure"] {
        assert!(node["runtime"].get(key).is_some(), "runtime.{key} missing");
    }
    for key in ["requests_total", "errors_total", "error_rate", "slow_routes"] {
        assert!(node["http"].get(key).is_some(), "http.{key} missing");
    }
    assert!(v["ttl_seconds"].as_u64().unwrap() > 0);
}

/// #11.16: a broken manifest on disk turns an all-ready node into a warning
/// naming the file, and rides along with errors.
#[test]
fn config_problem_is_a_warning_detail() {
    let note = "manifest `/x/runtimes.toml` is broken (3:1 ...); running the last good one".to_string();
    let m =
        matrix_with_notes(vec![rt("a", State::Ready, Accelerator::Cpu, 0)], HttpSummary::default(), vec![note.clone()]);
    let s = status_of(&m);
    assert_eq!(s.code.as_str(), "warn");
    assert!(s.detail.contains(&note), "{:?}", s.detail);
    assert!(s.aria_hint.contains("is broken"));
    let m =
        matrix_with_notes(vec![rt("a", State::Error, Accelerator::Cpu, 0)], HttpSummary::default(), vec![note.clone()]);
    assert_eq!(status_of(&m).code.as_str(), "error");
    assert!(status_of(&m).detail.contains(&note));
}

/// A node id with a newline or spaces is refused, not printed into the badge.
#[test]
fn node_id_must_be_printable() {
    let knobs = |v: &str| crate::knobs::Knobs::new([("ARW_NODE_ID".to_string(), v.to_string())].into());
    assert_eq!(node_id(&knobs("gpu-box-1")).unwrap(), "gpu-box-1");
    assert!(node_id(&knobs("a\nb")).unwrap_err().contains("not a usable node id"));
    assert!(node_id(&knobs("two words")).is_err());
}

/// A computed matrix keeps every promise; a broken one is described.
#[test]
fn problems_finds_broken_promises() {
    let runtimes = vec![rt("a", State::Ready, Accelerator::Cpu, 0), rt("b", State::Error, Accelerator::Gpu, 3)];
    let sup =
        SupervisorView { generated_at: String::new(), registry_origin: "test".into(), runtimes: runtimes.clone() };
    let good = matrix(runtimes, HttpSummary::default());
    assert!(problems(&good, &sup).is_empty(), "{:?}", problems(&good, &sup));
    let mut bad = good.clone();
    let entry = bad.items.get_mut("node-a").unwrap();
    entry.status.aria_hint = "something else".into();
    entry.status.label.clear();
    entry.runtime.total = 7;
    bad.ttl_seconds = 0;
    let found = problems(&bad, &sup).join("; ");
    for expected in
        ["ttl_seconds is 0", "status.label is empty", "not composed from label and detail", "runtime.total is 7"]
    {
        assert!(found.contains(expected), "{expected}: {found}");
    }
}
