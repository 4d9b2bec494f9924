//! The daemon: owns the socket, the supervisor and the matrix feed.
//!
//! Start-up, in order: take `run/daemon.lock` (held for the daemon's whole
//! life — the one-daemon-per-`ARW_HOME` guarantee), load the registry, drop
//! any stale socket file (safe: whoever made it no longer holds the lock),
//! bind `run/arw.sock` as `0600`, write `run/daemon.pid`, then tell the
//! spawning client "ready" on the notify pipe. Shutdown (SIGTERM, SIGINT,
//! `arw daemon stop`, idle timeout): stop accepting, let in-flight requests
//! finish, stop every runtime's process group, release the lock.

pub mod feed;
pub mod forward;
pub mod http;
pub mod metrics;
mod observe;
pub mod service;
mod socket;

use crate::accel;
use crate::paths::Paths;
use crate::registry::{self, Registry};
use crate::supervisor;
use anyhow::{Context as _, Result};
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// How long a new daemon waits for a draining predecessor to release the lock.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// How long shutdown waits for in-flight requests.
const DRAIN: Duration = Duration::from_secs(10);
/// How often the config file's mtime is checked for changes.
const CONFIG_POLL: Duration = Duration::from_secs(2);

/// How `arw daemon serve` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    pub config: Option<PathBuf>,
    /// `--http ADDRESS:PORT`.
    pub http: Option<String>,
    /// Testing aid: report this build id instead of the real one.
    pub fake_build_id: Option<String>,
}

/// Shared state every service function sees.
pub struct Ctx {
    pub paths: Paths,
    pub supervisor: supervisor::Handle,
    pub gpus: accel::Sampler,
    /// Requests forwarded to runtimes, and their HTTP telemetry.
    pub forward: forward::Forwarder,
    /// The status document, computed once per change for every reader.
    pub feed: feed::Feed,
    /// Every event the daemon publishes (SPEC §8).
    pub bus: crate::bus::Bus,
    /// What `/metrics` reports beyond the snapshot.
    pub metrics: Arc<metrics::Recorder>,
    pub clients: watch::Sender<usize>,
    pub in_flight: AtomicUsize,
    pub started_at: SystemTime,
    pub config_path: Option<PathBuf>,
    pub build_id: String,
    /// `http://ADDRESS:PORT/` when the HTTP surface is on.
    pub http_url: Option<String>,
    pub shutdown: watch::Sender<bool>,
    /// Weights downloads the daemon runs for clients (SPEC §6).
    pub weights: crate::weights::jobs::Jobs,
    /// Lifecycle, exits and restart windows that outlive the daemon (SPEC §10).
    pub journal: crate::journal::Journal,
    loaded: Mutex<Loaded>,
    /// The manifest's mtime as last read, by a reload or the file watcher.
    config_seen: Mutex<Option<SystemTime>>,
}

/// What the daemon took from the manifest it runs.
struct Loaded {
    settings: registry::DaemonSettings,
    origin: String,
    /// `${VAR}` names in the manifest's runtimes (see [`crate::knobs`]).
    env_refs: Vec<String>,
    /// Set while the manifest on disk is broken (the last good one runs).
    problem: Option<String>,
    /// Set when the manifest changed what only a restart applies.
    needs_restart: Option<String>,
    /// The manifest's listener settings when the daemon started.
    listener_at_start: (Option<String>, Option<PathBuf>),
}

impl Ctx {
    pub fn settings(&self) -> registry::DaemonSettings {
        self.loaded().settings.clone()
    }

    pub fn origin(&self) -> String {
        self.loaded().origin.clone()
    }

    pub fn env_refs(&self) -> Vec<String> {
        self.loaded().env_refs.clone()
    }

