//! `arw runtime stub-llama`: a small but real HTTP server that speaks enough of
//! llama.cpp's `llama-server` API for arw's smoke and integration tests to
//! supervise it exactly like the real runtime, plus flags that inject the
//! failures arw must survive (slow load, never ready, 500s, crashes, a wedged
//! `/health`, a port already taken, a binary that dies at start).
//!
//! Response shapes, error bodies, metric names and stderr log lines are copied
//! from llama.cpp (b6xxx-era `tools/server/server.cpp`, `ggml-cuda.cu`,
//! `llama-model.cpp`) so arw's parsers see the text they meet in production.
//! Anything that is not llama.cpp's says "stub", so nobody mistakes it for a
//! real model or GPU.

use std::future::{Future, IntoFuture};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

const SIM_GPU_NAME: &str = "Simulated GPU (arw LLAMA_GPU_SIMULATE)";
const SIM_LAYERS: u32 = 22;
const FINGERPRINT: &str = "b0-arw-stub";
// Fixed per-token costs keep timings and throughput metrics reproducible.
const PROMPT_MS_PER_TOKEN: f64 = 0.5;
const PREDICT_MS_PER_TOKEN: f64 = 2.0;
// After SIGTERM, a client still reading a slow response must not keep us alive.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

type Handled = Result<Response, ApiError>;
type Generated = (Vec<String>, bool, Value);

#[derive(clap::Args, Debug, Clone, Default)]
pub struct StubArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// TCP port to listen on (0 picks a free one)
    #[arg(long)]
    pub port: u16,
    /// Model id reported by /v1/models and in completions
    #[arg(long, default_value = "stub-llama")]
    pub model: String,
    /// Answer 503 "Loading model" for this long after binding
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub warmup_ms: u64,
    /// Never finish loading: /health answers 503 forever
    #[arg(long)]
    pub never_ready: bool,
    /// Answer HTTP 500 to every chat/completion request after the first N
    #[arg(long, value_name = "N")]
    pub fail_after: Option<u64>,
    /// Exit with code 101, without answering, on the chat/completion request after the first N
    #[arg(long, value_name = "N")]
    pub crash_after: Option<u64>,
    /// Delay every response except /health by this many milliseconds
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub slow_ms: u64,
    /// Once ready, answer /health N times, then never again (a wedged runtime)
    #[arg(long, value_name = "N")]
    pub hang_health_after: Option<u64>,
    /// Enable POST /describe and report vision support
    #[arg(long)]
    pub vision: bool,
    /// Print a one-line error and exit with CODE before binding
    #[arg(long, value_name = "CODE")]
    pub exit_at_start: Option<i32>,
}

/// Runs the stub until SIGTERM/SIGINT; exits the process itself where
/// llama-server would (bind failure → 1, `--exit-at-start`, `--crash-after`).
pub fn run(args: StubArgs) -> anyhow::Result<()> {
    crate::sys::ignore_sigpipe();
    if let Some(code) = args.exit_at_start {
        log(&format!("error: stub-llama: simulated startup failure (--exit-at-start {code})"));
        std::process::exit(code);
    }
    log("stub-llama: arw's built-in llama-server stub, not a real runtime");
    if std::env::var("LLAMA_GPU_SIMULATE").is_ok_and(|v| v == "1") {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(simulated_gpu_log(SIM_LAYERS).as_bytes());
        let _ = err.flush();
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        // Handlers go in before binding so that even an early SIGTERM exits 0.
        let shutdown = shutdown_signal()?;
        let Ok(listener) = TcpListener::bind((args.host.as_str(), args.port)).await else {
            let (host, port) = (&args.host, args.port);
            log(&format!("main: couldn't bind HTTP server socket, hostname: {host}, port: {port}"));
            std::process::exit(1);
        };
        serve(listener, args, shutdown).await
    })
}

fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (mut term, mut int) = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
        Ok(async move {
            tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// llama.cpp's load-time log for one CUDA device with every layer offloaded,
/// from the printf formats in ggml_cuda_init ("found %d CUDA devices:",
/// "  Device %d: %s, compute capability %d.%d, VMM: %s"),
/// llama_model_load_from_file_impl and load_tensors ("offloading %d repeating
/// layers to GPU", "offloaded %d/%d layers to GPU", "%12s model buffer size =
/// %8.2f MiB"), each behind its "%s: " function-name prefix.
pub fn simulated_gpu_log(n_layers: u32) -> String {
    let (name, all) = (SIM_GPU_NAME, n_layers + 1);
    let (gpu, gpu_mib, cpu, cpu_mib) = ("CUDA0", f64::from(n_layers) * 27.32, "CPU_Mapped", 35.16);
    format!(
        "\
ggml_cuda_init: GGML_CUDA_FORCE_MMQ:    no
ggml_cuda_init: GGML_CUDA_FORCE_CUBLAS: no
ggml_cuda_init: found 1 CUDA devices:
  Device 0: {name}, compute capability 8.6, VMM: yes
llama_model_load_from_file_impl: using device CUDA0 ({name}) - 24000 MiB free
load_tensors: offloading {n_layers} repeating layers to GPU
load_tensors: offloading output layer to GPU
load_tensors: offloaded {all}/{all} layers to GPU
load_tensors: {gpu:>12} model buffer size = {gpu_mib:>8.2} MiB
load_tensors: {cpu:>12} model buffer size = {cpu_mib:>8.2} MiB
"
    )
}

struct Stub {
    args: StubArgs,
    ready: AtomicBool,
    start_unix: u64,
    requests: AtomicU64,
    health_ok: AtomicU64,
    processing: AtomicU64,
    totals: Mutex<Totals>,
    shutdown: watch::Receiver<bool>,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    prompt_tokens: u64,
    predicted_tokens: u64,
    prompt_ms: f64,
    predicted_ms: f64,
    decode_calls: u64,
}

/// Serves on an already-bound listener until `shutdown` resolves; tests bind
/// port 0 themselves so they never race another process for a port.
pub async fn serve<F>(listener: TcpListener, args: StubArgs, shutdown: F) -> anyhow::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let port = listener.local_addr()?.port();
    let (tx, rx) = watch::channel(false);
    let host = args.host.clone();
    let s = Arc::new(Stub {
        ready: AtomicBool::new(false),
        start_unix: unix_now(),
        requests: AtomicU64::new(0),
        health_ok: AtomicU64::new(0),
        processing: AtomicU64::new(0),
        totals: Mutex::new(Totals::default()),
        shutdown: rx.clone(),
        args,
    });
    log(&format!("main: HTTP server is listening, hostname: {host}, port: {port}, http threads: 3"));
    log("main: loading model");
    if !s.args.never_ready {
        let (stub, warmup) = (s.clone(), Duration::from_millis(s.args.warmup_ms));
        let loaded = move || {
            log("main: model loaded");
            log(&format!("main: server is listening on http://{host}:{port} - starting the main loop"));
            log("srv  update_slots: all slots are idle");
            stub.ready.store(true, SeqCst);
        };
        // Without a warm-up, be ready before the first request can be accepted.
        if warmup.is_zero() {
            loaded();
        } else {
            tokio::spawn(async move {
                tokio::time::sleep(warmup).await;
                loaded();
            });
        }
    }
    let server = axum::serve(listener, router(s)).with_graceful_shutdown(async move {
        shutdown.await;
        log("srv    operator(): operator(): cleaning up before exit...");
        let _ = tx.send(true);
    });
    let mut down = rx;
    tokio::select! {
        served = server.into_future() => served?,
        _ = async {
            let _ = down.wait_for(|d| *d).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {}
    }
    Ok(())
}

fn router(s: Arc<Stub>) -> Router {
    let mut app = Router::new()
        .route("/health", get(health))
        .route("/v1/health", get(health))
        .route("/models", get(models))
        .route("/v1/models", get(models))
        .route("/props", get(props))
        .route("/metrics", get(metrics))
        .route("/v1/chat/completions", post(chat))
        .route("/chat/completions", post(chat))
        .route("/completion", post(completion))
        .route("/completions", post(completion));
    if s.args.vision {
        app = app.route("/describe", post(describe));
    }
    app.fallback(|| async { error(404, "File Not Found", "not_found_error") })
        .layer(axum::middleware::from_fn_with_state(s.clone(), gate))
        .layer(DefaultBodyLimit::max(64 << 20))
        .with_state(s)
}

/// What llama-server does before routing: while loading only the model list
/// is served; plus `--slow-ms`, the in-flight gauge and the `Server` header.
async fn gate(State(s): State<Arc<Stub>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let health = matches!(path, "/health" | "/v1/health");
    let models = matches!(path, "/models" | "/v1/models");
    let inference = matches!(path, "/v1/chat/completions" | "/chat/completions" | "/completion" | "/completions");
    let ready = s.ready.load(SeqCst);
    let _busy = (inference && ready).then(|| Busy::enter(&s.processing));
    let mut resp = if health || models || ready { next.run(req).await } else { loading().into_response() };
    // Delay delivery rather than arrival, so /metrics shows what was in flight.
    if !health && s.args.slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(s.args.slow_ms)).await;
    }
    resp.headers_mut().insert(header::SERVER, HeaderValue::from_static("llama.cpp"));
    resp
}

