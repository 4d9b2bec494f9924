//! `arw runtime logs ID [--follow] [-n N]`: the tail of a runtime's log,
//! then, when following, every line written after it.
//!
//! A runtime's runs all append to one file (each starts with its
//! `=== arw: starting … ===` header), so following the file follows the
//! runtime across restarts. Rotation is followed too
//! ([`crate::supervisor::logfile`]): a log renamed to `<id>.log.1` at a
//! start is read to its end before the new file is opened; a log
//! copy-truncated while running is caught up from the `.log.1` copy
//! (from where this reader was), then read again from its start.

use crate::daemon::Ctx;
use crate::fsx;
use crate::protocol::lifecycle::{LogsReport, LogsRequest};
use crate::protocol::{ErrorBody, ErrorKind};
use crate::supervisor::logfile;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// At most this much is read per poll, so a runtime writing fast cannot
/// hold the daemon's thread; the caller polls again at once.
const READ_PER_POLL: u64 = 1024 * 1024;
/// A line longer than this is cut (a runtime writing without newlines
/// must not grow the daemon).
const MAX_LINE: usize = 64 * 1024;

/// The tail of `req.id`'s log, and a follower positioned right after it.
pub async fn tail(ctx: &Ctx, req: &LogsRequest) -> Result<(LogsReport, Follower), ErrorBody> {
    let view = ctx.supervisor.snapshot().await?;
    let Some(rt) = view.runtime(&req.id) else {
        let known: Vec<&str> = view.runtimes.iter().map(|r| r.id.as_str()).collect();
        return Err(ErrorBody::new(
            ErrorKind::UnknownRuntime,
            format!("no runtime with id `{}`", crate::text::quote(&req.id, 80)),
        )
        .with_hint(if known.is_empty() {
            "no runtimes are registered; add one to runtimes.toml".to_string()
        } else {
            format!("known ids: {}", known.join(", "))
        }));
    };
    let path = PathBuf::from(&rt.log_path);
    let (id, lines) = (req.id.clone(), req.lines);
    // Reading back through a large log is file work: off the daemon's thread.
    let read = tokio::task::spawn_blocking(move || Follower::open(path, lines)).await;
    let (follower, tail) = match read {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            return Err(ErrorBody::new(ErrorKind::Internal, format!("cannot read the log of `{id}`: {e}"))
                .with_hint("check the file's owner and mode"))
        }
        Err(e) => return Err(ErrorBody::new(ErrorKind::Internal, format!("reading the log of `{id}` failed: {e}"))),
    };
    let report = LogsReport { id, path: rt.log_path.clone(), exists: follower.file.is_some(), lines: tail };
    Ok((report, follower))
}

/// Reads a log from a position on, across rotations.
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    /// Which file `file` is, to notice a rename at a new start.
    ino: u64,
    offset: u64,
    /// The file's first bytes as this reader saw them (a run's header
    /// carries its start time): different bytes there mean the file was
    /// copy-truncated, even when it has grown past `offset` again since.
    head: Vec<u8>,
    /// The start of a line whose newline has not been written yet.
    partial: Vec<u8>,
    /// When this reader last looked: a `.1` older than that is not the
    /// copy of what it missed (the copy failed and the log was cut anyway).
    looked: SystemTime,
}

/// How many of the file's first bytes identify its content.
const HEAD_BYTES: u64 = 96;

/// Up to `len` bytes of `file` from its start.
fn read_head(file: &File, len: u64) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len as usize];
    let n = file.read_at(&mut buf, 0).unwrap_or(0);
    buf.truncate(n);
    buf
}

