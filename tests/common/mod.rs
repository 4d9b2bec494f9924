//! Test harness: the real `arw` binary with a private `ARW_HOME`, scrubbed
//! environment, and a daemon stopped on drop.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub const ARW: &str = env!("CARGO_BIN_EXE_arw");

/// Environment prefixes a developer's shell may carry that would change
/// what arw does; tests start from none of them.
const SCRUB_PREFIXES: &[&str] =
    &["ARW_", "LLAMA_", "HF_", "RUNTIME_SMOKE_", "SMOKE_", "VISION_SMOKE_", "HUGGINGFACEHUB_", "XDG_"];
const SCRUB_NAMES: &[&str] = &["MODE", "NO_COLOR"];

pub struct Arw {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub config: Option<PathBuf>,
    pub env: Vec<(String, String)>,
}

impl Arw {
    /// A fresh home with the embedded default registry.
    pub fn new() -> Arw {
        // Short paths: a Unix socket path must fit in 107 bytes.
        let dir = tempfile::Builder::new().prefix("arw").tempdir_in("/tmp").expect("tempdir");
        let home = dir.path().join("h");
        Arw { dir, home, config: None, env: vec![("ARW_IDLE_TIMEOUT_SECS".into(), "120".into())] }
    }

    /// A fresh home whose registry is `manifest`.
    pub fn with_config(manifest: &str) -> Arw {
        let mut arw = Arw::new();
        let path = arw.dir.path().join("runtimes.toml");
        std::fs::write(&path, manifest).unwrap();
        arw.config = Some(path);
        arw
    }

    pub fn config_path(&self) -> &Path {
        self.config.as_deref().expect("with_config")
    }

    pub fn env(mut self, k: &str, v: &str) -> Arw {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(ARW);
        for (k, _) in std::env::vars() {
            if SCRUB_PREFIXES.iter().any(|p| k.starts_with(p)) || SCRUB_NAMES.contains(&k.as_str()) {
                cmd.env_remove(&k);
            }
        }
        cmd.env("ARW_HOME", &self.home);
        cmd.env("HOME", self.dir.path());
        if let Some(c) = &self.config {
            cmd.env("ARW_CONFIG", c);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(args);
        cmd
    }

    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run arw")
    }

    /// Runs, asserts the exit code, returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "arw {args:?} failed ({:?})\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let text = self.ok(args);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not one JSON document ({e}): {text}"))
    }

    #[track_caller]
    pub fn status(&self) -> Value {
        self.json(&["runtime", "status", "--json"])
    }

    /// Polls `runtime status --json` until `pred` holds or `within` passes.
    #[track_caller]
    pub fn wait_for(&self, within: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let status = self.status();
            if pred(&status) {
                return status;
            }
            if Instant::now() > deadline {
                panic!("timed out after {within:?} waiting for {what}; last status:\n{status:#}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn daemon_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.home.join("run/daemon.pid")).ok()?.trim().parse().ok()
    }
}

impl Drop for Arw {
    fn drop(&mut self) {
        let _ = self.cmd(&["daemon", "stop"]).env("ARW_NO_AUTOSTART", "1").output();
        if let Some(pid) = self.daemon_pid() {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// The runtime with `id` in a status document.
pub fn runtime<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["supervisor"]["runtimes"]
        .as_array()
        .and_then(|rts| rts.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("no runtime `{id}` in {status:#}"))
}

pub fn state(status: &Value, id: &str) -> String {
    runtime(status, id)["state"].as_str().unwrap_or_default().to_string()
}

/// The single node entry of the matrix.
pub fn node(status: &Value) -> &Value {
    let items = status["matrix"]["items"].as_object().expect("matrix.items");
    assert_eq!(items.len(), 1, "one node expected");
    items.values().next().unwrap()
}

/// A manifest entry running the built-in stub llama server.
pub fn stub_runtime(id: &str, extra_args: &[&str], extra_toml: &str) -> String {
    let mut args = vec!["runtime".to_string(), "stub-llama".into(), "--port".into(), "{port}".into()];
    args.extend(extra_args.iter().map(|s| s.to_string()));
    let args = args.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", ");
    format!("[[runtime]]\nid = {id:?}\nadapter = \"stub\"\ncommand = {ARW:?}\nargs = [{args}]\n{extra_toml}\n")
}

/// A runtime that exits at once with code 3: a crash loop.
pub fn crashing_runtime(id: &str, restart: &str) -> String {
    format!(
        "[[runtime]]\nid = {id:?}\nadapter = \"process\"\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"echo boom: cannot load model >&2; exit 3\"]\n{restart}\n"
    )
}

/// Whether a process exists.
pub fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// Waits until `pid` is gone (it may be a zombie of another parent briefly).
pub fn wait_gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let zombie = stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'));
        if stat.is_empty() || zombie {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
