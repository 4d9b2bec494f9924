//! Errors the CLI reports, the exit codes they map to, and how they print.

use std::path::PathBuf;

/// Process exit codes (SPEC §4). Scripts rely on these numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Failure = 1,
    Usage = 2,
    DaemonUnreachable = 3,
    BudgetExhausted = 4,
    SmokeSkipped = 5,
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e as u8)
    }
}

/// Failures with a meaning of their own: each carries its exit code and the
/// next step for the user.
#[derive(Debug, thiserror::Error)]
pub enum ArwError {
    #[error(
        "the arw daemon is not running at `{socket}` and auto-start is off (`ARW_NO_AUTOSTART=1`); \
         start it with `arw daemon serve` or unset `ARW_NO_AUTOSTART`"
    )]
    AutostartDisabled { socket: PathBuf },

    #[error(
        "cannot reach the arw daemon at `{socket}`: {reason}; \
         check `arw daemon logs` (ARW_HOME=`{home}`)"
    )]
    DaemonUnreachable { socket: PathBuf, home: PathBuf, reason: String },

    #[error(
        "the socket path `{path}` is {len} bytes, longer than the {max} this OS allows; \
         set `ARW_HOME` to a shorter directory"
    )]
    SocketPathTooLong { path: PathBuf, len: usize, max: usize },

    #[error("ARW_HOME `{home}` is not a directory; point `ARW_HOME` at a directory arw may use")]
    HomeNotADirectory { home: PathBuf },

    #[error(
        "refusing to use `{path}`: it {why}, so another user could stand in for the arw daemon there; \
         run `chmod go-w {path}` if it is yours, or point `ARW_HOME` at a directory only you can write"
    )]
    UnsafeHome { path: PathBuf, why: String },

    #[error(
        "the socket `{socket}` is served by uid {uid}, not by you (uid {me}); nothing was sent to it. \
         Someone may be impersonating the arw daemon: check who owns `{socket}`, or set `ARW_HOME` elsewhere"
    )]
    ForeignDaemon { socket: PathBuf, uid: u32, me: u32 },

    #[error(
        "the arw daemon (pid {pid}) did not answer within {secs}s; it may be stopped (`kill -CONT {pid}`) \
         or overloaded. See `arw daemon logs`, or restart it with `arw daemon restart`; \
         `ARW_CLIENT_TIMEOUT_SECS` sets how long to wait"
    )]
    DaemonTimeout { pid: String, secs: u64 },

    #[error("the arw daemon went away (ARW_HOME=`{home}`); see `arw daemon logs`, then run the command again")]
    DaemonGone { home: PathBuf },

    #[error(
        "the running daemon is a different build (daemon {daemon_build}, protocol {daemon_protocol}; \
         this client {client_build}, protocol {client_protocol}) and `--no-restart-daemon` was given; \
         run `arw daemon restart` to replace it"
    )]
    BuildMismatch { daemon_build: String, daemon_protocol: u32, client_build: String, client_protocol: u32 },

    #[error("{message}")]
    BudgetExhausted { message: String },

    /// An error the daemon reported for a request.
    #[error("{message}{}", hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    Remote { kind: crate::protocol::ErrorKind, message: String, hint: Option<String> },
}

impl ArwError {
    pub fn exit(&self) -> Exit {
        use crate::protocol::ErrorKind;
        match self {
            ArwError::AutostartDisabled { .. }
            | ArwError::DaemonUnreachable { .. }
            | ArwError::SocketPathTooLong { .. }
            | ArwError::HomeNotADirectory { .. }
            | ArwError::UnsafeHome { .. }
            | ArwError::ForeignDaemon { .. }
            | ArwError::DaemonTimeout { .. }
            | ArwError::DaemonGone { .. }
            | ArwError::BuildMismatch { .. } => Exit::DaemonUnreachable,
            ArwError::BudgetExhausted { .. } => Exit::BudgetExhausted,
            ArwError::Remote { kind, .. } => match kind {
                ErrorKind::BudgetExhausted => Exit::BudgetExhausted,
                ErrorKind::BadRequest | ErrorKind::UnknownRuntime => Exit::Usage,
                ErrorKind::Busy => Exit::DaemonUnreachable,
                _ => Exit::Failure,
            },
        }
    }
}

/// The exit code for an error chain: the first `ArwError` in it decides.
pub fn exit_code_of(err: &anyhow::Error) -> Exit {
    err.chain().find_map(|e| e.downcast_ref::<ArwError>()).map(ArwError::exit).unwrap_or(Exit::Failure)
}

/// Prints `arw: error: ...` and one `caused by:` line per cause.
pub fn report(err: &anyhow::Error) {
    eprintln!("arw: error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
}
