//! Test harness: the real `arw` binary with a private `ARW_HOME`, scrubbed
//! environment, and a daemon stopped on drop.
#![allow(dead_code)]

pub mod http;
pub mod mock_hub;

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

    /// Runs with `--json` appended, whatever the exit code; returns the
    /// output and the one JSON document on stdout.
    #[track_caller]
    pub fn run_json(&self, args: &[&str]) -> (Output, Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        let doc = json_of(&out);
        (out, doc)
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
        // A pid file left by a daemon a test SIGKILLed is stale, and pids wrap
        // fast (pid_max is often 32768): only kill a process that is still an
        // arw daemon of this very home.
        if let Some(pid) = self.daemon_pid().filter(|&pid| is_daemon_of(pid, &self.home)) {
            // SAFETY: plain kill(2).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

/// Whether `pid` is `arw daemon serve` running with `ARW_HOME=home`.
pub fn is_daemon_of(pid: u32, home: &Path) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let wanted = format!("ARW_HOME={}", home.display()).into_bytes();
    cmdline.split(|&b| b == 0).any(|a| a == b"serve") && environ.split(|&b| b == 0).any(|v| v == wanted.as_slice())
}

/// The one JSON document on stdout, or a panic showing both streams.
#[track_caller]
pub fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
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

/// Whether a component a test needs is here. In CI (`CI=true`) a missing
/// component fails the test; elsewhere the test is skipped with a reason.
#[track_caller]
pub fn require(what: &str, available: bool, how_to_get_it: &str) -> bool {
    if available {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| matches!(v.as_str(), "true" | "1" | "yes"));
    if ci {
        panic!("{what} is required in CI but missing: {how_to_get_it}");
    }
    eprintln!("skipping: {what} is missing ({how_to_get_it})");
    false
}

/// Writes a GGUF v3 file: llama metadata and one F32 tensor of `elements`
/// values. With `sparse`, the tensor data is a hole (a huge model that
/// costs no disk).
pub fn write_gguf(path: &Path, n_layer: u32, n_ctx_train: u32, elements: u64, sparse: bool) {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&1u64.to_le_bytes()); // tensors
    let kv_u32 = [
        ("llama.block_count", n_layer),
        ("llama.embedding_length", 4096),
        ("llama.attention.head_count", 32),
        ("llama.attention.head_count_kv", 8),
        ("llama.context_length", n_ctx_train),
    ];
    out.extend_from_slice(&(kv_u32.len() as u64 + 1).to_le_bytes());
    string(&mut out, "general.architecture");
    out.extend_from_slice(&8u32.to_le_bytes());
    string(&mut out, "llama");
    for (k, v) in kv_u32 {
        string(&mut out, k);
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
    string(&mut out, "token_embd.weight");
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&elements.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // F32
    out.extend_from_slice(&0u64.to_le_bytes()); // offset
    while out.len() % 32 != 0 {
        out.push(0);
    }
    let total = out.len() as u64 + elements * 4;
    let mut file = std::fs::File::create(path).unwrap();
    std::io::Write::write_all(&mut file, &out).unwrap();
    if sparse {
        file.set_len(total).unwrap();
    } else {
        std::io::Write::write_all(&mut file, &vec![0u8; (elements * 4) as usize]).unwrap();
    }
}

/// A real component from `scripts/install-test-deps`: the env var it
/// exports, else the cache path the install scripts use.
fn component(var: &str, cached: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/arw").join(cached));
    path.is_file().then_some(path)
}

/// The real llama-server, or a skip (a failure in CI).
#[track_caller]
pub fn llama_server() -> Option<PathBuf> {
    let found = component("ARW_TEST_LLAMA_SERVER", "llama-server-0.94.0/llama-server");
    require("llama-server", found.is_some(), "run scripts/install-llama-server").then(|| found.unwrap())
}

/// The deterministic tiny GGUF, or a skip (a failure in CI).
#[track_caller]
pub fn tiny_gguf() -> Option<PathBuf> {
    let found = component("ARW_TEST_TINY_GGUF", "models/tiny-llama-random.gguf");
    require("tiny test GGUF", found.is_some(), "run scripts/fetch-test-models").then(|| found.unwrap())
}

/// SmolLM2-135M-Instruct Q4_1, or a skip (a failure in CI).
#[track_caller]
pub fn smollm2_gguf() -> Option<PathBuf> {
    let found = component("ARW_TEST_SMOLLM2_GGUF", "models/SmolLM2-135M-Instruct.Q4_1.gguf");
    require("SmolLM2 GGUF", found.is_some(), "run scripts/fetch-test-models").then(|| found.unwrap())
}

/// A manifest entry for a real llama-server.
/// `port: None` lets arw pick a free one.
pub fn llama_runtime(id: &str, bin: &Path, model: &Path, port: Option<u16>, extra_toml: &str) -> String {
    let port_line = port.map(|p| format!("port = {p}\n")).unwrap_or_default();
    format!(
        "[[runtime]]\nid = {id:?}\nadapter = \"llama.cpp\"\ncommand = {bin:?}\n{port_line}\
         args = [\"--model\", {model:?}, \"--host\", \"127.0.0.1\", \"--port\", \"{{port}}\", \"--ctx-size\", \"512\", \"-lv\", \"4\"]\n{extra_toml}\n",
        bin = bin.display().to_string(),
        model = model.display().to_string(),
    )
}

/// Processes whose process group is `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            // fields[0] is the state, fields[2] the process group.
            fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) && fields.first() != Some(&"Z")
        })
        .collect()
}

impl Arw {
    /// Starts this home's daemon with the HTTP surface on a free loopback
    /// port (plus whatever `ARW_HTTP_LISTEN`/token this `Arw` already sets)
    /// and returns its base URL, `http://127.0.0.1:PORT/`.
    #[track_caller]
    pub fn http_url(&self) -> String {
        let mut cmd = self.cmd(&["daemon", "status", "--json"]);
        if !self.env.iter().any(|(k, _)| k == "ARW_HTTP_LISTEN") {
            cmd.env("ARW_HTTP_LISTEN", "127.0.0.1:0");
        }
        // `daemon status` never starts a daemon; `runtime status` does.
        let mut start = self.cmd(&["runtime", "status", "--json"]);
        if !self.env.iter().any(|(k, _)| k == "ARW_HTTP_LISTEN") {
            start.env("ARW_HTTP_LISTEN", "127.0.0.1:0");
        }
        let out = start.output().expect("run arw");
        assert!(out.status.success(), "daemon start failed: {}", String::from_utf8_lossy(&out.stderr));
        let info = json_of(&cmd.output().expect("run arw"));
        info["http"].as_str().unwrap_or_else(|| panic!("the daemon serves no HTTP: {info:#}")).to_string()
    }
}
