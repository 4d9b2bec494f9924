//! `arw daemon status|stop|restart|reload|logs`.

use super::Ctx;
use crate::client;
use crate::error::{ArwError, Exit};
use crate::protocol::{Request, Response};
use crate::render::{self, out};
use crate::text as sanitize;
use anyhow::{bail, Context, Result};
use std::os::unix::fs::OpenOptionsExt;

pub fn status(ctx: &Ctx, json: bool) -> Result<Exit> {
    let Some((welcome, matched)) = client::probe_daemon(&ctx.paths)? else {
        if json {
            render::print_json(&serde_json::json!({"running": false, "socket": ctx.paths.socket()}))?;
        } else {
            out::println(&format!("arw daemon is not running (socket `{}`)", ctx.paths.socket().display()))?;
        }
        return Ok(Exit::DaemonUnreachable);
    };
    if !matched {
        if json {
            render::print_json(&serde_json::json!({
                "running": true, "pid": welcome.pid, "build_id": welcome.build_id,
                "protocol": welcome.protocol, "matches_this_build": false,
            }))?;
        } else {
            out::println(&format!(
                "arw daemon {} is running a different build ({}; this is {}); `arw daemon restart` replaces it",
                welcome.pid,
                sanitize::line(&welcome.build_id),
                crate::protocol::BUILD_ID
            ))?;
        }
        return Ok(Exit::Ok);
    }
    let went_away = || ArwError::DaemonGone { home: ctx.paths.home.clone() };
    let mut client = client::connect_existing(&ctx.paths)?.ok_or_else(went_away)?;
    let Response::DaemonInfo(info) = client.request(Request::DaemonInfo).map_err(|e| ctx.went_away(e, welcome.pid))?
    else {
        bail!("unexpected reply to `daemon status`")
    };
    if json {
        render::print_json(&info)?;
    } else {
        // The daemon's idle timer treats 0 as "never".
        let idle = match info.idle_timeout_secs {
            0 => "never exits when idle".to_string(),
            secs => format!("idle exit after {secs}s"),
        };
        out::println(&format!(
            "arw daemon {} running for {} (build {}, protocol {})\n  home     {}\n  socket   {}\n  http     {}\n  registry {} ({} runtimes)\n  clients  {} · {idle}",
            info.pid,
            crate::time::short(info.uptime_secs as u64),
            sanitize::line(&info.build_id),
            info.protocol,
            sanitize::line(&info.home),
            sanitize::line(&info.socket),
            info.http.as_deref().map(sanitize::line).unwrap_or("off (see `arw daemon serve --help`)".into()),
            sanitize::line(&info.registry_origin),
            info.runtimes,
            info.clients,
        ))?;
    }
    Ok(Exit::Ok)
}

/// What `stop` found.
enum StopOutcome {
    NotRunning,
    /// This command stopped the daemon with this pid.
    Stopped(u32),
    /// The daemon with this pid was already on its way out (another `stop`
    /// or `restart`, an idle exit); this command waited for it.
    AlreadyStopping(u32),
}

/// Stops whatever daemon runs for this `ARW_HOME` and waits until it is
/// gone. A daemon that vanishes between the probe and the shutdown request
/// is someone else's stop racing this one: wait for it, it is not an error.
fn stop_daemon(ctx: &Ctx) -> Result<StopOutcome> {
    match client::probe_daemon(&ctx.paths)? {
        None => Ok(StopOutcome::NotRunning),
        Some((welcome, true)) => {
            let asked = match client::connect_existing(&ctx.paths) {
                Ok(Some(mut c)) => c.request(Request::Shutdown).is_ok(),
                Ok(None) | Err(_) => false,
            };
            client::wait_for_daemon_exit(&ctx.paths, welcome.pid)?;
            Ok(if asked { StopOutcome::Stopped(welcome.pid) } else { StopOutcome::AlreadyStopping(welcome.pid) })
        }
        Some((welcome, false)) => {
            client::stop_pid_and_wait(&ctx.paths, welcome.pid)?;
            Ok(StopOutcome::Stopped(welcome.pid))
        }
    }
}