/// Decrements on drop, so a client hanging up mid-request can't leak the gauge.
struct Busy<'a>(&'a AtomicU64);
impl<'a> Busy<'a> {
    fn enter(gauge: &'a AtomicU64) -> Self {
        gauge.fetch_add(1, SeqCst);
        Busy(gauge)
    }
}
impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

async fn health(State(s): State<Arc<Stub>>) -> Response {
    if !s.ready.load(SeqCst) {
        return loading().into_response();
    }
    let answered = s.health_ok.fetch_add(1, SeqCst);
    if s.args.hang_health_after.is_some_and(|n| answered >= n) {
        // Wedged until shutdown only, so our own wedge can't stall a graceful stop.
        let _ = s.shutdown.clone().wait_for(|d| *d).await;
        return error(503, "Server is shutting down", "unavailable_error").into_response();
    }
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

async fn models(State(s): State<Arc<Stub>>) -> Response {
    let id = &s.args.model;
    let caps = if s.args.vision { json!(["completion", "multimodal"]) } else { json!(["completion"]) };
    // llama-server reports meta only once the model is loaded.
    let meta = s.ready.load(SeqCst).then(|| {
        json!({"vocab_type": 1, "n_vocab": 32000, "n_ctx_train": 4096, "n_embd": 2048,
               "n_params": 1_100_048_384u64, "size": 667_815_936u64})
    });
    json_response(
        StatusCode::OK,
        &json!({
            "models": [{"name": id, "model": id, "modified_at": "", "size": "", "digest": "",
                        "type": "model", "description": "", "tags": [""], "capabilities": caps,
                        "parameters": "",
                        "details": {"parent_model": "", "format": "gguf", "family": "",
                                    "families": [""], "parameter_size": "",
                                    "quantization_level": ""}}],
            "object": "list",
            "data": [{"id": id, "object": "model", "created": unix_now(),
                      "owned_by": "llamacpp", "meta": meta}],
        }),
    )
}

async fn props(State(s): State<Arc<Stub>>) -> Response {
    let body = json!({"default_generation_settings": {"n_ctx": 4096}, "total_slots": 1,
                      "model_path": s.args.model, "build_info": FINGERPRINT,
                      "modalities": {"vision": s.args.vision, "audio": false}});
    json_response(StatusCode::OK, &body)
}

async fn metrics(State(s): State<Arc<Stub>>) -> Response {
    let totals = *s.totals.lock().unwrap_or_else(|p| p.into_inner());
    let start = HeaderValue::from(s.start_unix);
    let mut resp = metrics_text(&totals, s.processing.load(SeqCst)).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    headers.insert(HeaderName::from_static("process-start-time-unix"), start);
    resp
}

fn metrics_text(t: &Totals, processing: u64) -> String {
    // "type name help", in llama-server's order.
    const DEFS: [&str; 10] = [
        "counter prompt_tokens_total Number of prompt tokens processed.",
        "counter prompt_seconds_total Prompt process time",
        "counter tokens_predicted_total Number of generation tokens processed.",
        "counter tokens_predicted_seconds_total Predict process time",
        "counter n_decode_total Total number of llama_decode() calls",
        "counter n_busy_slots_per_decode Average number of busy slots per llama_decode() call",
        "gauge prompt_tokens_seconds Average prompt throughput in tokens/s.",
        "gauge predicted_tokens_seconds Average generation throughput in tokens/s.",
        "gauge requests_processing Number of requests processing.",
        "gauge requests_deferred Number of requests deferred.",
    ];
    let rate = |n: u64, ms: f64| if ms > 0.0 { 1e3 / ms * n as f64 } else { 0.0 };
    let values = [
        t.prompt_tokens as f64,
        t.prompt_ms / 1e3,
        t.predicted_tokens as f64,
        t.predicted_ms / 1e3,
        t.decode_calls as f64,
        // One slot, so every decode call has exactly one busy slot.
        t.decode_calls.min(1) as f64,
        rate(t.prompt_tokens, t.prompt_ms),
        rate(t.predicted_tokens, t.predicted_ms),
        processing as f64,
        0.0,
    ];
    let mut out = String::new();
    for (def, v) in DEFS.into_iter().zip(values) {
        let (kind, rest) = def.split_once(' ').unwrap_or_default();
        let (name, help) = rest.split_once(' ').unwrap_or_default();
        // Like C++ streams, whole numbers print without a fraction.
        let v = if v.fract() == 0.0 { (v as i64).to_string() } else { v.to_string() };
        out += &format!("# HELP llamacpp:{name} {help}\n# TYPE llamacpp:{name} {kind}\n");
        out += &format!("llamacpp:{name} {v}\n");
    }
    out
}

async fn chat(State(s): State<Arc<Stub>>, body: Bytes) -> Handled {
    let req = parse_body(&body)?;
    let messages = match req.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(_) => return Err(bad_request("Expected 'messages' to be a non-empty array")),
        None => return Err(bad_request("'messages' is required")),
    };
    let n = admit(&s)?;
    let texts: Vec<String> = messages.iter().map(content_text).collect();
    let prompt_n = texts.iter().map(|t| count_words(t)).sum();
    let is_user = |i: &usize| messages[*i].get("role").and_then(Value::as_str) == Some("user");
    let prompt = &texts[(0..texts.len()).rev().find(is_user).unwrap_or(texts.len() - 1)];
    let limit = token_limit(&req, &["max_tokens", "max_completion_tokens", "n_predict"]);
    let (words, truncated, timings) = generate(&s, prompt, prompt_n, limit);
    let finish = if truncated { "length" } else { "stop" };
    let (id, created, model) = (format!("chatcmpl-stub{n:016}"), unix_now(), &s.args.model);
    let usage = json!({"completion_tokens": words.len(), "prompt_tokens": prompt_n,
                       "total_tokens": words.len() + prompt_n});
    let frame = |choice: Value, object: &str| {
        json!({"choices": [choice], "created": created, "id": id, "model": model,
               "system_fingerprint": FINGERPRINT, "object": object})
    };
    if req.get("stream").and_then(Value::as_bool) != Some(true) {
        let message = json!({"role": "assistant", "content": words.join(" ")});
        let choice = json!({"finish_reason": finish, "index": 0, "message": message});
        let mut done = frame(choice, "chat.completion");
        (done["usage"], done["timings"]) = (usage, timings);
        return Ok(json_response(StatusCode::OK, &done));
    }
    let chunk = |delta: Value, finish: Value| {
        let choice = json!({"finish_reason": finish, "index": 0, "delta": delta});
        frame(choice, "chat.completion.chunk")
    };
    let role = json!({"role": "assistant", "content": null});
    let mut events = vec![chunk(role, json!(null))];
    for (i, word) in words.iter().enumerate() {
        // Pieces concatenate to exactly the non-streamed content.
        let sep = if i == 0 { "" } else { " " };
        events.push(chunk(json!({ "content": format!("{sep}{word}") }), json!(null)));
    }
    let mut last = chunk(json!({}), json!(finish));
    (last["usage"], last["timings"]) = (usage, timings);
    events.push(last);
    let mut sse: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    sse += "data: [DONE]\n\n";
    Ok(([(header::CONTENT_TYPE, "text/event-stream")], sse).into_response())
}

