//! The journal: what the daemon must not forget when it stops or dies —
//! runtime lifecycles, exits with their causes, restart-budget windows and
//! totals (SPEC §10) — in SQLite at `$ARW_HOME/state/arw.db` (WAL).
//!
//! The supervisor never waits for it: it hands [`Record`]s to a [`Sink`]
//! (a bounded channel; a full one drops and counts), and one writer thread
//! owns the database, writing whatever has queued up in one transaction.
//! A new daemon reads the journal once, before any runtime starts
//! ([`open`] → [`Restored`]): budget windows, totals, last exits and
//! generations, and it records `daemon_lost` for every runtime whose
//! process was running when its predecessor died.
//!
//! A journal that cannot be used never stops supervision: a damaged file is
//! moved aside (`arw.db.corrupt-<time>`, never deleted) and a new one is
//! started; a file that cannot be opened or written (read-only `state/`, a
//! directory or link planted at `arw.db`, a full disk, a newer schema)
//! leaves the daemon keeping its journal in memory, and the matrix says so
//! in a detail line ([`Journal::problem`]).
//!
//! Retention: events older than 30 days go, and of each runtime only the
//! newest 100 000 events (and budget restarts) stay
//! (`ARW_JOURNAL_MAX_AGE_DAYS`, `ARW_JOURNAL_MAX_ROWS` in the daemon's
//! environment). The writer prunes in batches, a few seconds after start and
//! then every minute or every tenth of the row limit written.
//! `ARW_JOURNAL=off` turns the journal off (nothing is read or written).

pub mod schema;
mod store;
mod writer;

use crate::protocol::status::{ExitRecord, RestartTotals};
use crate::supervisor::budget::RestartKind;
use rusqlite::{Connection, OpenFlags};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;

/// Records the writer may fall behind by before new ones are dropped. A
/// counter bounds an unbounded channel: a bounded one would allocate (and
/// touch) every slot up front, megabytes of an idle daemon's memory.
const QUEUE: usize = 65_536;
/// How long a clean shutdown waits for the writer to finish.
const CLOSE_WAIT: Duration = Duration::from_secs(3);

/// One thing that happened to a runtime, as the supervisor reports it.
#[derive(Debug, Clone)]
pub enum Record {
    Start {
        id: String,
        generation: u64,
        pid: u32,
        at: SystemTime,
    },
    Exit {
        id: String,
        generation: u64,
        at: SystemTime,
        exit: ExitRecord,
    },
    /// A restart the budget counts: `Automatic` (a crash, within the
    /// budget) or `Manual` (an operator's restore).
    Restart {
        id: String,
        kind: RestartKind,
        at: SystemTime,
        detail: String,
    },
    /// `arw runtime stop` put the runtime on hold (`true`), or a start or
    /// restore lifted it: a new daemon must not auto-start a stopped one.
    Hold {
        id: String,
        held: bool,
        at: SystemTime,
    },
}

impl Record {
    pub fn exit(id: &str, generation: u64, exit: &ExitRecord) -> Record {
        let at = crate::time::parse(&exit.at).unwrap_or_else(SystemTime::now);
        Record::Exit { id: id.to_string(), generation, at, exit: exit.clone() }
    }

    fn runtime(&self) -> &str {
        match self {
            Record::Start { id, .. }
            | Record::Exit { id, .. }
            | Record::Restart { id, .. }
            | Record::Hold { id, .. } => id,
        }
    }
}

/// What the journal remembers of one runtime when a daemon starts.
#[derive(Debug, Clone, Default)]
pub struct RestoredRuntime {
    pub generation: u64,
    pub ever_started: bool,
    pub totals: RestartTotals,
    pub last_exit: Option<ExitRecord>,
    /// Restarts still inside the runtime's window, oldest first.
    pub restarts: Vec<(SystemTime, RestartKind)>,
    /// Stopped by the operator and not started since.
    pub held: bool,
}

/// Everything restored at start, by runtime id.
#[derive(Debug, Clone, Default)]
pub struct Restored {
    pub runtimes: HashMap<String, RestoredRuntime>,
}

