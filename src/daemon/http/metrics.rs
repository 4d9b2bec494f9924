//! `GET /metrics`: placeholder until the Prometheus families land.

use super::Http;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode};
use std::sync::Arc;

pub struct Metrics;

impl Metrics {
    pub fn new(_ctx: &crate::daemon::Ctx) -> Metrics {
        Metrics
    }
}

pub async fn scrape(State(_http): State<Arc<Http>>) -> Response<Body> {
    super::error(StatusCode::NOT_IMPLEMENTED, "not_implemented", "metrics are not built yet")
}