impl Follower {
    /// Opens the log (it may not exist yet) and returns a follower at its
    /// end with the last `lines` whole lines before it.
    fn open(path: PathBuf, lines: usize) -> io::Result<(Follower, Vec<String>)> {
        // A rotation truncates the file under us; read again from its new end.
        for _ in 0..3 {
            match Follower::open_once(path.clone(), lines) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => continue,
                other => return other,
            }
        }
        Follower::open_once(path, lines)
    }

    fn open_once(path: PathBuf, lines: usize) -> io::Result<(Follower, Vec<String>)> {
        let mut follower = Follower {
            path,
            file: None,
            ino: 0,
            offset: 0,
            head: Vec::new(),
            partial: Vec::new(),
            looked: SystemTime::now(),
        };
        let mut file = match fsx::open_read(&follower.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((follower, Vec::new())),
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        // Stop before a line still being written: the follower prints it whole.
        let end = complete_end(&mut file, meta.len())?;
        let tail = if lines == 0 { Vec::new() } else { logfile::tail_of(&mut file, end, lines)? };
        follower.ino = meta.ino();
        follower.offset = end;
        follower.head = read_head(&file, end.min(HEAD_BYTES));
        follower.file = Some(file);
        Ok((follower, tail))
    }

    /// The lines written since the last poll, and whether more is waiting
    /// (poll again at once).
    pub fn poll(&mut self) -> (Vec<String>, bool) {
        let looked = std::mem::replace(&mut self.looked, SystemTime::now());
        let mut out = Vec::new();
        let on_disk = std::fs::symlink_metadata(&self.path).ok().filter(|m| m.is_file());
        if self.file.is_none() {
            let Some(meta) = &on_disk else { return (out, false) };
            let Ok(file) = fsx::open_read(&self.path) else { return (out, false) };
            (self.file, self.ino, self.offset, self.head) = (Some(file), meta.ino(), 0, Vec::new());
        }
        let Some(file) = self.file.as_mut() else { return (out, false) };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset || read_head(file, self.head.len() as u64) != self.head {
            // Copy-truncated: what this reader had not seen yet is in `.1`.
            let missed = self.read_rotated(looked);
            self.take_lines(&missed, &mut out);
            self.flush_partial(&mut out);
            self.offset = 0;
            self.head.clear();
        }
        let Some(file) = self.file.as_mut() else { return (out, false) };
        let want = (len.saturating_sub(self.offset)).min(READ_PER_POLL);
        let mut buf = Vec::with_capacity(want as usize);
        if want > 0 && file.seek(SeekFrom::Start(self.offset)).is_ok() {
            let _ = file.take(want).read_to_end(&mut buf);
        }
        self.offset += buf.len() as u64;
        if (self.head.len() as u64) < HEAD_BYTES.min(self.offset) {
            self.head = read_head(file, HEAD_BYTES.min(self.offset));
        }
        self.take_lines(&buf, &mut out);
        let more = self.offset < len;
        if !more && on_disk.is_some_and(|m| m.ino() != self.ino) {
            // Renamed to `.1` at a new start, and read to its end: on to the new file.
            self.flush_partial(&mut out);
            self.file = None;
            return (out, true);
        }
        (out, more)
    }

    /// `.1` from this reader's offset on: the lines a copy-truncate moved.
    fn read_rotated(&self, looked: SystemTime) -> Vec<u8> {
        let mut buf = Vec::new();
        if let Ok(mut old) = fsx::open_read(&logfile::rotated(&self.path)) {
            // Written since the last look, give or take the clock's steps.
            let fresh = old.metadata().and_then(|m| m.modified()).is_ok_and(|at| at + Duration::from_secs(2) >= looked);
            if fresh && old.seek(SeekFrom::Start(self.offset)).is_ok() {
                let _ = old.take(logfile::ROTATE_BYTES * 2).read_to_end(&mut buf);
            }
        }
        buf
    }

    fn take_lines(&mut self, bytes: &[u8], out: &mut Vec<String>) {
        let mut rest = bytes;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..nl]);
            out.push(line_of(&std::mem::take(&mut self.partial)));
            rest = &rest[nl + 1..];
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() > MAX_LINE {
            self.flush_partial(out);
        }
    }

    fn flush_partial(&mut self, out: &mut Vec<String>) {
        if !self.partial.is_empty() {
            out.push(line_of(&std::mem::take(&mut self.partial)));
        }
    }
}

