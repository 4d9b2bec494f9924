//! `runtime status --watch`: the current status at once, then every pushed
//! `runtime.updated`, until the client hangs up.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{self, Event, ServerFrame};
use std::collections::BTreeMap;
use tokio::io::AsyncReadExt;
use tokio::sync::broadcast::error::RecvError;

pub async fn stream<R, W>(ctx: &Ctx, id: u64, env: BTreeMap<String, String>, rx: &mut R, tx: &mut W)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let knobs = Knobs::new(env);
    let mut events = ctx.events.subscribe();
    let Some(view) = ctx.supervisor.snapshot().await else {
        return;
    };
    let first = Event::RuntimeUpdated(ctx.status_report(view, &knobs));
    if protocol::write_frame_async(tx, &ServerFrame::Event { id, event: first })
        .await
        .is_err()
    {
        return;
    }
    let mut probe = [0u8; 1];
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(Event::RuntimeUpdated(report)) => {
                    // Recompute with this client's knobs; the broadcast used the daemon's.
                    let event = Event::RuntimeUpdated(ctx.status_report(report.supervisor, &knobs));
                    if protocol::write_frame_async(tx, &ServerFrame::Event { id, event }).await.is_err() {
                        return;
                    }
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            // Any read completing (EOF or stray bytes) ends the stream.
            _ = rx.read(&mut probe) => return,
        }
    }
}
