//! The client side of the socket: connect (spawning the daemon when nothing
//! answers), handshake, send requests, read responses and pushed events.
//!
//! Blocking I/O on purpose: a CLI call is one round trip, and skipping an
//! async runtime keeps `arw runtime status` close to the cost of exec.
//!
//! Before anything is sent the client checks that `ARW_HOME` and `run/`
//! are the user's own and that the process behind the socket runs as the
//! same user (`SO_PEERCRED`); then it sends only the variables a request
//! needs (see [`crate::knobs`]). Every wait has a deadline: the handshake
//! and quick requests (`status`, `daemon status|reload|stop`) get
//! `ARW_CLIENT_TIMEOUT_SECS` (default 10) to answer, long requests (smoke,
//! weights, chat, restore) their own timeout and a minute (see
//! [`patience`]); then exit 3 naming the daemon's pid.

mod spawn;

use crate::error::ArwError;
use crate::paths::Paths;
use crate::protocol::{self, Event, Hello, Request, RequestFrame, Response, ServerFrame, Welcome};
use anyhow::{Context, Result};
use interprocess::local_socket::prelude::*;
use interprocess::local_socket::{GenericFilePath, Stream};
use spawn::spawn_daemon;
use std::fs::File;
use std::io::ErrorKind as IoKind;
use std::time::Duration;

/// Default for `ARW_CLIENT_TIMEOUT_SECS`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the daemon may take to answer a handshake or a quick request.
pub fn reply_timeout() -> Duration {
    parse_timeout().ok().flatten().unwrap_or(DEFAULT_TIMEOUT)
}

fn parse_timeout() -> Result<Option<Duration>, String> {
    let Ok(raw) = std::env::var("ARW_CLIENT_TIMEOUT_SECS") else { return Ok(None) };
    match raw.trim().parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() && s < 1e9 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(format!(
            "`ARW_CLIENT_TIMEOUT_SECS={}` is not a number of seconds greater than 0",
            crate::text::quote(&raw, 40)
        )),
    }
}

/// The client's own knobs, checked before anything is sent: a bad value is
/// a usage error, not a silent default.
pub fn check_knobs() -> Result<()> {
    parse_timeout().map_err(|message| ArwError::Usage { message, hint: "unset it for the default of 10 s".into() })?;
    Ok(())
}

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
    /// Send a `status` request right behind the hello instead of waiting
    /// for the welcome first: one round trip fewer for the most common
    /// command. Only for requests that need nothing the welcome says.
    pub pipeline_status: bool,
}

impl ConnectPolicy {
    pub fn from_env(no_restart_daemon: bool) -> ConnectPolicy {
        let no_autostart = std::env::var("ARW_NO_AUTOSTART")
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
            .unwrap_or(false);
        ConnectPolicy { autostart: !no_autostart, replace_mismatched: !no_restart_daemon, pipeline_status: false }
    }
}

/// A handshaken connection to a daemon of this build.
pub struct Client {
    stream: Stream,
    next_id: u64,
    pub welcome: Welcome,
    paths: Paths,
    policy: Option<ConnectPolicy>,
    /// The id of a `status` request already sent behind the hello.
    pipelined: Option<u64>,
}

/// Result of one connect attempt.
enum Attempt {
    Connected(Client),
    Mismatch(Welcome),
    NoDaemon(std::io::Error),
}

