//! The journal's SQL: what a record writes, what a new daemon reads back,
//! what `history` shows and what retention deletes. Plain functions on a
//! connection, so they run the same on the file and in memory.

use super::{ms, time, Record, Restored, RestoredRuntime, Retention};
use crate::protocol::history::HistoryEvent;
use crate::protocol::status::{ExitCause, ExitRecord, RestartTotals};
use crate::supervisor::budget::RestartKind;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::time::SystemTime;

/// Deleted per statement, so a prune never holds the file for long.
const PRUNE_BATCH: i64 = 5_000;
/// Batches per table and runtime in one prune; a backlog beyond that
/// waits for the next prune.
const PRUNE_ROUNDS: usize = 20;

fn cause_name(cause: ExitCause) -> String {
    serde_json::to_value(cause).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn kind_name(kind: RestartKind) -> &'static str {
    match kind {
        RestartKind::Automatic => "automatic",
        RestartKind::Manual => "manual",
    }
}

/// Writes `records` in one transaction: all or nothing.
pub fn write(conn: &mut Connection, records: &[Record]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for r in records {
        insert(&tx, r)?;
    }
    tx.commit()
}

fn touch(tx: &Transaction, id: &str, now: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO runtimes (runtime, updated_ms) VALUES (?1, ?2)
         ON CONFLICT (runtime) DO UPDATE SET updated_ms = excluded.updated_ms",
    )?
    .execute(params![id, now])?;
    Ok(())
}

fn insert(tx: &Transaction, record: &Record) -> rusqlite::Result<()> {
    match record {
        Record::Start { id, generation, pid, at } => {
            touch(tx, id, ms(*at))?;
            tx.prepare_cached(
                "INSERT INTO lifecycle (at_ms, runtime, kind, generation, pid) VALUES (?1, ?2, 'start', ?3, ?4)",
            )?
            .execute(params![ms(*at), id, *generation as i64, pid])?;
            tx.prepare_cached(
                "UPDATE runtimes SET generation = ?2, ever_started = 1, running_pid = ?3, running_generation = ?2,
                 running_daemon = ?4 WHERE runtime = ?1",
            )?
            .execute(params![id, *generation as i64, pid, std::process::id()])?;
        }
        Record::Exit { id, generation, at, exit } => {
            touch(tx, id, ms(*at))?;
            let json = serde_json::to_string(exit).unwrap_or_default();
            let kind = if exit.cause == ExitCause::Stopped { "stop" } else { "exit" };
            tx.prepare_cached(
                "INSERT INTO lifecycle (at_ms, runtime, kind, generation, cause, code, signal, detail, error_line, exit_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                ms(*at),
                id,
                kind,
                *generation as i64,
                cause_name(exit.cause),
                exit.code,
                exit.signal,
                exit.detail,
                exit.error_line,
                json
            ])?;
            // Only the generation that runs is cleared: a late exit of an
            // older one must not hide a live process from the next daemon.
            tx.prepare_cached(
                "UPDATE runtimes SET last_exit = ?2,
                 running_pid = CASE WHEN running_generation = ?3 THEN NULL ELSE running_pid END,
                 running_generation = CASE WHEN running_generation = ?3 THEN NULL ELSE running_generation END
                 WHERE runtime = ?1",
            )?
            .execute(params![id, json, *generation as i64])?;
        }
        Record::Hold { id, held, at } => {
            touch(tx, id, ms(*at))?;
            tx.prepare_cached("UPDATE runtimes SET held = ?2 WHERE runtime = ?1")?
                .execute(params![id, *held as i64])?;
        }
        Record::Restart { id, kind, at, detail } => {
            touch(tx, id, ms(*at))?;
            let (event, count) = match kind {
                RestartKind::Automatic => {
                    ("restart", "UPDATE runtimes SET automatic_total = automatic_total + 1 WHERE runtime = ?1")
                }
                RestartKind::Manual => {
                    ("restore", "UPDATE runtimes SET manual_total = manual_total + 1 WHERE runtime = ?1")
                }
            };
            tx.prepare_cached("INSERT INTO lifecycle (at_ms, runtime, kind, detail) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![ms(*at), id, event, detail])?;
            tx.prepare_cached("INSERT INTO budget_restarts (runtime, at_ms, kind) VALUES (?1, ?2, ?3)")?
                .execute(params![id, ms(*at), kind_name(*kind)])?;
            tx.prepare_cached(count)?.execute(params![id])?;
        }
    }
    Ok(())
}

