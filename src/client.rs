//! The client side of the socket: connect (spawning the daemon when nothing
//! answers), handshake, send requests, read responses and pushed events.
//!
//! Blocking I/O on purpose: a CLI call is one round trip, and skipping an
//! async runtime keeps `arw runtime status` close to the cost of exec.

use crate::daemon::spawn::spawn_daemon;
use crate::error::ArwError;
use crate::paths::Paths;
use crate::protocol::{self, Event, Hello, Request, RequestFrame, Response, ServerFrame, Welcome};
use anyhow::{Context, Result};
use interprocess::local_socket::prelude::*;
use interprocess::local_socket::{GenericFilePath, Stream};
use std::fs::File;
use std::io::ErrorKind as IoKind;
use std::time::Duration;

/// How long `daemon stop/restart` and a build replacement wait for the old
/// daemon to drain and release its lock.
pub const DRAIN_WAIT: Duration = Duration::from_secs(30);

/// What to do when the daemon is missing or mismatched.
#[derive(Debug, Clone, Copy)]
pub struct ConnectPolicy {
    /// Spawn a daemon when none answers (off with `ARW_NO_AUTOSTART=1`).
    pub autostart: bool,
    /// Replace a daemon of another build (off with `--no-restart-daemon`).
    pub replace_mismatched: bool,
}

impl ConnectPolicy {
    pub fn from_env(no_restart_daemon: bool) -> ConnectPolicy {
        let no_autostart = std::env::var("ARW_NO_AUTOSTART")
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
            .unwrap_or(false);
        ConnectPolicy { autostart: !no_autostart, replace_mismatched: !no_restart_daemon }
    }
}

/// A handshaken connection to a daemon of this build.
pub struct Client {
    stream: Stream,
    next_id: u64,
    pub welcome: Welcome,
}

/// Result of one connect attempt.
enum Attempt {
    Connected(Client),
    Mismatch(Welcome),
    NoDaemon(std::io::Error),
}

fn try_connect(paths: &Paths) -> Result<Attempt> {
    let socket = paths.checked_socket()?;
    let name = socket.as_path().to_fs_name::<GenericFilePath>()?;
    let mut stream = match Stream::connect(name) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), IoKind::NotFound | IoKind::ConnectionRefused) => return Ok(Attempt::NoDaemon(e)),
        Err(e) => {
            return Err(ArwError::DaemonUnreachable { socket, home: paths.home.clone(), reason: e.to_string() }.into())
        }
    };
    // A daemon that exits between our connect and its welcome (shutting
    // down, idle exit, killed) resets or closes the connection: that is "no
    // daemon", and the caller starts one, not an error for the user.
    let gone = |e: &std::io::Error| {
        matches!(e.kind(), IoKind::ConnectionReset | IoKind::ConnectionAborted | IoKind::BrokenPipe)
    };
    if let Err(e) = protocol::write_frame(&mut stream, &Hello::current()) {
        if gone(&e) {
            return Ok(Attempt::NoDaemon(e));
        }
        return Err(anyhow::Error::new(e).context("cannot send the handshake"));
    }
    let welcome: Welcome = match protocol::read_frame(&mut stream) {
        Ok(w) => w,
        Err(protocol::FrameError::Closed) => {
            return Ok(Attempt::NoDaemon(std::io::Error::new(IoKind::ConnectionAborted, "daemon is shutting down")))
        }
        Err(protocol::FrameError::Io(e)) if gone(&e) => return Ok(Attempt::NoDaemon(e)),
        Err(e) => {
            return Err(ArwError::DaemonUnreachable {
                socket,
                home: paths.home.clone(),
                reason: format!("bad handshake: {e}"),
            }
            .into())
        }
    };
    if !welcome.matches_this_build() {
        return Ok(Attempt::Mismatch(welcome));
    }
    Ok(Attempt::Connected(Client { stream, next_id: 1, welcome }))
}

/// A daemon of this build if one answers; a daemon of another build is
/// drained and replaced (or refused, per `policy`).
fn connect_or_replace(paths: &Paths, policy: ConnectPolicy) -> Result<Option<Client>> {
    match try_connect(paths)? {
        Attempt::Connected(c) => Ok(Some(c)),
        Attempt::Mismatch(w) if policy.replace_mismatched => {
            replace_daemon(paths, &w)?;
            Ok(None)
        }
        Attempt::Mismatch(w) => Err(mismatch_error(&w).into()),
        Attempt::NoDaemon(_) => Ok(None),
    }
}

/// Connects to the daemon of `paths`, starting or replacing it as `policy`
/// allows.
pub fn connect_or_spawn(paths: &Paths, policy: ConnectPolicy) -> Result<Client> {
    if let Some(c) = connect_or_replace(paths, policy)? {
        return Ok(c);
    }
    if !policy.autostart {
        return Err(ArwError::AutostartDisabled { socket: paths.socket() }.into());
    }
    paths.ensure_dirs().with_context(|| format!("cannot prepare ARW_HOME `{}`", paths.home.display()))?;
    // One spawner at a time; the others find its daemon when they get the lock.
    let lock = File::create(paths.spawn_lock()).context("cannot create the spawn lock")?;
    lock.lock().context("cannot take the spawn lock")?;
    if let Some(c) = connect_or_replace(paths, policy)? {
        return Ok(c);
    }
    spawn_daemon(paths)?;
    match try_connect(paths)? {
        Attempt::Connected(c) => Ok(c),
        Attempt::Mismatch(w) => Err(mismatch_error(&w).into()),
        Attempt::NoDaemon(e) => Err(ArwError::DaemonUnreachable {
            socket: paths.socket(),
            home: paths.home.clone(),
            reason: format!("it reported ready but does not answer: {e}"),
        }
        .into()),
    }
}

