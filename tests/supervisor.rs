//! Supervisor: restarts within the budget, exhaustion, exit causes, logs,
//! event-driven state changes, whole-group stops.

use crate::common::*;
use std::time::{Duration, Instant};

const FAST_RESTART: &str =
    "[runtime.restart]\nmax_restarts = 3\nwindow_secs = 600\nbackoff_initial_ms = 100\nbackoff_max_ms = 1000\n";

/// A runtime that exits at once spends the budget with growing backoff and
/// ends in `error` with "restart budget exhausted"; its stderr is quoted.
#[test]
fn crash_loop_exhausts_the_budget() {
    let arw = Arw::with_config(&crashing_runtime("crashy", FAST_RESTART));
    let started = Instant::now();
    let status = arw.wait_for(Duration::from_secs(20), "budget exhausted", |s| state(s, "crashy") == "error");
    let elapsed = started.elapsed();
    let rt = runtime(&status, "crashy");
    assert_eq!(rt["reason"], "restart budget exhausted");
    let budget = &rt["restart_budget"];
    assert_eq!((budget["used"].as_u64(), budget["remaining"].as_u64()), (Some(3), Some(0)));
    assert_eq!(budget["exhausted"], true);
    assert!(budget["reset_at"].is_string());
    assert_eq!(rt["restarts_total"]["automatic"], 3);
    // Backoff 100 + 200 + 400 ms at least between the four runs.
    assert!(elapsed >= Duration::from_millis(700), "restarts too fast: {elapsed:?}");
    let exit = &rt["last_exit"];
    assert_eq!(exit["cause"], "exited");
    assert_eq!(exit["code"], 3);
    assert!(
        exit["stderr_tail"].as_array().unwrap().iter().any(|l| l == "boom: cannot load model"),
        "stderr quoted: {exit}"
    );
    let node = node(&status);
    assert_eq!(node["status"]["code"], "error");
    assert_eq!(node["runtime"]["restart_pressure"]["exhausted"], 1);
    // Child logs are kept: four starts, four headers.
    let log = std::fs::read_to_string(arw.home.join("logs/runtimes/crashy.log")).unwrap();
    assert_eq!(log.matches("=== arw: starting").count(), 4, "{log}");
}

/// SIGKILL of a ready runtime shows up in status within 200 ms, without
/// waiting for a health probe, and the exit cause names the signal.
#[test]
fn sigkill_is_seen_within_200ms() {
    let manifest =
        stub_runtime("stub", &[], &format!("[runtime.health]\ninterval_ms = 60000\ntimeout_ms = 1000\n{FAST_RESTART}"));
    let arw = Arw::with_config(&manifest);
    let status = arw.wait_for(Duration::from_secs(20), "stub ready", |s| state(s, "stub") == "ready");
    let pid = runtime(&status, "stub")["pid"].as_u64().unwrap() as u32;
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let killed = Instant::now();
    let status = arw
        .wait_for(Duration::from_secs(5), "kill noticed", |s| runtime(s, "stub")["last_exit"]["signal"] == "SIGKILL");
    let seen = killed.elapsed();
    assert!(seen < Duration::from_millis(200), "took {seen:?}");
    let st = state(&status, "stub");
    assert!(st == "starting" || st == "error", "state after kill: {st}");
    assert_eq!(runtime(&status, "stub")["last_exit"]["cause"], "signaled");
    // And it comes back.
    arw.wait_for(Duration::from_secs(20), "restarted", |s| {
        state(s, "stub") == "ready" && runtime(s, "stub")["generation"] == 2
    });
}

/// A runtime that never becomes ready is stopped at its start-up deadline,
/// not killed early by the health probe.
#[test]
fn startup_deadline_is_separate_from_probes() {
    let manifest = stub_runtime(
        "slow",
        &["--never-ready"],
        "startup_timeout_ms = 1500\n[runtime.health]\ninterval_ms = 100\ntimeout_ms = 50\nfailure_threshold = 1\n[runtime.restart]\nmax_restarts = 0\n",
    );
    let arw = Arw::with_config(&manifest);
    let status = arw.wait_for(Duration::from_secs(5), "loading", |s| runtime(s, "slow")["reason"] == "loading model");
    let started = runtime(&status, "slow")["started_at"].as_str().unwrap().to_string();
    let status = arw.wait_for(Duration::from_secs(10), "deadline", |s| state(s, "slow") == "error");
    let exit = &runtime(&status, "slow")["last_exit"];
    assert_eq!(exit["cause"], "startup_timeout", "{exit}");
    let ran_for = humantime_diff(&started, exit["at"].as_str().unwrap());
    assert!(ran_for >= Duration::from_millis(1400), "stopped before the deadline: {ran_for:?}");
}

