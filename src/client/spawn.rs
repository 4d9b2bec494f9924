//! Auto-start: how a client launches `arw daemon serve` in the background.
//!
//! The daemon is started detached (own session, stdin closed, stderr into
//! `logs/daemon.log`) with its stdout on a pipe. It writes one line there
//! once it listens — `ready <pid>` or `error: <why>` — so the client waits
//! for an event, not a polling loop, and can show the real reason a start
//! failed. `logs/daemon.log` is opened without following a planted symlink.

use crate::error::ArwError;
use crate::paths::Paths;
use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A daemon that has not reported within this time is declared failed.
const STARTUP_DEADLINE: Duration = Duration::from_secs(15);
/// The daemon log is rotated to `daemon.log.1` when a new daemon starts past this size.
const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;

/// Spawns the daemon and waits for its start-up report. A daemon that
/// refused the user's own settings (a broken manifest, a bad knob) is a
/// failure to fix (exit 1, the reason as the daemon gave it); any other
/// start failure means there is no daemon (exit 3) and carries its reason.
pub fn spawn_daemon(paths: &Paths) -> Result<u32> {
    spawn_and_wait(paths).map_err(|e| {
        if settings_are_broken() {
            return e;
        }
        ArwError::DaemonUnreachable { socket: paths.socket(), home: paths.home.clone(), reason: format!("{e:#}") }
            .into()
    })
}

/// Whether the daemon this client starts would refuse its settings: asked
/// only after a failed start, so the healthy path pays nothing for it.
fn settings_are_broken() -> bool {
    let idle = std::env::var("ARW_IDLE_TIMEOUT_SECS").is_ok_and(|v| v.trim().parse::<u64>().is_err());
    idle || match crate::registry::load(None, |k| std::env::var(k).ok()) {
        Ok(registry) => match crate::daemon::http::listen::resolve(None, |k| std::env::var(k).ok(), &registry.daemon) {
            // The address is the user's choice: one that is taken is theirs to fix too.
            Ok(Some(listen)) => listen.addr.port() != 0 && std::net::TcpListener::bind(listen.addr).is_err(),
            Ok(None) => false,
            Err(_) => true,
        },
        Err(_) => true,
    }
}

fn spawn_and_wait(paths: &Paths) -> Result<u32> {
    let exe = std::env::current_exe().context("cannot find the arw executable to start the daemon")?;
    let log_path = paths.daemon_log();
    crate::fsx::ensure_private_dir(&paths.logs_dir())?;
    if std::fs::symlink_metadata(&log_path).is_ok_and(|m| m.is_file() && m.len() > LOG_ROTATE_BYTES) {
        let _ = std::fs::rename(&log_path, log_path.with_extension("log.1"));
    }
    let log = crate::fsx::open_append(&log_path)?;
    let mut cmd = Command::new(exe);
    cmd.args(["daemon", "serve"])
        .env("ARW_HOME", &paths.home)
        // Not the directory of whichever shell asked first: the daemon
        // outlives it, and relative manifest paths mean the manifest's own.
        .current_dir("/")
        .env(crate::protocol::NOTIFY_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    // The daemon inherits this shell's environment: it is the fallback for
    // work no command asks for (auto-started runtimes' `${VAR}`s). Requests
    // carry their own environment and never read it; runtimes get only the
    // minimum `supervisor::env` documents.
    // Keep the daemon out of this shell's session and process group, so
    // Ctrl-C in the terminal that started it does not reach it.
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, crate::sys::new_session);
    }
    let mut child = cmd.spawn().context("cannot start `arw daemon serve`")?;
    let stdout = child.stdout.take().expect("stdout is piped");

    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(read.map(|_| line));
    });
    let line = match rx.recv_timeout(STARTUP_DEADLINE) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => bail!("could not read the daemon's start-up report: {e}"),
        Err(_) => bail!(
            "the daemon did not report within {}s; see `{}`",
            STARTUP_DEADLINE.as_secs(),
            paths.daemon_log().display()
        ),
    };
    // Reap it in the background if it dies early; never block on it.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    let line = line.trim();
    if let Some(pid) = line.strip_prefix("ready ") {
        return pid.parse().map_err(|_| anyhow!("the daemon sent a malformed report: `{line}`"));
    }
    if let Some(reason) = line.strip_prefix("error: ") {
        bail!("the daemon could not start: {reason}");
    }
    bail!("the daemon exited before it was ready; see `{}`", paths.daemon_log().display())
}
