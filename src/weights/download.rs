//! The download loop: bytes from the hub or a mirror into
//! `blobs/<sha256>.incomplete`, hashed as they arrive, renamed to the blob
//! only once the sha256 matches.
//!
//! * Resume: an existing `.incomplete` file is re-hashed and the transfer
//!   continues with `Range: bytes=<len>-`. A server that ignores the range
//!   (200) or answers from another offset restarts the file from zero.
//! * Retry: connection errors, 408/429/5xx, bodies cut short and stalls (no
//!   byte for `ARW_WEIGHTS_STALL_SECS`) are retried with backoff, up to
//!   `ARW_WEIGHTS_RETRIES` times in a row without progress; then the next
//!   source (mirror) gets its turn, resuming from the same file.
//! * Integrity: the sha256 is computed while writing; the file is fsynced,
//!   compared, and renamed into place (then the directory is fsynced). A
//!   mismatch deletes the file. Nothing is ever written at the final path.
//!
//! Network reads run on the event loop; hashing and writing run on a
//! blocking thread fed through a bounded channel, so the two overlap and
//! memory stays bounded.

use super::hub::{self, Http};
use super::jobs::Reporter;
use super::{NetSettings, Token};
use reqwest::header::{AUTHORIZATION, CONTENT_RANGE, RANGE};
use reqwest::{StatusCode, Url};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, Seek, Write};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc::error::TryRecvError;

/// Chunks in flight between the network and the writer thread.
const CHANNEL_CHUNKS: usize = 64;
/// The writer thread writes (and hashes) in blocks of this size.
const WRITE_BUFFER: usize = 4 << 20;
/// Writeback to disk is started every this many bytes, so the final
/// fsync finds little left to do.
const WRITEBACK_EVERY: u64 = 32 << 20;
/// Progress is published at most once per this many bytes.
const PROGRESS_STEP: u64 = 1 << 20;

/// Where one blob's bytes may come from, in order.
pub struct Source {
    pub url: Url,
    /// Sent to this source only (the hub); reqwest drops it on redirects to
    /// other hosts.
    pub token: Option<Token>,
    /// `hub` or the mirror URL.
    pub label: String,
}

/// One blob to download.
pub struct Plan {
    pub what: String,
    pub sha256: String,
    pub size: u64,
    pub incomplete: PathBuf,
    pub blob: PathBuf,
    pub sources: Vec<Source>,
}

/// How the bytes arrived.
#[derive(Debug)]
pub struct Outcome {
    pub source: String,
    pub resumed_from: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("sha256 mismatch for `{what}`: expected {expected}, got {actual}; the download was deleted")]
    Mismatch { what: String, expected: String, actual: String },
    /// Every source failed; one reason per source.
    #[error("could not download `{what}`: {}", reasons.join("; "))]
    Exhausted { what: String, reasons: Vec<String>, auth: Option<u16> },
    #[error("cannot write `{path}`: {error}")]
    Disk { path: PathBuf, error: String },
}

/// The file being written, its length and the hash of what it holds.
struct Partial {
    file: File,
    hasher: Sha256,
    len: u64,
}

enum Failure {
    /// Worth another attempt at the same source.
    Transient(String),
    /// This source will not work; try the next.
    Source(String, Option<u16>),
    Disk(io::Error),
}

