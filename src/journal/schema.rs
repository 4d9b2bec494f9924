//! The journal's tables, and the migrations that build them.
//!
//! `PRAGMA user_version` is the number of migrations applied. A new version
//! of arw appends to [`MIGRATIONS`] and never edits an applied one; opening
//! applies the missing ones in order, in one transaction. A file with a
//! higher version than this build knows was written by a newer arw: it is
//! left untouched (see `super::open`).
//!
//! Tables (times are Unix milliseconds, UTC):
//! - `lifecycle`: one row per event of a runtime — `start` (generation,
//!   pid), `exit` / `stop` (cause, code, signal, detail, error line and the
//!   whole exit record as JSON), `restart` (automatic, within the budget),
//!   `restore` (an operator's). What `arw runtime history` prints.
//! - `budget_restarts`: every restart the budget counted, with its kind
//!   (`automatic`, `manual`): the restart windows a new daemon restores.
//! - `runtimes`: one row per runtime — lifetime totals, the last exit, the
//!   last generation, and the pid while a process runs (set at start,
//!   cleared at exit: a row still set when a daemon starts means its
//!   predecessor died under that runtime: `daemon_lost`).
//! - `daemons`: each daemon's pid, build and start/stop times.
//! - `leases`, `throughput`, `bus_events`: kept empty for now; room for the
//!   grid's leases and throughput samples (SPEC §11) and the event ids a
//!   resume after a daemon restart needs (SPEC §8).

use rusqlite::{Connection, Transaction};

/// Applied in order; index + 1 is the schema version it brings.
pub const MIGRATIONS: &[&str] = &[
    // 1: the first journal.
    "CREATE TABLE lifecycle (
        seq INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        runtime TEXT NOT NULL,
        kind TEXT NOT NULL,
        generation INTEGER,
        pid INTEGER,
        cause TEXT,
        code INTEGER,
        signal TEXT,
        detail TEXT,
        error_line TEXT,
        exit_json TEXT
    );
    CREATE INDEX lifecycle_by_runtime ON lifecycle (runtime, seq);
    CREATE INDEX lifecycle_by_time ON lifecycle (at_ms);
    CREATE TABLE budget_restarts (
        seq INTEGER PRIMARY KEY,
        runtime TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('automatic', 'manual'))
    );
    CREATE INDEX budget_restarts_by_runtime ON budget_restarts (runtime, at_ms);
    CREATE TABLE runtimes (
        runtime TEXT PRIMARY KEY,
        generation INTEGER NOT NULL DEFAULT 0,
        ever_started INTEGER NOT NULL DEFAULT 0,
        automatic_total INTEGER NOT NULL DEFAULT 0,
        manual_total INTEGER NOT NULL DEFAULT 0,
        last_exit TEXT,
        running_pid INTEGER,
        running_generation INTEGER,
        running_daemon INTEGER,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE daemons (
        seq INTEGER PRIMARY KEY,
        pid INTEGER NOT NULL,
        build TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        stopped_ms INTEGER
    );
    CREATE TABLE leases (
        id TEXT PRIMARY KEY,
        runtime TEXT NOT NULL,
        holder TEXT NOT NULL,
        granted_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        data TEXT
    );
    CREATE TABLE throughput (
        seq INTEGER PRIMARY KEY,
        runtime TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        elapsed_ms INTEGER,
        data TEXT
    );
    CREATE INDEX throughput_by_runtime ON throughput (runtime, at_ms);
    CREATE TABLE bus_events (
        id INTEGER PRIMARY KEY,
        topic TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        data TEXT NOT NULL
    );",
    // 2: an operator's stop outlives the daemon.
    "ALTER TABLE runtimes ADD COLUMN held INTEGER NOT NULL DEFAULT 0;",
];

/// The version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// How opening a journal can go wrong at the schema level.
#[derive(Debug)]
pub enum MigrateError {
    /// Written by a newer arw: `found` > [`VERSION`].
    Newer {
        found: i64,
    },
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// Brings `conn` to [`VERSION`], applying the missing migrations in one
/// transaction; returns the version found.
pub fn migrate(conn: &mut Connection) -> Result<i64, MigrateError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > VERSION {
        return Err(MigrateError::Newer { found });
    }
    if found == VERSION {
        return Ok(found);
    }
    let tx = conn.transaction()?;
    apply(&tx, found)?;
    tx.commit()?;
    Ok(found)
}

fn apply(tx: &Transaction, from: i64) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database gets every table at the current version; a second
    /// open applies nothing; a newer file is refused, not changed.
    #[test]
    fn migrations_apply_once_and_refuse_newer() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(migrate(&mut conn).unwrap(), VERSION);
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN \
                 ('lifecycle', 'budget_restarts', 'runtimes', 'daemons', 'leases', 'throughput', 'bus_events')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 7);
        conn.pragma_update(None, "user_version", VERSION + 1).unwrap();
        assert!(matches!(migrate(&mut conn), Err(MigrateError::Newer { found }) if found == VERSION + 1));
    }
}
