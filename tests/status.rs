//! `arw runtime status`: the JSON contract, the table, colour rules, --check.

use crate::common::*;
use std::time::{Duration, SystemTime};

/// Every seed field is present with its exact name; a11y strings are
/// non-empty; aria_hint is composed from label and details; ttl > 0;
/// `updated` is fresh RFC 3339 with milliseconds.
#[test]
fn matrix_payload_contract() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], "")).env("ARW_NODE_ID", "node-7");
    let status = arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    let item = &status["matrix"]["items"]["node-7"];
    let s = &item["status"];
    assert_eq!(s["code"], "ok");
    assert_eq!(s["severity"], "info");
    assert_eq!(s["severity_label"], "Info");
    assert_eq!(s["label"], "Ready - Runtime telemetry nominal");
    let detail: Vec<&str> = s["detail"].as_array().unwrap().iter().map(|d| d.as_str().unwrap()).collect();
    assert!(!detail.is_empty() && detail.iter().all(|d| !d.is_empty()));
    assert_eq!(s["aria_hint"], format!("Runtime status {}. {}", s["label"].as_str().unwrap(), detail.join(". ")));
    let rt = &item["runtime"];
    assert_eq!(rt["total"], 1);
    for st in ["ready", "starting", "degraded", "error", "offline", "unknown"] {
        assert!(rt["states"][st].is_u64(), "states.{st}");
    }
    assert_eq!(rt["states"]["ready"], 1);
    assert_eq!(rt["restart_pressure"]["runtimes_with_restarts"], 0);
    assert_eq!(rt["restart_pressure"]["exhausted"], 0);
    let updated = rt["updated"].as_str().unwrap();
    assert!(updated.ends_with('Z') && updated.len() == "2025-10-04T12:34:56.789Z".len(), "{updated}");
    let age = SystemTime::now().duration_since(humantime::parse_rfc3339(updated).unwrap()).unwrap_or_default();
    assert!(age < Duration::from_secs(5), "stale: {updated}");
    for acc in ["cpu", "gpu", "npu"] {
        assert!(item["accelerators"][acc]["available"].is_boolean(), "accelerators.{acc}");
    }
    assert_eq!(item["accelerators"]["cpu"]["states"]["ready"], 1);
    for key in ["requests_total", "errors_total", "error_rate", "slow_routes"] {
        assert!(!item["http"][key].is_null(), "http.{key}");
    }
    assert!(status["matrix"]["ttl_seconds"].as_u64().unwrap() > 0);
    let sup = runtime(&status, "stub");
    for key in ["id", "name", "adapter", "state", "accelerator", "endpoint", "pid", "uptime_secs", "last_exit"] {
        assert!(sup.get(key).is_some(), "supervisor runtime lacks {key}");
    }
    for key in ["max_restarts", "window_secs", "used", "remaining", "reset_at"] {
        assert!(sup["restart_budget"].get(key).is_some(), "restart_budget lacks {key}");
    }
}

/// Knobs on the command win over the daemon: node id, TTL and the simulated
/// GPU follow the requesting shell.
#[test]
fn knobs_apply_per_command() {
    let arw = Arw::new();
    arw.status();
    let out = arw
        .cmd(&["runtime", "status", "--json"])
        .env("ARW_NODE_ID", "other-node")
        .env("LLAMA_GPU_SIMULATE", "1")
        .env("ARW_RUNTIME_MATRIX_TTL_SECS", "17")
        .output()
        .unwrap();
    let v = json_of(&out);
    let item = &v["matrix"]["items"]["other-node"];
    assert_eq!(item["accelerators"]["gpu"]["available"], true, "{item:#}");
    assert_eq!(item["accelerators"]["gpu"]["devices"][0]["simulated"], true);
    assert_eq!(v["matrix"]["ttl_seconds"], 17);
    // Without the knobs the same daemon reports no GPU.
    let plain = arw.status();
    assert_eq!(node(&plain)["accelerators"]["gpu"]["available"], false);
}

/// --json prints exactly one document and nothing else on stdout.
#[test]
fn json_is_one_document() {
    let arw = Arw::new();
    let text = arw.ok(&["runtime", "status", "--json"]);
    let mut stream = serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
    let first = stream.next().unwrap().unwrap();
    assert!(first.get("supervisor").is_some() && first.get("matrix").is_some());
    assert!(stream.next().is_none(), "more than one document");
}

/// The table shows a badge and a row per runtime; no escape codes without a
/// TTY, and none with NO_COLOR.
#[test]
fn table_without_colour() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], "auto_start = false"));
    let text = arw.ok(&["runtime", "status"]);
    assert!(text.starts_with("node "), "{text}");
    assert!(text.contains("ttl 60s"), "{text}");
    assert!(text.contains("stub") && text.contains("offline"), "{text}");
    assert!(!text.contains('\x1b'), "escape codes in non-TTY output");
    let out = arw.cmd(&["runtime", "status"]).env("NO_COLOR", "1").output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
}

/// --check exits 1 only when the node is in error.
#[test]
fn check_gates_on_error() {
    let restart =
        "[runtime.restart]\nmax_restarts = 1\nwindow_secs = 600\nbackoff_initial_ms = 50\nbackoff_max_ms = 50\n";
    let healthy = Arw::with_config(&stub_runtime("stub", &[], ""));
    healthy.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    assert_eq!(healthy.run(&["runtime", "status", "--check"]).status.code(), Some(0));
    let arw = Arw::with_config(&crashing_runtime("crashy", restart));
    arw.wait_for(Duration::from_secs(10), "error", |s| state(s, "crashy") == "error");
    assert_eq!(arw.run(&["runtime", "status", "--check"]).status.code(), Some(1));
    assert_eq!(arw.run(&["runtime", "status"]).status.code(), Some(0));
}

/// --watch prints an update when a runtime changes, pushed, not polled: the
/// daemon's periodic republish is pushed out to an hour, so only the change
/// itself can deliver the update (#10).
#[test]
fn watch_streams_updates() {
    use std::io::BufRead;
    use std::time::Duration;
    let arw = Arw::with_config(&stub_runtime("stub", &[], "auto_start = false"));
    let out = arw.cmd(&["runtime", "status"]).env("ARW_MATRIX_REPUBLISH_SECS", "3600").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut child =
        arw.cmd(&["runtime", "status", "--watch", "--json"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next = || -> serde_json::Value {
        let line = lines.recv_timeout(Duration::from_secs(10)).expect("no update within 10 s");
        serde_json::from_str(&line).unwrap()
    };
    assert_eq!(state(&next(), "stub"), "offline");
    arw.ok(&["runtime", "restore", "--id", "stub"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut saw_ready = false;
    while std::time::Instant::now() < deadline {
        if state(&next(), "stub") == "ready" {
            saw_ready = true;
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(saw_ready, "no pushed update showed the runtime ready");
}

/// A bad matrix TTL on the command is a usage error, not silently ignored.
#[test]
fn bad_ttl_is_rejected() {
    let arw = Arw::new();
    for bad in ["0", "soon"] {
        let out = arw.cmd(&["runtime", "status", "--json"]).env("ARW_RUNTIME_MATRIX_TTL_SECS", bad).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one error document");
        assert_eq!(doc["error"]["kind"], "bad_request");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("`ARW_RUNTIME_MATRIX_TTL_SECS={bad}` is not valid")), "{err}");
    }
}
