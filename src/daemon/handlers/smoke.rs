//! `runtime smoke`: runs the smoke in the daemon and forwards each stage to
//! the client as a `smoke.stage` event while it runs.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{self, ErrorBody, Event, Response, ServerFrame, SmokeRequest};

pub async fn handle<W>(ctx: &Ctx, id: u64, req: SmokeRequest, knobs: Knobs, tx: &mut W) -> Result<Response, ErrorBody>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    let (stage_tx, mut stages) = tokio::sync::mpsc::unbounded_channel();
    let run = crate::smoke::run(ctx, req, knobs, stage_tx);
    tokio::pin!(run);
    // A client that hangs up does not stop the run: its result still lands
    // in the workspace.
    let mut client_gone = false;
    loop {
        tokio::select! {
            report = &mut run => {
                while let Ok(stage) = stages.try_recv() {
                    if !client_gone {
                        let frame = ServerFrame::Event { id, event: Event::SmokeStage(stage) };
                        client_gone = protocol::write_frame_async(tx, &frame).await.is_err();
                    }
                }
                return Ok(Response::Smoke(Box::new(report)));
            }
            Some(stage) = stages.recv() => {
                if !client_gone {
                    let frame = ServerFrame::Event { id, event: Event::SmokeStage(stage) };
                    client_gone = protocol::write_frame_async(tx, &frame).await.is_err();
                }
            }
        }
    }
}
