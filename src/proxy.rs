//! Requests the daemon forwards to runtimes (chat, completion, describe),
//! each counted into the matrix's HTTP telemetry.

use crate::daemon::Ctx;
use crate::protocol::status::State;
use crate::protocol::{ChatReply, ErrorBody, ErrorKind};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Forwarded requests give up after this long without an answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The endpoint of a runtime that can take requests now.
pub async fn endpoint_of(ctx: &Ctx, runtime: &str) -> Result<String, ErrorBody> {
    let view = ctx.supervisor.snapshot().await?;
    let Some(rt) = view.runtime(runtime) else {
        let known: Vec<&str> = view.runtimes.iter().map(|r| r.id.as_str()).collect();
        return Err(ErrorBody::new(ErrorKind::UnknownRuntime, format!("no runtime with id `{runtime}`"))
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
            format!("its restart budget is spent: `arw runtime restore --id {runtime} --force` once the cause is fixed")
        } else {
            format!("start it with `arw runtime restore --id {runtime}` and wait for `ready`")
        })),
    }
}

fn record(ctx: &Ctx, route: &str, status: u16, started: Instant) {
    ctx.http.lock().unwrap_or_else(|p| p.into_inner()).record(route, status, started.elapsed());
}

fn unreachable(runtime: &str, e: reqwest::Error) -> ErrorBody {
    ErrorBody::new(ErrorKind::Upstream, format!("runtime `{runtime}` did not answer: {e}"))
        .with_hint(format!("see `arw daemon logs --runtime {runtime}`"))
}

/// POSTs `body` to `route` and returns status + JSON answer.
pub async fn post_json(ctx: &Ctx, runtime: &str, route: &str, body: &Value) -> Result<(u16, Value), ErrorBody> {
    let endpoint = endpoint_of(ctx, runtime).await?;
    let client = crate::supervisor::health::client();
    let started = Instant::now();
    let resp = client.post(format!("{endpoint}{route}")).json(body).timeout(REQUEST_TIMEOUT).send().await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            record(ctx, route, 0, started);
            return Err(unreachable(runtime, e));
        }
    };
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    record(ctx, route, status, started);
    let value = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    Ok((status, value))
}

/// A chat completion through the daemon. With `"stream": true` in the body
/// the runtime's SSE deltas go to `on_delta` as they arrive and the reply
/// carries the assembled completion.
pub async fn chat(
    ctx: &Ctx,
    runtime: &str,
    body: Value,
    mut on_delta: impl FnMut(String),
) -> Result<ChatReply, ErrorBody> {
    const ROUTE: &str = "/v1/chat/completions";
    let streaming = body.get("stream").and_then(Value::as_bool).unwrap_or(false);
    if !streaming {
        let started = Instant::now();
        let (status, body) = post_json(ctx, runtime, ROUTE, &body).await?;
        return Ok(ChatReply {
            runtime: runtime.to_string(),
            status,
            body,
            elapsed_ms: started.elapsed().as_millis() as u64,
            first_token_ms: None,
        });
    }
    let endpoint = endpoint_of(ctx, runtime).await?;
    let client = crate::supervisor::health::client();
    let started = Instant::now();
    let mut resp = match client.post(format!("{endpoint}{ROUTE}")).json(&body).timeout(REQUEST_TIMEOUT).send().await {
        Ok(r) => r,
        Err(e) => {
            record(ctx, ROUTE, 0, started);
            return Err(unreachable(runtime, e));
        }
    };
    let status = resp.status().as_u16();
    if status != 200 {
        let text = resp.text().await.unwrap_or_default();
        record(ctx, ROUTE, status, started);
        let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
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
            }
            Ok(None) => break,
            Err(e) => {
                record(ctx, ROUTE, 0, started);
                return Err(unreachable(runtime, e));
            }
        }
    }
    record(ctx, ROUTE, status, started);
    if !sse.done {
        return Err(ErrorBody::new(
            ErrorKind::Upstream,
            format!("runtime `{runtime}` ended the stream without [DONE]"),
        ));
    }
    Ok(ChatReply {
        runtime: runtime.to_string(),
        status,
        body: sse.assembled(),
        elapsed_ms: started.elapsed().as_millis() as u64,
        first_token_ms,
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

/// The assistant text of a chat completion.
pub fn reply_text(body: &Value) -> Option<&str> {
    body["choices"][0]["message"]["content"].as_str()
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
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n",
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
        assert_eq!(reply_text(&body), Some("Hello"));
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        assert_eq!(body["model"], "m");
    }
}