fn try_connect(paths: &Paths, pipeline_status: bool) -> Result<Attempt> {
    let socket = paths.checked_socket()?;
    let name = socket.as_path().to_fs_name::<GenericFilePath>()?;
    let mut stream = match Stream::connect(name) {
        Ok(s) => s,
        Err(e) if matches!(e.kind(), IoKind::NotFound | IoKind::ConnectionRefused) => return Ok(Attempt::NoDaemon(e)),
        Err(e) => {
            return Err(ArwError::DaemonUnreachable { socket, home: paths.home.clone(), reason: e.to_string() }.into())
        }
    };
    let me = crate::sys::euid();
    match stream.peer_creds().map(|c| c.euid()) {
        Ok(Some(uid)) if uid == me => {}
        Ok(Some(uid)) => return Err(ArwError::ForeignDaemon { socket, uid, me }.into()),
        Ok(None) | Err(_) => {
            return Err(ArwError::DaemonUnreachable {
                socket,
                home: paths.home.clone(),
                reason: "cannot tell which user serves the socket (SO_PEERCRED failed), so nothing was sent".into(),
            }
            .into())
        }
    }
    let timeout = reply_timeout();
    stream.set_recv_timeout(Some(timeout)).context("cannot set the socket timeout")?;
    stream.set_send_timeout(Some(timeout)).context("cannot set the socket timeout")?;
    // A daemon that exits between our connect and its welcome (shutting
    // down, idle exit, killed) resets or closes the connection: that is "no
    // daemon", and the caller starts one, not an error for the user.
    let gone = |e: &std::io::Error| {
        matches!(e.kind(), IoKind::ConnectionReset | IoKind::ConnectionAborted | IoKind::BrokenPipe)
    };
    let stalled = |e: &std::io::Error| matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut);
    // A status request needs nothing the welcome says (no `${VAR}` names, no
    // tokens), so it may follow the hello at once: the peer is already
    // known to be ours, and a daemon of another build ignores it.
    let mut first = protocol::encode(&Hello::current());
    if pipeline_status {
        let frame = RequestFrame { id: 1, env: crate::knobs::capture(&[], false), request: Request::Status };
        first.extend_from_slice(&protocol::encode(&frame));
    }
    if let Err(e) = std::io::Write::write_all(&mut stream, &first) {
        if gone(&e) {
            return Ok(Attempt::NoDaemon(e));
        }
        if stalled(&e) {
            return Err(timeout_error(paths, timeout).into());
        }
        return Err(anyhow::Error::new(e).context("cannot send the handshake"));
    }
    // The daemon answers a hello with a welcome, or (at its connection
    // limit) with an error response instead.
    let welcome: Welcome = match protocol::read_frame::<Answer>(&mut stream, protocol::MAX_REQUEST_BYTES) {
        Ok(Answer::Welcome(w)) => w,
        Ok(Answer::Refused(ServerFrame::Response { result: Err(e), .. })) => return Err(remote(e).into()),
        Ok(Answer::Refused(_)) => {
            return Err(ArwError::DaemonUnreachable {
                socket,
                home: paths.home.clone(),
                reason: "bad handshake: a frame where the welcome belongs".into(),
            }
            .into())
        }
        Err(protocol::FrameError::Closed) => {
            return Ok(Attempt::NoDaemon(std::io::Error::new(IoKind::ConnectionAborted, "daemon is shutting down")))
        }
        Err(protocol::FrameError::Io(e)) if gone(&e) => return Ok(Attempt::NoDaemon(e)),
        Err(protocol::FrameError::Io(e)) if stalled(&e) => return Err(timeout_error(paths, timeout).into()),
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
    let (next_id, pipelined) = if pipeline_status { (2, Some(1)) } else { (1, None) };
    Ok(Attempt::Connected(Client { stream, next_id, welcome, paths: paths.clone(), policy: None, pipelined }))
}

/// What may come back for a hello.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Answer {
    Welcome(Welcome),
    Refused(ServerFrame),
}

/// The pid the daemon wrote at start, for messages.
fn daemon_pid(paths: &Paths) -> String {
    std::fs::read_to_string(paths.pid_file())
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.len() < 12 && s.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| "unknown".to_string())
}

fn timeout_error(paths: &Paths, timeout: Duration) -> ArwError {
    ArwError::DaemonTimeout { pid: daemon_pid(paths), secs: timeout.as_secs().max(1) }
}

fn remote(e: crate::protocol::ErrorBody) -> ArwError {
    ArwError::Remote { kind: e.kind, message: e.message, hint: e.hint }
}

