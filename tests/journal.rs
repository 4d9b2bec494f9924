//! Issue 13: the journal that outlives the daemon (`$ARW_HOME/state/arw.db`):
//! restored budget windows and last exits, `daemon_lost`, `runtime history`,
//! damaged and unwritable journals, retention.

use crate::common::*;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A crash loop that spends a budget of 2 within `window` seconds at once.
fn crashy(window: u64) -> String {
    crashing_runtime(
        "crashy",
        &format!(
            "[runtime.restart]\nmax_restarts = 2\nwindow_secs = {window}\nbackoff_initial_ms = 10\nbackoff_max_ms = 10"
        ),
    )
}

fn db(arw: &Arw) -> PathBuf {
    arw.home.join("state/arw.db")
}

fn exhausted(arw: &Arw) -> Value {
    let status = arw.wait_for(Duration::from_secs(15), "budget exhausted", |s| {
        runtime(s, "crashy")["reason"] == "restart budget exhausted"
    });
    runtime(&status, "crashy").clone()
}

/// What a restart must not change about an exhausted runtime.
fn same_exhaustion(before: &Value, after: &Value) {
    assert_eq!(after["state"], "error", "{after:#}");
    assert_eq!(after["reason"], "restart budget exhausted");
    assert_eq!(after["pid"], Value::Null, "not started again: {after:#}");
    assert_eq!(after["generation"], before["generation"], "no new start");
    assert_eq!(after["restart_budget"], before["restart_budget"], "same window and reset_at");
    assert_eq!(after["last_exit"], before["last_exit"], "same last exit");
    assert_eq!(after["restarts_total"], before["restarts_total"]);
}