/// Downloads `plan` and leaves the verified blob at `plan.blob`.
pub async fn download(
    http: &Http,
    plan: &Plan,
    net: &NetSettings,
    report: &Reporter,
) -> Result<Outcome, DownloadError> {
    let disk = |error: io::Error| DownloadError::Disk { path: plan.incomplete.clone(), error: error.to_string() };
    let mut partial = open_partial(&plan.incomplete, plan.size, report).await.map_err(disk)?;
    let resumed_from = (partial.len > 0).then_some(partial.len);
    let mut reasons = Vec::new();
    let mut auth = None;
    let mut used = None;
    'sources: for source in &plan.sources {
        if partial.len >= plan.size {
            break;
        }
        let mut failures = 0u32;
        while partial.len < plan.size {
            report.source(&source.label, failures + 1);
            let before = partial.len;
            let result = attempt(http, plan, source, &mut partial, net, report).await;
            let failure = match result {
                Ok(()) if partial.len >= plan.size => break,
                Ok(()) => {
                    Failure::Transient(format!("the connection closed after {} of {} bytes", partial.len, plan.size))
                }
                Err(f) => f,
            };
            match failure {
                Failure::Disk(e) => return Err(disk(e)),
                Failure::Source(reason, status) => {
                    auth = auth.or(status.filter(|s| *s == 401 || *s == 403));
                    reasons.push(format!("{}: {reason}", source.label));
                    continue 'sources;
                }
                Failure::Transient(reason) => {
                    // Progress resets the count: a flaky link that keeps
                    // delivering is worth staying on.
                    failures = if partial.len > before { 1 } else { failures + 1 };
                    if failures > net.retries {
                        reasons.push(format!("{}: {reason} (gave up after {} attempts)", source.label, failures));
                        continue 'sources;
                    }
                    let wait = hub::backoff(net, failures);
                    report.retrying(
                        failures + 1,
                        format!(
                            "{reason}; retrying from byte {} in {:.1}s (attempt {} of {})",
                            partial.len,
                            wait.as_secs_f64(),
                            failures + 1,
                            net.retries + 1
                        ),
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
        used = Some(source.label.clone());
        break;
    }
    if partial.len < plan.size {
        return Err(DownloadError::Exhausted { what: plan.what.clone(), reasons, auth });
    }
    report.phase("verifying", None);
    finish(partial, plan).await?;
    Ok(Outcome { source: used.unwrap_or_else(|| "resume".into()), resumed_from })
}

/// Opens (or creates) the incomplete file and hashes what it already holds.
async fn open_partial(path: &Path, size: u64, report: &Reporter) -> io::Result<Partial> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let path = path.to_path_buf();
    let reporter = report.clone();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path)?;
        let mut len = file.metadata()?.len();
        if len > size {
            // Longer than the file can be: not ours to trust.
            file.set_len(0)?;
            len = 0;
        }
        let hasher = if len > 0 {
            reporter.phase("resuming", Some(format!("checking the {len} bytes already downloaded")));
            super::verify::hash_file(&path, Some(len), |_| {})?.0
        } else {
            Sha256::new()
        };
        file.seek(io::SeekFrom::Start(len))?;
        Ok(Partial { file, hasher, len })
    })
    .await
    .map_err(io::Error::other)?
}

/// Drops what the file holds and starts again from byte 0.
fn restart(partial: &mut Partial) -> io::Result<()> {
    partial.file.set_len(0)?;
    partial.file.seek(io::SeekFrom::Start(0))?;
    partial.hasher = Sha256::new();
    partial.len = 0;
    Ok(())
}

