//! The local-socket front end: accepts connections and hands each to
//! [`connection::handle`], which speaks the framed protocol over the
//! service layer.
//!
//! Limits that keep one runaway script from starving everyone else:
//! - at most [`max_connections`] at once (`ARW_MAX_CONNECTIONS`, default
//!   512). Over the cap, [`RESERVED`] more connections are served one quick
//!   request each (`status`, `daemon status|reload|stop`), so an operator
//!   can always look and stop; anything else waits up to 5 s for a slot,
//!   then gets a `busy` error. Slots free themselves: a hello is due within
//!   5 s, and a connection idle for 30 s after its last reply is closed.
//! - out of file descriptors, the loop backs off (10 ms doubling to 1 s)
//!   instead of spinning, answers the waiting client `busy` through a spare
//!   descriptor it keeps for that, and logs one line per 10 s with a count.

pub mod connection;
mod dispatch;

use super::Ctx;
use crate::log::RateLimited;
use interprocess::local_socket::traits::tokio::Listener as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Default cap on simultaneous connections.
const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Connections over the cap that may still ask one quick question.
pub const RESERVED: usize = 16;
/// How long a connection over the cap waits for a slot.
const SLOT_WAIT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// `ARW_MAX_CONNECTIONS` from the daemon's environment, else 512, and
/// never more than the descriptors the process may open leave room for; a
/// value that is not a whole number above 0 is refused at start.
pub fn max_connections() -> Result<usize, String> {
    let wanted = match std::env::var("ARW_MAX_CONNECTIONS") {
        Err(_) => DEFAULT_MAX_CONNECTIONS,
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "`ARW_MAX_CONNECTIONS={}` is not a whole number of connections above 0",
                    crate::text::quote(&v, 40)
                ))
            }
        },
    };
    // Each runtime needs a few descriptors (log, pipes), and so do the
    // daemon's own files: keep 32 for them.
    let fd_room = crate::sys::open_files_limit().saturating_sub(32).max(4) as usize;
    Ok(wanted.min(fd_room))
}

pub async fn accept_until_shutdown(listener: interprocess::local_socket::tokio::Listener, ctx: Arc<Ctx>) {
    let mut shutdown = ctx.shutdown.subscribe();
    // Checked at start (`serve`): a bad value never gets this far.
    let cap = max_connections().unwrap_or(DEFAULT_MAX_CONNECTIONS);
    let slots = Arc::new(Semaphore::new(cap));
    let reserved = Arc::new(Semaphore::new(RESERVED));
    let cap_log = Arc::new(std::sync::Mutex::new(RateLimited::new(Duration::from_secs(10))));
    // Closed when accept fails for want of descriptors: with it free, one
    // pending client can be accepted and told the daemon is busy.
    let mut spare = std::fs::File::open("/dev/null").ok();
    let mut log_limit = RateLimited::new(Duration::from_secs(10));
    let mut backoff = BACKOFF_MIN;
    loop {
        let conn = tokio::select! {
            conn = listener.accept() => conn,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        match conn {
            Ok(conn) => {
                backoff = BACKOFF_MIN;
                let (ctx, slots, reserved, cap_log) = (ctx.clone(), slots.clone(), reserved.clone(), cap_log.clone());
                tokio::spawn(async move {
                    if let Ok(slot) = slots.clone().try_acquire_owned() {
                        connection::handle(conn, ctx, connection::Slot::Normal).await;
                        drop(slot);
                        return;
                    }
                    if let Some(n) = cap_log.lock().unwrap_or_else(|p| p.into_inner()).allow(Instant::now()) {
                        let more = if n > 0 { format!(" ({n} more since the last line)") } else { String::new() };
                        crate::dlog!("at the connection cap ({cap}, `ARW_MAX_CONNECTIONS`){more}");
                    }
                    if let Ok(slot) = reserved.try_acquire_owned() {
                        connection::handle(conn, ctx, connection::Slot::Reserved).await;
                        drop(slot);
                        return;
                    }
                    match tokio::time::timeout(SLOT_WAIT, slots.acquire_owned()).await {
                        Ok(Ok(slot)) => {
                            connection::handle(conn, ctx, connection::Slot::Normal).await;
                            drop(slot);
                        }
                        _ => connection::refuse_busy(conn).await,
                    }
                });
            }
            Err(e) => {
                let out_of_fds = matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE));
                if let Some(held_back) = log_limit.allow(Instant::now()) {
                    let more =
                        if held_back > 0 { format!(" ({held_back} more since the last line)") } else { String::new() };
                    crate::dlog!("accept failed: {e}{more}");
                }
                if out_of_fds {
                    drop(spare.take());
                    if let Ok(Ok(conn)) = tokio::time::timeout(BACKOFF_MIN, listener.accept()).await {
                        connection::refuse_busy(conn).await;
                    }
                    spare = std::fs::File::open("/dev/null").ok();
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {},
                    _ = shutdown.wait_for(|s| *s) => break,
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
    // Dropping the listener removes the socket file: new clients now spawn a
    // successor, which waits for our lock.
    drop(listener);
}