/// Connects only if a daemon of this build is running.
pub fn connect_existing(paths: &Paths) -> Result<Option<Client>> {
    match try_connect(paths)? {
        Attempt::Connected(c) => Ok(Some(c)),
        Attempt::Mismatch(w) => Err(mismatch_error(&w).into()),
        Attempt::NoDaemon(_) => Ok(None),
    }
}

/// The welcome of whatever daemon answers, matched or not.
pub fn probe_daemon(paths: &Paths) -> Result<Option<(Welcome, bool)>> {
    Ok(match try_connect(paths)? {
        Attempt::Connected(c) => Some((c.welcome, true)),
        Attempt::Mismatch(w) => Some((w, false)),
        Attempt::NoDaemon(_) => None,
    })
}

fn mismatch_error(w: &Welcome) -> ArwError {
    ArwError::BuildMismatch {
        daemon_build: w.build_id.clone(),
        daemon_protocol: w.protocol,
        client_build: protocol::BUILD_ID.to_string(),
        client_protocol: protocol::PROTOCOL_VERSION,
    }
}

/// Asks the daemon to drain and exit (SIGTERM works across versions), then
/// waits for it to release its lock.
pub fn replace_daemon(paths: &Paths, w: &Welcome) -> Result<()> {
    eprintln!("arw: replacing daemon {} (build {}) with this build ({})", w.pid, w.build_id, protocol::BUILD_ID);
    stop_pid_and_wait(paths, w.pid)
}

/// SIGTERM `pid` and wait until the daemon lock is free.
pub fn stop_pid_and_wait(paths: &Paths, pid: u32) -> Result<()> {
    let _ = crate::sys::kill(pid, libc::SIGTERM);
    wait_for_daemon_exit(paths)
}

/// Blocks until no daemon holds the lock of `paths`.
pub fn wait_for_daemon_exit(paths: &Paths) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.daemon_lock())
        .context("cannot open the daemon lock")?;
    lock_with_deadline(file, DRAIN_WAIT).map(drop).map_err(|_| {
        anyhow::anyhow!("the old daemon did not exit within {}s; see `arw daemon logs`", DRAIN_WAIT.as_secs())
    })
}

/// Takes an exclusive lock on `file`, giving up after `deadline`.
pub fn lock_with_deadline(file: File, deadline: Duration) -> std::io::Result<File> {
    let (tx, rx) = std::sync::mpsc::channel();
    // std has no timed lock; a thread blocks on it and we wait on the thread.
    std::thread::spawn(move || {
        let locked = file.lock().map(|()| file);
        let _ = tx.send(locked);
    });
    rx.recv_timeout(deadline)
        .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "lock wait timed out")))
}

impl Client {
    fn send(&mut self, request: Request) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let frame = RequestFrame { id, env: crate::knobs::capture(), request };
        protocol::write_frame(&mut self.stream, &frame).context("cannot send the request to the daemon")?;
        Ok(id)
    }

    fn read(&mut self) -> Result<ServerFrame> {
        protocol::read_frame(&mut self.stream).map_err(|e| match e {
            protocol::FrameError::Closed => {
                anyhow::anyhow!("the daemon closed the connection; see `arw daemon logs`")
            }
            other => anyhow::anyhow!("cannot read the daemon's reply: {other}"),
        })
    }

    /// One request, one response; events in between go to `on_event`.
    pub fn request_with_events(&mut self, request: Request, mut on_event: impl FnMut(Event)) -> Result<Response> {
        let id = self.send(request)?;
        loop {
            match self.read()? {
                ServerFrame::Response { id: rid, result } if rid == id || rid == 0 => {
                    return result
                        .map_err(|e| ArwError::Remote { kind: e.kind, message: e.message, hint: e.hint }.into())
                }
                ServerFrame::Event { event, .. } => on_event(event),
                ServerFrame::Response { .. } => continue,
            }
        }
    }

    pub fn request(&mut self, request: Request) -> Result<Response> {
        self.request_with_events(request, |_| {})
    }

    /// Opens an event stream; `on_event` returns false to stop.
    pub fn stream(&mut self, request: Request, mut on_event: impl FnMut(Event) -> Result<bool>) -> Result<()> {
        self.send(request)?;
        loop {
            match self.read()? {
                ServerFrame::Event { event, .. } => {
                    if !on_event(event)? {
                        return Ok(());
                    }
                }
                ServerFrame::Response { result: Err(e), .. } => {
                    return Err(ArwError::Remote { kind: e.kind, message: e.message, hint: e.hint }.into())
                }
                ServerFrame::Response { result: Ok(_), .. } => return Ok(()),
            }
        }
    }
}
