//! `arw runtime history`: one runtime's lifecycle as the journal keeps it.

use serde::{Deserialize, Serialize};

/// Payload of [`super::Request::History`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryRequest {
    pub id: String,
    /// The newest this many events; 0: all the journal keeps (up to
    /// [`MAX_EVENTS`]).
    #[serde(default)]
    pub limit: u32,
}

/// The most events one answer carries, so it always fits in a frame.
pub const MAX_EVENTS: u32 = 10_000;

/// What the journal holds for one runtime.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryReport {
    pub id: String,
    /// Whether the running manifest still declares it; a removed runtime's
    /// history stays readable while the journal keeps it.
    pub registered: bool,
    /// `$ARW_HOME/state/arw.db`, or `memory` when the journal could not use
    /// its file (then only this daemon's life is shown).
    pub journal: String,
    /// Events the journal holds for this runtime, of which `events` are the newest.
    pub total: u64,
    /// Oldest first.
    pub events: Vec<HistoryEvent>,
    /// Said once above the table: a removed runtime, an in-memory journal.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// One journaled event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// RFC 3339, UTC, milliseconds.
    pub at: String,
    /// `start`, `exit`, `stop` (an exit arw asked for), `restart`
    /// (automatic, within the budget) or `restore` (an operator's).
    pub kind: String,
    pub generation: Option<u64>,
    pub pid: Option<u32>,
    /// For exits: `exited`, `signaled`, `oom_killed`, `health_timeout`,
    /// `startup_timeout`, `spawn_failed`, `stopped`, `daemon_lost`.
    pub cause: Option<String>,
    pub code: Option<i32>,
    pub signal: Option<String>,
    pub detail: Option<String>,
    pub error_line: Option<String>,
}
