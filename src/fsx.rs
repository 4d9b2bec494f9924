//! Opening arw's own files without being tricked by what someone planted.
//!
//! Anything under `ARW_HOME` may have been put there by someone else: a
//! symlink `logs/daemon.log -> ~/.bashrc` must not make arw append to the
//! target, a hard link must not make it truncate another file, a FIFO must
//! not block it forever. Every file arw writes is opened here: the last
//! path component is never followed (`O_NOFOLLOW`), only a regular file with
//! one link is accepted, the descriptor is close-on-exec, and the file is
//! `0600` (tightened if it already existed). Directories are `0700` and
//! never symlinks.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Opens `path` for appending, creating it `0600`.
pub fn open_append(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    open_checked(path, &opts)
}

/// Opens `path` for writing and empties it, creating it `0600`.
pub fn create_truncate(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    // O_TRUNC would empty a hard-linked victim before we could look at it:
    // check first, truncate after.
    opts.create(true).write(true);
    let file = open_checked(path, &opts)?;
    file.set_len(0)?;
    Ok(file)
}

/// Opens `path` for reading and writing without creating it (log rotation).
pub fn open_read_write(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true);
    open_checked(path, &opts)
}

/// Opens `path` for reading; a symlink is refused, not followed.
pub fn open_read(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    opts.custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK);
    let file = opts.open(path).map_err(|e| explain(path, e))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    Ok(file)
}

/// Writes `contents` to `path` (create, truncate) with the same checks.
pub fn write(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    create_truncate(path)?.write_all(contents)
}

fn open_checked(path: &Path, opts: &OpenOptions) -> io::Result<File> {
    let mut opts = opts.clone();
    // O_NONBLOCK: opening a planted FIFO for writing fails (ENXIO) instead of
    // waiting for a reader; on a regular file it changes nothing.
    opts.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK);
    let file = opts.open(path).map_err(|e| explain(path, e))?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(path));
    }
    if meta.nlink() > 1 {
        return Err(io::Error::other(format!(
            "`{}` has {} hard links, so writing it would change another file too; remove it and try again",
            path.display(),
            meta.nlink()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    clear_nonblock(&file);
    Ok(file)
}

/// The descriptor may become a runtime's stdout: leave it as plain as any other.
fn clear_nonblock(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: fcntl on a descriptor we own, integer arguments only.
    unsafe {
        let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}

/// Creates `dir` (and missing parents) `0700`; an existing one must be a
/// real directory, not a symlink, and is tightened to `0700`.
pub fn ensure_private_dir(dir: &Path) -> io::Result<()> {
    // A link is refused before anything is created through it.
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(symlink(dir));
    }
    match std::fs::DirBuilder::new().mode(0o700).recursive(true).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io::Error::new(e.kind(), format!("cannot create `{}`: {e}", dir.display()))),
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return Err(symlink(dir));
    }
    if !meta.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("`{}` is not a directory; remove it and try again", dir.display()),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io::Error::new(e.kind(), format!("cannot make `{}` private (0700): {e}", dir.display())))?;
    }
    Ok(())
}

/// `O_NOFOLLOW` on a symlink fails with `ELOOP`; say what that means.
fn explain(path: &Path, e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) => symlink(path),
        Some(libc::ENXIO) => not_regular(path),
        _ => io::Error::new(e.kind(), format!("cannot open `{}`: {e}", path.display())),
    }
}

fn symlink(path: &Path) -> io::Error {
    io::Error::other(format!(
        "`{}` is a symbolic link; arw never follows links in its own files; remove it and try again",
        path.display()
    ))
}

fn not_regular(path: &Path) -> io::Error {
    io::Error::other(format!("`{}` is not a regular file; remove it and try again", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A planted symlink is refused with a message naming it; its target is untouched.
    #[test]
    fn symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let link = dir.path().join("x.log");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        for result in [open_append(&link).map(drop), create_truncate(&link).map(drop), open_read(&link).map(drop)] {
            let err = result.unwrap_err().to_string();
            assert!(err.contains("x.log") && err.contains("symbolic link") && err.contains("remove it"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let linked_dir = dir.path().join("logs");
        std::os::unix::fs::symlink(dir.path(), &linked_dir).unwrap();
        assert!(ensure_private_dir(&linked_dir).unwrap_err().to_string().contains("symbolic link"));
    }

    /// Hard links and FIFOs are refused; files and dirs end up 0600 / 0700.
    #[test]
    fn hard_links_fifos_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let hard = dir.path().join("hard.log");
        std::fs::hard_link(&victim, &hard).unwrap();
        assert!(create_truncate(&hard).unwrap_err().to_string().contains("hard links"));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
        let fifo = dir.path().join("fifo.log");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(open_append(&fifo).unwrap_err().to_string().contains("not a regular file"));

        let wide = dir.path().join("wide.log");
        std::fs::write(&wide, "").unwrap();
        std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o644)).unwrap();
        open_append(&wide).unwrap().write_all(b"x").unwrap();
        assert_eq!(std::fs::metadata(&wide).unwrap().mode() & 0o777, 0o600);
        let sub = dir.path().join("a/b");
        ensure_private_dir(&sub).unwrap();
        assert_eq!(std::fs::metadata(&sub).unwrap().mode() & 0o777, 0o700);
    }
}
