//! Where arw keeps its state: `ARW_HOME` and the files below it.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Unix sockets carry their path in a fixed `sun_path` buffer (108 bytes on
/// Linux, 104 on macOS, both including the NUL).
#[cfg(target_os = "linux")]
pub const MAX_SOCKET_PATH: usize = 107;
#[cfg(not(target_os = "linux"))]
pub const MAX_SOCKET_PATH: usize = 103;

/// The resolved layout of one `ARW_HOME`.
#[derive(Debug, Clone)]
pub struct Paths {
    pub home: PathBuf,
}

impl Paths {
    /// `ARW_HOME`, else `$XDG_STATE_HOME/arw`, else `~/.local/state/arw`.
    pub fn from_env() -> Paths {
        let home = std::env::var_os("ARW_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()).map(|d| PathBuf::from(d).join("arw"))
            })
            .unwrap_or_else(|| home_dir().join(".local/state/arw"));
        // The daemon runs in `/`: a relative `ARW_HOME` means the caller's.
        let home = std::path::absolute(&home).unwrap_or(home);
        Paths { home }
    }

    pub fn run_dir(&self) -> PathBuf {
        self.home.join("run")
    }
    pub fn socket(&self) -> PathBuf {
        self.run_dir().join("arw.sock")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir().join("daemon.pid")
    }
    /// Held by whichever client is spawning a daemon, so 50 cold clients start one.
    pub fn spawn_lock(&self) -> PathBuf {
        self.run_dir().join("spawn.lock")
    }
    /// Held by the live daemon for its whole life: the one-daemon guarantee.
    pub fn daemon_lock(&self) -> PathBuf {
        self.run_dir().join("daemon.lock")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.home.join("logs")
    }
    pub fn daemon_log(&self) -> PathBuf {
        self.logs_dir().join("daemon.log")
    }
    pub fn runtime_logs_dir(&self) -> PathBuf {
        self.logs_dir().join("runtimes")
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.home.join("cache")
    }

    /// Creates every directory arw writes to, each `0700`.
    pub fn ensure_dirs(&self) -> io::Result<()> {
        create_private_dir(&self.home)?;
        // Parents before children, each refused if it is a link: nothing is
        // ever created through a link planted in `ARW_HOME`.
        for dir in [self.logs_dir(), self.runtime_logs_dir(), self.cache_dir()] {
            crate::fsx::ensure_private_dir(&dir)?;
        }
        // The socket's directory is what keeps other users out, so it is
        // tightened even when it already existed.
        crate::fsx::ensure_private_dir(&self.run_dir())
    }

    /// The socket path, or an error naming it when the OS cannot bind it or
    /// another user could stand in for the daemon there.
    pub fn checked_socket(&self) -> Result<PathBuf, crate::error::ArwError> {
        // One stat of the home serves both checks: this runs on every command.
        if let Ok(meta) = fs::metadata(&self.home) {
            if !meta.is_dir() {
                return Err(crate::error::ArwError::HomeNotADirectory { home: self.home.clone() });
            }
            check_owner(&self.home, &meta)?;
        }
        check_run_dir(&self.run_dir())?;
        let socket = self.socket();
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(crate::error::ArwError::SocketPathTooLong { path: socket, len, max: MAX_SOCKET_PATH });
        }
        Ok(socket)
    }
}

/// Refuses a directory that another user owns or may write to: whoever can
/// write there can replace the socket and receive what clients send. A
/// missing directory is fine (arw creates it `0700`). `ARW_HOME` itself may
/// be a symlink the user made; `run/` may not.
fn check_run_dir(dir: &Path) -> Result<(), crate::error::ArwError> {
    match fs::symlink_metadata(dir) {
        Ok(meta) => check_owner(dir, &meta),
        Err(_) => Ok(()),
    }
}

fn check_owner(dir: &Path, meta: &fs::Metadata) -> Result<(), crate::error::ArwError> {
    use std::os::unix::fs::MetadataExt;
    let unsafe_dir =
        |why: String, fix: String| crate::error::ArwError::UnsafeHome { path: dir.to_path_buf(), why, fix };
    let elsewhere = "point `ARW_HOME` at a directory of your own";
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir(
            "is a symlink".into(),
            format!("remove the link (`rm {}`), or {elsewhere}", dir.display()),
        ));
    }
    let me = crate::sys::euid();
    if meta.uid() != me {
        return Err(unsafe_dir(format!("is owned by uid {}, not by you (uid {me})", meta.uid()), elsewhere.into()));
    }
    if meta.mode() & 0o022 != 0 {
        let who = if meta.mode() & 0o002 != 0 { "everyone" } else { "its group" };
        return Err(unsafe_dir(
            format!("is writable by {who} (mode {:o})", meta.mode() & 0o777),
            format!("run `chmod go-w {}`, or {elsewhere}", dir.display()),
        ));
    }
    Ok(())
}

/// Creates `dir` (and missing parents) as `0700`; an existing directory the
/// user made is left as it is.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(dir)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot create `{}`: {e}", dir.display())))
}

pub fn home_dir() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/"))
}