fn restore_exits_4(arw: &Arw) {
    let out = arw.run(&["runtime", "restore", "--id", "crashy"]);
    assert_eq!(out.status.code(), Some(4), "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

fn sigkill_daemon(arw: &Arw) {
    let pid = arw.daemon_pid().expect("daemon pid");
    assert!(is_daemon_of(pid, &arw.home));
    // SAFETY: plain kill(2) of the daemon this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert!(wait_gone(pid, Duration::from_secs(5)), "daemon {pid} still there");
}

fn history(arw: &Arw, id: &str) -> Value {
    arw.json(&["runtime", "history", id, "-n", "0", "--json"])
}

/// The node's status detail lines.
fn detail(status: &Value) -> Vec<String> {
    node(status)["status"]["detail"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect()
}

fn query(path: &Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// #13.3: a spent budget stays spent over `arw daemon restart`: same
/// `error`, same `reset_at`, same `last_exit`, not started again, restore
/// exits 4, and the matrix still counts it as exhausted.
#[test]
fn exhausted_budget_survives_daemon_restart() {
    let arw = Arw::with_config(&crashy(600));
    let before = exhausted(&arw);
    assert_eq!(before["last_exit"]["error_line"], "boom: cannot load model");
    let old = arw.daemon_pid().unwrap();
    arw.ok(&["daemon", "restart"]);
    assert_ne!(arw.daemon_pid(), Some(old), "a new daemon");
    let status = arw.status();
    same_exhaustion(&before, runtime(&status, "crashy"));
    assert_eq!(node(&status)["runtime"]["restart_pressure"]["exhausted"], 1, "{:#}", node(&status));
    assert_eq!(node(&status)["status"]["code"], "error");
    restore_exits_4(&arw);
}

/// #13.3: the same after the daemon is SIGKILLed and the next command
/// starts a new one.
#[test]
fn exhausted_budget_survives_a_sigkilled_daemon() {
    let arw = Arw::with_config(&crashy(600));
    let before = exhausted(&arw);
    // History answers behind every write sent before it: the last exit is
    // on disk now. A SIGKILL may only lose what was not yet written.
    let h = history(&arw, "crashy");
    assert_eq!(h["events"].as_array().unwrap().last().unwrap()["kind"], "exit");
    sigkill_daemon(&arw);
    let status = arw.status();
    same_exhaustion(&before, runtime(&status, "crashy"));
    assert_eq!(node(&status)["runtime"]["restart_pressure"]["exhausted"], 1);
    restore_exits_4(&arw);
}

/// #13.3: a restored window frees its slots on time: automatic restarts
/// resume by themselves once the window has passed.
#[test]
fn automatic_restarts_resume_after_the_restored_window() {
    let arw = Arw::with_config(&crashy(3));
    let before = exhausted(&arw);
    let reset_at = before["restart_budget"]["reset_at"].as_str().unwrap().to_string();
    arw.ok(&["daemon", "restart"]);
    let after = arw.status();
    same_exhaustion(&before, runtime(&after, "crashy"));
    let generation = before["generation"].as_u64().unwrap();
    let automatic = before["restarts_total"]["automatic"].as_u64().unwrap();
    let resumed = arw.wait_for(Duration::from_secs(15), "an automatic restart after the window", |s| {
        runtime(s, "crashy")["restarts_total"]["automatic"].as_u64() > Some(automatic)
            && runtime(s, "crashy")["generation"].as_u64() > Some(generation)
    });
    let rt = runtime(&resumed, "crashy");
    let now = humantime::parse_rfc3339_weak(resumed["supervisor"]["generated_at"].as_str().unwrap()).unwrap();
    assert!(now >= humantime::parse_rfc3339_weak(&reset_at).unwrap(), "not before the window reset at {reset_at}");
    let h = history(&arw, "crashy");
    let events = h["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["kind"] == "restart" && e["detail"].as_str().unwrap().contains("window freed a slot")),
        "{h:#}"
    );
    assert!(rt["generation"].as_u64().unwrap() > generation);
}

/// #13.3: a runtime that was running when its daemon was SIGKILLed is
/// recorded as `daemon_lost`; its group died with the daemon; auto_start
/// brings it back under the new daemon.
#[test]
fn running_runtime_of_a_killed_daemon_is_daemon_lost() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], ""));
    let status = arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    let pid = runtime(&status, "stub")["pid"].as_u64().unwrap() as u32;
    let generation = runtime(&status, "stub")["generation"].as_u64().unwrap();
    assert_eq!(history(&arw, "stub")["events"][0]["kind"], "start", "journaled before the kill");
    sigkill_daemon(&arw);
    assert!(wait_gone(pid, Duration::from_secs(5)), "the runtime died with its daemon");
    let status = arw.wait_for(Duration::from_secs(20), "ready again", |s| state(s, "stub") == "ready");
    let rt = runtime(&status, "stub");
    assert_eq!(rt["last_exit"]["cause"], "daemon_lost", "{rt:#}");
    let detail = rt["last_exit"]["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("pid {pid}")) && detail.contains("died"), "{detail}");
    assert_eq!(rt["generation"].as_u64(), Some(generation + 1), "generations go on");
    let h = history(&arw, "stub");
    let kinds: Vec<&str> = h["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "exit", "start"], "{h:#}");
    assert_eq!(h["events"][1]["cause"], "daemon_lost");
    assert_eq!(h["events"][1]["generation"], generation);
}

/// #13.1 (history): every start and exit, with causes, code and error line,
/// and every automatic restart and restore, in time order, across a daemon
/// restart; text is a table; unknown ids exit 2 listing the known ones; a
/// removed runtime's history stays readable and says so.
#[test]
fn history_lists_lifecycle_in_order_across_restarts() {
    let arw = Arw::with_config(&format!("{}{}", crashy(600), stub_runtime("stub", &[], "auto_start = false")));
    let before = exhausted(&arw);
    arw.ok(&["daemon", "restart"]);
    let doc = arw.json(&["runtime", "restore", "--id", "stub", "--json"]);
    assert_eq!(doc["outcome"], "ready");
    let doc = arw.json(&["runtime", "restore", "--id", "stub", "--json"]);
    assert_eq!(doc["outcome"], "ready");

    let h = history(&arw, "crashy");
    assert_eq!(h["registered"], true);
    let events = h["events"].as_array().unwrap();
    let starts = events.iter().filter(|e| e["kind"] == "start").count() as u64;
    let exits: Vec<&Value> = events.iter().filter(|e| e["kind"] == "exit").collect();
    assert_eq!(starts, before["generation"].as_u64().unwrap(), "every start: {h:#}");
    assert_eq!(exits.len() as u64, starts, "every exit");
    for e in &exits {
        assert_eq!(e["cause"], "exited");
        assert_eq!(e["code"], 3);
        assert_eq!(e["error_line"], "boom: cannot load model");
    }
    assert_eq!(events.iter().filter(|e| e["kind"] == "restart").count(), 2, "two automatic restarts");
    let times: Vec<_> =
        events.iter().map(|e| humantime::parse_rfc3339_weak(e["at"].as_str().unwrap()).unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order: {h:#}");
    // start, exit, restart, start, exit, restart, start, exit.
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "exit", "restart", "start", "exit", "restart", "start", "exit"]);

    let h = history(&arw, "stub");
    let kinds: Vec<&str> = h["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    // The first start is free; the second restore stops the first process.
    assert_eq!(kinds, ["start", "restore", "stop", "start"], "{h:#}");
    assert_eq!(h["events"][2]["cause"], "stopped");

    let text = arw.ok(&["runtime", "history", "crashy"]);
    assert!(text.contains("time") && text.contains("cause") && text.contains("exited with code 3"), "{text}");
    assert!(text.contains("» boom: cannot load model"), "{text}");

    let out = arw.run(&["runtime", "history", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no runtime with id `nope`") && err.contains("known ids: crashy, stub"), "{err}");

    // Remove `crashy` from the manifest: its history stays readable.
    std::fs::write(arw.config_path(), stub_runtime("stub", &[], "auto_start = false")).unwrap();
    arw.ok(&["daemon", "reload"]);
    let h = history(&arw, "crashy");
    assert_eq!(h["registered"], false);
    assert_eq!(h["events"].as_array().unwrap().len(), 8);
    assert!(h["notes"][0].as_str().unwrap().contains("no longer in the manifest"), "{h:#}");
    let out = arw.run(&["runtime", "history", "nope"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the journal also has removed runtimes: crashy"), "{err}");
}

/// #13.2: the journal is a valid SQLite database in WAL mode at the current
/// schema version, `0600` in a `0700` `state/`, holding what happened.
#[test]
fn journal_is_a_valid_private_sqlite_file() {
    let arw = Arw::with_config(&crashy(600));
    exhausted(&arw);
    arw.ok(&["daemon", "stop"]);
    let path = db(&arw);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    // 1: the first schema; 2: operator holds.
    assert_eq!(query(&path, "PRAGMA user_version"), 2);
    assert_eq!(query(&path, "SELECT count(*) FROM lifecycle WHERE runtime = 'crashy' AND kind = 'start'"), 3);
    assert_eq!(query(&path, "SELECT count(*) FROM budget_restarts WHERE kind = 'automatic'"), 2);
    assert_eq!(query(&path, "SELECT count(*) FROM daemons WHERE stopped_ms IS NOT NULL"), 1, "a clean stop");
    assert_eq!(query(&path, "SELECT count(*) FROM leases"), 0, "room for leases");
}

/// #13.4: a damaged journal is moved aside (never deleted), a new one is
/// started, the node detail says so, and supervision goes on.
#[test]
fn damaged_journal_is_moved_aside() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], ""));
    let state_dir = arw.home.join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    std::fs::set_permissions(&state_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let garbage: Vec<u8> = (0..16384u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(db(&arw), &garbage).unwrap();
    let status = arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    let lines = detail(&status);
    assert!(lines.iter().any(|l| l.contains("was damaged") && l.contains("arw.db.corrupt-")), "{lines:?}");
    let moved: Vec<PathBuf> = std::fs::read_dir(&state_dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("arw.db.corrupt-"))
        .collect();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(std::fs::read(&moved[0]).unwrap(), garbage, "kept byte for byte");
    arw.ok(&["daemon", "stop"]);
    assert_eq!(query(&db(&arw), "SELECT count(*) FROM lifecycle WHERE kind = 'start'"), 1, "the new journal works");
}

/// Undoes `chattr +i` when a test ends, however it ends.
struct Immutable(Option<PathBuf>);

impl Drop for Immutable {
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::process::Command::new("chattr").arg("-i").arg(dir).status();
        }
    }
}

/// Makes `dir` read-only for this user, root included (`chattr +i`).
fn make_read_only(dir: &Path) -> Option<Immutable> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(Immutable(None));
    }
    let ok = std::process::Command::new("chattr").arg("+i").arg(dir).status().is_ok_and(|s| s.success());
    require("chattr +i (root ignores mode bits)", ok, "run as a non-root user or on a filesystem with chattr")
        .then(|| Immutable(Some(dir.to_path_buf())))
}

/// #13.4: a read-only `state/` is reported in the node detail, not fatal:
/// runtimes are supervised and history works for this daemon's life.
#[test]
fn read_only_state_dir_is_reported_not_fatal() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], ""));
    let state_dir = arw.home.join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let Some(_guard) = make_read_only(&state_dir) else { return };
    let status = arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    let lines = detail(&status);
    assert!(
        lines.iter().any(|l| l.contains("state/arw.db` cannot be used") && l.contains("kept in memory")),
        "{lines:?}"
    );
    assert_eq!(node(&status)["status"]["code"], "warn", "said, not hidden");
    let h = history(&arw, "stub");
    assert_eq!(h["journal"], "memory");
    assert_eq!(h["events"][0]["kind"], "start");
    assert!(h["notes"][0].as_str().unwrap().contains("in memory"), "{h:#}");
    assert!(!db(&arw).exists());
}

