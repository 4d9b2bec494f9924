//! Bounded reads of small configuration files named by the user.
//!
//! A path from a flag or an environment variable may name anything:
//! `/dev/zero` would be read until memory runs out, and a FIFO would block
//! the daemon while it holds its lock. So only regular files are read, the
//! open cannot block, and at most `cap` bytes are taken.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Cap for a runtime manifest or `model_sources.json`: far above any real
/// one (12 000 runtimes take about 1 MiB), far below what hurts the daemon.
pub const CONFIG_CAP_BYTES: u64 = 16 << 20;

/// Why a config file was not read; each displays as a clause to follow
/// "cannot read `path`: ".
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it is larger than {} (the cap for a config file)", size(*.0))]
    TooLarge(u64),
    #[error("it is not UTF-8 text (invalid byte at offset {0})")]
    NotUtf8(usize),
}

/// The whole text of the regular file at `path` (symlinks followed), at
/// most `cap` bytes.
pub fn read_config_file(path: &Path, cap: u64) -> Result<String, ReadError> {
    check_regular(&std::fs::metadata(path)?)?;
    // O_NONBLOCK: a FIFO swapped in after the check must not block the open.
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    check_regular(&file.metadata()?)?;
    read_capped(file, cap)
}

fn check_regular(meta: &std::fs::Metadata) -> Result<(), ReadError> {
    let t = meta.file_type();
    let kind = match () {
        _ if t.is_file() => return Ok(()),
        _ if t.is_dir() => "a directory",
        _ if t.is_fifo() => "a named pipe (FIFO)",
        _ if t.is_char_device() => "a character device",
        _ if t.is_block_device() => "a block device",
        _ if t.is_socket() => "a socket",
        _ => "not a file",
    };
    Err(ReadError::NotRegular(kind))
}

fn read_capped(file: File, cap: u64) -> Result<String, ReadError> {
    let mut bytes = Vec::new();
    // One byte past the cap tells "exactly at the cap" from "larger".
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8(e.utf8_error().valid_up_to()))
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, "x = 1\n").unwrap();
        assert_eq!(read_config_file(&file, 6).unwrap(), "x = 1\n");
        let large = read_config_file(&file, 5).unwrap_err().to_string();
        assert_eq!(large, "it is larger than 5 bytes (the cap for a config file)");
        let dev = read_config_file(Path::new("/dev/zero"), CONFIG_CAP_BYTES).unwrap_err().to_string();
        assert_eq!(dev, "it is a character device, not a regular file");
        let dir_err = read_config_file(dir.path(), CONFIG_CAP_BYTES).unwrap_err().to_string();
        assert_eq!(dir_err, "it is a directory, not a regular file");
        std::fs::write(&file, b"a\xffb").unwrap();
        assert!(read_config_file(&file, 6).unwrap_err().to_string().contains("offset 1"));
        assert_eq!(size(CONFIG_CAP_BYTES), "16 MiB");
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("p");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo(3) on a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_config_file(&fifo, CONFIG_CAP_BYTES).unwrap_err().to_string();
        assert_eq!(err, "it is a named pipe (FIFO), not a regular file");
        // The open itself must not block either, for a FIFO swapped in after the check.
        let opened = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).unwrap();
        assert!(matches!(check_regular(&opened.metadata().unwrap()), Err(ReadError::NotRegular(_))));
    }
}
