//! The wire protocol between `arw` clients and the daemon: one place for
//! every message. This is the bottom layer: it imports no domain module;
//! the supervisor, matrix, smoke and weights build these types, and every
//! front end (socket today, HTTP and NATS next) serves them.
//!
//! A connection carries frames: a 4-byte big-endian length, then that many
//! bytes of JSON. The client speaks first with [`Hello`]; the daemon answers
//! [`Welcome`] with its own protocol version and build id. A client that
//! finds a different build never sends a request to it (SPEC §1): it asks
//! the daemon to drain and exit (SIGTERM to `Welcome::pid`) and starts its
//! own. After the handshake the client sends [`RequestFrame`]s and the daemon
//! answers each with a [`ServerFrame::Response`] carrying the same id;
//! streams (progress, `--watch`) arrive as [`ServerFrame::Event`] frames
//! before the final response. `Hello` and `Welcome` must stay readable by
//! every future version: only add optional fields to them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod events;
pub mod frame;
pub mod history;
pub mod lifecycle;
pub mod matrix;
pub mod smoke;
pub mod status;
mod weights;

pub use frame::{encode, read_frame, write_frame, write_frame_async, FrameError, MAX_REPLY_BYTES, MAX_REQUEST_BYTES};
pub use status::{RestoreOutcome, RestoreReport, StatusReport};
pub use weights::*;

/// Set by the spawning client: the daemon reports its start-up result on
/// stdout (a pipe: `ready <pid>` or `error: <why>`) instead of making the
/// client poll the socket.
pub const NOTIFY_ENV: &str = "ARW_DAEMON_NOTIFY";

/// Bumped whenever a message changes shape.
pub const PROTOCOL_VERSION: u32 = 3;

/// Identifies the exact build; two binaries from the same sources agree.
pub const BUILD_ID: &str = env!("ARW_BUILD_ID");

/// First frame on every connection, client → daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub build_id: String,
    #[serde(default)]
    pub client_pid: u32,
}

/// The daemon's answer to [`Hello`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol: u32,
    pub build_id: String,
    /// So a mismatched client can ask this daemon to drain and exit.
    pub pid: u32,
    /// The manifest the daemon loaded, so a client that asked for another
    /// one can say so.
    #[serde(default)]
    pub registry_origin: Option<String>,
    /// Variables the daemon's manifest references as `${VAR}`: the client
    /// sends these beside the knob prefixes (SPEC §1), and nothing else of
    /// its environment.
    #[serde(default)]
    pub env_refs: Vec<String>,
    /// The HTTP surface's URL when it is on, so a client whose
    /// `ARW_HTTP_LISTEN` asks for another can say so.
    #[serde(default)]
    pub http: Option<String>,
}

impl Hello {
    pub fn current() -> Hello {
        Hello { protocol: PROTOCOL_VERSION, build_id: BUILD_ID.to_string(), client_pid: std::process::id() }
    }
}

impl Welcome {
    pub fn matches_this_build(&self) -> bool {
        self.protocol == PROTOCOL_VERSION && self.build_id == BUILD_ID
    }
}

/// A request with its id and the client's environment knobs.
#[derive(Clone, Serialize, Deserialize)]
pub struct RequestFrame {
    pub id: u64,
    /// The requesting shell's `LLAMA_*`, `HF_*`, `SMOKE_*`… variables: they
    /// win over the daemon's own environment for this request (SPEC §1).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub request: Request,
}

impl std::fmt::Debug for RequestFrame {
    // Tokens travel in `env`; only the names are ever shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestFrame")
            .field("id", &self.id)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("request", &self.request)
            .finish()
    }
}

