//! The daemon starts on demand, exactly once, and recovers from a stale socket.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// The first command starts a daemon with no user action and answers.
#[test]
fn first_command_autostarts_the_daemon() {
    let arw = Arw::new();
    assert!(!arw.home.join("run/arw.sock").exists());
    let status = arw.status();
    assert!(status["supervisor"]["runtimes"].is_array());
    let pid = arw.daemon_pid().expect("pid file written");
    assert!(alive(pid));
    let log = std::fs::read_to_string(arw.home.join("logs/daemon.log")).unwrap();
    assert!(log.contains("listening on"), "daemon log: {log}");
}

/// 50 cold clients at once: one daemon, 50 good answers.
#[test]
fn fifty_cold_clients_start_one_daemon() {
    let arw = Arw::new();
    let children: Vec<_> = (0..50)
        .map(|_| arw.cmd(&["runtime", "status", "--json"]).stdout(std::process::Stdio::piped()).spawn().unwrap())
        .collect();
    let mut pids_seen = std::collections::BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
        assert!(v["matrix"]["ttl_seconds"].as_u64().unwrap() > 0);
        pids_seen.insert(arw.daemon_pid().unwrap());
    }
    assert_eq!(pids_seen.len(), 1, "exactly one daemon: {pids_seen:?}");
    let log = std::fs::read_to_string(arw.home.join("logs/daemon.log")).unwrap();
    assert_eq!(log.matches("listening on").count(), 1, "one daemon ever started:\n{log}");
}

/// kill -9 leaves a socket file behind; the next command replaces it.
#[test]
fn stale_socket_after_kill_9_is_recovered() {
    let arw = Arw::new();
    arw.status();
    let pid = arw.daemon_pid().unwrap();
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    assert!(wait_gone(pid, Duration::from_secs(5)));
    assert!(arw.home.join("run/arw.sock").exists(), "socket file left behind");
    let status = arw.status();
    assert!(status["matrix"]["items"].is_object());
    let new_pid = arw.daemon_pid().unwrap();
    assert_ne!(new_pid, pid);
    assert!(alive(new_pid));
}

/// With ARW_NO_AUTOSTART=1 a missing daemon is exit 3 with a clear message.
#[test]
fn no_autostart_is_exit_3() {
    let arw = Arw::new().env("ARW_NO_AUTOSTART", "1");
    let out = arw.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("arw: error: the arw daemon is not running at `"), "{err}");
    assert!(err.contains("ARW_NO_AUTOSTART"), "{err}");
    assert!(!arw.home.join("run/daemon.pid").exists());
}

/// Directories are 0700, the socket 0600, and the daemon listens on no TCP port.
#[test]
fn permissions_and_no_tcp_listener() {
    let arw = Arw::new();
    arw.status();
    for dir in ["", "run", "logs", "cache"] {
        let mode = std::fs::metadata(arw.home.join(dir)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{dir:?} is {mode:o}");
    }
    let mode = std::fs::metadata(arw.home.join("run/arw.sock")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let pid = arw.daemon_pid().unwrap();
    let inodes = socket_inodes(pid);
    assert!(!inodes.is_empty(), "the daemon has at least its unix socket");
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (st, inode) = (cols[3], cols[9]);
            assert!(!(st == "0A" && inodes.contains(&inode.to_string())), "daemon listens on TCP: {line}");
        }
    }
}

fn socket_inodes(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_string))
        .collect()
}

/// A socket path too long for the OS is a clear error naming ARW_HOME.
#[test]
fn too_long_socket_path_is_a_clear_error() {
    let arw = Arw::new();
    let long = arw.dir.path().join("x".repeat(120));
    let out = arw.cmd(&["runtime", "status"]).env("ARW_HOME", &long).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("longer than") && err.contains("ARW_HOME"), "{err}");
}

/// The daemon exits by itself when idle: no clients, no running runtime.
#[test]
fn idle_daemon_exits() {
    let arw = Arw::new().env("ARW_IDLE_TIMEOUT_SECS", "1");
    arw.status();
    let pid = arw.daemon_pid().unwrap();
    assert!(wait_gone(pid, Duration::from_secs(10)), "daemon still running after its idle timeout");
    assert!(!arw.home.join("run/arw.sock").exists(), "socket removed on exit");
}

/// `daemon stop` stops it; `daemon status` then says it is not running (exit 3).
#[test]
fn daemon_stop_and_status() {
    let arw = Arw::new();
    arw.status();
    let info = arw.json(&["daemon", "status", "--json"]);
    let pid = info["pid"].as_u64().unwrap() as u32;
    assert_eq!(Some(pid), arw.daemon_pid());
    arw.ok(&["daemon", "stop"]);
    assert!(wait_gone(pid, Duration::from_secs(5)));
    let out = arw.run(&["daemon", "status"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("not running"));
}

/// ARW_HOME pointing at a file is a clear error, not a socket error.
#[test]
fn home_that_is_a_file_is_a_clear_error() {
    let arw = Arw::new();
    let file = arw.dir.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let out = arw.cmd(&["runtime", "status"]).env("ARW_HOME", &file).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "arw: error: ARW_HOME `{}` is not a directory; point `ARW_HOME` at a directory arw may use",
            file.display()
        )
    );
}

/// A bad ARW_IDLE_TIMEOUT_SECS stops the daemon from starting, with the reason.
#[test]
fn bad_idle_timeout_is_a_clear_error() {
    let arw = Arw::new().env("ARW_IDLE_TIMEOUT_SECS", "forever");
    let out = arw.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the daemon could not start") && err.contains("ARW_IDLE_TIMEOUT_SECS=forever"), "{err}");
}