/// A daemon of this build if one answers; a daemon of another build is
/// drained and replaced (or refused, per `policy`).
fn connect_or_replace(paths: &Paths, policy: ConnectPolicy) -> Result<Option<Client>> {
    match try_connect(paths, policy.pipeline_status)? {
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
    let mut client = connect_or_spawn_once(paths, policy)?;
    client.policy = Some(policy);
    Ok(client)
}

fn connect_or_spawn_once(paths: &Paths, policy: ConnectPolicy) -> Result<Client> {
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
    match try_connect(paths, policy.pipeline_status)? {
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
    match try_connect(paths, false)? {
        Attempt::Connected(c) => Ok(Some(c)),
        Attempt::Mismatch(w) => Err(mismatch_error(&w).into()),
        Attempt::NoDaemon(_) => Ok(None),
    }
}

/// The welcome of whatever daemon answers, matched or not.
pub fn probe_daemon(paths: &Paths) -> Result<Option<(Welcome, bool)>> {
    Ok(match try_connect(paths, false)? {
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

/// SIGTERM `pid` and wait until it is gone.
pub fn stop_pid_and_wait(paths: &Paths, pid: u32) -> Result<()> {
    let _ = crate::sys::kill(pid, libc::SIGTERM);
    wait_for_daemon_exit(paths, pid)
}

/// Blocks until the daemon `pid` has exited. Waiting for that very process
/// (a pidfd), not for the daemon lock: a client that auto-starts a
/// successor meanwhile takes the lock the moment the old daemon lets go,
/// and would otherwise make this wait time out.
pub fn wait_for_daemon_exit(paths: &Paths, pid: u32) -> Result<()> {
    match crate::sys::wait_pid_exit(pid, DRAIN_WAIT) {
        Ok(true) => return Ok(()),
        Ok(false) => {
            return Err(anyhow::anyhow!(
                "the old daemon (pid {pid}) did not exit within {}s; see `arw daemon logs`",
                DRAIN_WAIT.as_secs()
            ))
        }
        // No pidfds (Linux before 5.3): the lock tells instead.
        Err(_) => {}
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.daemon_lock())
        .context("cannot open the daemon lock")?;
    crate::sys::lock_with_deadline(file, DRAIN_WAIT).map(drop).map_err(|_| {
        anyhow::anyhow!("the old daemon did not exit within {}s; see `arw daemon logs`", DRAIN_WAIT.as_secs())
    })
}

/// Requests that may be sent twice: reading them again changes nothing.
fn idempotent(request: &Request) -> bool {
    matches!(request, Request::Status | Request::DaemonInfo | Request::Watch)
}

/// How long to wait for the next frame of `request`'s answer: quick
/// requests get `ARW_CLIENT_TIMEOUT_SECS`; long ones their own timeout and
/// a margin (a smoke with its timeout off waits as long as it runs).
fn patience(request: &Request) -> Option<Duration> {
    const MARGIN: Duration = Duration::from_secs(60);
    let quick_wait = reply_timeout();
    match request {
        Request::Restore(r) => Some(Duration::from_millis(r.wait_ms) + MARGIN),
        // The daemon gives a runtime 300 s to answer a forwarded request.
        Request::Chat(_) => Some(Duration::from_secs(300) + MARGIN),
        Request::Smoke(r) => {
            let knob = |name| std::env::var(name).ok().and_then(|v| v.trim().parse::<u64>().ok());
            let secs =
                r.timeout_secs.or_else(|| knob("RUNTIME_SMOKE_TIMEOUT_SECS")).or_else(|| knob("SMOKE_TIMEOUT_SECS"));
            match secs.unwrap_or(600) {
                0 => None,
                secs => Some(Duration::from_secs(secs) + MARGIN),
            }
        }
        // Progress arrives at least every few seconds while anything moves.
        Request::Weights(_) => Some(Duration::from_secs(600)),
        Request::Start(r) => Some(Duration::from_millis(r.wait_ms) + MARGIN),
        Request::RuntimeReload(r) => Some(Duration::from_millis(r.wait_ms) + MARGIN),
        // The SIGTERM grace, the SIGKILL after it and the group's last members.
        Request::Stop(_) => Some(Duration::from_secs(20) + quick_wait),
        // Status, daemon status/reload/stop (and the first frame of a watch).
        _ => Some(quick_wait),
    }
}

/// A daemon that went away under us (restart, stop), as opposed to one that
/// answered badly.
fn went_away(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| {
            matches!(
                e.kind(),
                IoKind::ConnectionReset | IoKind::ConnectionAborted | IoKind::BrokenPipe | IoKind::UnexpectedEof
            )
        }) || c.downcast_ref::<protocol::FrameError>().is_some_and(|f| matches!(f, protocol::FrameError::Closed))
    })
}

impl Client {
    fn send(&mut self, request: &Request) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let with_tokens = matches!(request, Request::Weights(_));
        let env = crate::knobs::capture(&self.welcome.env_refs, with_tokens);
        let frame = RequestFrame { id, env, request: request.clone() };
        let _ = self.stream.set_recv_timeout(patience(request));
        protocol::write_frame(&mut self.stream, &frame)
            .map_err(|e| self.io_error(e, "cannot send the request to the daemon"))?;
        Ok(id)
    }

    fn io_error(&self, e: std::io::Error, what: &str) -> anyhow::Error {
        if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) {
            return timeout_error(&self.paths, reply_timeout()).into();
        }
        anyhow::Error::new(e).context(what.to_string())
    }

    fn read(&mut self) -> Result<ServerFrame> {
        protocol::read_frame(&mut self.stream, protocol::MAX_REPLY_BYTES).map_err(|e| match e {
            protocol::FrameError::Closed => anyhow::Error::new(protocol::FrameError::Closed)
                .context("the daemon closed the connection; see `arw daemon logs`"),
            protocol::FrameError::Io(e) => self.io_error(e, "cannot read the daemon's reply"),
            other => anyhow::anyhow!("cannot read the daemon's reply: {other}"),
        })
    }

    /// One request, one response; events in between go to `on_event`.
    /// A daemon replaced mid-request (`arw daemon restart`) gets an
    /// idempotent request once more, on a fresh connection.
    pub fn request_with_events(&mut self, request: Request, mut on_event: impl FnMut(Event)) -> Result<Response> {
        match self.exchange(&request, &mut on_event) {
            Err(e) if idempotent(&request) && went_away(&e) => {
                self.reconnect()?;
                self.exchange(&request, &mut on_event)
            }
            other => other,
        }
    }

    fn exchange(&mut self, request: &Request, on_event: &mut impl FnMut(Event)) -> Result<Response> {
        let id = match (self.pipelined.take(), request) {
            (Some(id), Request::Status) => id,
            _ => self.send(request)?,
        };
        loop {
            match self.read()? {
                ServerFrame::Response { id: rid, result } if rid == id || rid == 0 => {
                    return result.map_err(|e| remote(e).into())
                }
                ServerFrame::Event { event, .. } => on_event(event),
                ServerFrame::Response { .. } => continue,
            }
        }
    }

    fn reconnect(&mut self) -> Result<()> {
        let policy = self.policy.unwrap_or(ConnectPolicy {
            autostart: false,
            replace_mismatched: false,
            pipeline_status: false,
        });
        let fresh = connect_or_spawn(&self.paths, policy)?;
        *self = fresh;
        Ok(())
    }

    pub fn request(&mut self, request: Request) -> Result<Response> {
        self.request_with_events(request, |_| {})
    }

    /// Opens an event stream; `on_event` returns false to stop. The stream
    /// has no deadline between events (a quiet node sends one every 5 s,
    /// the republish), but the daemon going away is [`ArwError::DaemonGone`].
    pub fn stream(&mut self, request: Request, mut on_event: impl FnMut(Event) -> Result<bool>) -> Result<()> {
        self.send(&request)?;
        // Three missed republishes in a row: the daemon is not answering.
        let _ = self.stream.set_recv_timeout(Some(Duration::from_secs(15).max(reply_timeout())));
        loop {
            let frame = match self.read() {
                Ok(f) => f,
                Err(e) if went_away(&e) => {
                    return Err(ArwError::DaemonGone { home: self.paths.home.clone() }.into());
                }
                Err(e) => return Err(e),
            };
            match frame {
                ServerFrame::Event { event, .. } => {
                    if !on_event(event)? {
                        return Ok(());
                    }
                }
                ServerFrame::Response { result: Err(e), .. } => return Err(remote(e).into()),
                ServerFrame::Response { result: Ok(_), .. } => return Ok(()),
            }
        }
    }
}