/// Everything a client can ask of the daemon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Request {
    /// Supervisor snapshot plus runtime matrix.
    Status,
    /// Stream `runtime.updated` events until the client hangs up.
    Watch,
    /// Supervised restore of one runtime.
    Restore(RestoreRequest),
    /// Daemon identity, uptime and registry origin.
    DaemonInfo,
    /// Re-read the runtime manifests; a bad file keeps the last good registry.
    Reload,
    /// Stop every runtime and exit.
    Shutdown,
    /// Fetch, list, verify or locate GGUF weights (SPEC §6); a fetch streams
    /// `weights.progress` events before its report.
    Weights(WeightsRequest),
    /// A chat completion forwarded to a runtime (OpenAI shape).
    Chat(ChatRequest),
    /// An end-to-end smoke run; stages arrive as `smoke.stage` events.
    Smoke(SmokeRequest),
    /// Bus events (SPEC §8) as [`Event::Bus`] frames: the retained ones
    /// after `after`, then, with `follow`, live ones until the client
    /// hangs up; without `follow` the replay ends with [`Response::Done`].
    Events(EventsRequest),
    /// Start one runtime (SPEC §10) and wait for ready or a failure.
    Start(lifecycle::StartRequest),
    /// Stop one runtime's whole process group; it stays offline.
    Stop(lifecycle::StopRequest),
    /// The tail of one runtime's log; with `follow`, a stream of
    /// [`Event::LogLines`] until the client hangs up.
    Logs(lifecycle::LogsRequest),
    /// `arw runtime reload [ID]`: re-read the manifest, restart what changed.
    RuntimeReload(lifecycle::RuntimeReloadRequest),
    /// One runtime's journaled lifecycle, oldest first (SPEC §10).
    History(history::HistoryRequest),
}

/// Payload of [`Request::Events`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventsRequest {
    /// Resume after this id; `None`: everything retained (or, with
    /// `follow`, the newest matrix and then live).
    #[serde(default)]
    pub after: Option<u64>,
    /// `runtime.*,models.changed`; empty: every topic.
    #[serde(default)]
    pub topics: String,
    #[serde(default)]
    pub follow: bool,
}

/// Payload of [`Request::Chat`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatRequest {
    pub runtime: String,
    /// The OpenAI `/v1/chat/completions` body, passed through as is.
    pub body: serde_json::Value,
}

/// Payload of [`Request::Smoke`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmokeRequest {
    pub mode: smoke::Mode,
    /// Absolute workspace root (the client resolves `.smoke/...` against its cwd).
    pub root: std::path::PathBuf,
    /// Overrides the timeout knobs when set; `0` disables the timeout.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Payload of [`Request::Restore`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RestoreRequest {
    pub id: String,
    /// Only answer whether the budget allows a restore now.
    #[serde(default)]
    pub dry_run: bool,
    /// Restore even when the restart budget is spent.
    #[serde(default)]
    pub force: bool,
    /// How long to wait for the runtime to become ready.
    #[serde(default = "default_restore_wait")]
    pub wait_ms: u64,
}

fn default_restore_wait() -> u64 {
    120_000
}

/// Every frame the daemon sends: `{"kind": "response", "id", "result"}` or
/// `{"kind": "event", "id", "event"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "FrameFields")]
pub enum ServerFrame {
    /// The final answer to request `id`.
    Response { id: u64, result: Result<Response, ErrorBody> },
    /// A pushed event belonging to the stream opened by request `id`.
    Event { id: u64, event: Event },
}

/// [`ServerFrame`] read as a plain struct: serde reads an internally tagged
/// enum by first copying the whole frame into a generic tree, which for a
/// large status doubles the client's work; a struct reads in one pass.
#[derive(Deserialize)]
struct FrameFields {
    kind: FrameKind,
    #[serde(default)]
    id: u64,
    result: Option<Result<Response, ErrorBody>>,
    event: Option<Event>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FrameKind {
    Response,
    Event,
}

impl TryFrom<FrameFields> for ServerFrame {
    type Error = &'static str;

