//! `runtime weights`: the policy lives in [`crate::weights::service`]; the
//! daemon lends it the download jobs and its cache directory. Progress goes
//! to `progress` as it happens.

use crate::daemon::Ctx;
use crate::knobs::Knobs;
use crate::protocol::events::topic;
use crate::protocol::{ErrorBody, ModelStatus, WeightsProgress, WeightsReport, WeightsRequest};
use tokio::sync::mpsc::UnboundedSender;

pub async fn weights(
    ctx: &Ctx,
    req: WeightsRequest,
    knobs: Knobs,
    progress: UnboundedSender<WeightsProgress>,
) -> Result<WeightsReport, ErrorBody> {
    let cache = ctx.paths.cache_dir();
    let report = super::teed(&ctx.bus, topic::WEIGHTS_PROGRESS, progress, public, |progress| {
        crate::weights::service::run(&ctx.weights, &cache, req, knobs, progress)
    })
    .await?;
    ctx.metrics.weights(&report);
    let new: Vec<String> = report
        .models
        .iter()
        .filter(|m| m.status == ModelStatus::Downloaded)
        .map(|m| format!("{}::{}", m.repo, m.file))
        .collect();
    if !new.is_empty() {
        ctx.bus.publish(topic::MODELS_CHANGED, &serde_json::json!({"why": "weights", "downloaded": new}));
    }
    Ok(report)
}

/// Progress as every bus reader may see it: a mirror URL loses any
/// credentials written into it.
fn public(p: &WeightsProgress) -> serde_json::Value {
    let mut p = p.clone();
    if let Some(source) = &mut p.source {
        if let Some((scheme, rest)) = source.split_once("://") {
            if let Some((_, host)) = rest.split_once('@').filter(|(user, _)| !user.contains('/')) {
                *source = format!("{scheme}://{host}");
            }
        }
    }
    serde_json::to_value(&p).unwrap_or_default()
}