async fn completion(State(s): State<Arc<Stub>>, body: Bytes) -> Handled {
    let req = parse_body(&body)?;
    let Some(prompt) = req.get("prompt").and_then(Value::as_str) else {
        return Err(bad_request("\"prompt\" must be provided as a string"));
    };
    admit(&s)?;
    let prompt_n = count_words(prompt);
    let limit = token_limit(&req, &["n_predict", "max_tokens"]);
    let (words, truncated, timings) = generate(&s, prompt, prompt_n, limit);
    let body = json!({
        "index": 0, "content": words.join(" "), "tokens": [], "id_slot": 0, "stop": true,
        "model": s.args.model, "tokens_predicted": words.len(), "tokens_evaluated": prompt_n,
        "prompt": prompt, "has_new_line": false, "truncated": false, "stopping_word": "",
        "stop_type": if truncated { "limit" } else { "eos" }, "tokens_cached": 0,
        "timings": timings,
    });
    Ok(json_response(StatusCode::OK, &body))
}

async fn describe(State(s): State<Arc<Stub>>, body: Bytes) -> Handled {
    let req = parse_body(&body)?;
    let Some(image) = req.get("image").and_then(Value::as_str) else {
        return Err(bad_request("\"image\" must be a base64-encoded PNG string"));
    };
    // Base64 has no commas, so anything up to one is a data-URL header.
    let data = image.split_once(',').map_or(image, |(_, data)| data);
    let bad = |what: &str, e: String| bad_request(format!("\"image\" is not {what}: {e}"));
    let bytes = base64_decode(data).map_err(|e| bad("valid base64", e))?;
    let (w, h) = png_dimensions(&bytes).map_err(|e| bad("a PNG", e))?;
    let prompt = req.get("prompt").and_then(Value::as_str).unwrap_or("");
    let body = json!({"description": format!("stub llava: a {w}x{h} png image"), "width": w,
                      "height": h, "format": "png", "model": s.args.model, "prompt": prompt});
    Ok(json_response(StatusCode::OK, &body))
}