/// #13.4: a symlink planted at `arw.db` is never followed: its target is
/// untouched and the daemon keeps its journal in memory.
#[test]
fn planted_journal_symlink_is_refused() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], ""));
    let state_dir = arw.home.join("state");
    std::fs::create_dir_all(&state_dir).unwrap();
    let victim = arw.dir.path().join("victim");
    std::fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim, db(&arw)).unwrap();
    let status = arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    let lines = detail(&status);
    assert!(lines.iter().any(|l| l.contains("symbolic link") && l.contains("kept in memory")), "{lines:?}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
}

/// #13.2: `ARW_JOURNAL=off` writes nothing and `history` says why.
#[test]
fn journal_off_writes_nothing() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], "")).env("ARW_JOURNAL", "off");
    arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    assert!(!arw.home.join("state").exists());
    let out = arw.run(&["runtime", "history", "stub"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ARW_JOURNAL=off"));
}

/// #13.2: 10 000 lifecycle events keep the database within the retention
/// rule (`ARW_JOURNAL_MAX_ROWS` per runtime), in rows and in bytes.
#[test]
fn retention_bounds_the_database() {
    // Ten crash loops at once: each generation is a start, an exit and an
    // automatic restart, so 340 generations each make 10 200 events.
    let manifest: String = (0..10)
        .map(|i| {
            format!(
                "[[runtime]]\nid = \"flood{i}\"\nadapter = \"process\"\ncommand = \"/bin/false\"\n\
                 [runtime.restart]\nmax_restarts = 4294967295\nwindow_secs = 1\nbackoff_initial_ms = 0\nbackoff_max_ms = 0\n"
            )
        })
        .collect();
    let arw = Arw::with_config(&manifest).env("ARW_JOURNAL_MAX_ROWS", "200");
    let started = Instant::now();
    arw.wait_for(Duration::from_secs(240), "10 000 lifecycle events", |s| {
        (0..10).all(|i| runtime(s, &format!("flood{i}"))["generation"].as_u64() >= Some(340))
    });
    eprintln!("10 200 events in {:?}", started.elapsed());
    arw.ok(&["daemon", "stop"]);
    let path = db(&arw);
    let lifecycle = query(&path, "SELECT max(n) FROM (SELECT count(*) AS n FROM lifecycle GROUP BY runtime)");
    let restarts = query(&path, "SELECT max(n) FROM (SELECT count(*) AS n FROM budget_restarts GROUP BY runtime)");
    assert!(lifecycle <= 200, "{lifecycle} lifecycle rows kept for one runtime");
    assert!(restarts <= 200, "{restarts} budget restarts kept for one runtime");
    let kept = query(&path, "SELECT count(*) FROM lifecycle");
    assert!((1_500..=2_000).contains(&kept), "the newest 200 of each are kept: {kept}");
    let bytes = std::fs::metadata(&path).unwrap().len();
    // Unpruned, 10 200 events take about 2 MB.
    assert!(bytes <= 1024 * 1024, "{bytes} bytes for 2 000 events");
}

/// #13.4: a journal that stops taking writes while the daemon runs (here
/// made immutable, as a full disk would refuse them) is reported, never
/// stops supervision, and gets the waiting events once it takes writes again.
#[test]
fn unwritable_journal_mid_run_is_reported_and_recovers() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: only root can make a file refuse the writes of an open descriptor (chattr +i)");
        return;
    }
    let arw = Arw::with_config(&stub_runtime("stub", &[], ""));
    arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    let files: Vec<PathBuf> = ["arw.db", "arw.db-wal"].iter().map(|f| arw.home.join("state").join(f)).collect();
    let guards: Vec<Immutable> = files
        .iter()
        .filter_map(|f| {
            let ok = std::process::Command::new("chattr").arg("+i").arg(f).status().is_ok_and(|s| s.success());
            require("chattr +i", ok, "a filesystem with chattr").then(|| Immutable(Some(f.clone())))
        })
        .collect();
    if guards.len() != files.len() {
        return;
    }
    let doc = arw.json(&["runtime", "restore", "--id", "stub", "--json"]);
    assert_eq!(doc["outcome"], "ready", "supervision goes on");
    let status = arw.wait_for(Duration::from_secs(10), "the write failure in the detail", |s| {
        detail(s).iter().any(|l| l.contains("cannot write the journal"))
    });
    assert_eq!(state(&status, "stub"), "ready");
    drop(guards);
    let doc = arw.json(&["runtime", "restore", "--id", "stub", "--json"]);
    assert_eq!(doc["outcome"], "ready");
    arw.wait_for(Duration::from_secs(10), "the detail line gone", |s| {
        !detail(s).iter().any(|l| l.contains("cannot write the journal"))
    });
    let h = history(&arw, "stub");
    let kinds: Vec<&str> = h["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "restore", "stop", "start", "restore", "stop", "start"], "nothing lost: {h:#}");
}

/// #13.1 + #13.3: an operator's stop outlives the daemon: after `arw
/// daemon restart` (or a SIGKILLed daemon) a stopped `auto_start` runtime
/// stays offline, saying why; `runtime start` lifts the hold for the next
/// daemon too.
#[test]
fn an_operator_stop_survives_the_daemon() {
    let arw = Arw::with_config(&stub_runtime("stub", &[], ""));
    arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    arw.ok(&["runtime", "stop", "stub"]);
    // `history` answers after every earlier write has landed.
    history(&arw, "stub");
    arw.ok(&["daemon", "restart"]);
    let status = arw.status();
    let rt = runtime(&status, "stub");
    assert_eq!(rt["state"], "offline", "{rt:#}");
    assert!(rt["pid"].is_null());
    assert!(rt["reason"].as_str().unwrap().contains("stopped by the operator"), "{rt:#}");
    sigkill_daemon(&arw);
    let status = arw.status();
    assert_eq!(state(&status, "stub"), "offline", "a SIGKILLed daemon's successor keeps the hold");
    arw.ok(&["runtime", "start", "stub"]);
    history(&arw, "stub");
    arw.ok(&["daemon", "restart"]);
    arw.wait_for(Duration::from_secs(20), "auto-started again", |s| state(s, "stub") == "ready");
}