    fn try_from(f: FrameFields) -> Result<Self, Self::Error> {
        match (f.kind, f.result, f.event) {
            (FrameKind::Response, Some(result), _) => Ok(ServerFrame::Response { id: f.id, result }),
            (FrameKind::Event, _, Some(event)) => Ok(ServerFrame::Event { id: f.id, event }),
            (FrameKind::Response, None, _) => Err("a response frame without `result`"),
            (FrameKind::Event, _, None) => Err("an event frame without `event`"),
        }
    }
}

/// Successful answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Response {
    /// `{"supervisor": ..., "matrix": ...}` exactly as `runtime status --json` prints it.
    Status(std::sync::Arc<StatusReport>),
    Restore(RestoreReport),
    DaemonInfo(DaemonInfo),
    Reloaded(ReloadReport),
    Chat(ChatReply),
    Smoke(Box<smoke::SmokeReport>),
    /// The request was carried out and has nothing to report.
    Done,
    /// What `runtime weights` found, fetched or verified.
    Weights(WeightsReport),
    Started(lifecycle::StartReport),
    Stopped(lifecycle::StopReport),
    Logs(lifecycle::LogsReport),
    History(history::HistoryReport),
}

/// Pushed events, tagged `{"type": ..., "data": ...}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    /// A fresh runtime matrix (with the supervisor view it was computed from).
    #[serde(rename = "runtime.updated")]
    RuntimeUpdated(std::sync::Arc<StatusReport>),
    /// Progress of a weights download or verification.
    #[serde(rename = "weights.progress")]
    WeightsProgress(WeightsProgress),
    /// A piece of a streamed chat reply.
    #[serde(rename = "chat.delta")]
    ChatDelta(String),
    /// A smoke stage finished.
    #[serde(rename = "smoke.stage")]
    SmokeStage(smoke::Stage),
    /// One bus event, for `arw events`.
    #[serde(rename = "bus")]
    Bus(events::Envelope),
    /// Sent on a quiet `--follow` stream so the client knows the daemon
    /// is still there.
    #[serde(rename = "tick")]
    Tick,
    /// New lines of a followed runtime log, in order.
    #[serde(rename = "log.lines")]
    LogLines(Vec<String>),
}

impl ChatReply {
    /// The assistant's text, when the body is a chat completion.
    pub fn text(&self) -> Option<&str> {
        self.body["choices"][0]["message"]["content"].as_str()
    }
}

/// What a runtime answered to a forwarded chat request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatReply {
    pub runtime: String,
    pub status: u16,
    /// The runtime's JSON answer; for a streamed request, the assembled
    /// completion in the non-streaming shape.
    pub body: serde_json::Value,
    pub elapsed_ms: u64,
    /// Time to the first streamed piece, when streaming.
    pub first_token_ms: Option<u64>,
}

/// Who the daemon is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub build_id: String,
    pub protocol: u32,
    pub started_at: String,
    pub uptime_secs: f64,
    pub home: String,
    pub socket: String,
    pub registry_origin: String,
    pub runtimes: usize,
    pub clients: usize,
    pub idle_timeout_secs: u64,
    /// `http://ADDRESS:PORT/` when the HTTP surface is on.
    #[serde(default)]
    pub http: Option<String>,
}

/// Result of a reload.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReloadReport {
    pub origin: String,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
    /// Changed runtimes that were running and are being restarted with
    /// their new spec.
    #[serde(default)]
    pub restarted: Vec<String>,
    /// With `reload ID`: other runtimes whose manifest entry differs from
    /// what runs, left as they are.
    #[serde(default)]
    pub pending: Vec<String>,
    /// How each restarted runtime came back (`arw runtime reload` waits;
    /// `arw daemon reload` and the file watcher do not).
    #[serde(default)]
    pub restarts: Vec<lifecycle::ReloadRestart>,
}

/// What went wrong with a request.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(default)]
    pub hint: Option<String>,
}

/// Error categories; the client maps them to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The frame could not be read as a request; the connection is closed.
    BadFrame,
    BadRequest,
    UnknownRuntime,
    /// The runtime exists but cannot serve the request now.
    RuntimeUnavailable,
    /// The runtime answered with an error.
    Upstream,
    BudgetExhausted,
    Config,
    /// The daemon is at its connection or buffer limit; try again.
    Busy,
    Internal,
}

impl ErrorBody {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorBody {
        ErrorBody { kind, message: message.into(), hint: None }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> ErrorBody {
        self.hint = Some(hint.into());
        self
    }
}
