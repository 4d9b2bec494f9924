//! `runtime restore`: ask the supervisor, then wait on its published view
//! until the restored generation is ready, has failed, or time runs out.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::status::State;
use crate::protocol::{ErrorBody, ErrorKind, RestoreOutcome, RestoreReport, RestoreRequest};
use std::time::{Duration, Instant};

pub async fn restore(ctx: &Ctx, req: RestoreRequest, knobs: Knobs) -> Result<RestoreReport, ErrorBody> {
    let mut views = ctx.supervisor.subscribe();
    let id = req.id.clone();
    let dry_run = req.dry_run;
    let wait = Duration::from_millis(req.wait_ms);
    let started = Instant::now();
    let ticket = ctx.supervisor.restore(req, knobs).await?;
    if dry_run {
        let message = format!(
            "a restore of `{id}` is allowed now; {} of {} restarts left in the window",
            ticket.budget.remaining, ticket.budget.max_restarts
        );
        return Ok(RestoreReport {
            id,
            dry_run,
            outcome: RestoreOutcome::Allowed,
            state: ticket.state,
            message,
            restart_budget: ticket.budget,
            ready_ms: None,
        });
    }

    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let (state, generation, reason, budget, exit) = {
            let view = views.borrow_and_update();
            let rt = view
                .runtime(&id)
                .ok_or_else(|| ErrorBody::new(ErrorKind::Internal, format!("`{id}` disappeared during the restore")))?;
            (rt.state, rt.generation, rt.reason.clone(), rt.restart_budget.clone(), rt.last_exit.clone())
        };
        let ours = generation >= ticket.generation;
        let done = match state {
            State::Ready if ours => Some((RestoreOutcome::Ready, format!("`{id}` is ready"))),
            State::Error if ours => {
                // Name what happened to the process, not only the state it left.
                let mut why = reason.clone().unwrap_or_else(|| "error".into());
                if let Some(exit) = &exit {
                    // The reason often starts with the exit already.
                    if !why.starts_with(&exit.detail) {
                        why = format!("{}; {why}", exit.detail);
                    }
                    if let Some(line) = &exit.error_line {
                        why.push_str(&format!("; it said: {line}"));
                    }
                }
                Some((RestoreOutcome::Failed, format!("`{id}` failed to come back: {why}")))
            }
            _ => None,
        };
        if let Some((outcome, message)) = done {
            let ready_ms = (outcome == RestoreOutcome::Ready).then(|| started.elapsed().as_millis() as u64);
            return Ok(RestoreReport { id, dry_run, outcome, state, message, restart_budget: budget, ready_ms });
        }
        match tokio::time::timeout_at(deadline, views.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(ErrorBody::new(ErrorKind::Internal, "the supervisor stopped during the restore")),
            Err(_) => {
                return Ok(RestoreReport {
                    id: id.clone(),
                    dry_run,
                    outcome: RestoreOutcome::Timeout,
                    state,
                    message: format!(
                        "`{id}` was not ready within {} ms (state {}{})",
                        wait.as_millis(),
                        state.as_str(),
                        reason.map(|r| format!(": {r}")).unwrap_or_default()
                    ),
                    restart_budget: budget,
                    ready_ms: None,
                })
            }
        }
    }
}
