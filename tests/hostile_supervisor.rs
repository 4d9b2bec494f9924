//! Issue 11, the supervisor's share: planted symlinks, secrets in logs and
//! environments, log floods, grandchildren of a killed daemon, and wording.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn process_runtime(id: &str, script: &str, extra_toml: &str) -> String {
    format!("[[runtime]]\nid = {id:?}\nadapter = \"process\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", {script:?}]\n{extra_toml}\n")
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `pred` until it holds, or fails naming `what`.
#[track_caller]
fn poll(within: Duration, what: &str, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn environ(pid: u32) -> Vec<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    raw.split(|&b| b == 0).filter(|v| !v.is_empty()).map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

/// #11.3: a planted `logs/runtimes/<id>.log` symlink is refused with the path and the fix; its target is untouched.
#[test]
fn planted_runtime_log_symlink_is_refused() {
    let arw = Arw::with_config(&process_runtime("rt", "echo hello; sleep 300", ""));
    let victim = arw.dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let logs = arw.home.join("logs/runtimes");
    std::fs::create_dir_all(&logs).unwrap();
    std::os::unix::fs::symlink(&victim, logs.join("rt.log")).unwrap();
    let status = arw.wait_for(Duration::from_secs(10), "error", |s| state(s, "rt") == "error");
    let reason = runtime(&status, "rt")["reason"].as_str().unwrap().to_string();
    assert!(reason.contains("rt.log") && reason.contains("symbolic link") && reason.contains("remove it"), "{reason}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

/// #11.3: a planted `logs/daemon.log` symlink stops the auto-start (exit 3) naming it; its target is untouched.
#[test]
fn planted_daemon_log_symlink_is_refused() {
    let arw = Arw::new();
    let victim = arw.dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::create_dir_all(arw.home.join("logs")).unwrap();
    std::os::unix::fs::symlink(&victim, arw.home.join("logs/daemon.log")).unwrap();
    let out = arw.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("daemon.log") && err.contains("symbolic link") && err.contains("remove it"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

/// #11.3 and #11.19: a planted `run/daemon.pid` symlink makes the daemon refuse to start: exit 3 with its reason; the target is untouched.
#[test]
fn planted_pid_file_symlink_is_refused() {
    let arw = Arw::new();
    let victim = arw.dir.path().join("victim.txt");
    std::fs::write(&victim, "precious\n").unwrap();
    let run = arw.home.join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&victim, run.join("daemon.pid")).unwrap();
    let out = arw.run(&["runtime", "status"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("the daemon could not start") && err.contains("daemon.pid"), "{err}");
    assert!(err.contains("symbolic link") && err.contains("remove it"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

/// #11.5: runtime logs are 0600 in 0700 directories (existing ones tightened) and the header shows secret values as `***`.
#[test]
fn logs_are_private_and_headers_redacted() {
    let manifest = "[[runtime]]\nid = \"rt\"\nadapter = \"process\"\ncommand = \"/bin/sh\"\n\
        args = [\"-c\", \"echo started; sleep 300\", \"x\", \"--token=${MY_TOKEN}\", \"${MY_TOKEN}\", \"--api-key\", \"literal-key-42\"]\n\
        env = { HF_TOKEN = \"hf_manifest_secret\", PLAIN = \"visible-value\" }\n";
    let arw = Arw::with_config(manifest).env("MY_TOKEN", "tok-from-shell-9876");
    let logs = arw.home.join("logs/runtimes");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::set_permissions(arw.home.join("logs"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(logs.join("rt.log"), "old run\n").unwrap();
    std::fs::set_permissions(logs.join("rt.log"), std::fs::Permissions::from_mode(0o644)).unwrap();
    arw.wait_for(Duration::from_secs(10), "ready", |s| state(s, "rt") == "ready");
    let log_path = logs.join("rt.log");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("started"), "{log}");
    let header = log.lines().find(|l| l.starts_with("=== arw: starting")).expect("a header");
    for secret in ["tok-from-shell-9876", "hf_manifest_secret", "literal-key-42"] {
        assert!(!log.contains(secret), "`{secret}` reached the log: {header}");
    }
    assert!(header.contains("--token=***") && header.contains("HF_TOKEN=***"), "{header}");
    assert!(header.contains("PLAIN=visible-value"), "non-secrets stay readable: {header}");
    assert_eq!(mode(&log_path), 0o600);
    assert_eq!(mode(&logs), 0o700);
    assert_eq!(mode(&arw.home.join("logs")), 0o700);
    assert_eq!(mode(&arw.home.join("logs/daemon.log")), 0o600);
}

/// #11.5: an `HF_TOKEN` in the daemon's shell and in the request does not reach a runtime's environment unless its manifest `env` asks; the documented minimum does.
#[test]
fn runtimes_get_a_minimal_environment() {
    let manifest = format!(
        "{}{}",
        process_runtime("plain", "sleep 300", ""),
        process_runtime("asks", "sleep 300", "env = { HF_TOKEN = \"${HF_TOKEN}\" }")
    );
    let arw = Arw::with_config(&manifest)
        .env("HF_TOKEN", "hf_daemon_shell_secret")
        .env("SOME_API_KEY", "sk-shell")
        .env("LLAMA_ARG_THREADS", "2");
    let status = arw.wait_for(Duration::from_secs(10), "both ready", |s| {
        state(s, "plain") == "ready" && state(s, "asks") == "ready"
    });
    let plain = environ(runtime(&status, "plain")["pid"].as_u64().unwrap() as u32);
    assert!(plain.iter().any(|v| v.starts_with("PATH=")), "{plain:?}");
    assert!(plain.iter().any(|v| v == "LLAMA_ARG_THREADS=2"), "llama.cpp settings pass: {plain:?}");
    assert!(!plain.iter().any(|v| v.starts_with("HF_TOKEN=") || v.starts_with("SOME_API_KEY=")), "{plain:?}");
    assert!(!plain.iter().any(|v| v.starts_with("ARW_")), "arw's own knobs stay out: {plain:?}");
    let asks = environ(runtime(&status, "asks")["pid"].as_u64().unwrap() as u32);
    assert!(asks.iter().any(|v| v == "HF_TOKEN=hf_daemon_shell_secret"), "{asks:?}");

    // A restore asks with its own environment: still no token for `plain`.
    let doc = arw.json(&["runtime", "restore", "--id", "plain", "--json"]);
    assert_eq!(doc["outcome"], "ready", "{doc}");
    let pid = runtime(&arw.status(), "plain")["pid"].as_u64().unwrap() as u32;
    assert!(!environ(pid).iter().any(|v| v.starts_with("HF_TOKEN=")));
}

/// #11.9: a chatty runtime's log is rotated while it runs, to `<id>.log.1`, near the documented 16 MiB.
#[test]
fn chatty_runtime_log_is_rotated_while_running() {
    const MIB: u64 = 1024 * 1024;
    // 48 MiB in 1 MiB bursts, then a marker; the runtime keeps running.
    // Done is a file, not the log's last line: a rotation right after the
    // last write moves that line into `.log.1`.
    let done = tempfile::Builder::new().prefix("arwdone").tempdir_in("/tmp").unwrap();
    let marker = done.path().join("done");
    let script = format!(
        "i=0; while [ $i -lt 48 ]; do head -c 1048575 /dev/zero | tr '\\0' x; echo; i=$((i+1)); sleep 0.02; done; \
         echo chatty-done; touch {}; exec sleep 300",
        marker.display()
    );
    let arw = Arw::with_config(&process_runtime("chatty", &script, ""));
    let log = arw.home.join("logs/runtimes/chatty.log");
    let rotated = arw.home.join("logs/runtimes/chatty.log.1");
    arw.status(); // starts the daemon, which starts the runtime
    let mut largest = 0;
    poll(Duration::from_secs(60), "the chatty runtime to finish writing", || {
        largest = largest.max(std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0));
        marker.exists()
    });
    let status = arw.status();
    assert_eq!(state(&status, "chatty"), "ready", "still running, never restarted");
    assert_eq!(runtime(&status, "chatty")["generation"], 1);
    let size = std::fs::metadata(&log).unwrap().len();
    let old = std::fs::metadata(&rotated).expect("rotated while running").len();
    assert!(size < 24 * MIB, "log is {size} bytes after writing 48 MiB");
    assert!(old > 16 * MIB && old < 32 * MIB, "rotated part is {old} bytes");
    assert!(largest < 32 * MIB, "the log grew to {largest} bytes before a rotation");
    // The runtime may write before the note lands: it is near the top, not first.
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    assert!(text.contains("=== arw: log rotated at "), "the log says where the rest went");
}

/// #11.9 (outside pass): a link planted where the rotated log goes is
/// removed, never followed, and the log stays bounded.
#[test]
fn planted_rotation_target_does_not_unbound_the_log() {
    const MIB: u64 = 1024 * 1024;
    let done = tempfile::Builder::new().prefix("arwdone").tempdir_in("/tmp").unwrap();
    let marker = done.path().join("done");
    let script = format!(
        "i=0; while [ $i -lt 40 ]; do head -c 1048575 /dev/zero | tr '\\0' x; echo; i=$((i+1)); sleep 0.02; done; \
         touch {}; exec sleep 300",
        marker.display()
    );
    let arw = Arw::with_config(&process_runtime("chatty", &script, ""));
    let logs = arw.home.join("logs/runtimes");
    std::fs::create_dir_all(&logs).unwrap();
    for dir in [arw.home.clone(), arw.home.join("logs"), logs.clone()] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let victim = arw.dir.path().join("victim");
    std::fs::write(&victim, "keep me").unwrap();
    std::os::unix::fs::symlink(&victim, logs.join("chatty.log.1")).unwrap();
    let log = logs.join("chatty.log");
    arw.status();
    let mut largest = 0;
    poll(Duration::from_secs(60), "the chatty runtime to finish writing", || {
        largest = largest.max(std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0));
        marker.exists()
    });
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me");
    assert!(largest < 32 * MIB, "the log grew to {largest} bytes");
    let rotated = std::fs::symlink_metadata(logs.join("chatty.log.1")).unwrap();
    assert!(rotated.is_file(), "a plain rotated file replaced the link");
}

/// Second outside pass: `daemon logs` while the log rotates under it
/// reads the new end instead of failing.
#[test]
fn logs_tail_survives_rotation() {
    let script = "while true; do head -c 1048575 /dev/zero | tr '\\0' x; echo; sleep 0.02; done";
    let arw = Arw::with_config(&process_runtime("chatty", script, ""));
    let log = arw.home.join("logs/runtimes/chatty.log.1");
    arw.status();
    poll(Duration::from_secs(30), "a first rotation", || log.exists());
    for i in 0..60 {
        let out = arw.run(&["daemon", "logs", "--runtime", "chatty", "-n", "2"]);
        assert_eq!(out.status.code(), Some(0), "read {i}: {}", stderr(&out));
    }
}

/// #11.9: `daemon logs --runtime` reads the tail from the end: a 300 MB log costs megabytes, not the file.
#[test]
fn logs_tail_reads_from_the_end() {
    let arw = Arw::with_config(&stub_runtime("big", &[], "auto_start = false"));
    let logs = arw.home.join("logs/runtimes");
    std::fs::create_dir_all(&logs).unwrap();
    let path = logs.join("big.log");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(300 * 1024 * 1024).unwrap();
    drop(file);
    let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
    for i in 0..100 {
        std::io::Write::write_all(&mut f, format!("\nline {i}").as_bytes()).unwrap();
    }
    std::io::Write::write_all(&mut f, b"\n").unwrap();
    // The peak RSS of a child forked from this (large, multi-test) process
    // would count our own pages: a small python parent runs it instead and
    // reports the child's ru_maxrss (KiB) on stderr.
    const PEAK: &str = "import resource, subprocess, sys\n\
        subprocess.run(sys.argv[1:], check=False)\n\
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)";
    let inner = arw.cmd(&["daemon", "logs", "--runtime", "big", "-n", "3"]);
    let output = std::process::Command::new("/usr/bin/python3")
        .args(["-c", PEAK])
        .arg(inner.get_program())
        .args(inner.get_args())
        .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(out, "line 97\nline 98\nline 99\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let peak_mb = stderr.trim().lines().last().and_then(|l| l.trim().parse::<u64>().ok()).expect("peak") / 1024;
    assert!(peak_mb < 64, "`daemon logs` peaked at {peak_mb} MB for a 300 MB log");
}

/// #11.17: `daemon logs --runtime ../../x` is refused as a bad id and reads nothing.
#[test]
fn logs_refuse_traversal_ids() {
    let arw = Arw::new();
    std::fs::create_dir_all(arw.home.join("logs/runtimes")).unwrap();
    std::fs::write(arw.home.join("x.log"), "not a runtime log\n").unwrap();
    let out = arw.run(&["daemon", "logs", "--runtime", "../../x"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "printed: {}", String::from_utf8_lossy(&out.stdout));
    let err = stderr(&out);
    assert!(err.contains("`../../x` is not a runtime id") && err.contains("arw runtime status"), "{err}");
}

/// #11.10: grandchildren die with a SIGKILLed daemon: no process of the runtime's group survives.
#[test]
fn grandchildren_die_with_a_killed_daemon() {
    let arw = Arw::with_config(&process_runtime("fam", "sleep 312 & exec sleep 313", ""));
    let status = arw.wait_for(Duration::from_secs(10), "running", |s| state(s, "fam") == "ready");
    let pgid = runtime(&status, "fam")["pid"].as_u64().unwrap() as u32;
    poll(Duration::from_secs(5), "the grandchild", || group_members(pgid).len() >= 2);
    let daemon = arw.daemon_pid().expect("daemon pid");
    // SAFETY: plain kill(2) of the daemon this test started.
    unsafe { libc::kill(daemon as i32, libc::SIGKILL) };
    poll(Duration::from_secs(10), "the whole group to die", || group_members(pgid).is_empty());
}

/// #11.17: twenty parallel restores are coalesced into one restart, counted once.
#[test]
fn parallel_restores_count_once() {
    let arw = Arw::with_config(&stub_runtime("stub", &["--warmup-ms", "300"], ""));
    let before = arw.wait_for(Duration::from_secs(20), "ready", |s| state(s, "stub") == "ready");
    let generation = runtime(&before, "stub")["generation"].as_u64().unwrap();
    let outcomes: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(|| {
                    let out = arw.run(&["runtime", "restore", "--id", "stub", "--json"]);
                    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                    doc["outcome"].as_str().unwrap_or("none").to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(outcomes.iter().all(|o| o == "ready"), "{outcomes:?}");
    let rt = runtime(&arw.status(), "stub").clone();
    assert_eq!(rt["generation"].as_u64(), Some(generation + 1), "{rt:#}");
    assert_eq!(rt["restarts_total"]["manual"], 1, "{rt:#}");
    assert_eq!(rt["restart_budget"]["manual"], 1, "{rt:#}");
}

/// #11.17: a runtime in `error` shows no endpoint: nothing listens there.
#[test]
fn error_state_has_no_endpoint() {
    let manifest = "[[runtime]]\nid = \"dead\"\nadapter = \"process\"\ncommand = \"/bin/sh\"\n\
        args = [\"-c\", \"sleep 0.2; exit 3\", \"x\", \"{port}\"]\n[runtime.restart]\nmax_restarts = 0\n";
    let arw = Arw::with_config(manifest);
    let status = arw.wait_for(Duration::from_secs(10), "error", |s| state(s, "dead") == "error");
    let rt = runtime(&status, "dead");
    assert!(rt["endpoint"].is_null(), "{rt:#}");
    assert_eq!(rt["last_exit"]["code"], 3);
}

/// #11.18: a command that is a directory says "is a directory", and a start failure is said once, in status and restore alike.
#[test]
fn start_failures_are_said_once_and_plainly() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let manifest = format!(
        "[[runtime]]\nid = \"dir\"\nadapter = \"process\"\ncommand = \"/tmp\"\n\
         [[runtime]]\nid = \"taken\"\nadapter = \"stub\"\ncommand = {ARW:?}\nport = {port}\nargs = [\"runtime\", \"stub-llama\", \"--port\", \"{{port}}\"]\n"
    );
    let arw = Arw::with_config(&manifest);
    let status = arw.wait_for(Duration::from_secs(10), "both failed", |s| {
        state(s, "dir") == "error" && state(s, "taken") == "error"
    });
    let reason = runtime(&status, "dir")["reason"].as_str().unwrap();
    assert_eq!(reason, "cannot start `/tmp`: it is a directory; point `command` at the program to run");
    let table = arw.ok(&["runtime", "status"]);
    assert_eq!(table.matches("is a directory").count(), 2, "badge detail and row, not three times:\n{table}");
    for (id, phrase) in [("dir", "is a directory"), ("taken", "already in use")] {
        let out = arw.run(&["runtime", "restore", "--id", id]);
        let err = stderr(&out);
        let text = format!("{}{err}", String::from_utf8_lossy(&out.stdout));
        assert_eq!(text.matches(phrase).count(), 1, "said once: {text}");
    }
    drop(holder);
}

/// #11.19: a manifest `cwd` that is gone by the time the runtime starts (it
/// existed when the manifest loaded, which checks it) is reported as the
/// cwd, not as a missing command.
#[test]
fn missing_cwd_is_named() {
    let work = tempfile::Builder::new().prefix("arwcwd").tempdir_in("/tmp").unwrap();
    let cwd = work.path().join("w");
    std::fs::create_dir(&cwd).unwrap();
    let extra = format!("cwd = {:?}\nauto_start = false", cwd.display().to_string());
    let arw = Arw::with_config(&process_runtime("nocwd", "sleep 300", &extra));
    arw.status();
    std::fs::remove_dir(&cwd).unwrap();
    let out = arw.run(&["runtime", "restore", "--id", "nocwd"]);
    assert_ne!(out.status.code(), Some(0));
    let status = arw.wait_for(Duration::from_secs(10), "error", |s| state(s, "nocwd") == "error");
    let reason = runtime(&status, "nocwd")["reason"].as_str().unwrap();
    let expected = format!("the working directory `{}` (`cwd`) does not exist; create it or fix `cwd`", cwd.display());
    assert_eq!(reason, expected);
}