/// Counts a well-formed inference request and applies `--crash-after` and
/// `--fail-after`; malformed requests never reach the model, so they don't count.
fn admit(s: &Stub) -> Result<u64, ApiError> {
    let n = s.requests.fetch_add(1, SeqCst) + 1;
    if let Some(limit) = s.args.crash_after.filter(|limit| n > *limit) {
        log(&format!("stub-llama: simulated crash at request {n}, after {limit}"));
        std::process::exit(101);
    }
    if let Some(limit) = s.args.fail_after.filter(|limit| n > *limit) {
        let msg = format!("stub-llama: simulated failure at request {n}, after {limit}");
        return Err(error(500, msg, "server_error"));
    }
    Ok(n)
}

/// The deterministic "model": a reply derived from the prompt, its llama.cpp
/// `timings` object, and the totals /metrics reports.
fn generate(s: &Stub, prompt: &str, prompt_n: usize, limit: Option<usize>) -> Generated {
    let head: String = prompt.chars().take(64).collect();
    let (words, truncated) = truncate_words(&format!("stub reply: {head}"), limit);
    let n = words.len();
    let prompt_ms = prompt_n as f64 * PROMPT_MS_PER_TOKEN;
    let predicted_ms = n as f64 * PREDICT_MS_PER_TOKEN;
    let per_s = |n: usize, ms: f64| if ms > 0.0 { n as f64 * 1e3 / ms } else { 0.0 };
    let per_tok = |n: usize, ms: f64| if n > 0 { ms / n as f64 } else { 0.0 };
    let timings = json!({
        "cache_n": 0, "prompt_n": prompt_n, "prompt_ms": prompt_ms,
        "prompt_per_token_ms": per_tok(prompt_n, prompt_ms),
        "prompt_per_second": per_s(prompt_n, prompt_ms),
        "predicted_n": n, "predicted_ms": predicted_ms,
        "predicted_per_token_ms": per_tok(n, predicted_ms),
        "predicted_per_second": per_s(n, predicted_ms),
    });
    let mut t = s.totals.lock().unwrap_or_else(|p| p.into_inner());
    t.prompt_tokens += prompt_n as u64;
    t.predicted_tokens += n as u64;
    t.prompt_ms += prompt_ms;
    t.predicted_ms += predicted_ms;
    // One decode for the prompt batch, then one per generated token.
    t.decode_calls += 1 + n as u64;
    (words, truncated, timings)
}

