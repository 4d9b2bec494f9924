//! `runtime status`: the supervisor snapshot and a matrix computed for this
//! request's knobs (`ARW_NODE_ID`, `LLAMA_GPU_SIMULATE`, TTL).

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{ErrorBody, Response};

pub async fn handle(ctx: &Ctx, knobs: &Knobs) -> Result<Response, ErrorBody> {
    let view = ctx.supervisor.snapshot().await?;
    Ok(Response::Status(ctx.status_report(view, knobs)))
}
