//! `runtime smoke`: the run happens in the daemon (it outlives a client that
//! hangs up, and shares the supervisor); stages go to `stages` as they end.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::smoke::{SmokeReport, Stage};
use crate::protocol::SmokeRequest;
use tokio::sync::mpsc::UnboundedSender;

pub async fn smoke(ctx: &Ctx, req: SmokeRequest, knobs: Knobs, stages: UnboundedSender<Stage>) -> SmokeReport {
    let host = crate::smoke::Host {
        supervisor: &ctx.supervisor,
        runtimes: &ctx.forward,
        events: &ctx.events,
        cache_dir: ctx.paths.cache_dir(),
        gpus: ctx.gpus.latest(),
        shutdown: ctx.shutdown.subscribe(),
    };
    crate::smoke::run(&host, req, knobs, stages).await
}
