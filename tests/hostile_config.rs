//! Hostile runtime manifests (#11.7, #11.17, #11.19): special files, huge
//! files, colliding ports and missing working directories are refused with a
//! clear error, and a running daemon keeps serving its last good registry.

use crate::common::*;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `arw args`, failing the test if it takes longer than `within`
/// (before the fix these commands never returned).
#[track_caller]
fn run_within(arw: &Arw, args: &[&str], within: Duration) -> Output {
    let mut child = arw.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("run arw");
    let deadline = Instant::now() + within;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!("arw {args:?} still running after {within:?}; stderr: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect output")
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo(3) on a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

/// The one stderr line of a command that must fail with exit 1.
#[track_caller]
fn one_line_failure(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

/// #11.7: `--config /dev/zero` is refused at once as not a regular file
/// instead of being read until memory runs out.
#[test]
fn config_that_is_a_device_is_refused() {
    let arw = Arw::new();
    let out = run_within(&arw, &["--config", "/dev/zero", "runtime", "status"], Duration::from_secs(20));
    let err = one_line_failure(&out);
    assert!(
        err.contains("/dev/zero: cannot read runtime registry: it is a character device, not a regular file"),
        "{err}"
    );
    assert!(err.contains("replace it with a regular file, or name one with `--config` or `ARW_CONFIG`"), "{err}");
}

/// #11.7: a FIFO as `ARW_CONFIG` does not block the daemon while it holds
/// its lock; the start fails with a clear error and the lock is released.
#[test]
fn config_that_is_a_fifo_does_not_block_the_daemon() {
    let arw = Arw::new();
    let fifo = arw.dir.path().join("runtimes.toml");
    mkfifo(&fifo);
    let arw = arw.env("ARW_CONFIG", &fifo.display().to_string());
    let err = one_line_failure(&run_within(&arw, &["runtime", "status"], Duration::from_secs(20)));
    assert!(
        err.contains(&format!("{}: cannot read runtime registry: it is a named pipe (FIFO)", fifo.display())),
        "{err}"
    );
    // Nothing holds the lock: a good manifest in its place starts a daemon.
    std::fs::remove_file(&fifo).unwrap();
    std::fs::write(&fifo, stub_runtime("one", &[], "auto_start = false")).unwrap();
    let out = run_within(&arw, &["runtime", "status", "--json"], Duration::from_secs(20));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// #11.7: a manifest over the 16 MiB cap is refused, saying so, without
/// reading all of it.
#[test]
fn config_over_the_size_cap_is_refused() {
    let arw = Arw::with_config("");
    let padding = format!("# {}\n", "x".repeat(1000));
    std::fs::write(arw.config_path(), stub_runtime("one", &[], "auto_start = false") + &padding.repeat(17 * 1024))
        .unwrap();
    let err = one_line_failure(&run_within(&arw, &["runtime", "status"], Duration::from_secs(20)));
    assert!(
        err.contains("cannot read runtime registry: it is larger than 16 MiB (the cap for a config file)"),
        "{err}"
    );
}

/// #11.7: a FIFO swapped in for a running daemon's manifest fails `reload`
/// at once; the watcher and the daemon keep serving the last good registry.
#[test]
fn fifo_swapped_in_keeps_the_last_good_registry() {
    let arw = Arw::with_config(&stub_runtime("one", &[], "auto_start = false"));
    assert_eq!(state(&arw.status(), "one"), "offline");
    std::fs::remove_file(arw.config_path()).unwrap();
    mkfifo(arw.config_path());
    let out = run_within(&arw, &["daemon", "reload"], Duration::from_secs(20));
    let err = one_line_failure(&out);
    assert!(err.contains("named pipe (FIFO)") && err.contains("last good registry"), "{err}");
    let status = run_within(&arw, &["runtime", "status", "--json"], Duration::from_secs(20));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status --json");
    assert_eq!(status["supervisor"]["runtimes"].as_array().unwrap().len(), 1);
    assert_eq!(state(&status, "one"), "offline");
}

/// #11.17: two runtimes with the same fixed host:port are refused at load;
/// the error names both ids and points at the second one's port.
#[test]
fn duplicate_fixed_ports_are_refused() {
    let manifest = format!(
        "{}{}",
        stub_runtime("first", &[], "host = \"127.0.0.1\"\nport = 18181\nauto_start = false"),
        stub_runtime("second", &[], "port = 18181\nauto_start = false")
    );
    let arw = Arw::with_config(&manifest);
    let err = one_line_failure(&arw.run(&["runtime", "status"]));
    let line = manifest.lines().position(|l| l == "port = 18181").unwrap();
    let second = manifest.lines().skip(line + 1).position(|l| l == "port = 18181").unwrap() + line + 2;
    let path = arw.config_path().display().to_string();
    let first = line + 1;
    let want = format!("{path}:{second}:8: port 18181 of `second` is already taken by `first` at line {first}");
    assert!(err.contains(&want), "{err}");
    assert!(err.contains("(key `runtime[1].port`)"), "{err}");
}

/// #11.19: a manifest `cwd` that does not exist is refused at load with its
/// position, not reported later as a missing command.
#[test]
fn missing_cwd_is_refused_at_load() {
    let arw = Arw::with_config("");
    let gone = arw.dir.path().join("no-such-dir");
    let manifest = stub_runtime("one", &[], &format!("cwd = {:?}", gone.display().to_string()));
    std::fs::write(arw.config_path(), &manifest).unwrap();
    let err = one_line_failure(&arw.run(&["runtime", "status"]));
    let line = manifest.lines().position(|l| l.starts_with("cwd")).unwrap() + 1;
    let want = format!(
        "{}:{line}:7: `cwd` `{}` does not exist (key `runtime[0].cwd`)",
        arw.config_path().display(),
        gone.display()
    );
    assert!(err.contains(&want), "{err}");
}

/// #11.7: a FIFO at `~/.config/arw/runtimes.toml` is reported, not read
/// (which would block) nor silently replaced by the embedded default.
#[test]
fn fifo_at_the_default_path_is_reported() {
    let arw = Arw::new();
    let default = arw.dir.path().join(".config/arw/runtimes.toml");
    std::fs::create_dir_all(default.parent().unwrap()).unwrap();
    mkfifo(&default);
    let err = one_line_failure(&run_within(&arw, &["runtime", "status"], Duration::from_secs(20)));
    assert!(err.contains(&format!("{}: cannot read runtime registry: it is a named pipe", default.display())), "{err}");
}
