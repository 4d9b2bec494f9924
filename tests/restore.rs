//! `arw runtime restore`: supervised restarts against the budget.

use crate::common::*;
use std::time::Duration;

/// Restore of an exhausted runtime exits 4 and says when the window resets;
/// once the window resets the supervisor tries again by itself, and a
/// restore succeeds with budget to spare.
#[test]
fn exhausted_restore_exits_4_then_window_resets() {
    let arw = Arw::new();
    let marker = arw.dir.path().join("fixed");
    // Crashes until the operator "fixes" it (the marker file appears).
    let manifest = format!(
        "[[runtime]]\nid = \"crashy\"\nadapter = \"stub\"\ncommand = \"/bin/sh\"\n\
         args = [\"-c\", \"test -f {m} || {{ echo boom >&2; exit 3; }}; exec {arw} runtime stub-llama --port {{port}}\"]\n\
         [runtime.restart]\nmax_restarts = 2\nwindow_secs = 3\nbackoff_initial_ms = 50\nbackoff_max_ms = 100\n",
        m = marker.display(),
        arw = ARW
    );
    let path = arw.dir.path().join("runtimes.toml");
    std::fs::write(&path, manifest).unwrap();
    let arw = arw.env("ARW_CONFIG", path.to_str().unwrap());
    arw.wait_for(Duration::from_secs(10), "exhausted", |s| {
        runtime(s, "crashy")["reason"] == "restart budget exhausted"
    });
    let out = arw.run(&["runtime", "restore", "--id", "crashy"]);
    assert_eq!(out.status.code(), Some(4), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("restart budget for `crashy` is exhausted") && err.contains("resets at"), "{err}");
    assert!(err.contains("--force"), "{err}");

    let dry = arw.run(&["runtime", "restore", "--id", "crashy", "--dry-run", "--json"]);
    assert_eq!(dry.status.code(), Some(4));
    let doc: serde_json::Value = serde_json::from_slice(&dry.stdout).expect("JSON even when exhausted");
    assert_eq!(doc["outcome"], "exhausted");

    std::fs::write(&marker, "").unwrap();
    // The sliding window frees one slot per old restart; the supervisor
    // uses the first to resume by itself.
    arw.wait_for(Duration::from_secs(15), "resumed with budget left", |s| {
        state(s, "crashy") == "ready" && runtime(s, "crashy")["restart_budget"]["remaining"].as_u64() >= Some(1)
    });
    let doc = arw.json(&["runtime", "restore", "--id", "crashy", "--json"]);
    assert_eq!(doc["outcome"], "ready", "{doc}");
    assert_eq!(doc["restart_budget"]["manual"], 1);
}

/// A restore of a healthy runtime restarts it, waits for ready, prints the
/// remaining budget, and is counted as manual without spending the budget.
#[test]
fn restore_reports_budget_and_counts_manual() {
    let arw = Arw::with_config(&stub_runtime("stub", &["--warmup-ms", "200"], ""));
    let before = arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    let old_pid = runtime(&before, "stub")["pid"].as_u64().unwrap() as u32;
    let doc = arw.json(&["runtime", "restore", "--id", "stub", "--json"]);
    assert_eq!(doc["outcome"], "ready", "{doc}");
    assert_eq!(doc["restart_budget"]["manual"], 1);
    assert_eq!(doc["restart_budget"]["remaining"], 3, "an operator restore spends no automatic budget");
    assert!(doc["ready_ms"].as_u64().unwrap() >= 200, "waited for warm-up: {doc}");
    assert!(wait_gone(old_pid, Duration::from_secs(5)), "old process stopped");
    let after = arw.status();
    let rt = runtime(&after, "stub");
    assert_eq!(rt["state"], "ready");
    assert_eq!(rt["restarts_total"]["manual"], 1);
    assert_eq!(rt["restarts_total"]["automatic"], 0);
    assert_eq!(rt["last_exit"]["cause"], "stopped");

    let text = arw.ok(&["runtime", "restore", "--id", "stub"]);
    assert!(
        text.contains("`stub` is ready") && text.contains("restart budget: 3 of 3 left (0 automatic, 2 manual"),
        "{text}"
    );
    assert_eq!(node(&arw.status())["status"]["code"], "ok", "restores alone put no pressure on the node");
}

/// An unknown id is a usage error listing the known ids.
#[test]
fn unknown_id_lists_known_ids() {
    let arw = Arw::with_config(&stub_runtime("alpha", &[], "auto_start = false"));
    let out = arw.run(&["runtime", "restore", "--id", "beta"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end(), "arw: error: no runtime with id `beta`; known ids: alpha");
}

/// A runtime with auto_start = false stays offline until restored; its first
/// start does not spend the budget.
#[test]
fn first_start_via_restore_is_free() {
    let arw = Arw::with_config(&stub_runtime("lazy", &[], "auto_start = false"));
    assert_eq!(state(&arw.status(), "lazy"), "offline");
    let doc = arw.json(&["runtime", "restore", "--id", "lazy", "--json"]);
    assert_eq!(doc["outcome"], "ready");
    assert_eq!(doc["restart_budget"]["used"], 0);
}