fn line_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_LINE)]);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    if bytes.len() > MAX_LINE {
        format!("{text}…")
    } else {
        text.to_string()
    }
}

/// Where the last whole line of the first `len` bytes ends (`len` when
/// the last 64 KiB hold no newline: then the line counts as whole).
fn complete_end(file: &mut File, len: u64) -> io::Result<u64> {
    let from = len.saturating_sub(MAX_LINE as u64);
    let mut buf = vec![0u8; (len - from) as usize];
    file.seek(SeekFrom::Start(from))?;
    file.read_exact(&mut buf)?;
    Ok(match buf.iter().rposition(|&b| b == b'\n') {
        Some(nl) => from + nl as u64 + 1,
        None => len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &std::path::Path, text: &str) {
        fsx::open_append(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    /// The follower starts after the tail, keeps a half-written line until
    /// its newline, and goes on through a copy-truncate and a rename.
    #[test]
    fn follows_across_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        append(&path, "one\ntwo\nthr");
        let (mut f, tail) = Follower::open(path.clone(), 5).unwrap();
        assert_eq!(tail, vec!["one", "two"], "a line still being written is not part of the tail");
        assert!(f.poll().0.is_empty());
        append(&path, "ee\nfour\nfi");
        assert_eq!(f.poll().0, vec!["three", "four"]);
        append(&path, "ve\n");
        assert_eq!(f.poll().0, vec!["five"]);
        // Copy-truncate: unread lines went to `.1`, the log starts again.
        append(&path, "six\n");
        std::fs::copy(&path, logfile::rotated(&path)).unwrap();
        fsx::open_read_write(&path).unwrap().set_len(0).unwrap();
        append(&path, "=== note ===\nseven\n");
        assert_eq!(f.poll().0, vec!["six", "=== note ===", "seven"]);
        // Copy-truncated again, and grown past this reader's offset before it looked.
        append(&path, "seven and a half\n");
        std::fs::copy(&path, logfile::rotated(&path)).unwrap();
        fsx::open_read_write(&path).unwrap().set_len(0).unwrap();
        append(&path, "=== another note, longer than everything before it was ===\n");
        assert_eq!(f.poll().0, vec!["seven and a half", "=== another note, longer than everything before it was ==="]);
        // Rename at a new start: the old file's end, then the new file.
        append(&path, "eight\n");
        std::fs::rename(&path, logfile::rotated(&path)).unwrap();
        append(&path, "=== header ===\nnine\n");
        let (mut got, mut more) = f.poll();
        while more {
            let (next, again) = f.poll();
            got.extend(next);
            more = again;
        }
        assert_eq!(got, vec!["eight", "=== header ===", "nine"]);
    }

    /// A log cut without its copy (the copy failed) does not bring back
    /// an old `.1` as if it were what was missed.
    #[test]
    fn a_stale_rotated_copy_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(logfile::rotated(&path), "ancient\n".repeat(100)).unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        File::options().write(true).open(logfile::rotated(&path)).unwrap().set_modified(hour_ago).unwrap();
        append(&path, "one\ntwo\n");
        let (mut f, _) = Follower::open(path.clone(), 0).unwrap();
        fsx::open_read_write(&path).unwrap().set_len(0).unwrap();
        append(&path, "=== cut ===\n");
        assert_eq!(f.poll().0, vec!["=== cut ==="]);
    }

    /// A log that does not exist yet is followed from its first line.
    #[test]
    fn follows_a_log_that_appears() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let (mut f, tail) = Follower::open(path.clone(), 5).unwrap();
        assert!(tail.is_empty() && f.file.is_none());
        assert!(f.poll().0.is_empty());
        append(&path, "first\n");
        assert_eq!(f.poll().0, vec!["first"]);
    }
}
