//! Requests the daemon forwards to runtimes (chat, completion, describe).
//!
//! One shared HTTP client (its pool keeps connections to runtimes warm),
//! every answer counted into the matrix's HTTP telemetry, and a body that
//! is not what a runtime should send (not JSON, too large) is an error that
//! names the runtime and quotes the start of it — never a silent success.

use crate::protocol::matrix::HttpSummary;
use crate::protocol::status::State;
use crate::protocol::{ChatReply, ErrorBody, ErrorKind};
use crate::supervisor;
use crate::telemetry::HttpTelemetry;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Forwarded requests give up after this long without an answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// A runtime's answer larger than this is refused (it would not fit a
/// reply frame to the client anyway).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// How much of a bad body an error message quotes.
const QUOTE_CHARS: usize = 120;

pub struct Forwarder {
    client: reqwest::Client,
    supervisor: supervisor::Handle,
    telemetry: Mutex<HttpTelemetry>,
    /// Bumped on every recorded request: the matrix feed's cue.
    version: watch::Sender<u64>,
    /// Per-runtime request counts, durations and generation speed.
    metrics: Arc<crate::daemon::metrics::Recorder>,
}

impl Forwarder {
    pub fn new(supervisor: supervisor::Handle, metrics: Arc<crate::daemon::metrics::Recorder>) -> Forwarder {
        Forwarder {
            client: crate::supervisor::health::client(),
            supervisor,
            telemetry: Mutex::new(HttpTelemetry::default()),
            version: watch::channel(0).0,
            metrics,
        }
    }

    /// The `http` block of the matrix, as of now.
    pub fn summary(&self) -> HttpSummary {
        self.telemetry.lock().unwrap_or_else(|p| p.into_inner()).summary(Instant::now())
    }