fn humantime_diff(a: &str, b: &str) -> Duration {
    let a = humantime::parse_rfc3339(a).unwrap();
    let b = humantime::parse_rfc3339(b).unwrap();
    b.duration_since(a).unwrap()
}

/// A runtime that stops answering health after being ready goes degraded,
/// then is killed with cause `health_timeout` and restarted.
#[test]
fn wedged_runtime_is_restarted_for_health() {
    let manifest = stub_runtime(
        "wedge",
        &["--hang-health-after", "3"],
        &format!("[runtime.health]\ninterval_ms = 100\ntimeout_ms = 80\nfailure_threshold = 3\n{FAST_RESTART}"),
    );
    let arw = Arw::with_config(&manifest);
    arw.wait_for(Duration::from_secs(20), "ready first", |s| state(s, "wedge") == "ready");
    arw.wait_for(Duration::from_secs(20), "degraded", |s| state(s, "wedge") == "degraded");
    let status = arw.wait_for(Duration::from_secs(20), "health timeout recorded", |s| {
        runtime(s, "wedge")["last_exit"]["cause"] == "health_timeout"
    });
    assert!(runtime(&status, "wedge")["restart_budget"]["used"].as_u64().unwrap() >= 1);
}

/// Stopping the daemon stops every runtime's whole process group.
#[test]
fn stop_leaves_no_process_behind() {
    // The runtime forks a grandchild in its group; both must go.
    let manifest = "[[runtime]]\nid = \"fam\"\nadapter = \"process\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"sleep 300 & echo child $! ; wait\"]\n";
    let arw = Arw::with_config(manifest);
    let status = arw.wait_for(Duration::from_secs(10), "running", |s| state(s, "fam") == "ready");
    let pid = runtime(&status, "fam")["pid"].as_u64().unwrap() as u32;
    let log_path = arw.home.join("logs/runtimes/fam.log");
    let deadline = Instant::now() + Duration::from_secs(5);
    let grandchild = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(p) = log.lines().find_map(|l| l.strip_prefix("child ")) {
            break p.trim().parse::<u32>().unwrap();
        }
        assert!(Instant::now() < deadline, "grandchild never reported");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(alive(grandchild));
    arw.ok(&["daemon", "stop"]);
    assert!(wait_gone(pid, Duration::from_secs(5)), "runtime survived");
    assert!(wait_gone(grandchild, Duration::from_secs(5)), "grandchild survived");
}

/// A runtime whose command does not exist ends in `error` with the OS reason.
#[test]
fn missing_command_is_spawn_failed() {
    let manifest = "[[runtime]]\nid = \"ghost\"\nadapter = \"process\"\ncommand = \"/nonexistent/llama-server\"\n";
    let arw = Arw::with_config(manifest);
    let status = arw.wait_for(Duration::from_secs(10), "error", |s| state(s, "ghost") == "error");
    let rt = runtime(&status, "ghost");
    assert_eq!(rt["last_exit"]["cause"], "spawn_failed");
    assert!(rt["reason"].as_str().unwrap().contains("/nonexistent/llama-server"), "{rt}");
}

/// A runtime without a health endpoint is not `ready` just because it
/// started: one that dies within its first second never was.
#[test]
fn process_runtime_is_not_ready_until_it_stays_up() {
    let manifest = "[[runtime]]\nid = \"brief\"\nadapter = \"process\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"sleep 0.3; exit 2\"]\nauto_start = false\n";
    let arw = Arw::with_config(manifest);
    let out = arw.run(&["runtime", "restore", "--id", "brief", "--json"]);
    let doc = json_of(&out);
    assert_eq!(doc["outcome"], "failed", "{doc:#}");
    assert_eq!(out.status.code(), Some(1));
    assert!(doc["message"].as_str().unwrap().contains("exited with code 2"), "{doc}");
}
