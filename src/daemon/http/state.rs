//! `/state/runtime_matrix`, `/state/supervisor`, `/healthz`: the feed's
//! documents, serialised once per document (not per request) and tagged so
//! a dashboard that already has one gets a 304.

use super::{error, Http};
use crate::protocol::StatusReport;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use bytes::Bytes;
use sha2::Digest;
use std::sync::{Arc, Mutex};

/// One document, ready to send.
#[derive(Clone)]
struct Rendered {
    body: Bytes,
    etag: HeaderValue,
}

impl Rendered {
    /// The tag is weak and leaves out `timestamps` (when the document was
    /// computed, uptimes): two documents that differ only there mean the
    /// same, so a poller gets its 304 while nothing happened.
    fn of<T: serde::Serialize>(value: &T, timestamps: &[&str]) -> Rendered {
        let mut tree = serde_json::to_value(value).unwrap_or_default();
        let body = Bytes::from(serde_json::to_vec(&tree).unwrap_or_default());
        blank(&mut tree, timestamps);
        let digest = sha2::Sha256::digest(serde_json::to_vec(&tree).unwrap_or_default());
        let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        Rendered { body, etag: HeaderValue::from_str(&format!("W/\"{hex}\"")).expect("hex is a valid header") }
    }
}

/// Sets every field named in `keys`, at any depth, to null.
fn blank(v: &mut serde_json::Value, keys: &[&str]) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if keys.contains(&k.as_str()) {
                    *child = serde_json::Value::Null;
                } else {
                    blank(child, keys);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| blank(i, keys)),
        _ => {}
    }
}

/// The rendering of the newest report, reused until the feed moves on.
#[derive(Default)]
pub struct Cache(Mutex<Option<(Arc<StatusReport>, Rendered, Rendered)>>);

impl Cache {
    fn get(&self, report: &Arc<StatusReport>) -> (Rendered, Rendered) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((r, m, s)) = slot.as_ref() {
            if Arc::ptr_eq(r, report) {
                return (m.clone(), s.clone());
            }
        }
        let m = Rendered::of(&report.matrix, &["updated"]);
        let s = Rendered::of(&report.supervisor, &["generated_at", "uptime_secs"]);
        *slot = Some((report.clone(), m.clone(), s.clone()));
        (m, s)
    }
}

pub async fn healthz() -> Response<Body> {
    let body = serde_json::json!({
        "status": "ok",
        "build": crate::protocol::BUILD_ID,
        "protocol": crate::protocol::PROTOCOL_VERSION,
    });
    json(StatusCode::OK, Bytes::from(body.to_string()))
}

pub async fn runtime_matrix(State(http): State<Arc<Http>>, headers: HeaderMap) -> Response<Body> {
    document(&http, &headers, true).await
}

pub async fn supervisor(State(http): State<Arc<Http>>, headers: HeaderMap) -> Response<Body> {
    document(&http, &headers, false).await
}

async fn document(http: &Http, headers: &HeaderMap, matrix: bool) -> Response<Body> {
    // The newest published document: current at every change, recomputed
    // at least every republish; a poller never causes a computation.
    let published = http.ctx.feed.subscribe().borrow().clone();
    let report = match published {
        Some(r) => r,
        None => match http.ctx.feed.current(&http.ctx).await {
            Ok(r) => r,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.message),
        },
    };
    let (m, s) = http.state.get(&report);
    let doc = if matrix { m } else { s };
    let max_age = format!("max-age={}", report.matrix.ttl_seconds);
    let mut resp = if none_match(headers, &doc.etag) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        json(StatusCode::OK, doc.body)
    };
    let h = resp.headers_mut();
    h.insert(header::ETAG, doc.etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_str(&max_age).expect("digits are a valid header"));
    resp
}

/// `If-None-Match: "a", W/"b"` or `*` (RFC 9110 §13.1.2: weak comparison).
fn none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let ours = etag.to_str().unwrap_or_default();
    let want = ours.strip_prefix("W/").unwrap_or(ours);
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').map(str::trim).any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == want))
}

pub fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