pub fn stop(ctx: &Ctx) -> Result<Exit> {
    let line = match stop_daemon(ctx)? {
        StopOutcome::NotRunning => "arw daemon is not running".to_string(),
        StopOutcome::Stopped(pid) => format!("arw daemon {pid} stopped"),
        StopOutcome::AlreadyStopping(pid) => format!("arw daemon {pid} was already stopping; it is gone now"),
    };
    out::println(&line)?;
    Ok(Exit::Ok)
}

pub fn restart(ctx: &Ctx) -> Result<Exit> {
    // Check the manifest the new daemon will load before stopping a working one.
    let registry = crate::registry::load(None, |k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("not restarting: {e}; the running daemon keeps its registry"))?;
    // And the listener it would open: a refusal must not cost the old one.
    crate::daemon::http::listen::resolve(None, |k| std::env::var(k).ok(), &registry.daemon)
        .map_err(|e| anyhow::anyhow!("not restarting: {e}; the running daemon keeps running"))?;
    // Restarts take turns: one arriving while another is between its stop
    // and its start would otherwise find no daemon and say so, though one is
    // on its way. Its own lock file: the spawn lock is taken inside connect.
    ctx.paths.ensure_dirs().with_context(|| format!("cannot prepare ARW_HOME `{}`", ctx.paths.home.display()))?;
    let lock_path = ctx.paths.run_dir().join("restart.lock");
    // Never through a planted symlink, and never truncating anything.
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .with_context(|| {
            format!("cannot open the restart lock `{}`; remove it if it is a symlink", lock_path.display())
        })?;
    let wait = 2 * client::DRAIN_WAIT;
    let _turn = crate::sys::lock_with_deadline(lock, wait).map_err(|_| {
        anyhow::anyhow!(
            "another `arw daemon restart` has been running for {}s; see `arw daemon logs`, then try again",
            wait.as_secs()
        )
    })?;
    let stopped = stop_daemon(ctx)?;
    let client = ctx.connect()?;
    let pid = client.welcome.pid;
    let line = match stopped {
        StopOutcome::NotRunning => format!("arw daemon was not running; started {pid}"),
        StopOutcome::Stopped(old) => format!("arw daemon {old} stopped\narw daemon {pid} started"),
        // Another restart got there first; its daemon (or ours) is the new one.
        StopOutcome::AlreadyStopping(old) => {
            format!("arw daemon {old} was already being replaced; arw daemon {pid} is running")
        }
    };
    out::println(&line)?;
    Ok(Exit::Ok)
}

pub fn reload(ctx: &Ctx, json: bool) -> Result<Exit> {
    // Not `ctx.connect()`: its note about another manifest is this error.
    let mut client = crate::client::connect_or_spawn(&ctx.paths, ctx.policy)?;
    let pid = client.welcome.pid;
    super::same_config_or_refuse(&client)?;
    let Response::Reloaded(report) = client.request(Request::Reload).map_err(|e| ctx.went_away(e, pid))? else {
        bail!("unexpected reply to `reload`")
    };
    if json {
        render::print_json(&report)?;
    } else {
        let list = |v: &Vec<String>| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.iter().map(|id| sanitize::cell(id)).collect::<Vec<_>>().join(", ")
            }
        };
        out::println(&format!(
            "reloaded {}\n  added   {}\n  removed {}\n  changed {}",
            sanitize::line(&report.origin),
            list(&report.added),
            list(&report.removed),
            list(&report.changed)
        ))?;
    }
    Ok(Exit::Ok)
}

pub fn logs(ctx: &Ctx, lines: usize) -> Result<Exit> {
    let path = ctx.paths.daemon_log();
    // From the end of the file: a 200 MB log costs what its last lines cost.
    let tail = match crate::supervisor::logfile::tail(&path, lines) {
        Ok(tail) => tail,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ArwError::Remote {
                kind: crate::protocol::ErrorKind::BadRequest,
                message: format!("no log at `{}`", path.display()),
                hint: Some("the daemon has not run with this ARW_HOME yet".into()),
            }
            .into())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    // On a terminal escape sequences are shown, not obeyed; a pipe gets
    // the bytes as logged (like `tail`).
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    for line in &tail {
        if tty {
            out::println(&crate::text::line(line))?;
        } else {
            out::println(line)?;
        }
    }
    Ok(Exit::Ok)
}
