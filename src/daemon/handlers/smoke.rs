//! `runtime smoke`: runs the smoke in the daemon and forwards each stage to
//! the client as a `smoke.stage` event while it runs.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{ErrorBody, Event, Response, SmokeRequest};

pub async fn handle<W>(ctx: &Ctx, id: u64, req: SmokeRequest, knobs: Knobs, tx: &mut W) -> Result<Response, ErrorBody>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let (stage_tx, stages) = tokio::sync::mpsc::unbounded_channel();
    let run = crate::smoke::run(ctx, req, knobs, stage_tx);
    let report = super::stream_while(id, tx, stages, Event::SmokeStage, run).await;
    Ok(Response::Smoke(Box::new(report)))
}