/// Runtimes whose process was running when the last daemon died without
/// recording its exit: each gets a `daemon_lost` exit. Returns their ids.
pub fn mark_lost(tx: &Transaction, now: SystemTime) -> rusqlite::Result<Vec<String>> {
    let lost: Vec<(String, i64, i64, Option<i64>)> = tx
        .prepare("SELECT runtime, running_pid, running_generation, running_daemon FROM runtimes WHERE running_pid IS NOT NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, Option<i64>>(2)?.unwrap_or(0), r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut ids = Vec::new();
    for (id, pid, generation, daemon) in lost {
        let daemon = daemon.map(|d| format!(" (pid {d})")).unwrap_or_default();
        let exit = ExitRecord {
            at: crate::time::rfc3339(now),
            cause: ExitCause::DaemonLost,
            code: None,
            signal: None,
            detail: format!(
                "the daemon{daemon} died while it ran as pid {pid}; its process group was stopped with the daemon"
            ),
            stderr_tail: Vec::new(),
            error_line: None,
        };
        insert(tx, &Record::Exit { id: id.clone(), generation: generation as u64, at: now, exit })?;
        // Whatever the generation, nothing of that daemon runs any more.
        tx.execute("UPDATE runtimes SET running_pid = NULL, running_generation = NULL WHERE runtime = ?1", [&id])?;
        ids.push(id);
    }
    Ok(ids)
}

/// What a new daemon needs of each runtime in `windows` (id, window length
/// in seconds): the restarts still inside its window, totals, last exit,
/// generation.
pub fn restore(tx: &Transaction, windows: &[(String, u64)], now: SystemTime) -> rusqlite::Result<Restored> {
    let mut restored = Restored::default();
    let mut row = tx.prepare(
        "SELECT generation, ever_started, automatic_total, manual_total, last_exit, held FROM runtimes WHERE runtime = ?1",
    )?;
    let mut restarts =
        tx.prepare("SELECT at_ms, kind FROM budget_restarts WHERE runtime = ?1 AND at_ms > ?2 ORDER BY at_ms, seq")?;
    for (id, window_secs) in windows {
        let Some((generation, ever, automatic, manual, last_exit, held)) = row
            .query_row([id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .optional()?
        else {
            continue;
        };
        let since = ms(now).saturating_sub((*window_secs as i64).saturating_mul(1000));
        let in_window = restarts
            .query_map(params![id, since], |r| {
                let kind = match r.get::<_, String>(1)?.as_str() {
                    "manual" => RestartKind::Manual,
                    _ => RestartKind::Automatic,
                };
                Ok((time(r.get(0)?), kind))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        restored.runtimes.insert(
            id.clone(),
            RestoredRuntime {
                generation: generation.max(0) as u64,
                ever_started: ever != 0,
                totals: RestartTotals { automatic: automatic.max(0) as u64, manual: manual.max(0) as u64 },
                last_exit: last_exit.and_then(|j| serde_json::from_str(&j).ok()),
                restarts: in_window,
                held: held != 0,
            },
        );
    }
    Ok(restored)
}

/// Records this daemon's start; returns its row.
pub fn begin_daemon(tx: &Transaction, now: SystemTime) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO daemons (pid, build, started_ms) VALUES (?1, ?2, ?3)",
        params![std::process::id(), crate::protocol::BUILD_ID, ms(now)],
    )?;
    Ok(tx.last_insert_rowid())
}

pub fn end_daemon(conn: &Connection, row: i64, now: SystemTime) -> rusqlite::Result<()> {
    conn.execute("UPDATE daemons SET stopped_ms = ?2 WHERE seq = ?1", params![row, ms(now)])?;
    Ok(())
}

/// The newest `limit` events of `id` (0: up to `cap`), oldest first, and
/// how many the journal holds.
pub fn history(conn: &Connection, id: &str, limit: u32, cap: u32) -> rusqlite::Result<(u64, Vec<HistoryEvent>)> {
    let total: i64 = conn.query_row("SELECT count(*) FROM lifecycle WHERE runtime = ?1", [id], |r| r.get(0))?;
    let limit = if limit == 0 { cap } else { limit.min(cap) };
    let mut events = conn
        .prepare_cached(
            "SELECT at_ms, kind, generation, pid, cause, code, signal, detail, error_line
             FROM lifecycle WHERE runtime = ?1 ORDER BY seq DESC LIMIT ?2",
        )?
        .query_map(params![id, limit], |r| {
            Ok(HistoryEvent {
                at: crate::time::rfc3339(time(r.get(0)?)),
                kind: r.get(1)?,
                generation: r.get::<_, Option<i64>>(2)?.map(|g| g.max(0) as u64),
                pid: r.get(3)?,
                cause: r.get(4)?,
                code: r.get(5)?,
                signal: r.get(6)?,
                detail: r.get(7)?,
                error_line: r.get(8)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    events.reverse();
    Ok((total.max(0) as u64, events))
}

/// Whether the journal knows `id` at all.
pub fn knows(conn: &Connection, id: &str) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM runtimes WHERE runtime = ?1)", [id], |r| r.get(0))
}

/// Every runtime the journal has a row for.
pub fn runtime_ids(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare("SELECT runtime FROM runtimes ORDER BY runtime")?.query_map([], |r| r.get(0))?.collect()
}

/// Runs `step` (one batched DELETE) until it deletes less than a batch or
/// the rounds run out; returns the rows deleted.
fn delete_batches(rounds: &mut usize, mut step: impl FnMut() -> rusqlite::Result<usize>) -> rusqlite::Result<u64> {
    let mut deleted = 0;
    while *rounds > 0 {
        *rounds -= 1;
        let n = step()? as u64;
        deleted += n;
        if (n as i64) < PRUNE_BATCH {
            break;
        }
    }
    Ok(deleted)
}

/// Applies the retention rule: events older than `max_age` go, and of each
/// runtime in `ids` only the newest `max_rows` events (and budget restarts)
/// stay. Returns the rows deleted.
pub fn prune(conn: &Connection, rule: &Retention, ids: &[String], now: SystemTime) -> rusqlite::Result<u64> {
    let cutoff = ms(now).saturating_sub(rule.max_age.as_millis() as i64);
    let mut deleted = 0;
    for table in ["lifecycle", "budget_restarts"] {
        let mut rounds = PRUNE_ROUNDS;
        let sql = format!("DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} WHERE at_ms < ?1 LIMIT ?2)");
        deleted += delete_batches(&mut rounds, || conn.prepare_cached(&sql)?.execute(params![cutoff, PRUNE_BATCH]))?;
    }
    let max_rows = rule.max_rows.min(i64::MAX as u64) as i64;
    for id in ids {
        for table in ["lifecycle", "budget_restarts"] {
            let cut: Option<i64> = conn
                .prepare_cached(&format!(
                    "SELECT seq FROM {table} WHERE runtime = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2"
                ))?
                .query_row(params![id, max_rows], |r| r.get(0))
                .optional()?;
            if let Some(cut) = cut {
                let mut rounds = PRUNE_ROUNDS;
                let sql = format!(
                    "DELETE FROM {table} WHERE seq IN (SELECT seq FROM {table} WHERE runtime = ?1 AND seq <= ?2 LIMIT ?3)"
                );
                deleted +=
                    delete_batches(&mut rounds, || conn.prepare_cached(&sql)?.execute(params![id, cut, PRUNE_BATCH]))?;
            }
        }
    }
    deleted += conn.execute(
        "DELETE FROM runtimes WHERE updated_ms < ?1 AND running_pid IS NULL
         AND NOT EXISTS (SELECT 1 FROM lifecycle WHERE lifecycle.runtime = runtimes.runtime)",
        [cutoff],
    )? as u64;
    deleted += conn.execute("DELETE FROM daemons WHERE started_ms < ?1", [cutoff])? as u64;
    Ok(deleted)
}
