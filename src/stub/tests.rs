use super::*;
use std::time::Instant;

const PNG_2X3: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x03\x08\x06\0\0\0";
const PNG_2X3_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAA=";
const GIF_B64: &str = "R0lGODlhLCBub3QgYSBwbmcgYXQgYWxs";

#[test]
fn base64_decodes_and_rejects_garbage() {
    assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
    assert_eq!(base64_decode("aGVs\nbG8").unwrap(), b"hello");
    assert_eq!(base64_decode("-_-_").unwrap(), base64_decode("+/+/").unwrap());
    assert_eq!(base64_decode(PNG_2X3_B64).unwrap(), PNG_2X3);
    assert!(base64_decode("aGV*").unwrap_err().contains("offset 3"));
    assert!(base64_decode("aGVsb").is_err());
    assert!(base64_decode("aG==aa").is_err());
    // Offsets count the whitespace the decoder skips, so they point into what was sent.
    assert_eq!(base64_decode("aG Vs\n*").unwrap_err(), "unexpected byte 0x2a at offset 6");
    assert_eq!(base64_decode("aG==aa").unwrap_err(), "data after '=' padding at offset 2");
    assert_eq!(base64_decode("aGVsb").unwrap_err(), "truncated input (one dangling character)");
    assert_eq!(base64_decode("aGVsbA").unwrap(), b"hel\x6c");
}

#[test]
fn png_ihdr_gives_dimensions() {
    assert_eq!(png_dimensions(PNG_2X3), Ok((2, 3)));
    let gif = base64_decode(GIF_B64).unwrap();
    assert!(png_dimensions(&gif).unwrap_err().contains("signature"));
    assert!(png_dimensions(&PNG_2X3[..20]).unwrap_err().contains("truncated"));
    let mut not_ihdr = PNG_2X3.to_vec();
    not_ihdr[12..16].copy_from_slice(b"IDAT");
    assert!(png_dimensions(&not_ihdr).is_err());
}

#[test]
fn words_truncate_to_the_limit() {
    let (words, cut) = truncate_words("a  b\nc d", Some(2));
    assert_eq!((words.join(" "), cut), ("a b".to_string(), true));
    assert_eq!(truncate_words("a b", Some(2)), (vec!["a".into(), "b".into()], false));
    assert_eq!(truncate_words("a b", None).0.len(), 2);
    assert_eq!(token_limit(&json!({"max_tokens": -1}), &["max_tokens"]), None);
    assert_eq!(token_limit(&json!({"n_predict": 3}), &["max_tokens", "n_predict"]), Some(3));
}

#[test]
fn simulated_gpu_log_matches_llama_cpp_formats() {
    let expected = [
        "ggml_cuda_init: GGML_CUDA_FORCE_MMQ:    no",
        "ggml_cuda_init: GGML_CUDA_FORCE_CUBLAS: no",
        "ggml_cuda_init: found 1 CUDA devices:",
        "  Device 0: Simulated GPU (arw LLAMA_GPU_SIMULATE), compute capability 8.6, VMM: yes",
        "llama_model_load_from_file_impl: using device CUDA0 \
         (Simulated GPU (arw LLAMA_GPU_SIMULATE)) - 24000 MiB free",
        "load_tensors: offloading 22 repeating layers to GPU",
        "load_tensors: offloading output layer to GPU",
        "load_tensors: offloaded 23/23 layers to GPU",
        "load_tensors:        CUDA0 model buffer size =   601.04 MiB",
        "load_tensors:   CPU_Mapped model buffer size =    35.16 MiB",
    ];
    assert_eq!(simulated_gpu_log(22), expected.map(|l| l.to_owned() + "\n").concat());
}

#[test]
fn metrics_text_uses_llama_cpp_names() {
    let t = Totals { prompt_tokens: 4, predicted_tokens: 3, prompt_ms: 2.0, predicted_ms: 6.0, decode_calls: 4 };
    let text = metrics_text(&t, 1);
    for line in [
        "# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.",
        "# TYPE llamacpp:prompt_tokens_total counter",
        "llamacpp:prompt_tokens_total 4",
        "llamacpp:tokens_predicted_total 3",
        "llamacpp:prompt_seconds_total 0.002",
        "llamacpp:predicted_tokens_seconds 500",
        "# TYPE llamacpp:requests_processing gauge",
        "llamacpp:requests_processing 1",
        "llamacpp:requests_deferred 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
}

/// A stub on an ephemeral port, stopped (and awaited) on drop of `stop`.
struct Running {
    base: String,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn start(args: StubArgs) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let args = StubArgs { host: "127.0.0.1".into(), model: "stub-test".into(), ..args };
        let serving = serve(listener, args, async { _ = stopped.await });
        let server = tokio::spawn(async { serving.await.unwrap() });
        Running { base, http: reqwest::Client::new(), stop, server }
    }

    async fn call(&self, path: &str, body: Option<&str>) -> (u16, String) {
        let url = format!("{}{path}", self.base);
        let req = match body {
            Some(body) => self.http.post(url).body(body.to_owned()),
            None => self.http.get(url),
        };
        let resp = req.send().await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, text) = self.call(path, Some(&body.to_string())).await;
        (status, serde_json::from_str(&text).unwrap())
    }
}

