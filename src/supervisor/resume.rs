//! Picking up where the last daemon left off: what the journal restored
//! goes back into each runtime before anything starts (SPEC §10).

use super::reason::Reason;
use super::runtime::Runtime;
use crate::journal::RestoredRuntime;
use crate::protocol::status::{ExitCause, State};
use std::time::SystemTime;

/// Puts the journaled budget window, totals, last exit and generation back.
pub(super) fn apply(rt: &mut Runtime, restored: RestoredRuntime) {
    rt.budget.restore(restored.restarts);
    rt.totals = restored.totals;
    rt.last_exit = restored.last_exit;
    rt.generation = restored.generation;
    rt.ever_started = restored.ever_started;
    if restored.held {
        // `arw runtime stop` outlives its daemon: not auto-started again.
        rt.held = true;
        rt.state = State::Offline;
        rt.reason = Some(Reason::OperatorStopped);
    }
}

/// A runtime whose last exit was a crash with no automatic restart left
/// stays where the last daemon put it: `error`, not started. Returns when
/// its window frees a slot, if it will (then automatic restarts resume).
pub(super) fn hold(rt: &mut Runtime, now: SystemTime) -> Option<Option<SystemTime>> {
    let crashed = rt.last_exit.as_ref().is_some_and(|e| !matches!(e.cause, ExitCause::Stopped | ExitCause::DaemonLost));
    if !crashed || rt.budget.allows_automatic(now) {
        return None;
    }
    rt.state = State::Error;
    if rt.spec.restart.max_restarts == 0 {
        let exit = rt.last_exit.as_ref().map(|e| e.detail.clone()).unwrap_or_default();
        rt.reason = Some(Reason::RestartsOff { exit });
        return Some(None);
    }
    rt.reason = Some(Reason::BudgetExhausted);
    Some(rt.budget.reset_at(now))
}
