//! Operator quick actions on the actor: `start`, `stop` and `reload ID`.
//!
//! A stop puts a runtime on hold (`Runtime::held`): its exit is recorded as
//! `stopped`, nothing restarts it — not a crash restart, not a window
//! reset, not `auto_start` on a reload — until an operator starts or
//! restores it. Neither a stop nor a start of a stopped runtime is a
//! restart, so neither touches the budget.

use super::budget::RestartKind;
use super::handle::{StartTicket, StopTicket};
use super::reason::Reason;
use super::Supervisor;
use crate::journal::Record;
use crate::knobs::Knobs;
use crate::protocol::status::{ExitCause, State};
use crate::protocol::{ErrorBody, ErrorKind, ReloadReport};
use crate::registry::Registry;
use std::time::SystemTime;

impl Supervisor {
    /// The ids an unknown-runtime error lists.
    fn known_ids(&self) -> Vec<String> {
        self.runtimes.iter().filter(|r| !r.retired).map(|r| r.spec.id.clone()).collect()
    }

    pub(super) fn operator_start(&mut self, id: &str, knobs: Knobs) -> Result<StartTicket, ErrorBody> {
        let known = self.known_ids();
        let Some(rt) = self.runtimes.iter_mut().find(|r| r.spec.id == id && !r.retired) else {
            return Err(unknown_runtime(id, &known));
        };
        let now = SystemTime::now();
        let ticket = |rt: &super::Runtime, generation, already_running| StartTicket {
            generation,
            already_running,
            state: rt.state,
            pid: rt.running.as_ref().map(|r| r.pid),
            budget: rt.budget.view(now),
        };
        if rt.held {
            self.journal.send(Record::Hold { id: id.to_string(), held: false, at: now });
        }
        if rt.held && rt.running.is_some() {
            // Still stopping: start again the moment the old group is gone.
            rt.held = false;
            rt.start_after_exit = Some(knobs);
            rt.state = State::Starting;
            rt.reason = Some(Reason::Restoring);
            return Ok(ticket(rt, rt.generation + 1, false));
        }
        if rt.running.is_some() {
            // A restore (or a reload) replacing the process brings up the next generation.
            let generation = rt.generation + u64::from(rt.start_after_exit.is_some());
            return Ok(ticket(rt, generation, true));
        }
        if rt.restart_scheduled.is_some() {
            // An automatic restart is due after its backoff: join it.
            return Ok(ticket(rt, rt.generation + 1, true));
        }
        if rt.state == State::Error && rt.budget.exhausted(now) {
            return Err(exhausted(rt, now).with_hint(format!(
                "wait for the window to reset, or run `arw runtime restore --id {id} --force` to start it anyway"
            )));
        }
        // Starting a runtime that crashed is a restart by hand; starting
        // one that is offline (never started, or stopped) is no restart at all.
        if rt.state == State::Error && rt.ever_started {
            rt.budget.record(now, RestartKind::Manual);
            rt.totals.manual += 1;
        }
        rt.held = false;
        rt.restoring = None;
        self.start(id, knobs);
        let rt = self.find(id).expect("found above");
        Ok(ticket(rt, rt.generation, false))
    }

    pub(super) fn operator_stop(&mut self, id: &str) -> Result<StopTicket, ErrorBody> {
        let known = self.known_ids();
        let Some(rt) = self.runtimes.iter_mut().find(|r| r.spec.id == id && !r.retired) else {
            return Err(unknown_runtime(id, &known));
        };
        let now = SystemTime::now();
        let was = rt.state;
        let reason = rt.reason.as_ref().map(Reason::to_string);
        let mut ticket =
            StopTicket { was, stopping: None, auto_start: rt.spec.auto_start, budget: rt.budget.view(now), reason };
        if was == State::Offline && rt.running.is_none() && rt.restart_scheduled.is_none() {
            // Nothing runs and nothing is due: nothing to change.
            return Ok(ticket);
        }
        if !rt.held && !rt.ephemeral {
            self.journal.send(Record::Hold { id: id.to_string(), held: true, at: now });
        }
        rt.held = true;
        rt.start_after_exit = None;
        rt.restart_scheduled = None;
        rt.restoring = None;
        if let Some(run) = &rt.running {
            let (tx, rx) = tokio::sync::oneshot::channel();
            rt.on_stopped.push(tx);
            ticket.stopping = Some((run.pid, rx));
            self.stop(id, ExitCause::Stopped);
        } else {
            // Nothing runs; a scheduled restart or a window reset is called off.
            rt.state = State::Offline;
            rt.reason = Some(Reason::OperatorStopped);
        }
        Ok(ticket)
    }

    /// Applies `registry`'s entry for `only` (added, changed or removed)
    /// and leaves every other runtime as it runs; those whose entry
    /// differs are reported as `pending`.
    pub(super) fn reload_one(&mut self, registry: Registry, only: &str) -> Result<ReloadReport, ErrorBody> {
        let in_new = registry.runtimes.iter().any(|s| s.id == only);
        let running = self.runtimes.iter().any(|r| r.spec.id == only && !r.retired && !r.ephemeral);
        if !in_new && !running {
            let mut known = self.known_ids();
            for spec in &registry.runtimes {
                if !known.contains(&spec.id) {
                    known.push(spec.id.clone());
                }
            }
            return Err(unknown_runtime(only, &known));
        }
        // What runs now, with `only` replaced by (or added from, or removed
        // as in) the manifest on disk.
        let mut merged: Vec<crate::registry::RuntimeSpec> = self
            .runtimes
            .iter()
            .filter(|r| !r.retired && !r.ephemeral)
            .filter_map(|r| {
                if r.spec.id == only {
                    registry.runtimes.iter().find(|s| s.id == only).cloned()
                } else {
                    Some(r.spec.clone())
                }
            })
            .collect();
        if !running {
            merged.extend(registry.runtimes.iter().find(|s| s.id == only).cloned());
        }
        let mut pending: Vec<String> = registry
            .runtimes
            .iter()
            .filter(|s| s.id != only && merged.iter().find(|m| m.id == s.id) != Some(s))
            .map(|s| s.id.clone())
            .collect();
        pending.extend(merged.iter().filter(|m| !registry.runtimes.iter().any(|s| s.id == m.id)).map(|m| m.id.clone()));
        let origin = registry.origin.clone();
        let mut report = self.reload(Registry { runtimes: merged, ..registry });
        report.origin = origin;
        report.pending = pending;
        Ok(report)
    }
}

/// `no runtime with id `x``, listing the ids there are.
pub(super) fn unknown_runtime(id: &str, known: &[String]) -> ErrorBody {
    ErrorBody::new(ErrorKind::UnknownRuntime, format!("no runtime with id `{id}`")).with_hint(if known.is_empty() {
        "no runtimes are registered; add one to runtimes.toml".to_string()
    } else {
        format!("known ids: {}", known.join(", "))
    })
}

/// The budget-spent error (exit 4), naming when the window resets.
pub(super) fn exhausted(rt: &super::Runtime, now: SystemTime) -> ErrorBody {
    let view = rt.budget.view(now);
    let when = rt
        .budget
        .reset_at(now)
        .map(|at| format!("; the window resets at {} ({})", crate::time::rfc3339(at), crate::time::relative(at, now)))
        .unwrap_or_default();
    ErrorBody::new(
        ErrorKind::BudgetExhausted,
        format!(
            "restart budget for `{}` is exhausted ({} of {} used in the last {}s){when}",
            rt.spec.id, view.used, view.max_restarts, view.window_secs
        ),
    )
}
