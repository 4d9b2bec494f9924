//! `runtime restore`: ask the supervisor, then wait on its published view
//! until the restored generation is ready, has failed, or time runs out.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{RestoreOutcome, RestoreReport, RestoreRequest};
use std::time::{Duration, Instant};

pub async fn restore(
    ctx: &Ctx,
    req: RestoreRequest,
    knobs: Knobs,
) -> Result<RestoreReport, crate::protocol::ErrorBody> {
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
    let waited =
        super::ready::until_ready(&mut views, &id, ticket.generation, wait, started, "failed to come back").await?;
    Ok(RestoreReport {
        id,
        dry_run,
        outcome: waited.outcome,
        state: waited.state,
        message: waited.message,
        restart_budget: waited.restart_budget,
        ready_ms: waited.ready_ms,
    })
}
