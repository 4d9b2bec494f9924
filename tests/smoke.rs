//! `arw runtime smoke`: every outcome reached for real — passed, failed,
//! skipped, downgraded — and no child process outlives a run.

use crate::common::*;
use serde_json::Value;
use std::process::Output;
use std::time::Duration;

fn smoke(arw: &Arw, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["runtime", "smoke", "--json"];
    args.extend_from_slice(extra);
    let out = arw.cmd(&args).current_dir(arw.dir.path()).output().unwrap();
    let doc = json_of(&out);
    (out, doc)
}

fn stage<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name}: {doc:#}"))
}

fn assert_runtime_gone(doc: &Value) {
    let pid = doc["runtime_pid"].as_u64().unwrap_or_else(|| panic!("the run never had a runtime: {doc:#}"));
    assert!(wait_gone(pid as u32, Duration::from_secs(5)), "runtime pid {pid} survived the run");
}

/// The stub smoke passes end to end, writes result.json, checks the matrix
/// and leaves no runtime behind.
#[test]
fn stub_smoke_passes() {
    let arw = Arw::new();
    let (out, doc) = smoke(&arw, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(doc["outcome"], "passed", "{doc:#}");
    assert_eq!(doc["mode"], "stub");
    for name in ["loopback", "workspace", "launch", "ready", "chat", "chat-stream", "matrix", "cleanup"] {
        assert_eq!(stage(&doc, name)["outcome"], "passed", "{name}: {doc:#}");
    }
    let node = doc["matrix"]["items"].as_object().unwrap().values().next().unwrap().clone();
    for key in ["label", "severity_label", "aria_hint"] {
        assert!(!node["status"][key].as_str().unwrap().is_empty());
    }
    assert!(doc["matrix"]["ttl_seconds"].as_u64().unwrap() > 0);
    let ws = std::path::PathBuf::from(doc["workspace"].as_str().unwrap());
    assert!(ws.starts_with(arw.dir.path().join(".smoke/runtime")), "{ws:?}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(ws.join("result.json")).unwrap()).unwrap();
    assert_eq!(saved["outcome"], "passed");
    assert!(ws.join("manifest.toml").exists() && ws.join("runtime.log").exists());
    assert_runtime_gone(&doc);
    // The smoke's chats went through the daemon and were counted.
    let status = arw.status();
    assert!(node_http(&status)["requests_total"].as_u64().unwrap() >= 2);
    assert!(status["supervisor"]["runtimes"].as_array().unwrap().iter().all(|r| r["ephemeral"] != true));
}

fn node_http(status: &Value) -> &Value {
    &node(status)["http"]
}

/// `LLAMA_GPU_SIMULATE=1 MODE=gpu` on the command runs the simulated GPU
/// path against a daemon started earlier without those knobs.
#[test]
fn simulated_gpu_smoke_passes_against_running_daemon() {
    let arw = Arw::new();
    arw.status();
    let out = arw
        .cmd(&["runtime", "smoke", "--json"])
        .current_dir(arw.dir.path())
        .env("MODE", "gpu")
        .env("LLAMA_GPU_SIMULATE", "1")
        .output()
        .unwrap();
    let doc = json_of(&out);
    assert_eq!(doc["outcome"], "passed", "{doc:#}");
    assert_eq!(doc["ran"], "simulated-gpu");
    assert_eq!(doc["gpu"]["simulated"], true);
    assert_eq!(doc["gpu"]["offloaded_layers"], doc["gpu"]["total_layers"]);
    assert!(doc["gpu"]["offloaded_layers"].as_u64().unwrap() > 0);
    assert_eq!(stage(&doc, "gpu-offload")["outcome"], "passed");
}

/// Vision: describe, forced restore, pushed updates until ready again.
#[test]
fn vision_smoke_passes() {
    let arw = Arw::new().env("ARW_SMOKE_MODE", "vision");
    let (out, doc) = smoke(&arw, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(doc["outcome"], "passed", "{doc:#}");
    assert_eq!(doc["mode"], "vision");
    assert!(stage(&doc, "describe")["detail"].as_str().unwrap().contains("4x3 png"));
    assert_eq!(stage(&doc, "restore")["outcome"], "passed");
    assert_eq!(stage(&doc, "recovered")["outcome"], "passed");
    assert!(doc["workspace"].as_str().unwrap().contains(".smoke/vision/run."));
    assert_runtime_gone(&doc);
}

/// A runtime that cannot start fails the smoke with its own stderr quoted.
#[test]
fn runtime_that_never_starts_fails() {
    let arw = Arw::new().env("RUNTIME_SMOKE_STUB_ARGS", "--exit-at-start 3");
    let (out, doc) = smoke(&arw, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(doc["outcome"], "failed");
    let ready = stage(&doc, "ready");
    assert_eq!(ready["outcome"], "failed");
    assert!(ready["detail"].as_str().unwrap().contains("exited with code 3"), "{ready}");
}

/// A chat that errors fails the smoke.
#[test]
fn chat_error_fails() {
    let arw = Arw::new().env("RUNTIME_SMOKE_STUB_ARGS", "--fail-after 0");
    let (out, doc) = smoke(&arw, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(doc["outcome"], "failed");
    assert!(stage(&doc, "chat")["detail"].as_str().unwrap().contains("HTTP 500"), "{doc:#}");
    assert_runtime_gone(&doc);
}

/// A runtime that hangs hits the timeout; the run fails with reason timeout
/// and no child survives.
#[test]
fn timeout_stops_everything() {
    let arw = Arw::new().env("RUNTIME_SMOKE_STUB_ARGS", "--never-ready").env("RUNTIME_SMOKE_TIMEOUT_SECS", "2");
    let started = std::time::Instant::now();
    let (out, doc) = smoke(&arw, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(doc["outcome"], "failed");
    assert_eq!(doc["reason"], "timeout after 2s in stage `ready`", "#11.19: the reason names the stage that hung");
    assert_eq!(stage(&doc, "ready")["outcome"], "failed");
    assert!(started.elapsed() < Duration::from_secs(10));
    let pid = doc["runtime_pid"].as_u64().expect("the hanging runtime had started") as u32;
    assert!(wait_gone(pid, Duration::from_secs(5)), "hanging runtime survived the timeout");
    assert_eq!(stage(&doc, "cleanup")["outcome"], "passed");
}

/// SMOKE_TIMEOUT_SECS applies when RUNTIME_SMOKE_TIMEOUT_SECS is unset, and
/// the runtime-specific knob wins when both are set; `--timeout` wins over both.
#[test]
fn timeout_precedence() {
    let base = || Arw::new().env("RUNTIME_SMOKE_STUB_ARGS", "--never-ready");
    let (_, doc) = smoke(&base().env("SMOKE_TIMEOUT_SECS", "1"), &[]);
    assert_eq!(doc["reason"], "timeout after 1s in stage `ready`");
    let (_, doc) = smoke(&base().env("SMOKE_TIMEOUT_SECS", "1").env("RUNTIME_SMOKE_TIMEOUT_SECS", "2"), &[]);
    assert_eq!(doc["reason"], "timeout after 2s in stage `ready`");
    let (_, doc) = smoke(&base().env("RUNTIME_SMOKE_TIMEOUT_SECS", "5"), &["--timeout", "1"]);
    assert_eq!(doc["reason"], "timeout after 1s in stage `ready`");
    let (out, doc) = smoke(&base().env("SMOKE_TIMEOUT_SECS", "soon"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(doc["reason"].as_str().unwrap().contains("SMOKE_TIMEOUT_SECS=soon"), "{doc}");
}

/// Pruning keeps exactly the newest N runs.
#[test]
fn pruning_keeps_newest_n() {
    let arw = Arw::new().env("RUNTIME_SMOKE_KEEP_RECENT", "2");
    let mut last = String::new();
    for _ in 0..4 {
        let (_, doc) = smoke(&arw, &[]);
        last = doc["workspace"].as_str().unwrap().to_string();
    }
    let root = arw.dir.path().join(".smoke/runtime");
    let runs: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().any(|r| r.to_str() == Some(last.as_str())));
}

/// Loopback blocked (a network namespace without `lo` up) is `skipped`,
/// never `passed`; RUNTIME_SMOKE_REQUIRE_LOOPBACK=1 makes it `failed`.
#[test]
fn blocked_loopback_is_skipped() {
    let probe = std::process::Command::new("unshare").args(["-n", "true"]).output();
    if !require("unshare -n (root)", probe.is_ok_and(|o| o.status.success()), "run as root with util-linux") {
        return;
    }
    let arw = Arw::new();
    let run = |extra: &[(&str, &str)], flags: &[&str]| {
        let cmd = arw.cmd(&["runtime", "smoke", "--json"]);
        let program = cmd.get_program().to_owned();
        let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
        let mut wrapped = std::process::Command::new("unshare");
        wrapped.arg("-n").arg(program).args(args).args(flags).current_dir(arw.dir.path());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        for (k, v) in extra {
            wrapped.env(k, v);
        }
        // A daemon spawned inside the namespace; stop it before the next run.
        let out = wrapped.output().unwrap();
        let _ = arw.cmd(&["daemon", "stop"]).output();
        out
    };
    let out = run(&[], &[]);
    let doc = json_of(&out);
    assert_eq!(doc["outcome"], "skipped", "{doc:#}");
    assert!(doc["reason"].as_str().unwrap().contains("loopback"), "{doc}");
    assert_eq!(out.status.code(), Some(0));
    let out = run(&[], &["--fail-on-skip"]);
    assert_eq!(out.status.code(), Some(5));
    let out = run(&[("RUNTIME_SMOKE_REQUIRE_LOOPBACK", "1")], &[]);
    let doc = json_of(&out);
    assert_eq!(doc["outcome"], "failed");
    assert_eq!(out.status.code(), Some(1));
}

/// The memory guard downgrades a model that would not fit (fake MemAvailable,
/// an 8 GiB sparse GGUF); LLAMA_GPU_REQUIRE_REAL=1 aborts instead.
#[test]
fn memory_guard_downgrades_or_aborts() {
    let base = Arw::new();
    let model = base.dir.path().join("huge.gguf");
    write_gguf(&model, 32, 8192, 2 * 1024 * 1024 * 1024, true);
    let meminfo = base.dir.path().join("meminfo");
    std::fs::write(&meminfo, "MemTotal: 8388608 kB\nMemAvailable: 4194304 kB\n").unwrap();
    let arw = base
        .env("MODE", "real")
        .env("LLAMA_SERVER_BIN", "/bin/true")
        .env("LLAMA_MODEL_PATH", model.to_str().unwrap())
        .env("RUNTIME_SMOKE_MEMINFO", meminfo.to_str().unwrap());
    let (out, doc) = smoke(&arw, &[]);
    assert_eq!(out.status.code(), Some(0), "downgraded is not a failure by default");
    assert_eq!(doc["outcome"], "downgraded", "{doc:#}");
    assert_eq!(doc["ran"], "simulated-gpu");
    let guard = &doc["memory_guard"];
    assert_eq!(guard["decision"], "downgrade");
    assert!(guard["shortfall_bytes"].as_u64().unwrap() > 10 << 30, "{guard}");
    assert!(stage(&doc, "memory-guard")["detail"].as_str().unwrap().contains("short by"));
    let kv = guard["estimate"]["kv_cache_bytes"].as_u64().unwrap();
    assert_eq!(kv, 32 * 4096 * 8 * (128 + 128) * 2, "KV-aware estimate from the header (n_ctx 4096)");

    let (out, _) = smoke(&arw, &["--fail-on-skip"]);
    assert_eq!(out.status.code(), Some(5));

    let strict = arw.env("LLAMA_GPU_REQUIRE_REAL", "1");
    let (out, doc) = smoke(&strict, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(doc["outcome"], "failed");
    assert!(doc["reason"].as_str().unwrap().contains("LLAMA_GPU_REQUIRE_REAL"), "{doc}");
}

/// Real mode without weights prints the checklist and is skipped.
#[test]
fn real_without_weights_is_skipped_with_checklist() {
    let arw = Arw::new().env("LLAMA_SERVER_BIN", "/bin/true");
    let out = arw.cmd(&["runtime", "smoke", "--mode", "real"]).current_dir(arw.dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("weights checklist:") && text.contains("HF_TOKEN") && text.contains("LLAMA_MODEL_PATH"),
        "{text}"
    );
    assert!(text.contains("SKIPPED"), "{text}");
}

/// A bad MODE is a usage error naming the variable.
#[test]
fn bad_mode_is_usage_error() {
    let arw = Arw::new().env("MODE", "turbo");
    let out = arw.run(&["runtime", "smoke"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`MODE=turbo` is not a smoke mode"));
}

/// `MODE=gpu` on a machine without a GPU never passes: it downgrades to the
/// simulated path and says why, or fails with LLAMA_GPU_REQUIRE_REAL=1.
#[test]
fn gpu_mode_without_gpu_downgrades() {
    let base = Arw::new();
    let model = base.dir.path().join("small.gguf");
    write_gguf(&model, 2, 512, 1024, false);
    let arw =
        base.env("MODE", "gpu").env("LLAMA_SERVER_BIN", "/bin/true").env("LLAMA_MODEL_PATH", model.to_str().unwrap());
    if node(&arw.status())["accelerators"]["gpu"]["available"] == true {
        eprintln!("skipping: this machine has a real GPU, so MODE=gpu would run for real");
        return;
    }
    let (out, doc) = smoke(&arw, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(doc["outcome"], "downgraded", "{doc:#}");
    assert_eq!(doc["ran"], "simulated-gpu");
    assert!(doc["reason"].as_str().unwrap().contains("no GPU found"), "{doc}");
    assert_eq!(stage(&doc, "gpu")["outcome"], "skipped");
    let (out, doc) = smoke(&arw.env("LLAMA_GPU_REQUIRE_REAL", "1"), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(doc["outcome"], "failed");
}

/// Asking for the simulated GPU and for a real one at once is a failure,
/// never a pass on the stub.
#[test]
fn require_real_with_simulate_fails() {
    let arw = Arw::new().env("MODE", "gpu").env("LLAMA_GPU_SIMULATE", "1").env("LLAMA_GPU_REQUIRE_REAL", "1");
    let (out, doc) = smoke(&arw, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(doc["outcome"], "failed", "{doc:#}");
    assert!(doc["reason"].as_str().unwrap().contains("LLAMA_GPU_REQUIRE_REAL"), "{doc}");
}

/// #11.4: three smokes at once in one root with KEEP_RECENT=1 never delete
/// each other's live workspaces: all pass and all results are on disk.
#[test]
fn concurrent_smokes_keep_their_workspaces() {
    let arw = Arw::new().env("RUNTIME_SMOKE_KEEP_RECENT", "1");
    arw.status();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let mut cmd = arw.cmd(&["runtime", "smoke", "--json"]);
            cmd.current_dir(arw.dir.path());
            std::thread::spawn(move || cmd.output().unwrap())
        })
        .collect();
    for run in runs {
        let out = run.join().unwrap();
        let doc = json_of(&out);
        assert_eq!(doc["outcome"], "passed", "{doc:#}");
        let ws = std::path::PathBuf::from(doc["workspace"].as_str().unwrap());
        assert!(ws.join("result.json").exists(), "{} lost its result", ws.display());
    }
}

/// #11.4: a result.json that cannot be written fails the run instead of
/// reporting `passed` with nothing on disk.
#[test]
fn unwritable_result_fails_the_run() {
    let arw = Arw::new().env("RUNTIME_SMOKE_STUB_ARGS", "--warmup-ms 1500");
    arw.status();
    let mut cmd = arw.cmd(&["runtime", "smoke", "--json"]);
    cmd.current_dir(arw.dir.path());
    let run = std::thread::spawn(move || cmd.output().unwrap());
    let root = arw.dir.path().join(".smoke/runtime");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let ws = loop {
        let found = std::fs::read_dir(&root).ok().and_then(|mut d| d.next()).and_then(|e| e.ok()).map(|e| e.path());
        if let Some(ws) = found {
            break ws;
        }
        assert!(std::time::Instant::now() < deadline, "no workspace appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    // A directory where the file should go: the write fails with EISDIR.
    std::fs::create_dir(ws.join("result.json")).unwrap();
    let out = run.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["outcome"], "failed", "{doc:#}");
    assert_eq!(stage(&doc, "result")["outcome"], "failed");
    assert!(doc["reason"].as_str().unwrap().contains("cannot write"), "{doc:#}");
}

/// #11.5: a secret passed to a real smoke's runtime (an API key in
/// LLAMA_SERVER_ARGS, also named by a secret-looking variable) reaches
/// neither the workspace's manifest.toml nor its runtime.log.
#[test]
fn secrets_stay_out_of_the_workspace() {
    let (Some(bin), Some(model)) = (llama_server(), tiny_gguf()) else { return };
    let secret = "sk-smoke-secret-4242";
    let arw = Arw::new()
        .env("LLAMA_SERVER_BIN", bin.to_str().unwrap())
        .env("LLAMA_MODEL_PATH", model.to_str().unwrap())
        .env("LLAMA_SERVER_ARGS", &format!("--api-key {secret} --hf-token=flag-secret-9191"))
        .env("LLAMA_API_KEY", secret)
        .env("RUNTIME_SMOKE_TIMEOUT_SECS", "60");
    let (_, doc) = smoke(&arw, &["--mode", "real"]);
    let ws = std::path::PathBuf::from(doc["workspace"].as_str().unwrap_or_else(|| panic!("no workspace: {doc:#}")));
    for file in ["manifest.toml", "result.json"] {
        let text = std::fs::read_to_string(ws.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(!text.contains(secret) && !text.contains("flag-secret-9191"), "{file} shows a secret:\n{text}");
    }
    // The runtime's own log holds what llama-server printed; arw's header
    // line in it must not add the secrets.
    let log = std::fs::read_to_string(ws.join("runtime.log")).unwrap();
    let header = log.lines().find(|l| l.contains("--api-key")).unwrap_or_default();
    assert!(!header.contains(secret) && !header.contains("flag-secret-9191"), "{header}");
    let manifest = std::fs::read_to_string(ws.join("manifest.toml")).unwrap();
    assert!(manifest.contains("***"), "the redaction is visible: {manifest}");
}

/// #11.17: a smoke cut by `daemon stop` says the daemon shut down, in
/// which stage, and leaves no runtime behind — not "exited with code 0".
#[test]
fn smoke_cut_by_daemon_stop_says_so() {
    let arw = Arw::new().env("RUNTIME_SMOKE_STUB_ARGS", "--never-ready");
    arw.status();
    let mut cmd = arw.cmd(&["runtime", "smoke", "--json"]);
    cmd.current_dir(arw.dir.path());
    let run = std::thread::spawn(move || cmd.output().unwrap());
    // Stop once the runtime is registered and starting.
    arw.wait_for(Duration::from_secs(10), "the smoke's runtime", |s| {
        s["supervisor"]["runtimes"].as_array().is_some_and(|r| !r.is_empty())
    });
    arw.ok(&["daemon", "stop"]);
    let out = run.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc = json_of(&out);
    assert_eq!(doc["outcome"], "failed");
    let reason = doc["reason"].as_str().unwrap();
    assert!(reason.starts_with("the daemon shut down") && reason.ends_with("in stage `ready`"), "{reason}");
    assert_runtime_gone(&doc);
}

/// Outside pass: Ctrl-C on the client ends the run in the daemon at once:
/// its runtime is stopped and the result says why.
#[test]
fn interrupted_smoke_stops_its_runtime() {
    let arw = Arw::new().env("RUNTIME_SMOKE_STUB_ARGS", "--never-ready");
    arw.status();
    let mut child = arw.cmd(&["runtime", "smoke", "--json"]).current_dir(arw.dir.path()).spawn().unwrap();
    let status = arw.wait_for(Duration::from_secs(10), "the smoke's runtime", |s| {
        s["supervisor"]["runtimes"].as_array().is_some_and(|r| r.iter().any(|r| r["pid"].is_u64()))
    });
    let pid = status["supervisor"]["runtimes"].as_array().unwrap().iter().find_map(|r| r["pid"].as_u64()).unwrap();
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
    arw.wait_for(Duration::from_secs(10), "the runtime to be unregistered", |s| {
        s["supervisor"]["runtimes"].as_array().is_some_and(|r| r.iter().all(|r| r["pid"].is_null()))
    });
    assert!(wait_gone(pid as u32, Duration::from_secs(5)), "runtime pid {pid} survived");
    let root = arw.dir.path().join(".smoke/runtime");
    let ws = std::fs::read_dir(&root).unwrap().next().unwrap().unwrap().path();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ws.join("result.json").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(ws.join("result.json")).unwrap()).unwrap();
    assert_eq!(doc["outcome"], "failed");
    assert!(doc["reason"].as_str().unwrap().starts_with("the client went away"), "{doc:#}");
}

/// Second outside pass: a real smoke whose llama-server wants an API key
/// fails at the first token and says why, instead of a bare 401.
#[test]
fn api_key_smoke_says_why_it_fails() {
    let (Some(bin), Some(model)) = (llama_server(), tiny_gguf()) else { return };
    let arw = Arw::new()
        .env("LLAMA_SERVER_BIN", bin.to_str().unwrap())
        .env("LLAMA_MODEL_PATH", model.to_str().unwrap())
        .env("LLAMA_SERVER_ARGS", "--api-key sk-smoke-key-777")
        .env("RUNTIME_SMOKE_TIMEOUT_SECS", "60");
    let (out, doc) = smoke(&arw, &["--mode", "real"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stage(&doc, "first-token")["outcome"], "failed");
    assert!(doc["reason"].as_str().unwrap().contains("sends no API key"), "{doc:#}");
    assert!(!doc.to_string().contains("sk-smoke-key-777"), "{doc:#}");
}
