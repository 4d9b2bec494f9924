//! The real llama-server (built by scripts/install-llama-server) with real
//! GGUF models (scripts/fetch-test-models): smoke, chat, failure modes,
//! memory truth. Skipped outside CI when the components are missing; a
//! failure in CI.

use crate::common::*;
use serde_json::Value;
use std::time::Duration;

const NO_RESTART: &str = "[runtime.restart]\nmax_restarts = 0\n";
const LOAD: Duration = Duration::from_secs(60);

fn real_smoke(bin: &std::path::Path, model: &std::path::Path, args: &str) -> Value {
    let arw = Arw::new()
        .env("MODE", "real")
        .env("LLAMA_SERVER_BIN", bin.to_str().unwrap())
        .env("LLAMA_MODEL_PATH", model.to_str().unwrap())
        .env("LLAMA_SERVER_ARGS", args);
    let out = arw.cmd(&["runtime", "smoke", "--json"]).current_dir(arw.dir.path()).output().unwrap();
    let doc = json_of(&out);
    assert_eq!(doc["outcome"], "passed", "{doc:#}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0));
    doc
}

/// Real smoke passes with the tiny model and with SmolLM2, reporting
/// readiness, first token, tokens/s and predicted vs measured memory.
#[test]
fn real_smoke_passes_with_both_models() {
    let (Some(bin), Some(tiny), Some(smol)) = (llama_server(), tiny_gguf(), smollm2_gguf()) else { return };
    for (model, args) in [(tiny, "--threads 2"), (smol, "--threads 2 --ctx-size 2048")] {
        let doc = real_smoke(&bin, &model, args);
        assert_eq!(doc["ran"], "real");
        assert!(doc["readiness_ms"].as_u64().is_some());
        assert!(doc["first_token_ms"].as_u64().is_some());
        assert!(doc["tokens_per_second"].as_f64().unwrap() > 0.0);
        let mem = &doc["memory"];
        let predicted = mem["predicted_bytes"].as_u64().unwrap() as f64;
        let measured = mem["measured_peak_rss_bytes"].as_u64().unwrap() as f64;
        let err = (predicted - measured).abs() / measured;
        assert!(
            err < 0.15,
            "estimate {predicted} vs measured {measured} ({:.1}%) for {}",
            err * 100.0,
            model.display()
        );
        assert_eq!(doc["gpu"], Value::Null, "a CPU run claims no GPU");
    }
}

/// Chat through the daemon returns real tokens, streamed and not, and the
/// matrix counts the requests.
#[test]
fn chat_through_daemon_with_real_model() {
    let (Some(bin), Some(model)) = (llama_server(), smollm2_gguf()) else { return };
    let arw = Arw::with_config(&llama_runtime("smol", &bin, &model, None, ""));
    arw.wait_for(LOAD, "ready", |s| state(s, "smol") == "ready");
    let reply = arw.json(&["chat", "--runtime", "smol", "--max-tokens", "8", "--json", "What is 2+2?"]);
    let text = reply["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!text.trim().is_empty(), "{reply}");
    assert!(reply["usage"]["completion_tokens"].as_u64().unwrap() >= 1);
    let streamed = arw.ok(&["chat", "--runtime", "smol", "--max-tokens", "8", "--stream", "Say hi."]);
    assert!(!streamed.trim().is_empty());
    let status = arw.status();
    let http = &node(&status)["http"];
    assert_eq!(http["requests_total"], 2);
    assert_eq!(http["errors_total"], 0);
}

/// Port already in use: refused up front when it is the runtime's fixed
/// port; otherwise error state, exit code 1, llama-server's own line quoted.
#[test]
fn port_in_use() {
    let (Some(bin), Some(model)) = (llama_server(), tiny_gguf()) else { return };
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    // A fixed `port` someone else holds: arw refuses to start the runtime,
    // because the other server would answer its probes and take its chats.
    let arw = Arw::with_config(&llama_runtime("busy", &bin, &model, Some(port), NO_RESTART));
    let status = arw.wait_for(LOAD, "error", |s| state(s, "busy") == "error");
    let rt = runtime(&status, "busy");
    assert_eq!(rt["last_exit"]["cause"], "spawn_failed", "{rt:#}");
    assert!(rt["reason"].as_str().unwrap().contains(&format!("port {port} on 127.0.0.1 is already in use")), "{rt:#}");
    // The port taken behind arw's back (llama-server told to use it): the
    // server's own bind failure, exit 1 and its line quoted.
    let manifest = llama_runtime("race", &bin, &model, None, NO_RESTART)
        .replace("\"-lv\", \"4\"]", &format!("\"-lv\", \"4\", \"--port\", \"{port}\"]"));
    let arw = Arw::with_config(&manifest);
    let status = arw.wait_for(LOAD, "error", |s| state(s, "race") == "error");
    let exit = &runtime(&status, "race")["last_exit"];
    assert_eq!((exit["cause"].as_str(), exit["code"].as_i64()), (Some("exited"), Some(1)), "{exit}");
    expect_quoted(&arw, "race", "couldn't bind HTTP server socket");
    let table = arw.ok(&["runtime", "status"]);
    assert!(table.contains("couldn't bind HTTP server socket"), "status table quotes it:\n{table}");
}

/// What the runtime wrote in its latest run (after arw's last start header).
fn last_run_log(arw: &Arw, id: &str) -> String {
    let log = std::fs::read_to_string(arw.home.join(format!("logs/runtimes/{id}.log"))).unwrap_or_default();
    log.rsplit("=== arw: starting").next().unwrap_or_default().to_string()
}

/// The runtime's own line naming the cause is quoted in the exit record.
/// llama-server logs through an asynchronous, deliberately leaked logger
/// (llama.cpp common/log.cpp, upstream #22142): when it exits at once its
/// last lines are sometimes never written. arw can only quote what reached
/// the log, so a run whose log lacks the line is started again (forced
/// restore) until one has it; then the quote must be there.
fn expect_quoted(arw: &Arw, id: &str, needle: &str) -> Value {
    for _ in 0..8 {
        let status = arw.status();
        let rt = runtime(&status, id);
        let exit = rt["last_exit"].clone();
        if last_run_log(arw, id).contains(needle) {
            let line = exit["error_line"].as_str().unwrap_or_default();
            assert!(line.contains(needle), "error_line `{line}` lacks `{needle}`: {exit:#}");
            return exit;
        }
        eprintln!("llama-server lost its last log lines on exit; running it again");
        let generation = rt["generation"].as_u64().unwrap();
        arw.run(&["runtime", "restore", "--id", id, "--force"]);
        arw.wait_for(LOAD, "the next run to fail", |s| {
            runtime(s, id)["generation"].as_u64() > Some(generation) && state(s, id) == "error"
        });
    }
    panic!("llama-server never logged `{needle}` in 8 runs");
}

/// Missing model file: error with llama-server's "failed to open GGUF file".
#[test]
fn missing_model() {
    let Some(bin) = llama_server() else { return };
    let arw = Arw::new();
    let missing = arw.dir.path().join("nope.gguf");
    let arw = {
        let manifest = llama_runtime("ghost", &bin, &missing, None, NO_RESTART);
        std::fs::write(arw.dir.path().join("m.toml"), manifest).unwrap();
        let path = arw.dir.path().join("m.toml");
        arw.env("ARW_CONFIG", path.to_str().unwrap())
    };
    let status = arw.wait_for(LOAD, "error", |s| state(s, "ghost") == "error");
    let exit = &runtime(&status, "ghost")["last_exit"];
    assert_eq!(exit["code"], 1);
    expect_quoted(&arw, "ghost", "failed to open GGUF file");
}

/// A truncated GGUF crash-loops: the restart budget is spent with backoff and
/// the runtime ends in `error` with "restart budget exhausted".
#[test]
fn truncated_model_crash_loop_exhausts_budget() {
    let (Some(bin), Some(tiny)) = (llama_server(), tiny_gguf()) else { return };
    let arw = Arw::new();
    let broken = arw.dir.path().join("truncated.gguf");
    let bytes = std::fs::read(&tiny).unwrap();
    std::fs::write(&broken, &bytes[..100 * 1024]).unwrap();
    let restart =
        "[runtime.restart]\nmax_restarts = 2\nwindow_secs = 600\nbackoff_initial_ms = 100\nbackoff_max_ms = 400\n";
    std::fs::write(arw.dir.path().join("m.toml"), llama_runtime("trunc", &bin, &broken, None, restart)).unwrap();
    let path = arw.dir.path().join("m.toml");
    let arw = arw.env("ARW_CONFIG", path.to_str().unwrap());
    let started = std::time::Instant::now();
    let status = arw.wait_for(LOAD, "exhausted", |s| runtime(s, "trunc")["reason"] == "restart budget exhausted");
    assert!(started.elapsed() >= Duration::from_millis(300), "backoff 100 + 200 ms at least");
    let rt = runtime(&status, "trunc");
    assert_eq!(rt["state"], "error");
    assert_eq!(rt["restart_budget"]["used"], 2);
    let log = std::fs::read_to_string(arw.home.join("logs/runtimes/trunc.log")).unwrap();
    assert_eq!(log.matches("=== arw: starting").count(), 3, "three runs, logs kept");
    expect_quoted(&arw, "trunc", "data is not within the file bounds");
}

/// SIGKILL mid-run is recorded with the signal; the supervisor brings it back.
#[test]
fn sigkill_mid_run_is_recorded_and_restarted() {
    let (Some(bin), Some(tiny)) = (llama_server(), tiny_gguf()) else { return };
    let restart = "[runtime.restart]\nbackoff_initial_ms = 50\n";
    let arw = Arw::with_config(&llama_runtime("victim", &bin, &tiny, None, restart));
    let status = arw.wait_for(LOAD, "ready", |s| state(s, "victim") == "ready");
    let pid = runtime(&status, "victim")["pid"].as_u64().unwrap() as u32;
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let status =
        arw.wait_for(LOAD, "back", |s| state(s, "victim") == "ready" && runtime(s, "victim")["generation"] == 2);
    let exit = &runtime(&status, "victim")["last_exit"];
    assert_eq!((exit["cause"].as_str(), exit["signal"].as_str()), (Some("signaled"), Some("SIGKILL")));
    assert_eq!(runtime(&status, "victim")["restart_budget"]["used"], 1);
}

/// Restore and stop: SIGTERM gives a clean exit and nothing of the process
/// group is left behind.
#[test]
fn stop_and_restore_leave_no_process() {
    let (Some(bin), Some(tiny)) = (llama_server(), tiny_gguf()) else { return };
    let arw = Arw::with_config(&llama_runtime("clean", &bin, &tiny, None, ""));
    let status = arw.wait_for(LOAD, "ready", |s| state(s, "clean") == "ready");
    let first = runtime(&status, "clean")["pid"].as_u64().unwrap() as u32;
    let doc = arw.json(&["runtime", "restore", "--id", "clean", "--json"]);
    assert_eq!(doc["outcome"], "ready");
    assert!(wait_gone(first, Duration::from_secs(10)));
    assert!(group_members(first).is_empty(), "old group still has members");
    let status = arw.status();
    let exit = &runtime(&status, "clean")["last_exit"];
    assert_eq!(
        (exit["cause"].as_str(), exit["code"].as_i64()),
        (Some("stopped"), Some(0)),
        "clean SIGTERM exit: {exit}"
    );
    let second = runtime(&status, "clean")["pid"].as_u64().unwrap() as u32;
    arw.ok(&["daemon", "stop"]);
    assert!(wait_gone(second, Duration::from_secs(10)));
    assert!(group_members(second).is_empty());
}

/// arw's GGUF reader agrees with what llama-server itself logs.
#[test]
fn gguf_reader_matches_llama_server_log() {
    let (Some(bin), Some(tiny), Some(smol)) = (llama_server(), tiny_gguf(), smollm2_gguf()) else { return };
    for model in [tiny, smol] {
        let arw = Arw::with_config(&llama_runtime("probe", &bin, &model, None, ""));
        arw.wait_for(LOAD, "ready", |s| state(s, "probe") == "ready");
        let log = std::fs::read_to_string(arw.home.join("logs/runtimes/probe.log")).unwrap();
        let logged = |key: &str| -> u32 {
            log.lines()
                .find_map(|l| l.split_once(&format!("print_info: {key}")).map(|(_, v)| v))
                .and_then(|v| v.trim_start().strip_prefix('='))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("`print_info: {key}` not in the log of {}", model.display()))
        };
        let info = arw::gguf::read_path(&model).unwrap();
        assert_eq!(info.n_layer, Some(logged("n_layer ")), "{}", model.display());
        assert_eq!(info.n_embd, Some(logged("n_embd ")));
        assert_eq!(info.n_head_kv, Some(logged("n_head_kv ")));
        assert_eq!(info.n_ctx_train, Some(logged("n_ctx_train ")));
    }
}
