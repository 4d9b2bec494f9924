//! Maps a request frame to its service function and the service's answer
//! to frames: events the service streams go out as they come, then the
//! response. The only socket-specific code between the two.

use crate::daemon::{service, Ctx};
use crate::knobs::Knobs;
use crate::protocol::{
    encode, ErrorBody, ErrorKind, Event, Request, RequestFrame, Response, ServerFrame, MAX_REPLY_BYTES,
};
use std::collections::BTreeMap;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

pub async fn dispatch<R, W>(ctx: &Ctx, frame: RequestFrame, rx: &mut R, tx: &mut W) -> Result<Response, ErrorBody>
where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin,
{
    let id = frame.id;
    let knobs = Knobs::new(frame.env);
    match frame.request {
        Request::Status => service::status::status(ctx, &knobs).await.map(Response::Status),
        Request::Restore(req) => service::restore::restore(ctx, req, knobs).await.map(Response::Restore),
        Request::DaemonInfo => Ok(Response::DaemonInfo(service::admin::info(ctx).await)),
        Request::Reload => service::admin::reload(ctx).await.map(Response::Reloaded),
        Request::Shutdown => {
            service::admin::shutdown(ctx);
            Ok(Response::Done)
        }
        Request::Chat(req) => {
            let (deltas, rx) = mpsc::unbounded_channel();
            let work = service::chat::chat(ctx, req, deltas);
            stream_while(id, tx, rx, Event::ChatDelta, work).await.map(Response::Chat)
        }
        Request::Smoke(req) => {
            let (stages, stage_rx) = mpsc::unbounded_channel();
            let work = service::smoke::smoke(ctx, req, knobs, stages, hung_up(rx));
            Ok(Response::Smoke(Box::new(stream_while(id, tx, stage_rx, Event::SmokeStage, work).await)))
        }
        Request::Weights(req) => {
            let (progress, rx) = mpsc::unbounded_channel();
            let work = service::weights::weights(ctx, req, knobs, progress);
            stream_while(id, tx, rx, Event::WeightsProgress, work).await.map(Response::Weights)
        }
        Request::History(req) => service::history::history(ctx, req).await.map(Response::History),
        Request::Watch | Request::Events(_) => unreachable!("streams are handled by the connection"),
        Request::Start(req) => service::lifecycle::start(ctx, req, knobs).await.map(Response::Started),
        Request::Stop(req) => service::lifecycle::stop(ctx, req).await.map(Response::Stopped),
        Request::RuntimeReload(req) => service::lifecycle::reload(ctx, req).await.map(Response::Reloaded),
        Request::Logs(req) => service::logs::tail(ctx, &req).await.map(|(report, _)| Response::Logs(report)),
    }
}

/// Resolves when the client closes its end. A client waits for its answer
/// without writing, so whatever it might send meanwhile is not a request
/// of this connection's and is dropped.
async fn hung_up<R: AsyncRead + Unpin>(rx: &mut R) {
    let mut sink = [0u8; 256];
    while let Ok(n) = rx.read(&mut sink).await {
        if n == 0 {
            return;
        }
    }
}

/// Writes the response to request `id`. An answer too large for a frame
/// becomes an error saying so, rather than a frame the client must refuse.
pub async fn reply<W: AsyncWrite + Unpin>(
    tx: &mut W,
    id: u64,
    result: Result<Response, ErrorBody>,
) -> std::io::Result<()> {
    let mut bytes = encode(&ServerFrame::Response { id, result });
    if bytes.len() - 4 > MAX_REPLY_BYTES as usize {
        let too_big = ErrorBody::new(
            ErrorKind::Internal,
            format!("the answer is {} bytes, more than the {MAX_REPLY_BYTES} a reply may carry", bytes.len() - 4),
        )
        .with_hint("ask for less (one runtime, fewer tokens)");
        bytes = encode(&ServerFrame::Response { id, result: Err(too_big) });
    }
    tx.write_all(&bytes).await?;
    tx.flush().await
}

async fn send_event<W: AsyncWrite + Unpin>(tx: &mut W, id: u64, event: Event) -> std::io::Result<()> {
    let bytes = encode(&ServerFrame::Event { id, event });
    if bytes.len() - 4 > MAX_REPLY_BYTES as usize {
        // Never sent: the client would have to drop the connection.
        return Ok(());
    }
    tx.write_all(&bytes).await?;
    tx.flush().await
}

