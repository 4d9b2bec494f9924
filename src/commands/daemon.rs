//! `arw daemon status|stop|restart|reload|logs`.

use super::Ctx;
use crate::client;
use crate::error::{ArwError, Exit};
use crate::protocol::{Request, Response};
use crate::render;
use anyhow::{bail, Context, Result};

pub fn status(ctx: &Ctx, json: bool) -> Result<Exit> {
    let Some((welcome, matched)) = client::probe_daemon(&ctx.paths)? else {
        if json {
            render::print_json(&serde_json::json!({"running": false, "socket": ctx.paths.socket()}))?;
        } else {
            println!("arw daemon is not running (socket `{}`)", ctx.paths.socket().display());
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
            println!(
                "arw daemon {} is running a different build ({}; this is {}); `arw daemon restart` replaces it",
                welcome.pid,
                welcome.build_id,
                crate::protocol::BUILD_ID
            );
        }
        return Ok(Exit::Ok);
    }
    let mut client = client::connect_existing(&ctx.paths)?.context("the daemon went away")?;
    let Response::DaemonInfo(info) = client.request(Request::DaemonInfo)? else {
        bail!("unexpected reply to `daemon status`")
    };
    if json {
        render::print_json(&info)?;
    } else {
        println!(
            "arw daemon {} running for {} (build {}, protocol {})\n  home     {}\n  socket   {}\n  registry {} ({} runtimes)\n  clients  {} · idle exit after {}s",
            info.pid,
            crate::time::short(info.uptime_secs as u64),
            info.build_id,
            info.protocol,
            info.home,
            info.socket,
            info.registry_origin,
            info.runtimes,
            info.clients,
            info.idle_timeout_secs
        );
    }
    Ok(Exit::Ok)
}

pub fn stop(ctx: &Ctx) -> Result<Exit> {
    match client::probe_daemon(&ctx.paths)? {
        None => {
            println!("arw daemon is not running");
            Ok(Exit::Ok)
        }
        Some((welcome, true)) => {
            let mut c = client::connect_existing(&ctx.paths)?.context("the daemon went away")?;
            c.request(Request::Shutdown)?;
            client::wait_for_daemon_exit(&ctx.paths)?;
            println!("arw daemon {} stopped", welcome.pid);
            Ok(Exit::Ok)
        }
        Some((welcome, false)) => {
            client::stop_pid_and_wait(&ctx.paths, welcome.pid)?;
            println!("arw daemon {} (build {}) stopped", welcome.pid, welcome.build_id);
            Ok(Exit::Ok)
        }
    }
}

pub fn restart(ctx: &Ctx) -> Result<Exit> {
    // Check the manifest the new daemon will load before stopping a working one.
    crate::registry::load(None, |k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("not restarting: {e}; the running daemon keeps its registry"))?;
    stop(ctx)?;
    let client = ctx.connect()?;
    println!("arw daemon {} started", client.welcome.pid);
    Ok(Exit::Ok)
}

pub fn reload(ctx: &Ctx, json: bool) -> Result<Exit> {
    let mut client = ctx.connect()?;
    let Response::Reloaded(report) = client.request(Request::Reload)? else { bail!("unexpected reply to `reload`") };
    if json {
        render::print_json(&report)?;
    } else {
        let list = |v: &Vec<String>| {
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        println!(
            "reloaded {}\n  added   {}\n  removed {}\n  changed {}",
            report.origin,
            list(&report.added),
            list(&report.removed),
            list(&report.changed)
        );
    }
    Ok(Exit::Ok)
}

pub fn logs(ctx: &Ctx, lines: usize, runtime: Option<String>) -> Result<Exit> {
    let path = match &runtime {
        Some(id) => crate::supervisor::checked_log_path(&ctx.paths.runtime_logs_dir(), id).map_err(|message| {
            ArwError::Remote { kind: crate::protocol::ErrorKind::BadRequest, message, hint: None }
        })?,
        None => ctx.paths.daemon_log(),
    };
    // From the end of the file: a 200 MB log costs what its last lines cost.
    let tail = match crate::supervisor::logfile::tail(&path, lines) {
        Ok(tail) => tail,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ArwError::Remote {
                kind: crate::protocol::ErrorKind::BadRequest,
                message: format!("no log at `{}`", path.display()),
                hint: Some(match runtime {
                    Some(_) => "the runtime has not been started yet; see `arw runtime status`".into(),
                    None => "the daemon has not run with this ARW_HOME yet".into(),
                }),
            }
            .into())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    };
    for line in &tail {
        println!("{line}");
    }
    Ok(Exit::Ok)
}
