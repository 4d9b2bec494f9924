//! The writer thread: the only owner of the journal's connection. It takes
//! whatever has queued up, writes it in one transaction, answers history
//! queries behind the writes sent before them, and prunes by the rule.

use super::{is_damage, store, Record, Retention, Shared};
use crate::protocol::history::HistoryEvent;
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;

/// Commands per transaction at most.
const BATCH: usize = 4_096;
/// How long a record waits for others to share its transaction: a commit
/// costs far more than a row, and a crash loop sends records in bursts.
const LINGER: Duration = Duration::from_millis(5);
/// Failed records kept for a retry while the file cannot be written.
const MAX_PENDING: usize = 100_000;
/// The first prune waits until the daemon has started and answered.
const FIRST_PRUNE: Duration = Duration::from_secs(5);
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// A history answer.
#[derive(Debug)]
pub struct History {
    pub total: u64,
    pub events: Vec<HistoryEvent>,
    /// Whether the journal has a row for the runtime at all.
    pub known: bool,
    /// Every runtime the journal knows, for an "unknown id" message.
    pub journaled: Vec<String>,
}

pub enum Cmd {
    Record(Record),
    History {
        id: String,
        limit: u32,
        reply: oneshot::Sender<Result<History, String>>,
    },
    /// Write what is queued, checkpoint, reply, stop.
    Close(oneshot::Sender<()>),
}

pub struct Writer {
    conn: Connection,
    /// `None`: in memory.
    file: Option<PathBuf>,
    shared: Arc<Shared>,
    retention: Retention,
    daemon_row: Option<i64>,
    pending: Vec<Record>,
    /// Rows written per runtime since its last prune.
    written: HashMap<String, u64>,
    /// Prune every runtime the journal knows on the first round.
    pruned_once: bool,
}

impl Writer {
    pub fn new(
        conn: Connection,
        file: Option<PathBuf>,
        shared: Arc<Shared>,
        retention: Retention,
        daemon_row: Option<i64>,
    ) -> Writer {
        Writer {
            conn,
            file,
            shared,
            retention,
            daemon_row,
            pending: Vec::new(),
            written: HashMap::new(),
            pruned_once: false,
        }
    }

