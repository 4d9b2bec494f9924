//! Errors the CLI reports, the exit codes they map to, and how they print.
//!
//! With `--json` a failing command prints one document on stdout,
//! `{"error": {"kind", "message", "exit_code", "hint"?}}`, besides the
//! message on stderr. `kind` is one of: `usage`, `daemon_unreachable`,
//! `budget_exhausted`, `output` (stdout could not be written), `failure`,
//! or the kind the daemon gave its error (`protocol::ErrorKind` in snake
//! case: `bad_request`, `unknown_runtime`, `runtime_unavailable`,
//! `upstream`, `config`, `internal`, ...).

use std::io::Write;
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

    #[error("refusing to use `{path}`: it {why}, so another user could stand in for the arw daemon there; {fix}")]
    UnsafeHome { path: PathBuf, why: String, fix: String },

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

    /// A setting or combination this command refuses before asking the
    /// daemon anything (exit 2).
    #[error("{message}; {hint}")]
    Usage { message: String, hint: String },

    /// A closed pipe is not reported (see [`report`]); anything else is.
    #[error("cannot write to stdout: {0}; check where the output is redirected")]
    Stdout(#[source] std::io::Error),

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
            ArwError::Usage { .. } => Exit::Usage,
            ArwError::Stdout(_) => Exit::Failure,
            ArwError::Remote { kind, .. } => match kind {
                ErrorKind::BudgetExhausted => Exit::BudgetExhausted,
                ErrorKind::BadRequest | ErrorKind::UnknownRuntime => Exit::Usage,
                ErrorKind::Busy => Exit::DaemonUnreachable,
                _ => Exit::Failure,
            },
        }
    }

    /// The `kind` of the `--json` error document.
    pub fn kind(&self) -> String {
        match self {
            ArwError::Remote { kind, .. } => serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| "failure".into()),
            ArwError::Stdout(_) => "output".into(),
            // Local errors are named for their exit code.
            _ => match self.exit() {
                Exit::DaemonUnreachable => "daemon_unreachable",
                Exit::BudgetExhausted => "budget_exhausted",
                Exit::Usage => "usage",
                _ => "failure",
            }
            .into(),
        }
    }
}

/// The exit code for an error chain: the first `ArwError` in it decides.
pub fn exit_code_of(err: &anyhow::Error) -> Exit {
    err.chain().find_map(|e| e.downcast_ref::<ArwError>()).map(ArwError::exit).unwrap_or(Exit::Failure)
}

fn first_arw_error(err: &anyhow::Error) -> Option<&ArwError> {
    err.chain().find_map(|e| e.downcast_ref::<ArwError>())
}

/// A write to stdout that failed because the reader went away (`| head`):
/// the reader has what it wanted, so arw stops quietly with exit 0.
fn is_closed_stdout(err: &anyhow::Error) -> bool {
    matches!(first_arw_error(err), Some(ArwError::Stdout(e)) if e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The `--json` error document for `err`.
pub fn document(err: &anyhow::Error) -> serde_json::Value {
    let found = first_arw_error(err);
    let mut hint = None;
    let message = err
        .chain()
        .map(|e| match e.downcast_ref::<ArwError>() {
            Some(ArwError::Remote { message, hint: h, .. }) => {
                hint = hint.take().or(h.clone());
                message.clone()
            }
            _ => e.to_string(),
        })
        .fold(String::new(), |said, part| {
            if said.is_empty() {
                part
            } else if said.contains(&part) {
                said
            } else {
                format!("{said}: {part}")
            }
        });
    error_document(found.map(ArwError::kind).as_deref().unwrap_or("failure"), &message, hint, exit_code_of(err))
}

fn error_document(kind: &str, message: &str, hint: Option<String>, exit: Exit) -> serde_json::Value {
    let mut body = serde_json::json!({"kind": kind, "message": message, "exit_code": exit as u8});
    if let Some(hint) = hint {
        body["hint"] = hint.into();
    }
    serde_json::json!({ "error": body })
}

/// Reports a failed command and returns its exit code: `arw: error: ...`
/// and one `caused by:` line per cause on stderr, and with `json` the error
/// document on stdout unless the command already printed its document.
pub fn report(err: &anyhow::Error, json: bool) -> Exit {
    if is_closed_stdout(err) {
        return Exit::Ok;
    }
    let exit = exit_code_of(err);
    if json && !crate::render::out::document_printed() {
        // One line, so it also ends a `--watch --json` stream of JSON lines.
        // Best effort: stdout may be what failed.
        let _ = crate::render::out::println(&document(err).to_string());
    }
    let mut stderr = std::io::stderr().lock();
    let mut said = err.to_string();
    let _ = writeln!(stderr, "arw: error: {}", crate::text::message(&said));
    for cause in err.chain().skip(1).map(|c| c.to_string()) {
        // Messages often quote their cause already; say each thing once.
        if said.contains(&cause) {
            continue;
        }
        let _ = writeln!(stderr, "  caused by: {}", crate::text::message(&cause));
        said.push_str(&cause);
    }
    exit
}

/// Whether the raw command line asks for `--json` (before a `--`), for
/// errors found while parsing it.
fn json_in_args() -> bool {
    std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json")
}

/// Reports a command line clap refused (or `--help`/`--version`, which
/// clap delivers the same way) and returns the exit code: 2 for errors.
pub fn usage(err: clap::Error) -> Exit {
    if !err.use_stderr() {
        return match err.print() {
            Ok(()) => Exit::Ok,
            Err(e) => report(&ArwError::Stdout(e).into(), false),
        };
    }
    if json_in_args() {
        // clap's text: a first paragraph (the error, possibly continued on
        // indented lines, e.g. the missing arguments), then usage and tips.
        let rendered = err.render().to_string();
        let (head, tail) = rendered.trim().split_once("\n\n").unwrap_or((rendered.trim(), ""));
        let head: Vec<&str> = head.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let joined = head.join(" ");
        let message = joined.strip_prefix("error: ").unwrap_or(&joined).to_string();
        let rest: Vec<&str> = tail.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let hint = (!rest.is_empty()).then(|| rest.join("; "));
        let _ = crate::render::out::println(&error_document("usage", &message, hint, Exit::Usage).to_string());
    }
    let _ = err.print();
    Exit::Usage
}
