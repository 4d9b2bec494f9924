//! Runtime manifests through the daemon: a bad file at start is a clear
//! error; a bad reload keeps the last good registry.

use crate::common::*;
use std::time::Duration;

/// A malformed manifest stops the daemon from starting with a one-line
/// error naming the file, line and key.
#[test]
fn bad_manifest_at_start_is_a_clear_error() {
    let arw = Arw::with_config("[[runtime]]\nid = \"a\"\nadapter = \"stub\"\ncommand = \"x\"\nport = 70000\n");
    let out = arw.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let path = arw.config_path().display().to_string();
    assert!(err.contains(&format!("{path}:5:")), "names file and line: {err}");
    assert!(err.contains("port"), "names the key: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

/// A missing explicit config file is an error, not a silent default.
#[test]
fn missing_config_file_is_an_error() {
    let arw = Arw::new().env("ARW_CONFIG", "/nonexistent/arw/runtimes.toml");
    let out = arw.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/arw/runtimes.toml"));
}

/// `arw daemon reload` with a broken file fails, names the problem, and the
/// daemon keeps the old registry; a good file is then applied.
#[test]
fn bad_reload_keeps_last_good_registry() {
    let arw = Arw::with_config(&stub_runtime("one", &[], "auto_start = false"));
    assert_eq!(state(&arw.status(), "one"), "offline");
    std::fs::write(arw.config_path(), "[[runtime]]\nid = \"two\"\nadapter = \"warp-drive\"\ncommand = \"x\"\n")
        .unwrap();
    let out = arw.run(&["daemon", "reload"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("adapter") && err.contains("last good registry"), "{err}");
    let status = arw.status();
    assert_eq!(status["supervisor"]["runtimes"].as_array().unwrap().len(), 1);
    assert_eq!(state(&status, "one"), "offline");

    let good =
        format!("{}{}", stub_runtime("one", &[], "auto_start = false"), stub_runtime("two", &[], "auto_start = false"));
    std::fs::write(arw.config_path(), good).unwrap();
    let report = arw.json(&["daemon", "reload", "--json"]);
    assert_eq!(report["added"], serde_json::json!(["two"]));
    assert_eq!(arw.status()["supervisor"]["runtimes"].as_array().unwrap().len(), 2);
}

/// Editing the file is noticed without a command; a broken edit is ignored.
#[test]
fn file_change_reloads_and_bad_edit_is_ignored() {
    let arw = Arw::with_config(&stub_runtime("one", &[], "auto_start = false"));
    arw.status();
    std::fs::write(arw.config_path(), "this is not toml = = =").unwrap();
    // Give the watcher a chance to see the bad edit, then make a good one.
    let log = arw.home.join("logs/daemon.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("keeping the last good registry") {
        assert!(std::time::Instant::now() < deadline, "bad edit never noticed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(state(&arw.status(), "one"), "offline");
    let good =
        format!("{}{}", stub_runtime("one", &[], "auto_start = false"), stub_runtime("two", &[], "auto_start = false"));
    std::fs::write(arw.config_path(), good).unwrap();
    arw.wait_for(Duration::from_secs(10), "two registered", |s| {
        s["supervisor"]["runtimes"].as_array().unwrap().len() == 2
    });
}

/// A command that asks for another manifest than the running daemon loaded
/// is told so, not silently served the old one; `--config` starts a daemon
/// with the named file.
#[test]
fn other_config_against_running_daemon_is_noted() {
    let arw = Arw::new();
    let a = arw.dir.path().join("a.toml");
    let b = arw.dir.path().join("b.toml");
    std::fs::write(&a, stub_runtime("from-a", &[], "auto_start = false")).unwrap();
    std::fs::write(&b, stub_runtime("from-b", &[], "auto_start = false")).unwrap();
    let status = arw.json(&["--config", a.to_str().unwrap(), "runtime", "status", "--json"]);
    assert_eq!(state(&status, "from-a"), "offline");
    let out = arw.cmd(&["runtime", "status", "--json"]).env("ARW_CONFIG", &b).output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the running daemon loaded") && err.contains("arw daemon restart"), "{err}");
    let quiet = arw.cmd(&["runtime", "status", "--json"]).env("ARW_CONFIG", &a).output().unwrap();
    assert!(quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));
}

/// `arw daemon restart` checks the manifest first: a broken one leaves the
/// running daemon and its registry alone.
#[test]
fn restart_with_broken_config_keeps_the_daemon() {
    let arw = Arw::with_config(&stub_runtime("one", &[], "auto_start = false"));
    arw.status();
    let pid = arw.daemon_pid().unwrap();
    std::fs::write(arw.config_path(), "[[runtime]]\nid = \"x\"\nadapter = \"stub\"\ncommand = \"x\"\nport = 0\n")
        .unwrap();
    let out = arw.run(&["daemon", "restart"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not restarting") && err.contains("port"), "{err}");
    assert_eq!(arw.daemon_pid(), Some(pid));
    assert!(alive(pid));
}