    pub fn run(mut self, rx: Receiver<Cmd>) {
        // Under load the supervisor's thread wins the CPU, not the journal's.
        // SAFETY: setpriority on this thread's own id.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
        }
        let mut next_prune = Instant::now() + FIRST_PRUNE;
        loop {
            let wait = next_prune.saturating_duration_since(Instant::now());
            let mut cmds = Vec::new();
            match rx.recv_timeout(wait) {
                Ok(cmd) => {
                    // Asleep, not waiting on the channel: the records sent
                    // meanwhile wake nobody (a wake-up per record would cost
                    // the sender a syscall and both a context switch).
                    if matches!(cmd, Cmd::Record(_)) {
                        std::thread::sleep(LINGER);
                    }
                    cmds.push(cmd);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.flush();
                    return;
                }
            }
            while cmds.len() < BATCH {
                match rx.try_recv() {
                    Ok(cmd) => cmds.push(cmd),
                    Err(_) => break,
                }
            }
            let mut queries = Vec::new();
            let mut closing = None;
            for cmd in cmds {
                match cmd {
                    Cmd::Record(r) => {
                        self.shared.queued.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        self.pending.push(r);
                    }
                    Cmd::History { id, limit, reply } => queries.push((id, limit, reply)),
                    Cmd::Close(reply) => closing = Some(reply),
                }
            }
            self.flush();
            for (id, limit, reply) in queries {
                let _ = reply.send(self.history(&id, limit).map_err(|e| format!("cannot read the journal: {e}")));
            }
            if let Some(reply) = closing {
                self.close();
                let _ = reply.send(());
                return;
            }
            let threshold = (self.retention.max_rows / 10).max(1);
            if Instant::now() >= next_prune || self.written.values().any(|&n| n >= threshold) {
                self.prune();
                next_prune = Instant::now() + PRUNE_EVERY;
            }
        }
    }

    fn history(&self, id: &str, limit: u32) -> rusqlite::Result<History> {
        let (total, events) = store::history(&self.conn, id, limit, crate::protocol::history::MAX_EVENTS)?;
        let known = total > 0 || store::knows(&self.conn, id)?;
        let journaled = if known { Vec::new() } else { store::runtime_ids(&self.conn)? };
        Ok(History { total, events, known, journaled })
    }

    fn set_failing(&self, why: Option<String>) {
        *self.shared.failing.lock().unwrap_or_else(|p| p.into_inner()) = why;
    }

    /// Writes the pending records. A damaged file is moved aside and a new
    /// one takes them; any other failure keeps them for the next try.
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let result = store::write(&mut self.conn, &self.pending);
        let result = match result {
            Err(e) if is_damage(&e) => {
                self.replace_damaged(&e.to_string());
                store::write(&mut self.conn, &self.pending)
            }
            other => other,
        };
        match result {
            Ok(()) => {
                for r in self.pending.drain(..) {
                    *self.written.entry(r.runtime().to_string()).or_default() += 1;
                }
                self.set_failing(None);
            }
            Err(e) => {
                let lost = self.pending.len().saturating_sub(MAX_PENDING);
                if lost > 0 {
                    self.pending.drain(..lost);
                    self.shared.dropped.fetch_add(lost as u64, std::sync::atomic::Ordering::Relaxed);
                }
                let place = self.file.as_ref().map_or("memory".into(), |p| p.display().to_string());
                self.set_failing(Some(format!(
                    "cannot write the journal `{place}` ({e}); supervision goes on and the newest {} event(s) wait in memory for the next try",
                    self.pending.len()
                )));
            }
        }
    }

    /// The file went bad under us: move it aside, start a new one (or keep
    /// going in memory).
    fn replace_damaged(&mut self, why: &str) {
        let Some(path) = self.file.clone() else { return };
        let memory = super::open_memory();
        // Closing first: the files are renamed under no open connection.
        drop(std::mem::replace(&mut self.conn, memory));
        let moved = super::move_aside(&path);
        let fresh = moved.as_ref().ok().and_then(|_| super::open_file(&path).ok());
        let note = match (&moved, fresh) {
            (Ok(aside), Some(conn)) => {
                self.conn = conn;
                format!(
                    "the journal `{}` was damaged ({why}); it was moved to `{}` and a new one started",
                    path.display(),
                    aside.display()
                )
            }
            (Ok(aside), None) => {
                self.file = None;
                format!("the journal `{}` was damaged ({why}) and moved to `{}`; no new one could be started, so the journal is kept in memory", path.display(), aside.display())
            }
            (Err(e), _) => {
                self.file = None;
                format!("the journal `{}` is damaged ({why}) and cannot be moved aside ({e}); the journal is kept in memory", path.display())
            }
        };
        crate::dlog!("{note}");
        self.set_failing(Some(note));
    }

    fn prune(&mut self) {
        let ids: Vec<String> = if self.pruned_once {
            self.written.keys().cloned().collect()
        } else {
            store::runtime_ids(&self.conn).unwrap_or_default()
        };
        let started = Instant::now();
        match store::prune(&self.conn, &self.retention, &ids, SystemTime::now()) {
            Ok(deleted) => {
                self.pruned_once = true;
                self.written.clear();
                if deleted > 0 {
                    crate::dlog!("journal: pruned {deleted} row(s) in {} ms", started.elapsed().as_millis());
                }
            }
            Err(e) => crate::dlog!("journal: cannot prune: {e}"),
        }
    }

    fn close(&mut self) {
        self.flush();
        // A stopped daemon leaves the journal within the rule, to the row.
        if !self.written.is_empty() || !self.pruned_once {
            self.prune();
        }
        if let Some(row) = self.daemon_row {
            let _ = store::end_daemon(&self.conn, row, SystemTime::now());
        }
        // Fold the WAL into the database: the file alone is the journal.
        let _ = self.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
    }
}