/// One request against one source, appending to `partial`.
async fn attempt(
    http: &Http,
    plan: &Plan,
    source: &Source,
    partial: &mut Partial,
    net: &NetSettings,
    report: &Reporter,
) -> Result<(), Failure> {
    let mut req = http.follow.get(source.url.clone());
    if partial.len > 0 {
        req = req.header(RANGE, format!("bytes={}-", partial.len));
    }
    if let Some(t) = &source.token {
        req = req.header(AUTHORIZATION, t.bearer());
    }
    let mut resp = match tokio::time::timeout(net.stall, req.send()).await {
        Err(_) => return Err(Failure::Transient(format!("no answer within {}s", net.stall.as_secs()))),
        Ok(Err(e)) => return Err(Failure::Transient(hub::without_url(&e))),
        Ok(Ok(r)) => r,
    };
    let status = resp.status();
    match status {
        StatusCode::PARTIAL_CONTENT => {
            let (start, total) = parse_content_range(resp.headers())
                .ok_or_else(|| Failure::Source("a 206 answer without a usable Content-Range".into(), None))?;
            if total != plan.size {
                return Err(Failure::Source(format!("serves {total} bytes, expected {}", plan.size), None));
            }
            if start != partial.len {
                restart(partial).map_err(Failure::Disk)?;
                return Err(Failure::Transient(format!(
                    "asked for byte {} but got byte {start}; starting over",
                    partial.len
                )));
            }
        }
        StatusCode::OK => {
            if let Some(len) = resp.content_length().filter(|l| *l != plan.size) {
                return Err(Failure::Source(format!("serves {len} bytes, expected {}", plan.size), None));
            }
            if partial.len > 0 {
                // The server ignored the range: take the whole file again.
                restart(partial).map_err(Failure::Disk)?;
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            restart(partial).map_err(Failure::Disk)?;
            return Err(Failure::Transient("the server refused the resume range; starting over".into()));
        }
        s => {
            return Err(match hub::status_error(s, &plan.what, resp.headers(), source.token.is_some()) {
                hub::HubError::Transient(m) => Failure::Transient(m),
                other => Failure::Source(other.to_string(), Some(s.as_u16())),
            })
        }
    }

    // Stream into the writer thread.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(CHANNEL_CHUNKS);
    let mut owned = Partial {
        file: partial.file.try_clone().map_err(Failure::Disk)?,
        hasher: std::mem::take(&mut partial.hasher),
        len: partial.len,
    };
    let writer = tokio::task::spawn_blocking(move || {
        // Network chunks are small; one write(2) per few MiB is much cheaper
        // than one per chunk.
        let mut buf = Vec::with_capacity(WRITE_BUFFER);
        let mut synced = owned.len;
        let mut flush = |owned: &mut Partial, buf: &mut Vec<u8>| {
            if buf.is_empty() {
                return Ok(());
            }
            owned.file.write_all(buf)?;
            owned.hasher.update(&buf[..]);
            owned.len += buf.len() as u64;
            buf.clear();
            if owned.len - synced >= WRITEBACK_EVERY {
                start_writeback(&owned.file, synced, owned.len - synced);
                synced = owned.len;
            }
            io::Result::Ok(())
        };
        // Waits only with an empty buffer: a slow link gets its bytes on
        // disk at once, a fast one gets big writes.
        loop {
            let chunk = match rx.try_recv() {
                Ok(chunk) => chunk,
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {
                    if let Err(e) = flush(&mut owned, &mut buf) {
                        return (owned, Some(e));
                    }
                    match rx.blocking_recv() {
                        Some(chunk) => chunk,
                        None => break,
                    }
                }
            };
            buf.extend_from_slice(&chunk);
            if buf.len() >= WRITE_BUFFER {
                if let Err(e) = flush(&mut owned, &mut buf) {
                    return (owned, Some(e));
                }
            }
        }
        let error = flush(&mut owned, &mut buf).err();
        (owned, error)
    });
    let mut received = partial.len;
    let mut published = received;
    let result = loop {
        match tokio::time::timeout(net.stall, resp.chunk()).await {
            Err(_) => break Err(Failure::Transient(format!("stalled: no data for {}s", net.stall.as_secs()))),
            Ok(Err(e)) => break Err(Failure::Transient(hub::without_url(&e))),
            Ok(Ok(None)) => break Ok(()),
            Ok(Ok(Some(chunk))) => {
                let room = plan.size - received;
                let chunk = if chunk.len() as u64 > room { chunk.slice(..room as usize) } else { chunk };
                received += chunk.len() as u64;
                if tx.send(chunk).await.is_err() {
                    break Ok(()); // the writer failed; its error follows
                }
                if received - published >= PROGRESS_STEP || received == plan.size {
                    published = received;
                    report.bytes(received, plan.size);
                }
                if received == plan.size {
                    break Ok(());
                }
            }
        }
    };
    drop(tx);
    let (owned, error) = writer.await.map_err(|e| Failure::Disk(io::Error::other(e)))?;
    partial.hasher = owned.hasher;
    partial.len = owned.len;
    report.bytes(partial.len, plan.size);
    if let Some(e) = error {
        return Err(Failure::Disk(e));
    }
    result
}

/// Asks the kernel to start writing `len` bytes at `offset` to disk without
/// waiting for it (Linux); elsewhere the final fsync does all the work.
fn start_writeback(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: an advisory syscall on a descriptor we own.
        unsafe {
            libc::sync_file_range(
                file.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// `bytes <start>-<end>/<total>` → (start, total).
fn parse_content_range(h: &reqwest::header::HeaderMap) -> Option<(u64, u64)> {
    let v = h.get(CONTENT_RANGE)?.to_str().ok()?;
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, _) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()?))
}

/// fsync, compare, rename into place (or delete on mismatch).
async fn finish(partial: Partial, plan: &Plan) -> Result<(), DownloadError> {
    let incomplete = plan.incomplete.clone();
    let blob = plan.blob.clone();
    let expected = plan.sha256.clone();
    let what = plan.what.clone();
    tokio::task::spawn_blocking(move || {
        let disk = |error: io::Error| DownloadError::Disk { path: incomplete.clone(), error: error.to_string() };
        partial.file.sync_all().map_err(disk)?;
        drop(partial.file);
        let actual = super::verify::hex(&partial.hasher.finalize());
        if actual != expected {
            let _ = std::fs::remove_file(&incomplete);
            return Err(DownloadError::Mismatch { what, expected, actual });
        }
        std::fs::rename(&incomplete, &blob).map_err(disk)?;
        if let Some(dir) = blob.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(disk)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| DownloadError::Disk { path: plan.incomplete.clone(), error: e.to_string() })?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Content-Range parsing takes the start and the total.
    #[test]
    fn content_range() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(CONTENT_RANGE, "bytes 100-199/1000".parse().unwrap());
        assert_eq!(parse_content_range(&h), Some((100, 1000)));
        h.insert(CONTENT_RANGE, "bytes */1000".parse().unwrap());
        assert_eq!(parse_content_range(&h), None);
    }
}
