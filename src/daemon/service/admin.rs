//! `arw daemon status|reload|stop`.

use crate::daemon::Ctx;
use crate::protocol::{DaemonInfo, ErrorBody, ErrorKind, ReloadReport};

pub async fn info(ctx: &Ctx) -> DaemonInfo {
    let runtimes = ctx.supervisor.snapshot().await.map(|v| v.runtimes.len()).unwrap_or(0);
    let settings = ctx.settings();
    DaemonInfo {
        pid: std::process::id(),
        build_id: ctx.build_id.clone(),
        protocol: crate::protocol::PROTOCOL_VERSION,
        started_at: crate::time::rfc3339(ctx.started_at),
        uptime_secs: ctx.started_at.elapsed().unwrap_or_default().as_secs_f64(),
        home: ctx.paths.home.display().to_string(),
        socket: ctx.paths.socket().display().to_string(),
        registry_origin: ctx.origin(),
        runtimes,
        clients: *ctx.clients.borrow(),
        idle_timeout_secs: settings.idle_timeout_secs,
        http: ctx.http_url.clone(),
    }
}

pub async fn reload(ctx: &Ctx) -> Result<ReloadReport, ErrorBody> {
    match crate::daemon::reload(ctx).await {
        Ok(report) => Ok(report),
        Err(e) => Err(ErrorBody::new(ErrorKind::Config, e.to_string()).with_hint(
            "the daemon keeps running with the last good registry; fix the file and run `arw daemon reload`",
        )),
    }
}

/// Replies first, then shuts down: the client waits for the lock to free.
pub fn shutdown(ctx: &Ctx) {
    ctx.request_shutdown();
}
