//! `runtime smoke`: the run happens in the daemon (it shares the
//! supervisor); stages go to `stages` as they end. A client that hangs up
//! (Ctrl-C) ends the run: its runtime is stopped and the result written.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::events::topic;
use crate::protocol::smoke::{SmokeReport, Stage};
use crate::protocol::SmokeRequest;
use tokio::sync::mpsc::UnboundedSender;

/// `abandoned` resolves when whoever asked is gone (a hung-up client): the
/// run then stops, cleans up and still writes its result.
pub async fn smoke(
    ctx: &Ctx,
    req: SmokeRequest,
    knobs: Knobs,
    stages: UnboundedSender<Stage>,
    abandoned: impl std::future::Future<Output = ()> + Send + '_,
) -> SmokeReport {
    let mut shutdown = ctx.shutdown.subscribe();
    let stop = async move {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => "the daemon shut down (`arw daemon stop` or a signal)".to_string(),
            () = abandoned => "the client went away (interrupted)".to_string(),
        }
    };
    let host = crate::smoke::Host {
        supervisor: &ctx.supervisor,
        runtimes: &ctx.forward,
        events: &ctx.bus,
        cache_dir: ctx.paths.cache_dir(),
        gpus: ctx.gpus.latest(),
    };
    let stage_json = |s: &Stage| serde_json::to_value(s).unwrap_or_default();
    let report = super::teed(&ctx.bus, topic::SMOKE_STAGE, stages, stage_json, |stages| {
        crate::smoke::run(&host, req, knobs, stages, stop)
    })
    .await;
    ctx.metrics.smoke(&report);
    report
}
