//! `arw runtime start|stop|reload` (SPEC §10): ask the supervisor, then
//! report what became of the runtime. A start waits like a restore does
//! ([`super::ready`]); a stop waits for the exit and for every process of
//! the group to be gone.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::lifecycle::{
    ReloadRestart, RuntimeReloadRequest, StartReport, StartRequest, StopOutcome, StopReport, StopRequest,
};
use crate::protocol::status::{RestoreOutcome, State};
use crate::protocol::{ErrorBody, ErrorKind, ReloadReport};
use std::time::{Duration, Instant};

/// The longest a stop waits for the exit: the SIGTERM grace, the SIGKILL
/// after it, and a margin.
const EXIT_WAIT: Duration = Duration::from_secs(15);
/// How long a stop waits for the rest of the group after the leader's exit
/// (the supervisor SIGKILLs it then).
const GROUP_WAIT: Duration = Duration::from_secs(3);

pub async fn start(ctx: &Ctx, req: StartRequest, knobs: Knobs) -> Result<StartReport, ErrorBody> {
    let mut views = ctx.supervisor.subscribe();
    let started = Instant::now();
    let ticket = ctx.supervisor.start(&req.id, knobs).await?;
    let id = req.id;
    if ticket.already_running && ticket.state == State::Ready {
        return Ok(StartReport {
            message: format!(
                "`{id}` is already running (ready{})",
                ticket.pid.map(|p| format!(", pid {p}")).unwrap_or_default()
            ),
            id,
            outcome: RestoreOutcome::Ready,
            already_running: true,
            state: ticket.state,
            pid: ticket.pid,
            restart_budget: ticket.budget,
            ready_ms: None,
        });
    }
    let wait = Duration::from_millis(req.wait_ms);
    let waited =
        super::ready::until_ready(&mut views, &id, ticket.generation, wait, started, "failed to start").await?;
    let message = if ticket.already_running && waited.outcome == RestoreOutcome::Ready {
        format!("`{id}` was already starting; it is ready")
    } else {
        waited.message
    };
    Ok(StartReport {
        id,
        outcome: waited.outcome,
        already_running: ticket.already_running,
        state: waited.state,
        message,
        pid: waited.pid,
        restart_budget: waited.restart_budget,
        ready_ms: waited.ready_ms,
    })
}

pub async fn stop(ctx: &Ctx, req: StopRequest) -> Result<StopReport, ErrorBody> {
    let id = req.id;
    let ticket = ctx.supervisor.stop(&id).await?;
    let was = match &ticket.reason {
        Some(reason) => format!("{}: {reason}", ticket.was.as_str()),
        None => ticket.was.as_str().to_string(),
    };
    let (outcome, pid, exit, group_gone, message) = match ticket.stopping {
        Some((pid, exited)) => {
            let exit = tokio::time::timeout(EXIT_WAIT, exited).await.ok().and_then(Result::ok);
            let gone = exit.is_some() && group_gone(pid, GROUP_WAIT).await;
            let message = match (&exit, gone) {
                (Some(_), true) => format!("`{id}` stopped (pid {pid}; its process group is gone)"),
                (Some(_), false) => format!(
                    "`{id}` stopped (pid {pid}), but members of its process group {pid} are still running; \
                     see `ps -g {pid}`"
                ),
                (None, _) => format!(
                    "`{id}` (pid {pid}) has not exited within {}s of SIGTERM and SIGKILL; see `ps -g {pid}`",
                    EXIT_WAIT.as_secs()
                ),
            };
            (StopOutcome::Stopped, Some(pid), exit, gone, message)
        }
        None if ticket.was == State::Offline => {
            (StopOutcome::AlreadyStopped, None, None, true, format!("`{id}` is not running ({was})"))
        }
        // Crashed and waiting for a restart, or in `error`: called off.
        None => (
            StopOutcome::Stopped,
            None,
            None,
            true,
            format!("`{id}` had no process running ({was}); no restart will happen now"),
        ),
    };
    let view = ctx.supervisor.snapshot().await?;
    let rt = view
        .runtime(&id)
        .ok_or_else(|| ErrorBody::new(ErrorKind::Internal, format!("`{id}` disappeared while stopping")))?;
    Ok(StopReport {
        id: id.clone(),
        outcome,
        state: rt.state,
        message,
        pid,
        group_gone,
        exit,
        auto_start: ticket.auto_start,
        restart_budget: rt.restart_budget.clone(),
    })
}

/// Reloads, then waits for every runtime it restarted to be ready again
/// (or to fail), within `wait_ms` for all of them.
pub async fn reload(ctx: &Ctx, req: RuntimeReloadRequest) -> Result<ReloadReport, ErrorBody> {
    let started = Instant::now();
    // The generations before: each restart brings up the next one.
    let before = ctx.supervisor.snapshot().await?;
    let mut views = ctx.supervisor.subscribe();
    let mut report = match crate::daemon::reload_only(ctx, req.id.as_deref()).await {
        Ok(report) => report?,
        Err(e) => {
            return Err(ErrorBody::new(ErrorKind::Config, e.to_string()).with_hint(
                "the daemon keeps running with the last good registry; fix the file and run `arw runtime reload`",
            ))
        }
    };
    let deadline = started + Duration::from_millis(req.wait_ms);
    for id in report.restarted.clone() {
        let generation = before.runtime(&id).map_or(1, |r| r.generation + 1);
        let wait = deadline.saturating_duration_since(Instant::now());
        let waited =
            super::ready::until_ready(&mut views, &id, generation, wait, started, "failed to come back").await?;
        report.restarts.push(ReloadRestart {
            id,
            outcome: waited.outcome,
            state: waited.state,
            message: waited.message,
            ready_ms: waited.ready_ms,
        });
    }
    Ok(report)
}

/// Waits up to `within` until no live process is left in group `pgid`.
/// Zombies do not count: an orphan's reaper may be slow, or absent in a
/// container, and a zombie runs nothing.
async fn group_gone(pgid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if !crate::sys::group_has_live_member(pgid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