/// Drives `work` while writing each item it sends on `events` to the client
/// as an event of request `id`, then flushes what is left. A client that
/// hangs up stops the writes, never the work (a smoke's result still lands
/// in its workspace, a download goes on).
pub async fn stream_while<W, T, F>(
    id: u64,
    tx: &mut W,
    mut events: mpsc::UnboundedReceiver<T>,
    to_event: fn(T) -> Event,
    work: F,
) -> F::Output
where
    W: AsyncWrite + Unpin,
    F: std::future::Future,
{
    tokio::pin!(work);
    let mut client_gone = false;
    loop {
        tokio::select! {
            out = &mut work => {
                while let Ok(item) = events.try_recv() {
                    if !client_gone {
                        client_gone = send_event(tx, id, to_event(item)).await.is_err();
                    }
                }
                return out;
            }
            Some(item) = events.recv() => {
                if !client_gone {
                    client_gone = send_event(tx, id, to_event(item)).await.is_err();
                }
            }
        }
    }
}

/// `runtime status --watch`: every document the feed publishes, until the
/// client hangs up. A bad knob ends the stream with an error response.
pub async fn watch<R, W>(ctx: &Ctx, id: u64, env: BTreeMap<String, String>, rx: &mut R, tx: &mut W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let knobs = Knobs::new(env);
    let mut stream = match service::status::watch(ctx, &knobs).await {
        Ok(s) => s,
        Err(e) => {
            let _ = reply(tx, id, Err(e)).await;
            return;
        }
    };
    let mut probe = [0u8; 1];
    loop {
        tokio::select! {
            report = stream.next() => match report {
                Some(report) => {
                    if send_event(tx, id, Event::RuntimeUpdated(report)).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
            // Any read completing (EOF or stray bytes) ends the stream.
            _ = rx.read(&mut probe) => return,
        }
    }
}

/// `arw events`: the replay, then (with `--follow`) live events until the
/// client hangs up. A quiet stream gets a tick every [`TICK`].
pub async fn events<R, W>(
    ctx: &Ctx,
    id: u64,
    req: &crate::protocol::EventsRequest,
    knobs: Knobs,
    rx: &mut R,
    tx: &mut W,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (mut sub, knobs) = match service::events::subscribe(ctx, req, &knobs) {
        Ok(s) => s,
        Err(e) => {
            let _ = reply(tx, id, Err(e)).await;
            return;
        }
    };
    let envelope = |entry: &crate::bus::Entry| service::events::envelope(ctx, entry, &knobs);
    if !req.follow {
        for entry in std::mem::take(&mut sub.replay) {
            if send_event(tx, id, Event::Bus(envelope(&entry))).await.is_err() {
                return;
            }
        }
        let _ = reply(tx, id, Ok(Response::Done)).await;
        return;
    }
    let mut probe = [0u8; 1];
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK);
    loop {
        let event = tokio::select! {
            next = sub.next() => match next {
                Ok(Some(entry)) => {
                    if send_event(tx, id, Event::Bus(envelope(&entry))).await.is_err() {
                        return;
                    }
                    tick.reset();
                    continue;
                }
                Ok(None) => return,
                Err(missed) => {
                    let e = ErrorBody::new(ErrorKind::Busy, format!("this reader fell {missed} events behind"))
                        .with_hint("resume with `arw events --follow --after ID` from the last id shown");
                    let _ = reply(tx, id, Err(e)).await;
                    return;
                }
            },
            _ = tick.tick() => Event::Tick,
            _ = rx.read(&mut probe) => return,
        };
        if send_event(tx, id, event).await.is_err() {
            return;
        }
    }
}

/// How often a quiet `--follow` stream says it is alive.
const TICK: std::time::Duration = std::time::Duration::from_secs(5);

/// `arw runtime logs ID --follow`: the tail, then new lines as they are
/// written (across restarts and rotations) until the client hangs up.
pub async fn logs<R, W>(ctx: &Ctx, id: u64, req: &crate::protocol::lifecycle::LogsRequest, rx: &mut R, tx: &mut W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (report, mut follower) = match service::logs::tail(ctx, req).await {
        Ok(found) => found,
        Err(e) => {
            let _ = reply(tx, id, Err(e)).await;
            return;
        }
    };
    // Sent even when empty: the client knows the id was accepted.
    if send_event(tx, id, Event::LogLines(report.lines)).await.is_err() {
        return;
    }
    let mut probe = [0u8; 1];
    let mut quiet = std::time::Duration::ZERO;
    loop {
        let (lines, more) = follower.poll();
        if !lines.is_empty() {
            if send_event(tx, id, Event::LogLines(lines)).await.is_err() {
                return;
            }
            quiet = std::time::Duration::ZERO;
        } else if quiet >= TICK {
            if send_event(tx, id, Event::Tick).await.is_err() {
                return;
            }
            quiet = std::time::Duration::ZERO;
        }
        let pause = if more { std::time::Duration::ZERO } else { LOG_POLL };
        tokio::select! {
            _ = tokio::time::sleep(pause) => quiet += pause,
            _ = rx.read(&mut probe) => return,
        }
    }
}

/// How often a followed log is looked at: a stat, and a read when it grew.
const LOG_POLL: std::time::Duration = std::time::Duration::from_millis(100);