/// The retention rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Retention {
    pub max_age: Duration,
    /// Per runtime.
    pub max_rows: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { max_age: Duration::from_secs(30 * 86_400), max_rows: 100_000 }
    }
}

/// The daemon's journal knobs, read once when it starts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {
    pub off: bool,
    pub retention: Retention,
}

impl Settings {
    /// A bad value is refused when the daemon starts, like its other knobs.
    pub fn from_env() -> Result<Settings, String> {
        Settings::from(|k| std::env::var(k).ok())
    }

    pub fn from(get: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut s = Settings::default();
        if let Some(v) = get("ARW_JOURNAL") {
            s.off = match v.trim() {
                "off" | "0" | "false" | "no" => true,
                "on" | "1" | "true" | "yes" | "" => false,
                _ => return Err(format!("`ARW_JOURNAL={}` is not `on` or `off`", crate::text::quote(&v, 40))),
            };
        }
        let positive = |name: &str| -> Result<Option<u64>, String> {
            match get(name) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(format!("`{name}={}` is not a whole number above 0", crate::text::quote(&v, 40))),
                },
            }
        };
        if let Some(days) = positive("ARW_JOURNAL_MAX_AGE_DAYS")? {
            s.retention.max_age = Duration::from_secs(days.saturating_mul(86_400));
        }
        if let Some(rows) = positive("ARW_JOURNAL_MAX_ROWS")? {
            s.retention.max_rows = rows;
        }
        Ok(s)
    }
}

/// What the writer and the daemon share: what to tell the operator.
#[derive(Default)]
struct Shared {
    /// Said since start: memory only, file moved aside.
    opened: Option<String>,
    /// Set while writes fail; cleared when one succeeds again.
    failing: Mutex<Option<String>>,
    dropped: AtomicU64,
    /// Records sent and not yet taken by the writer.
    queued: AtomicUsize,
}

/// Where the supervisor sends its records. Cheap to clone; a disabled one
/// (journal off, unit tests) drops everything.
#[derive(Clone, Default)]
pub struct Sink {
    tx: Option<Sender<writer::Cmd>>,
    shared: Option<Arc<Shared>>,
}

