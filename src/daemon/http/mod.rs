//! The HTTP surface (SPEC §7): a second front end over the same service
//! layer and feed as the socket. Off unless asked for; loopback unless a
//! token guards it. Served by hyper directly (axum routes inside) so each
//! connection can be cut off on its own — an `/events` reader that stops
//! reading is disconnected instead of holding the daemon's memory.

mod auth;
mod dashboard;
pub mod listen;
mod metrics;
mod sse;
mod state;

use super::Ctx;
use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use listen::ListenConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 512;
/// A client must send its request headers within this time (slowloris).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for open connections to finish.
const DRAIN: Duration = Duration::from_secs(2);

/// What every handler sees.
pub struct Http {
    ctx: Arc<Ctx>,
    config: ListenConfig,
    state: state::Cache,
    metrics: metrics::Metrics,
}

/// Per connection: lets a handler close its own connection.
#[derive(Clone)]
pub struct Cutoff(Arc<watch::Sender<bool>>);

impl Cutoff {
    pub fn cut(&self) {
        self.0.send_replace(true);
    }
}

/// Binds now (a port in use is a start-up failure, reported to the spawner).
pub fn bind(config: &ListenConfig) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(config.addr)
        .map_err(|e| anyhow::anyhow!("cannot listen for HTTP on {} ({}): {e}", config.addr, config.source))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// The URL the listener answers on (with the real port when 0 was asked).
pub fn url_of(listener: &std::net::TcpListener) -> Option<String> {
    let addr = listener.local_addr().ok()?;
    Some(format!("http://{addr}/"))
}

pub async fn serve(listener: std::net::TcpListener, ctx: Arc<Ctx>, config: ListenConfig) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            dlog!("HTTP listener failed: {e}");
            return;
        }
    };
    let http =
        Arc::new(Http { metrics: metrics::Metrics::new(&ctx), ctx: ctx.clone(), config, state: Default::default() });
    let router = router(http.clone());
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = ctx.shutdown.subscribe();
    let mut errors = crate::log::RateLimited::new(Duration::from_secs(10));
    let mut full = crate::log::RateLimited::new(Duration::from_secs(10));
    loop {
        if slots.available_permits() == 0 {
            if let Some(held) = full.allow(std::time::Instant::now()) {
                dlog!("HTTP at its connection cap ({MAX_CONNECTIONS}); new connections wait ({held} more not shown)");
            }
        }
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            () = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
        };
        let (stream, _peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    if let Some(held) = errors.allow(std::time::Instant::now()) {
                        dlog!("HTTP accept failed: {e} ({held} more not shown)");
                    }
                    // Out of descriptors: give in-flight work a moment.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = async { let _ = shutdown.wait_for(|s| *s).await; } => return,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let shutdown = ctx.shutdown.subscribe();
        tokio::spawn(async move {
            connection(stream, router, shutdown).await;
            drop(permit);
        });
    }
}

/// Serves one connection with `router` until it ends, a handler cuts it,
/// or shutdown drains it. Public so bench/'s reference server
/// (examples/bench_static.rs) runs on exactly this stack.
pub async fn connection(stream: tokio::net::TcpStream, router: Router, mut shutdown: watch::Receiver<bool>) {
    let (cut_tx, mut cut_rx) = watch::channel(false);
    let cutoff = Cutoff(Arc::new(cut_tx));
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(cutoff.clone());
        router.clone().oneshot(req)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = async { let _ = cut_rx.wait_for(|c| *c).await; } => {}
        () = async { let _ = shutdown.wait_for(|s| *s).await; } => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN, conn).await;
        }
    }
}

fn router(http: Arc<Http>) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/healthz", get(state::healthz))
        .route("/state/runtime_matrix", get(state::runtime_matrix))
        .route("/state/supervisor", get(state::supervisor))
        .route("/metrics", get(metrics::scrape))
        .route("/events", get(sse::events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(http.clone(), auth::guard))
        .with_state(http)
}

/// Every error on this listener: `{"error": {"message", "type", "code"}}`,
/// the OpenAI shape the gateway (SPEC §9) answers in too.
pub fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response<Body> {
    let body = serde_json::json!({"error": {"message": message.into(), "type": error_type(status), "code": code}});
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 | 403 => "authentication_error",
        404 | 405 | 400 | 421 => "invalid_request_error",
        _ => "server_error",
    }
}

async fn not_found(req: Request<Body>) -> Response<Body> {
    let path = crate::text::quote(req.uri().path(), 80);
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no endpoint `{path}`; try /state/runtime_matrix, /state/supervisor, /metrics, /events or /healthz"),
    )
}

async fn method_not_allowed(req: Request<Body>) -> Response<Body> {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("`{}` takes GET", crate::text::quote(req.uri().path(), 80)),
    )
}
