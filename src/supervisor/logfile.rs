//! Runtime log files: opened safely, rotated at [`ROTATE_BYTES`] while the
//! runtime runs, and read from the end.
//!
//! The runtime writes its stdout and stderr straight into the file (an
//! `O_APPEND` descriptor), so a chatty runtime costs the daemon nothing per
//! line and never waits on it. Rotation is copy-truncate: the watcher checks
//! the size every [`CHECK_EVERY`] (every [`CHECK_FAST`] while it grows fast);
//! past the limit it copies the file to
//! `<id>.log.1` in the kernel (`copy_file_range`) and truncates it; the
//! runtime's next append lands at the start, and a note saying where the
//! rest went follows (after whatever the runtime wrote first). Lines written in the
//! microseconds between the copy's end and the truncate are lost — the
//! price of not putting the daemon in the runtime's output path (a pipe
//! through the daemon would block the runtime whenever the daemon is busy).
//! A log can overshoot the limit by what the runtime writes in one check
//! interval and one copy: about 10 MB for a runtime writing 500 MB/s, nothing
//! noticeable for llama-server's own chatter.

use crate::fsx;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A log past this size is rotated to `<id>.log.1` (one generation kept).
pub const ROTATE_BYTES: u64 = 16 * 1024 * 1024;
/// How often a running runtime's log size is checked...
pub const CHECK_EVERY: Duration = Duration::from_millis(250);
/// ...and how often while it grows by more than [`FAST_GROWTH`] per check.
pub const CHECK_FAST: Duration = Duration::from_millis(10);
pub const FAST_GROWTH: u64 = 1024 * 1024;
/// A tail never reads more than this from the end, however long the lines.
const TAIL_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// `<path>.1`.
pub fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Opens the log for a new run (rotating a large one first), writes the
/// run's header, and returns the file and where this run's output begins.
pub fn open_for_run(path: &Path, header: &str) -> io::Result<(File, u64)> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() > ROTATE_BYTES) {
        // Nothing writes to it between runs: a rename is enough.
        std::fs::rename(path, rotated(path))?;
    }
    let mut file = fsx::open_append(path)?;
    file.write_all(header.as_bytes())?;
    let offset = file.metadata()?.len();
    Ok((file, offset))
}

/// Copy-truncates the log of a running runtime once it is past the limit.
/// Returns whether it rotated.
pub fn rotate_if_large(path: &Path) -> io::Result<bool> {
    let src = fsx::open_read_write(path)?;
    let len = src.metadata()?.len();
    if len <= ROTATE_BYTES {
        return Ok(false);
    }
    let old = rotated(path);
    let kept = match fsx::create_truncate(&old) {
        Ok(dst) => Ok(dst),
        // Something planted where `.log.1` goes (a link, a hard link): it
        // is ours to remove — unlinking never follows — then try once more.
        Err(_) if std::fs::symlink_metadata(&old).is_ok_and(|m| !m.is_dir()) => {
            std::fs::remove_file(&old).and_then(|()| fsx::create_truncate(&old))
        }
        Err(e) => Err(e),
    };
    let note = match kept {
        Ok(mut dst) => {
            // Up to the length seen: chasing a writer faster than the copy would never end.
            io::copy(&mut (&src).take(len), &mut dst)?;
            format!(
                "=== arw: log rotated at {}; earlier output is in `{}` ===\n",
                crate::time::now_rfc3339(),
                old.display()
            )
        }
        // The log stays bounded even when its older half cannot be kept.
        Err(e) => format!(
            "=== arw: log truncated at {}: cannot keep earlier output in `{}`: {e} ===\n",
            crate::time::now_rfc3339(),
            old.display()
        ),
    };
    src.set_len(0)?;
    fsx::open_append(path)?.write_all(note.as_bytes())?;
    Ok(true)
}

/// The last `lines` lines of the file, read backwards from its end: a
/// 200 MB log costs what its tail costs.
pub fn tail(path: &Path, lines: usize) -> io::Result<Vec<String>> {
    // A rotation truncates the file under us; read again from its new end.
    for _ in 0..3 {
        match tail_once(path, lines) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => continue,
            other => return other,
        }
    }
    tail_once(path, lines)
}

fn tail_once(path: &Path, lines: usize) -> io::Result<Vec<String>> {
    let mut file = fsx::open_read(path)?;
    let len = file.metadata()?.len();
    tail_of(&mut file, len, lines)
}

/// The last `lines` lines of `file`'s first `len` bytes.
pub fn tail_of(file: &mut File, len: u64, lines: usize) -> io::Result<Vec<String>> {
    let floor = len.saturating_sub(TAIL_MAX_BYTES);
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    const CHUNK: u64 = 64 * 1024;
    // One newline more than asked for, so the first line kept is whole.
    while start > floor && buf.iter().filter(|&&b| b == b'\n').count() <= lines {
        let from = start.saturating_sub(CHUNK).max(floor);
        let mut chunk = vec![0u8; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
        start = from;
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    // The first line may be cut unless we reached the start of the file.
    let complete = if start == 0 { &all[..] } else { all.get(1..).unwrap_or_default() };
    Ok(complete[complete.len().saturating_sub(lines)..].iter().map(|l| l.to_string()).collect())
}

/// The bytes of the log from `offset` (this run's start) on, at most the
/// last `max` of them. A log rotated since (shorter than `offset`) is read
/// from its start.
pub fn read_since(path: &Path, offset: u64, max: u64) -> Vec<u8> {
    let Ok(mut file) = fsx::open_read(path) else { return Vec::new() };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let offset = if offset > len { 0 } else { offset };
    let start = offset.max(len.saturating_sub(max));
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = file.take(len - start).read_to_end(&mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tail is the last lines, whole, read from the end.
    #[test]
    fn tail_reads_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut text = String::new();
        for i in 0..100_000 {
            text.push_str(&format!("line {i}\n"));
        }
        std::fs::write(&path, &text).unwrap();
        assert_eq!(tail(&path, 3).unwrap(), vec!["line 99997", "line 99998", "line 99999"]);
        std::fs::write(&path, "a\nb").unwrap();
        assert_eq!(tail(&path, 5).unwrap(), vec!["a", "b"]);
    }

    /// Copy-truncate keeps the old content in `.1` and empties the log.
    #[test]
    fn rotation_copies_and_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut f = fsx::open_append(&path).unwrap();
        f.write_all(&vec![b'x'; ROTATE_BYTES as usize + 10]).unwrap();
        assert!(rotate_if_large(&path).unwrap());
        assert_eq!(std::fs::metadata(rotated(&path)).unwrap().len(), ROTATE_BYTES + 10);
        f.write_all(b"after\n").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("=== arw: log rotated") && text.ends_with("after\n"), "{text}");
        assert!(!rotate_if_large(&path).unwrap());
        assert_eq!(read_since(&path, ROTATE_BYTES, 1024), text.as_bytes(), "a rotated log is read from its start");
    }
}