impl Sink {
    /// Never blocks: a writer that fell [`QUEUE`] records behind loses the
    /// newest ones, and the matrix says how many.
    pub fn send(&self, record: Record) {
        let (Some(tx), Some(shared)) = (&self.tx, &self.shared) else { return };
        if shared.queued.fetch_add(1, Ordering::Relaxed) >= QUEUE {
            shared.queued.fetch_sub(1, Ordering::Relaxed);
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if tx.send(writer::Cmd::Record(record)).is_err() {
            shared.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The daemon's handle on its journal.
pub struct Journal {
    sink: Sink,
    shared: Arc<Shared>,
    /// The file, or `memory`, or `off`.
    place: String,
}

impl Journal {
    fn off() -> Journal {
        Journal { sink: Sink::default(), shared: Arc::default(), place: "off".into() }
    }

    pub fn sink(&self) -> Sink {
        self.sink.clone()
    }

    pub fn is_off(&self) -> bool {
        self.sink.tx.is_none()
    }

    /// `$ARW_HOME/state/arw.db`, `memory` or `off`.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// A matrix detail line while the journal is not what it should be.
    pub fn problem(&self) -> Option<String> {
        let mut parts: Vec<String> = self.shared.opened.iter().cloned().collect();
        if let Some(failing) = self.shared.failing.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            parts.push(failing);
        }
        let dropped = self.shared.dropped.load(Ordering::Relaxed);
        if dropped > 0 {
            parts.push(format!(
                "the journal writer fell behind and {dropped} event(s) were not journaled; supervision went on"
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// The newest `limit` events of `id` (0: all, up to the protocol cap),
    /// oldest first, the total the journal holds, and whether it knows `id`.
    pub async fn history(&self, id: &str, limit: u32) -> Result<writer::History, String> {
        let Some(tx) = &self.sink.tx else {
            return Err("the journal is off (`ARW_JOURNAL=off` when the daemon started); start the daemon without it to keep history".into());
        };
        let (reply, rx) = oneshot::channel();
        tx.send(writer::Cmd::History { id: id.to_string(), limit, reply })
            .map_err(|_| "the journal writer stopped".to_string())?;
        rx.await.map_err(|_| "the journal writer stopped".to_string())?
    }

    /// Waits (a little) for everything sent so far to be written.
    pub async fn close(&self) {
        let Some(tx) = &self.sink.tx else { return };
        let (reply, rx) = oneshot::channel();
        if tx.send(writer::Cmd::Close(reply)).is_ok() {
            let _ = tokio::time::timeout(CLOSE_WAIT, rx).await;
        }
    }
}

pub fn state_dir(home: &Path) -> PathBuf {
    home.join("state")
}

pub fn db_path(home: &Path) -> PathBuf {
    state_dir(home).join("arw.db")
}

pub(crate) fn ms(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis().min(i64::MAX as u128) as i64,
        Err(e) => -(e.duration().as_millis().min(i64::MAX as u128) as i64),
    }
}

pub(crate) fn time(ms: i64) -> SystemTime {
    if ms >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

/// Why a journal file could not be used.
#[derive(Debug)]
enum Unusable {
    /// Not a database, or a damaged one: move it aside.
    Damaged(String),
    /// Written by a newer arw: leave it alone.
    Newer(i64),
    /// Cannot be opened or written here: leave it alone.
    Refused(String),
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
}

fn classify(e: rusqlite::Error) -> Unusable {
    if is_damage(&e) {
        Unusable::Damaged(e.to_string())
    } else {
        Unusable::Refused(e.to_string())
    }
}

impl From<schema::MigrateError> for Unusable {
    fn from(e: schema::MigrateError) -> Self {
        match e {
            schema::MigrateError::Newer { found } => Unusable::Newer(found),
            schema::MigrateError::Sql(e) => classify(e),
        }
    }
}

/// Opens (creating `0600` in a `0700` `state/`) and migrates the journal
/// file. Nothing here follows a link or opens anything but a regular file.
fn open_file(path: &Path) -> Result<Connection, Unusable> {
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::fsx::ensure_private_dir(dir).map_err(|e| Unusable::Refused(e.to_string()))?;
    // SQLite keeps two files beside the database; a link or a stranger's
    // file planted there is refused like one at the database itself.
    for side in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(side);
        let p = PathBuf::from(p);
        if std::fs::symlink_metadata(&p).is_ok() {
            crate::fsx::open_read_write(&p).map_err(|e| Unusable::Refused(e.to_string()))?;
        }
    }
    // Created here, `0600` and never through a link; SQLite gives its side
    // files the same mode.
    crate::fsx::open_append(path).map_err(|e| Unusable::Refused(e.to_string()))?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_NOFOLLOW;
    let mut conn = Connection::open_with_flags(path, flags).map_err(classify)?;
    configure(&conn).map_err(classify)?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(classify)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Unusable::Refused(format!("SQLite could not switch it to WAL mode (it stays `{mode}`)")));
    }
    schema::migrate(&mut conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // A second reader (an operator's `sqlite3`) may hold it for a moment.
    conn.busy_timeout(Duration::from_millis(250))?;
    // WAL with NORMAL: a commit survives the daemon's death (SIGKILL);
    // only a power loss may take the last ones.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "journal_size_limit", 4 * 1024 * 1024)?;
    conn.pragma_update(None, "foreign_keys", false)?;
    // The daemon forks for every runtime start: a small heap forks faster.
    conn.pragma_update(None, "cache_size", -256)?;
    Ok(())
}

fn open_memory() -> Connection {
    let mut conn = Connection::open_in_memory().expect("an in-memory SQLite database");
    schema::migrate(&mut conn).expect("the schema applies to an empty database");
    conn
}

/// `arw.db` → `arw.db.corrupt-20261201T233528Z` (and its `-wal`/`-shm`
/// beside it, so SQLite can still read the moved copy). Returns the new name.
fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".corrupt-{stamp}"));
    let aside = PathBuf::from(aside);
    std::fs::rename(path, &aside)?;
    for side in ["-wal", "-shm"] {
        let (mut from, mut to) = (path.as_os_str().to_owned(), aside.as_os_str().to_owned());
        from.push(side);
        to.push(side);
        let _ = std::fs::rename(&from, &to);
    }
    Ok(aside)
}

/// The one-shot work of a daemon's start, in one transaction: record lost
/// runtimes, read back what `windows` (id, window seconds) need, and note
/// this daemon.
fn prepare(conn: &mut Connection, windows: &[(String, u64)]) -> rusqlite::Result<(Restored, Vec<String>, i64)> {
    let now = SystemTime::now();
    let tx = conn.transaction()?;
    let lost = store::mark_lost(&tx, now)?;
    let restored = store::restore(&tx, windows, now)?;
    let row = store::begin_daemon(&tx, now)?;
    tx.commit()?;
    Ok((restored, lost, row))
}

/// Opens the journal under `home`, restores what the runtimes in `windows`
/// (id, window seconds) need, and starts the writer. Never fails: a journal
/// that cannot be used becomes one in memory, and [`Journal::problem`]
/// says why.
pub fn open(home: &Path, settings: &Settings, windows: &[(String, u64)]) -> (Journal, Restored) {
    if settings.off {
        return (Journal::off(), Restored::default());
    }
    let path = db_path(home);
    let shown = path.display().to_string();
    let memory_only = "restart windows and history are kept in memory until the daemon stops";
    let mut note = None;
    let mut opened = open_file(&path).and_then(|mut c| match prepare(&mut c, windows) {
        Ok(p) => Ok((c, p)),
        Err(e) => Err(classify(e)),
    });
    if let Err(Unusable::Damaged(why)) = &opened {
        let why = why.clone();
        match move_aside(&path) {
            Ok(aside) => {
                crate::dlog!("journal `{shown}` is damaged ({why}); moved it to `{}`", aside.display());
                note = Some(format!(
                    "the journal `{shown}` was damaged ({why}); it was moved to `{}` and a new one started",
                    aside.display()
                ));
                opened = open_file(&path).and_then(|mut c| match prepare(&mut c, windows) {
                    Ok(p) => Ok((c, p)),
                    Err(e) => Err(classify(e)),
                });
            }
            Err(e) => {
                opened = Err(Unusable::Refused(format!("it is damaged ({why}) and cannot be moved aside: {e}")));
            }
        }
    }
    let (conn, restored, place, row) = match opened {
        Ok((conn, (restored, lost, row))) => {
            if !lost.is_empty() {
                crate::dlog!("journal: the last daemon died while {} ran; recorded as daemon_lost", lost.join(", "));
            }
            (conn, restored, shown.clone(), Some(row))
        }
        Err(why) => {
            let why = match why {
                Unusable::Newer(found) => format!(
                    "the journal `{shown}` has schema version {found}, newer than this arw knows ({}); it was left untouched and {memory_only}; run the newer arw, or move the file away",
                    schema::VERSION
                ),
                Unusable::Damaged(why) | Unusable::Refused(why) => {
                    format!("the journal `{shown}` cannot be used ({why}); {memory_only}")
                }
            };
            crate::dlog!("{why}");
            let prior = note.take();
            note = Some(prior.map_or(why.clone(), |p| format!("{p}; {why}")));
            (open_memory(), Restored::default(), "memory".to_string(), None)
        }
    };
    let shared = Arc::new(Shared { opened: note, ..Default::default() });
    let (tx, rx) = std::sync::mpsc::channel();
    let file = (place != "memory").then(|| path.clone());
    let w = writer::Writer::new(conn, file, shared.clone(), settings.retention.clone(), row);
    if let Err(e) =
        std::thread::Builder::new().name("arw-journal".into()).stack_size(1024 * 1024).spawn(move || w.run(rx))
    {
        crate::dlog!("journal: no writer thread ({e}); nothing will be journaled");
        return (Journal::off(), restored);
    }
    let sink = Sink { tx: Some(tx), shared: Some(shared.clone()) };
    (Journal { sink, shared, place }, restored)
}

#[cfg(test)]
mod tests;
