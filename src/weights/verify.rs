//! sha256 of files, and the record of which files were verified.
//!
//! Hashing uses `sha2`, which picks the SHA-NI instructions at run time when
//! the CPU has them (x86-64 `sha_ni`; `asm` covers CPUs without). Reads are
//! 1 MiB at a time and run on a blocking thread, never on the daemon's
//! event loop.
//!
//! A verification is recorded as a stamp: path → sha256 plus the file's
//! identity (size, mtime, ctime, inode). A file whose identity still matches
//! its stamp counts as verified without re-reading gigabytes; `verify`
//! always re-hashes.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub const READ_CHUNK: usize = 1 << 20;
const PROGRESS_EVERY: u64 = 64 << 20;

/// Lower-case hex of a digest.
pub fn hex(digest: &[u8]) -> String {
    use std::fmt::Write;
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Hashes the first `len` bytes of `path` (all of it with `None`), calling
/// `progress` with the running byte count. Blocking.
///
/// One thread, plain reads: a reader thread overlapping the copy with the
/// hashing measured slower (bench/weights), the hand-off costing more than
/// the copy.
pub fn hash_file(path: &Path, len: Option<u64>, mut progress: impl FnMut(u64)) -> io::Result<(Sha256, u64)> {
    let file = std::fs::File::open(path)?;
    advise_sequential(&file);
    let mut reader = file.take(len.unwrap_or(u64::MAX));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut done = 0u64;
    let mut last_report = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        done += n as u64;
        if done - last_report >= PROGRESS_EVERY {
            last_report = done;
            progress(done);
        }
    }
    progress(done);
    Ok((hasher, done))
}

/// sha256 (hex) and size of a whole file. Blocking.
pub fn sha256_file(path: &Path, progress: impl FnMut(u64)) -> io::Result<(String, u64)> {
    let (hasher, n) = hash_file(path, None, progress)?;
    Ok((hex(&hasher.finalize()), n))
}

fn advise_sequential(file: &std::fs::File) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: advisory call on a descriptor we own.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL);
        }
    }
}

/// What makes a file "the same file" between two looks at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
}

impl FileId {
    pub fn of(path: &Path) -> io::Result<FileId> {
        let m = std::fs::metadata(path)?;
        Ok(FileId {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            ctime_ns: m.ctime() * 1_000_000_000 + m.ctime_nsec(),
            ino: m.ino(),
            dev: m.dev(),
        })
    }
}

/// One successful verification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stamp {
    pub sha256: String,
    pub id: FileId,
    pub verified_at: String,
    /// The hub repo the file was checked as (its hub sha256 or pinned sha256
    /// matched). Only files outside the HF cache need it: a blob's folder
    /// already names its repo, while a plain `<file>` in the link directory
    /// says nothing about where it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
}

/// The stamps file: `{ "<canonical path>": Stamp }`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Stamps {
    #[serde(flatten)]
    pub files: BTreeMap<PathBuf, Stamp>,
}

impl Stamps {
    /// Loads the file; a missing or unreadable one is an empty record.
    pub fn load(path: &Path) -> Stamps {
        std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        super::cache::write_atomic(path, &bytes)
    }

    /// The stamp of `file` if it still describes the file as it is now.
    pub fn valid(&self, file: &Path) -> Option<&Stamp> {
        let key = std::fs::canonicalize(file).ok()?;
        let stamp = self.files.get(&key)?;
        (FileId::of(&key).ok()? == stamp.id).then_some(stamp)
    }

    pub fn record(&mut self, file: &Path, sha256: &str) -> io::Result<()> {
        let key = std::fs::canonicalize(file)?;
        let id = FileId::of(&key)?;
        let repo = self.files.get(&key).filter(|s| s.sha256 == sha256 && s.id == id).and_then(|s| s.repo.clone());
        let stamp = Stamp { sha256: sha256.to_string(), id, verified_at: crate::time::now_rfc3339(), repo };
        self.files.insert(key, stamp);
        Ok(())
    }

    /// Records that `file`, as stamped now, is `repo`'s file.
    pub fn claim(&mut self, file: &Path, repo: &str) {
        if let Some(stamp) = std::fs::canonicalize(file).ok().and_then(|k| self.files.get_mut(&k)) {
            stamp.repo = Some(repo.to_string());
        }
    }

    pub fn forget(&mut self, file: &Path) {
        if let Ok(key) = std::fs::canonicalize(file) {
            self.files.remove(&key);
        }
        self.files.remove(file);
    }
}

/// Updates the stamps file under a lock, so concurrent requests do not lose
/// each other's records.
pub fn update_stamps(path: &Path, f: impl FnOnce(&mut Stamps)) -> io::Result<()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut stamps = Stamps::load(path);
    f(&mut stamps);
    stamps.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer test, and a prefix hash equals hashing the prefix bytes.
    #[test]
    fn sha256_known_answer_and_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abcdef").unwrap();
        let (h, n) = hash_file(&path, Some(3), |_| {}).unwrap();
        assert_eq!(n, 3);
        assert_eq!(hex(&h.finalize()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    /// A stamp stops counting once the file changes.
    #[test]
    fn stamp_invalidated_by_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"one").unwrap();
        let mut stamps = Stamps::default();
        stamps.record(&path, "x").unwrap();
        assert!(stamps.valid(&path).is_some());
        std::fs::write(&path, b"two!").unwrap();
        assert!(stamps.valid(&path).is_none());
    }
}
