//! The reference for `bench/http`: one file's bytes served over the
//! daemon's own HTTP stack — a current-thread tokio runtime, the daemon's
//! own `arw::daemon::http::connection()` per connection, an axum `Router`
//! behind a `from_fn` middleware like the loopback Host guard, and the same
//! response headers as `/state/runtime_matrix` (`ETag`, `Cache-Control`,
//! `Content-Type`). What is left between the two is the handler's own work.
//!
//!   cargo run --release --example bench_static -- FILE   (prints its URL)

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::middleware::Next;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::watch;

struct File {
    body: Bytes,
    etag: HeaderValue,
}

fn main() -> anyhow::Result<()> {
    let path = std::env::args().nth(1).ok_or_else(|| anyhow::anyhow!("usage: bench_static FILE"))?;
    let body = Bytes::from(std::fs::read(&path)?);
    let etag =
        HeaderValue::from_str(&format!("\"{:x}-{:x}\"", body.len(), body.iter().map(|&b| b as u64).sum::<u64>()))?;
    let file = Arc::new(File { body, etag });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("http://{}/file", listener.local_addr()?);
        let router = Router::new().route("/file", get(serve)).layer(axum::middleware::from_fn(guard)).with_state(file);
        // Never fired: kept so each connection waits on the same three things.
        let (_shutdown_tx, shutdown) = watch::channel(false);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(arw::daemon::http::connection(stream, router.clone(), shutdown.clone()));
        }
    })
}

/// The daemon's guard without a token: the request must name a loopback host.
async fn guard(req: Request<Body>, next: Next) -> Response<Body> {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    if !(name == "localhost" || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())) {
        let mut resp = Response::new(Body::from("{\"error\":\"host\"}"));
        *resp.status_mut() = StatusCode::MISDIRECTED_REQUEST;
        return resp;
    }
    next.run(req).await
}

async fn serve(State(file): State<Arc<File>>) -> Response<Body> {
    let mut resp = Response::new(Body::from(file.body.clone()));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::ETAG, file.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=30"));
    resp
}