    /// Matrix detail lines: the manifest on disk is broken, or asks for
    /// what only a restart applies.
    pub fn config_problems(&self) -> Vec<String> {
        let loaded = self.loaded();
        loaded.problem.iter().chain(loaded.needs_restart.iter()).cloned().collect()
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

/// `${VAR}` names in the manifest's runtime args and `env` values.
fn env_refs_of(registry: &Registry) -> Vec<String> {
    crate::knobs::referenced_vars(registry.runtimes.iter().flat_map(|r| r.args.iter().chain(r.env.values())))
}

/// Runs the daemon in the foreground until it is told to stop.
pub fn serve(opts: ServeOptions) -> Result<()> {
    crate::sys::ignore_sigpipe();
    let notify = std::env::var_os(crate::protocol::NOTIFY_ENV).is_some();
    let result = serve_inner(opts, notify);
    if let Err(e) = &result {
        if notify {
            // The client shows this line to the user as the reason.
            let mut out = std::io::stdout();
            let _ = writeln!(out, "error: {e:#}");
            let _ = out.flush();
        }
    }
    result
}

fn serve_inner(opts: ServeOptions, notify: bool) -> Result<()> {
    let paths = Paths::from_env();
    paths.ensure_dirs().with_context(|| format!("cannot prepare ARW_HOME `{}`", paths.home.display()))?;
    let socket = paths.checked_socket()?;
    let idle_override = match std::env::var("ARW_IDLE_TIMEOUT_SECS") {
        Ok(v) => Some(v.trim().parse::<u64>().map_err(|_| {
            anyhow::anyhow!("`ARW_IDLE_TIMEOUT_SECS={v}` is not a whole number of seconds (0 keeps the daemon running)")
        })?),
        Err(_) => None,
    };
    // The daemon's own knobs: refused now rather than replaced by defaults.
    socket::max_connections().map_err(anyhow::Error::msg)?;
    feed::republish_every().map_err(anyhow::Error::msg)?;
    let journal_settings = crate::journal::Settings::from_env().map_err(anyhow::Error::msg)?;
    let lock = take_daemon_lock(&paths)?;
    crate::sys::raise_open_files_limit();

    let config_path = registry::config_path(opts.config.as_deref(), |k| std::env::var(k).ok());
    let registry = match &config_path {
        Some(p) => registry::load_file(p)?,
        None => registry::embedded_default(),
    };
    let http_config = http::listen::resolve(opts.http.as_deref(), |k| std::env::var(k).ok(), &registry.daemon)
        .map_err(anyhow::Error::msg)?;
    let http_listener = http_config.as_ref().map(http::bind).transpose()?;
    let http_url = http_listener.as_ref().and_then(http::url_of);

    // We hold the lock, so a socket file left here belongs to a dead daemon.
    match std::fs::remove_file(&socket) {
        Ok(()) => dlog!("removed stale socket {}", socket.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove stale socket `{}`", socket.display())),
    }

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async move {
        let name = socket.as_path().to_fs_name::<GenericFilePath>()?;
        let listener = ListenerOptions::new()
            .name(name)
            .mode(0o600)
            .create_tokio()
            .with_context(|| format!("cannot listen on `{}`", socket.display()))?;
        crate::fsx::write(&paths.pid_file(), format!("{}\n", std::process::id()).as_bytes())?;
        let ctx = start_services(
            paths.clone(),
            registry,
            config_path,
            opts.fake_build_id,
            idle_override,
            http_url,
            &journal_settings,
        );
        if let (Some(listener), Some(config)) = (http_listener, http_config) {
            dlog!(
                "HTTP surface on {} ({}{})",
                ctx.http_url.as_deref().unwrap_or("?"),
                config.source,
                if config.token.is_some() { ", admin token required" } else { ", loopback only" }
            );
            tokio::spawn(http::serve(listener, ctx.clone(), config));
        }
        announce_ready(notify, &socket);
        socket::accept_until_shutdown(listener, ctx.clone()).await;
        shut_down(&ctx).await;
        let _ = std::fs::remove_file(ctx.paths.pid_file());
        anyhow::Ok(())
    })?;
    drop(lock);
    Ok(())
}

/// The lock file stays locked until this process exits, however it exits.
fn take_daemon_lock(paths: &Paths) -> Result<std::fs::File> {
    let path = paths.daemon_lock();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open `{}`", path.display()))?;
    match file.try_lock() {
        Ok(()) => return Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {}
        Err(std::fs::TryLockError::Error(e)) => return Err(e).context("cannot lock the daemon lock file"),
    }
    // Another daemon holds it: a predecessor draining after `arw daemon
    // restart`, or a live daemon. Wait a while for the first case.
    dlog!("another daemon holds {}; waiting up to {}s", path.display(), LOCK_WAIT.as_secs());
    crate::sys::lock_with_deadline(file, LOCK_WAIT).map_err(|_| {
        anyhow::anyhow!(
            "another arw daemon is running for ARW_HOME `{}` (it holds `{}`); use `arw daemon stop` first",
            paths.home.display(),
            path.display()
        )
    })
}

fn announce_ready(notify: bool, socket: &std::path::Path) {
    dlog!("arw daemon {} (build {}) listening on {}", std::process::id(), crate::protocol::BUILD_ID, socket.display());
    if notify {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "ready {}", std::process::id());
        let _ = out.flush();
        // The client stops reading once it has the line; a later write to
        // the pipe would kill us with SIGPIPE.
        crate::sys::redirect_stdout_to_null();
    }
}

fn start_services(
    paths: Paths,
    registry: Registry,
    config_path: Option<PathBuf>,
    fake_build_id: Option<String>,
    idle_override: Option<u64>,
    http_url: Option<String>,
    journal_settings: &crate::journal::Settings,
) -> Arc<Ctx> {
    let mut settings = registry.daemon.clone();
    // An override for one daemon's life (tests, short-lived CI daemons).
    if let Some(secs) = idle_override {
        settings.idle_timeout_secs = secs;
    }
    let loaded = Loaded {
        listener_at_start: (settings.http_listen.clone(), settings.admin_token_file.clone()),
        settings,
        origin: registry.origin.clone(),
        env_refs: env_refs_of(&registry),
        problem: None,
        needs_restart: None,
    };
    let recorder = Arc::new(metrics::Recorder::new());
    let probes = recorder.clone();
    supervisor::health::on_probe(move |runtime, took, probe| probes.probe(runtime, took, probe.verdict()));
    // Before any runtime starts: a spent budget must still be spent.
    let windows: Vec<(String, u64)> = registry.runtimes.iter().map(|r| (r.id.clone(), r.restart.window_secs)).collect();
    let (journal, restored) = crate::journal::open(&paths.home, journal_settings, &windows);
    let supervisor = supervisor::start(registry, paths.runtime_logs_dir(), journal.sink(), restored);
    let ctx = Arc::new(Ctx {
        paths,
        forward: forward::Forwarder::new(supervisor.clone(), recorder.clone()),
        supervisor,
        gpus: accel::Sampler::start(),
        feed: feed::Feed::new(),
        bus: crate::bus::Bus::new(),
        metrics: recorder,
        clients: watch::channel(0).0,
        in_flight: AtomicUsize::new(0),
        started_at: SystemTime::now(),
        config_path,
        build_id: fake_build_id.unwrap_or_else(|| crate::protocol::BUILD_ID.to_string()),
        http_url,
        shutdown: watch::channel(false).0,
        weights: Default::default(),
        journal,
        loaded: Mutex::new(loaded),
        config_seen: Mutex::new(None),
    });
    // Subscribed before anything publishes: no exit goes uncounted.
    let exits = ctx.bus.subscribe(None, metrics::events_filter());
    tokio::spawn(metrics::count_events(ctx.clone(), exits));
    tokio::spawn(feed::publish(ctx.clone()));
    tokio::spawn(observe::publish_changes(ctx.clone()));
    tokio::spawn(exit_when_idle(ctx.clone()));
    tokio::spawn(watch_config(ctx.clone()));
    tokio::spawn(exit_on_signal(ctx.clone()));
    ctx
}

async fn shut_down(ctx: &Ctx) {
    // Downloads resume from their `.incomplete` files next time.
    ctx.weights.abort_all();
    dlog!("shutting down: draining {} request(s)", ctx.in_flight.load(Ordering::SeqCst));
    let deadline = tokio::time::Instant::now() + DRAIN;
    let mut clients = ctx.clients.subscribe();
    while ctx.in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
        let _ = tokio::time::timeout_at(deadline, clients.changed()).await;
    }
    ctx.supervisor.shutdown().await;
    // The exits of the runtimes just stopped are in the queue: write them.
    ctx.journal.close().await;
    dlog!("stopped");
}

