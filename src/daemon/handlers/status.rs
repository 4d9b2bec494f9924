//! `runtime status`: the supervisor snapshot and a matrix computed for this
//! request's knobs (`ARW_NODE_ID`, `LLAMA_GPU_SIMULATE`, TTL).

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{ErrorBody, ErrorKind, Response};

pub async fn handle(ctx: &Ctx, knobs: &Knobs) -> Result<Response, ErrorBody> {
    // A bad TTL is the caller's mistake to hear about, not to have ignored.
    match knobs.parsed::<u64>(&["ARW_RUNTIME_MATRIX_TTL_SECS"]) {
        Ok(Some(0)) | Err(_) => {
            let raw = knobs.get("ARW_RUNTIME_MATRIX_TTL_SECS").unwrap_or_default();
            return Err(ErrorBody::new(
                ErrorKind::BadRequest,
                format!("`ARW_RUNTIME_MATRIX_TTL_SECS={raw}` is not valid"),
            )
            .with_hint("use a whole number of seconds greater than 0"));
        }
        Ok(_) => {}
    }
    let view = ctx.supervisor.snapshot().await?;
    Ok(Response::Status(ctx.status_report(view, knobs)))
}
