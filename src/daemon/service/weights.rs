//! `runtime weights`: the policy lives in [`crate::weights::service`]; the
//! daemon lends it the download jobs and its cache directory. Progress goes
//! to `progress` as it happens.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::{ErrorBody, WeightsProgress, WeightsReport, WeightsRequest};
use tokio::sync::mpsc::UnboundedSender;

pub async fn weights(
    ctx: &Ctx,
    req: WeightsRequest,
    knobs: Knobs,
    progress: UnboundedSender<WeightsProgress>,
) -> Result<WeightsReport, ErrorBody> {
    let cache = ctx.paths.cache_dir();
    let report = crate::weights::service::run(&ctx.weights, &cache, req, knobs, progress).await;
    if let Ok(report) = &report {
        ctx.metrics.weights(report);
    }
    report
}