async fn exit_on_signal(ctx: Arc<Ctx>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => dlog!("SIGTERM received"),
        _ = int.recv() => dlog!("SIGINT received"),
    }
    ctx.request_shutdown();
}

/// Exits after `idle_timeout_secs` with no client connected, no runtime
/// process alive and no weights download running.
async fn exit_when_idle(ctx: Arc<Ctx>) {
    let mut clients = ctx.clients.subscribe();
    let mut views = ctx.supervisor.subscribe();
    let mut downloads = ctx.weights.active();
    loop {
        let timeout = ctx.settings().idle_timeout_secs;
        let idle = *clients.borrow_and_update() == 0
            && views.borrow_and_update().runtimes.iter().all(|r| r.pid.is_none())
            && *downloads.borrow_and_update() == 0;
        let sleep = async {
            if idle && timeout > 0 {
                tokio::time::sleep(Duration::from_secs(timeout)).await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            _ = sleep => {
                dlog!("idle for {timeout}s with no clients and no running runtime; exiting");
                ctx.request_shutdown();
                return;
            }
            r = clients.changed() => if r.is_err() { return },
            r = views.changed() => if r.is_err() { return },
            r = downloads.changed() => if r.is_err() { return },
        }
    }
}

/// Re-reads the manifest when its file changes; a bad edit keeps the
/// running registry.
async fn watch_config(ctx: Arc<Ctx>) {
    let Some(path) = ctx.config_path.clone() else {
        return;
    };
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    *ctx.config_seen.lock().unwrap_or_else(|p| p.into_inner()) = mtime(&path);
    let mut tick = tokio::time::interval(CONFIG_POLL);
    loop {
        tick.tick().await;
        let now = mtime(&path);
        let seen = *ctx.config_seen.lock().unwrap_or_else(|p| p.into_inner());
        if now != seen {
            match reload(&ctx).await {
                Ok(r) => {
                    dlog!("config changed; reloaded {} (+{:?} -{:?} ~{:?})", r.origin, r.added, r.removed, r.changed)
                }
                Err(e) => {
                    dlog!("config changed but is invalid; keeping the last good registry: {e}")
                }
            }
        }
    }
}

/// Loads the manifest again and hands it to the supervisor. A broken file
/// keeps the running registry, and the matrix says so until it is fixed.
pub async fn reload(ctx: &Ctx) -> Result<crate::protocol::ReloadReport, registry::RegistryError> {
    reload_only(ctx, None).await.map(Result::unwrap_or_default)
}

/// [`reload`], applying only `only`'s entry when given (`arw runtime
/// reload ID`); `Ok(Err(_))` when the supervisor refuses (an unknown id).
pub async fn reload_only(
    ctx: &Ctx,
    only: Option<&str>,
) -> Result<Result<crate::protocol::ReloadReport, crate::protocol::ErrorBody>, registry::RegistryError> {
    let seen = || ctx.config_seen.lock().unwrap_or_else(|p| p.into_inner());
    let before = *seen();
    if let Some(path) = &ctx.config_path {
        // This read has seen this version of the file: the file watcher
        // must not apply it again (and with it what `only` left out).
        *seen() = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    }
    let loaded = match &ctx.config_path {
        Some(p) => registry::load_file(p),
        None => Ok(registry::embedded_default()),
    };
    let registry = match loaded {
        Ok(r) => r,
        Err(e) => {
            // The error names the file, line and column already.
            ctx.loaded().problem = Some(format!(
                "the manifest is broken ({}); running the last good one",
                crate::text::quote(&e.to_string(), 300)
            ));
            // The badge changes: republish now, not at the next tick.
            let _ = ctx.feed.recompute(ctx).await;
            return Err(e);
        }
    };
    {
        let mut loaded = ctx.loaded();
        let idle = loaded.settings.idle_timeout_secs;
        // The listener is bound and the token read once, at start: say so
        // where the operator looks, or a token added here would seem to
        // guard a listener that is still open.
        let listener = (registry.daemon.http_listen.clone(), registry.daemon.admin_token_file.clone());
        loaded.needs_restart = (listener != loaded.listener_at_start).then(|| {
            "the manifest's [daemon] http_listen or admin_token_file changed; the listener keeps its old \
             settings until `arw daemon restart`"
                .to_string()
        });
        if loaded.needs_restart.is_some() {
            dlog!("[daemon] http_listen or admin_token_file changed; it takes effect at `arw daemon restart`");
        }
        loaded.settings = registry.daemon.clone();
        if std::env::var_os("ARW_IDLE_TIMEOUT_SECS").is_some() {
            loaded.settings.idle_timeout_secs = idle;
        }
        loaded.origin = registry.origin.clone();
        loaded.env_refs = env_refs_of(&registry);
        loaded.problem = None;
    }
    let origin = registry.origin.clone();
    let report = match only {
        Some(id) => ctx.supervisor.reload_one(registry, id).await,
        None => Ok(ctx
            .supervisor
            .reload(registry)
            .await
            .unwrap_or(crate::protocol::ReloadReport { origin, ..Default::default() })),
    };
    if report.is_err() {
        // Nothing was applied: the watcher still owes this version.
        *seen() = before;
    }
    let _ = ctx.feed.recompute(ctx).await;
    Ok(report)
}
