//! Where arw keeps its state: `ARW_HOME` and the files below it.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
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
        for dir in [self.home.clone(), self.logs_dir(), self.runtime_logs_dir(), self.cache_dir()] {
            create_private_dir(&dir)?;
        }
        // The socket's directory is what keeps other users out, so it is
        // tightened even when it already existed.
        let run = self.run_dir();
        create_private_dir(&run)?;
        if fs::metadata(&run)?.permissions().mode() & 0o777 != 0o700 {
            fs::set_permissions(&run, fs::Permissions::from_mode(0o700))?;
        }
        Ok(())
    }

    /// The socket path, or an error naming it when the OS cannot bind it.
    pub fn checked_socket(&self) -> Result<PathBuf, crate::error::ArwError> {
        if self.home.exists() && !self.home.is_dir() {
            return Err(crate::error::ArwError::HomeNotADirectory { home: self.home.clone() });
        }
        let socket = self.socket();
        let len = socket.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(crate::error::ArwError::SocketPathTooLong { path: socket, len, max: MAX_SOCKET_PATH });
        }
        Ok(socket)
    }
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