    pub fn version(&self) -> u64 {
        *self.version.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    fn record(&self, runtime: &str, route: &str, status: u16, started: Instant) {
        let took = started.elapsed();
        self.telemetry.lock().unwrap_or_else(|p| p.into_inner()).record(route, status, took);
        self.metrics.request(runtime, route, status, took);
        self.version.send_modify(|v| *v += 1);
    }

    /// Generation speed from a completion: the runtime's own `timings`
    /// (llama-server's `predicted_per_second`), else tokens over wall time.
    fn record_throughput(&self, runtime: &str, body: &Value, timings: Option<&Value>, elapsed_ms: u64) {
        let tokens = body["usage"]["completion_tokens"].as_u64();
        let per_second = timings
            .and_then(|t| t["predicted_per_second"].as_f64())
            .or_else(|| tokens.filter(|_| elapsed_ms > 0).map(|n| n as f64 * 1000.0 / elapsed_ms as f64));
        if let Some(per_second) = per_second {
            self.metrics.throughput(runtime, body["model"].as_str().unwrap_or(runtime), per_second);
        }
    }

    /// The endpoint of a runtime that can take requests now.
    pub async fn endpoint_of(&self, runtime: &str) -> Result<String, ErrorBody> {
        let view = self.supervisor.snapshot().await?;
        let Some(rt) = view.runtime(runtime) else {
            let known: Vec<&str> = view.runtimes.iter().map(|r| r.id.as_str()).collect();
            return Err(ErrorBody::new(
                ErrorKind::UnknownRuntime,
                format!("no runtime with id `{}`", crate::text::quote(runtime, 80)),
            )
            .with_hint(format!("known ids: {}", known.join(", "))));
        };
        match (rt.state, &rt.endpoint) {
            (State::Ready | State::Degraded, Some(ep)) => Ok(ep.clone()),
            (state, _) => Err(ErrorBody::new(
                ErrorKind::RuntimeUnavailable,
                format!(
                    "runtime `{runtime}` is {}{}",
                    state.as_str(),
                    rt.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
                ),
            )
            .with_hint(if rt.restart_budget.exhausted {
                format!(
                    "its restart budget is spent: `arw runtime restore --id {runtime} --force` once the cause is fixed"
                )
            } else {
                format!("start it with `arw runtime restore --id {runtime}` and wait for `ready`")
            })),
        }
    }

    async fn send(&self, runtime: &str, route: &str, body: &Value) -> Result<(reqwest::Response, Instant), ErrorBody> {
        let endpoint = self.endpoint_of(runtime).await?;
        let started = Instant::now();
        match self.client.post(format!("{endpoint}{route}")).json(body).timeout(REQUEST_TIMEOUT).send().await {
            Ok(r) => Ok((r, started)),
            Err(e) => {
                self.record(runtime, route, 0, started);
                Err(unreachable(runtime, e))
            }
        }
    }

    /// POSTs `body` to `route` and returns status + JSON answer.
    pub async fn post_json(&self, runtime: &str, route: &str, body: &Value) -> Result<(u16, Value), ErrorBody> {
        let (resp, started) = self.send(runtime, route, body).await?;
        let status = resp.status().as_u16();
        let text = read_body(resp, runtime).await;
        self.record(runtime, route, status, started);
        Ok((status, parse_json(runtime, route, status, &text?)?))
    }

    /// A chat completion through the daemon. With `"stream": true` in the body
    /// the runtime's SSE deltas go to `on_delta` as they arrive and the reply
    /// carries the assembled completion.
    pub async fn chat(
        &self,
        runtime: &str,
        body: Value,
        mut on_delta: impl FnMut(String),
    ) -> Result<ChatReply, ErrorBody> {
        const ROUTE: &str = "/v1/chat/completions";
        let streaming = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
        if !streaming {
            let started = Instant::now();
            let (status, body) = self.post_json(runtime, ROUTE, &body).await?;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            if status == 200 {
                self.record_throughput(runtime, &body, body.get("timings"), elapsed_ms);
            }
            return Ok(ChatReply { runtime: runtime.to_string(), status, body, elapsed_ms, first_token_ms: None });
        }
        let (mut resp, started) = self.send(runtime, ROUTE, &body).await?;
        let status = resp.status().as_u16();
        if status != 200 {
            let text = read_body(resp, runtime).await;
            self.record(runtime, ROUTE, status, started);
            let body = parse_json(runtime, ROUTE, status, &text?)?;
            return Ok(ChatReply { runtime: runtime.into(), status, body, elapsed_ms: 0, first_token_ms: None });
        }
        let mut sse = SseAssembler::default();
        let mut first_token_ms = None;
        loop {
            match resp.chunk().await {
                Ok(Some(bytes)) => {
                    for delta in sse.feed(&bytes) {
                        first_token_ms.get_or_insert(started.elapsed().as_millis() as u64);
                        on_delta(delta);
                    }
                    if sse.content.len() > MAX_BODY_BYTES {
                        self.record(runtime, ROUTE, 0, started);
                        return Err(too_large(runtime));
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.record(runtime, ROUTE, 0, started);
                    return Err(unreachable(runtime, e));
                }
            }
        }
        self.record(runtime, ROUTE, status, started);
        if !sse.done {
            return Err(ErrorBody::new(
                ErrorKind::Upstream,
                format!("runtime `{runtime}` ended the stream without [DONE]"),
            ));
        }
        let (body, elapsed_ms) = (sse.assembled(), started.elapsed().as_millis() as u64);
        self.record_throughput(runtime, &body, sse.timings.as_ref(), elapsed_ms);
        Ok(ChatReply { runtime: runtime.to_string(), status, body, elapsed_ms, first_token_ms })
    }
}

fn unreachable(runtime: &str, e: reqwest::Error) -> ErrorBody {
    ErrorBody::new(ErrorKind::Upstream, format!("runtime `{runtime}` did not answer: {e}"))
        .with_hint(format!("see `arw daemon logs --runtime {runtime}`"))
}

fn too_large(runtime: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorKind::Upstream,
        format!("runtime `{runtime}` answered with more than {} MiB", MAX_BODY_BYTES >> 20),
    )
    .with_hint("ask for fewer tokens (`--max-tokens`)")
}

/// The whole body, refusing more than [`MAX_BODY_BYTES`].
async fn read_body(mut resp: reqwest::Response, runtime: &str) -> Result<String, ErrorBody> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                if body.len() + bytes.len() > MAX_BODY_BYTES {
                    return Err(too_large(runtime));
                }
                body.extend_from_slice(&bytes);
            }
            Ok(None) => return Ok(String::from_utf8_lossy(&body).into_owned()),
            Err(e) => return Err(unreachable(runtime, e)),
        }
    }
}