fn truncate_words(text: &str, limit: Option<usize>) -> (Vec<String>, bool) {
    let mut words: Vec<String> = text.split_whitespace().map(str::to_owned).collect();
    let truncated = limit.is_some_and(|max| words.len() > max);
    words.truncate(limit.unwrap_or(usize::MAX));
    (words, truncated)
}

fn count_words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Message content is a string or an array of typed parts; only text parts count.
fn content_text(message: &Value) -> String {
    let part_text = |p: &Value| p.get("text").and_then(Value::as_str).map(str::to_owned);
    match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(part_text).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    }
}

/// First key present wins; negative means unlimited, like llama.cpp's `n_predict: -1`.
fn token_limit(req: &Value, keys: &[&str]) -> Option<usize> {
    let limit = keys.iter().find_map(|k| req.get(*k)?.as_i64())?;
    usize::try_from(limit).ok()
}

/// Standard or URL-safe alphabet, padding optional, whitespace ignored.
fn base64_decode(input: &str) -> Result<Vec<u8>, String> {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode, GeneralPurposeConfig};
    use base64::{alphabet, DecodeError, Engine};
    const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);
    let compact: Vec<u8> = input.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let engine = if compact.iter().any(|b| b"-_".contains(b)) { &URL_SAFE } else { &STANDARD };
    // Offsets in the crate's errors count only the non-whitespace bytes.
    let at =
        |i: usize| input.bytes().enumerate().filter(|(_, b)| !b.is_ascii_whitespace()).nth(i).map_or(i, |(o, _)| o);
    engine.decode(&compact).map_err(|e| match e {
        DecodeError::InvalidByte(i, b'=') => format!("data after '=' padding at offset {}", at(i)),
        DecodeError::InvalidByte(i, c) | DecodeError::InvalidLastSymbol(i, c) => {
            format!("unexpected byte 0x{c:02x} at offset {}", at(i))
        }
        DecodeError::InvalidLength(_) => "truncated input (one dangling character)".into(),
        DecodeError::InvalidPadding => "misplaced '=' padding".into(),
    })
}

fn png_dimensions(data: &[u8]) -> Result<(u32, u32), String> {
    if !data.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Err("missing PNG signature".into());
    }
    // After the signature comes IHDR: length(4) "IHDR" width(4) height(4).
    if data.len() < 24 {
        return Err("truncated before the IHDR chunk".into());
    }
    if &data[12..16] != b"IHDR" {
        return Err("first chunk is not IHDR".into());
    }
    let be = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    match (be(16), be(20)) {
        (0, _) | (_, 0) => Err("IHDR has a zero dimension".into()),
        dims => Ok(dims),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(_) => Err(bad_request("request body must be a JSON object")),
        Err(e) => Err(bad_request(format!("request body is not JSON: {e}"))),
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let content_type = [(header::CONTENT_TYPE, "application/json; charset=utf-8")];
    (status, content_type, body.to_string()).into_response()
}

/// An error in llama-server's `{"error": {code, message, type}}` shape, kept
/// small so handlers can pass it along with `?`.
struct ApiError(u16, String, &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(code, message, kind) = self;
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error": {"code": code, "message": message, "type": kind}});
        json_response(status, &body)
    }
}

fn error(code: u16, message: impl Into<String>, kind: &'static str) -> ApiError {
    ApiError(code, message.into(), kind)
}

fn bad_request(message: impl Into<String>) -> ApiError {
    error(400, message, "invalid_request_error")
}

fn loading() -> ApiError {
    error(503, "Loading model", "unavailable_error")
}

/// arw tails our stderr into a log file, so every line is flushed as written.
fn log(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

fn unix_now() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH);
    since_epoch.map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests;