#[tokio::test]
async fn serves_llama_server_api() {
    let args = StubArgs { warmup_ms: 300, fail_after: Some(3), vision: true, ..Default::default() };
    let stub = Running::start(args).await;

    let loading = r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#;
    assert_eq!(stub.call("/health", None).await, (503, loading.to_owned()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while stub.call("/health", None).await != (200, r#"{"status":"ok"}"#.to_owned()) {
        assert!(Instant::now() < deadline, "never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (_, models) = stub.call("/v1/models", None).await;
    let models: Value = serde_json::from_str(&models).unwrap();
    assert_eq!(models["data"][0]["id"], "stub-test");
    assert_eq!(models["data"][0]["owned_by"], "llamacpp");
    assert_eq!(models["models"][0]["capabilities"], json!(["completion", "multimodal"]));

    let (status, bad) = stub.call("/v1/chat/completions", Some("{nope")).await;
    assert_eq!(status, 400);
    assert!(bad.contains(r#""type":"invalid_request_error""#), "{bad}");
    assert_eq!(stub.post("/v1/chat/completions", json!({"model": "x"})).await.0, 400);

    let msgs = json!([{"role": "system", "content": "be brief"},
                      {"role": "user", "content": "hello there stub"}]);
    let (status, chat) = stub.post("/v1/chat/completions", json!({ "messages": msgs })).await;
    assert_eq!((status, &chat["object"]), (200, &json!("chat.completion")));
    assert_eq!(chat["choices"][0]["message"]["content"], "stub reply: hello there stub");
    assert_eq!(chat["choices"][0]["finish_reason"], "stop");
    let usage = json!({"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10});
    assert_eq!(chat["usage"], usage);

    let body = json!({"messages": msgs, "stream": true, "max_tokens": 3}).to_string();
    let (_, sse) = stub.call("/v1/chat/completions", Some(&body)).await;
    let data: Vec<&str> = sse.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).collect();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let chunks = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap());
    let chunks: Vec<Value> = chunks.collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let content = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str());
    assert_eq!(content.collect::<String>(), "stub reply: hello");
    assert_eq!(chunks.last().unwrap()["choices"][0]["finish_reason"], "length");

    let (_, done) = stub.post("/completion", json!({"prompt": "one two", "n_predict": 2})).await;
    assert_eq!((&done["content"], &done["stop"]), (&json!("stub reply:"), &json!(true)));
    assert_eq!((&done["tokens_predicted"], &done["tokens_evaluated"]), (&json!(2), &json!(2)));

    // --fail-after 3: the fourth well-formed request fails.
    let (status, failed) = stub.post("/v1/chat/completions", json!({ "messages": msgs })).await;
    assert_eq!((status, &failed["error"]["type"]), (500, &json!("server_error")));

    let (_, metrics) = stub.call("/metrics", None).await;
    assert!(metrics.contains("\nllamacpp:prompt_tokens_total 12\n"), "{metrics}");
    assert!(metrics.contains("\nllamacpp:tokens_predicted_total 10\n"), "{metrics}");

    let (_, seen) = stub.post("/describe", json!({"image": PNG_2X3_B64, "prompt": "?"})).await;
    assert_eq!(seen["description"], "stub llava: a 2x3 png image");
    assert_eq!((&seen["width"], &seen["height"]), (&json!(2), &json!(3)));
    assert_eq!(stub.post("/describe", json!({ "image": GIF_B64 })).await.0, 400);
    assert_eq!(stub.post("/describe", json!({"image": "!!"})).await.0, 400);
    let (_, garbage) = stub.post("/describe", json!({"image": "data:image/png;base64,aGV*"})).await;
    assert_eq!(garbage["error"]["message"], "\"image\" is not valid base64: unexpected byte 0x2a at offset 3");

    let (status, missing) = stub.call("/nope", None).await;
    assert_eq!(status, 404);
    assert!(missing.contains(r#""type":"not_found_error""#), "{missing}");
    stub.stop.send(()).unwrap();
    stub.server.await.unwrap();
}

#[tokio::test]
async fn no_describe_without_vision_and_a_hung_health_does_not_block_shutdown() {
    let stub = Running::start(StubArgs { hang_health_after: Some(0), ..Default::default() }).await;
    assert_eq!(stub.post("/describe", json!({"image": ""})).await.0, 404);
    let hung = tokio::spawn(stub.http.get(format!("{}/health", stub.base)).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!hung.is_finished(), "/health should hang");
    stub.stop.send(()).unwrap();
    // Well inside SHUTDOWN_GRACE: the wedged handler lets go rather than being waited out.
    let stopped = tokio::time::timeout(Duration::from_secs(2), stub.server).await;
    stopped.unwrap().unwrap();
    assert_eq!(hung.await.unwrap().unwrap().status(), 503);
}