/// A runtime speaks JSON; anything else is its failure, quoted.
fn parse_json(runtime: &str, route: &str, status: u16, text: &str) -> Result<Value, ErrorBody> {
    serde_json::from_str(text).map_err(|_| {
        let quote = if text.trim().is_empty() {
            "an empty body".to_string()
        } else {
            format!("`{}`", crate::text::quote(text.trim(), QUOTE_CHARS))
        };
        ErrorBody::new(
            ErrorKind::Upstream,
            format!("runtime `{runtime}` answered {route} with HTTP {status} and a body that is not JSON: {quote}"),
        )
        .with_hint(format!("see `arw daemon logs --runtime {runtime}`"))
    })
}

/// Reassembles OpenAI `chat.completion.chunk` SSE events.
#[derive(Default)]
pub struct SseAssembler {
    buf: Vec<u8>,
    content: String,
    model: Option<String>,
    finish_reason: Option<String>,
    pieces: u64,
    usage: Option<Value>,
    /// llama-server's `timings` from the last chunk: generation speed.
    timings: Option<Value>,
    pub done: bool,
}

impl SseAssembler {
    /// Feeds raw bytes; returns the content deltas completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim_end().strip_prefix("data:") else { continue };
            let data = data.trim();
            if data == "[DONE]" {
                self.done = true;
                continue;
            }
            let Ok(chunk) = serde_json::from_str::<Value>(data) else { continue };
            if let Some(m) = chunk.get("model").and_then(Value::as_str) {
                self.model.get_or_insert_with(|| m.to_string());
            }
            if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
                self.usage = Some(u.clone());
            }
            if let Some(t) = chunk.get("timings").filter(|t| !t.is_null()) {
                self.timings = Some(t.clone());
            }
            let choice = &chunk["choices"][0];
            if let Some(reason) = choice["finish_reason"].as_str() {
                self.finish_reason = Some(reason.to_string());
            }
            if let Some(piece) = choice["delta"]["content"].as_str().filter(|p| !p.is_empty()) {
                self.content.push_str(piece);
                self.pieces += 1;
                out.push(piece.to_string());
            }
        }
        out
    }

    /// The stream as one non-streaming completion.
    pub fn assembled(&self) -> Value {
        json!({
            "object": "chat.completion",
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": self.content},
                "finish_reason": self.finish_reason,
            }],
            "usage": self.usage.clone().unwrap_or_else(|| json!({"completion_tokens": self.pieces})),
            "streamed": true,
        })
    }
}

impl crate::smoke::Runtimes for Forwarder {
    fn post_json<'a>(
        &'a self,
        runtime: &'a str,
        route: &'a str,
        body: &'a Value,
    ) -> crate::smoke::BoxFuture<'a, Result<(u16, Value), ErrorBody>> {
        Box::pin(Forwarder::post_json(self, runtime, route, body))
    }

    fn chat<'a>(&'a self, runtime: &'a str, body: Value) -> crate::smoke::BoxFuture<'a, Result<ChatReply, ErrorBody>> {
        Box::pin(Forwarder::chat(self, runtime, body, |_| {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deltas split across chunk boundaries are reassembled in order.
    #[test]
    fn sse_reassembly_across_chunks() {
        let stream = concat!(
            "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],\"timings\":{\"predicted_per_second\":12.5}}\n\n",
            "data: [DONE]\n\n"
        );
        let mut sse = SseAssembler::default();
        let mut deltas = Vec::new();
        for chunk in stream.as_bytes().chunks(7) {
            deltas.extend(sse.feed(chunk));
        }
        assert_eq!(deltas, vec!["Hel", "lo"]);
        assert!(sse.done);
        let body = sse.assembled();
        assert_eq!(body["choices"][0]["message"]["content"], "Hello");
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        assert_eq!(body["model"], "m");
        // Kept for the generation-speed metric, not added to the reply.
        assert_eq!(sse.timings.as_ref().unwrap()["predicted_per_second"], 12.5);
        assert!(body.get("timings").is_none());
    }
}
