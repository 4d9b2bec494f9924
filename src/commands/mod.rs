//! Client side of every command, one file each; this module only routes.

mod chat;
mod daemon;
mod docs;
mod events;
mod history;
mod lifecycle;
mod logs;
mod restore;
mod smoke;
mod status;
mod weights;

use crate::cli::{Cli, Command, DaemonCommand, RuntimeCommand};
use crate::client::{self, Client, ConnectPolicy};
use crate::error::{ArwError, Exit};
use crate::paths::Paths;

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    // A daemon this command spawns runs in `/` and inherits the variable:
    // a relative path must mean the one the user typed it from.
    let config =
        cli.config.clone().or_else(|| std::env::var_os("ARW_CONFIG").filter(|v| !v.is_empty()).map(Into::into));
    if let Some(config) = config {
        let absolute = std::path::absolute(&config)?;
        // SAFETY: still single-threaded.
        unsafe { std::env::set_var("ARW_CONFIG", absolute) };
    }
    client::check_knobs()?;
    let ctx = Ctx { paths: Paths::from_env(), policy: ConnectPolicy::from_env(cli.no_restart_daemon) };
    match cli.command {
        Command::Runtime(RuntimeCommand::Status(args)) => status::run(&ctx, args),
        Command::Runtime(RuntimeCommand::Restore(args)) => restore::run(&ctx, args),
        Command::Runtime(RuntimeCommand::Smoke(args)) => smoke::run(&ctx, args),
        Command::Chat(args) => chat::run(&ctx, args),
        Command::Events(args) => events::run(&ctx, args),
        Command::Runtime(RuntimeCommand::Weights(args)) => weights::run(&ctx, args),
        Command::Runtime(RuntimeCommand::StubLlama(args)) => crate::stub::run(args).map(|()| Exit::Ok),
        Command::Runtime(RuntimeCommand::History(args)) => history::run(&ctx, args),
        Command::Daemon(DaemonCommand::Serve { config, http, fake_build_id }) => {
            crate::daemon::serve(crate::daemon::ServeOptions { config, http, fake_build_id }).map(|()| Exit::Ok)
        }
        Command::Daemon(DaemonCommand::Status { json }) => daemon::status(&ctx, json),
        Command::Daemon(DaemonCommand::Stop) => daemon::stop(&ctx),
        Command::Daemon(DaemonCommand::Restart) => daemon::restart(&ctx),
        Command::Daemon(DaemonCommand::Reload { json }) => daemon::reload(&ctx, json),
        Command::Daemon(DaemonCommand::Logs { lines, runtime: Some(id) }) => {
            logs::run(&ctx, crate::cli::LogsArgs { id, follow: false, lines, json: false })
        }
        Command::Daemon(DaemonCommand::Logs { lines, runtime: None }) => daemon::logs(&ctx, lines),
        Command::Completions { shell, dir } => docs::completions(shell, dir),
        Command::Man { dir } => docs::man(dir),
        Command::Runtime(RuntimeCommand::Start(args)) => lifecycle::start(&ctx, args),
        Command::Runtime(RuntimeCommand::Stop(args)) => lifecycle::stop(&ctx, args),
        Command::Runtime(RuntimeCommand::Logs(args)) => logs::run(&ctx, args),
        Command::Runtime(RuntimeCommand::Reload(args)) => lifecycle::reload(&ctx, args),
    }
}

/// What every command needs to reach the daemon.
pub struct Ctx {
    pub paths: Paths,
    pub policy: ConnectPolicy,
}

impl Ctx {
    pub fn connect(&self) -> anyhow::Result<Client> {
        let client = client::connect_or_spawn(&self.paths, self.policy)?;
        warn_on_other_config(&client);
        Ok(client)
    }

    /// A connection whose first request, `status`, is already on its way.
    pub fn connect_with_status(&self) -> anyhow::Result<Client> {
        let policy = ConnectPolicy { pipeline_status: true, ..self.policy };
        let client = client::connect_or_spawn(&self.paths, policy)?;
        warn_on_other_config(&client);
        Ok(client)
    }

    /// Turns a lost connection into [`ArwError::DaemonGone`] (exit 3)
    /// when the daemon `pid` that served it no longer answers; errors the
    /// daemon reported, and losses with the daemon still there, stay as
    /// they are.
    pub fn went_away(&self, err: anyhow::Error, pid: u32) -> anyhow::Error {
        if err.chain().any(|e| e.is::<ArwError>()) {
            return err;
        }
        match client::probe_daemon(&self.paths) {
            Ok(Some((welcome, _))) if welcome.pid == pid => err,
            // The lost connection's own wording ("closed the connection")
            // adds nothing to "went away".
            _ => ArwError::DaemonGone { home: self.paths.home.clone() }.into(),
        }
    }
}

/// A daemon keeps the manifest and listener it started with; say so when
/// this command asked for different ones instead of silently using the old.
fn warn_on_other_config(client: &Client) {
    if let Some(note) = other_http(client) {
        eprintln!("arw: note: {note}");
    }
    if let Some((loaded, wanted)) = other_config(client) {
        eprintln!(
            "arw: note: the running daemon loaded `{}`, not `{}`; run `arw daemon restart` to switch",
            crate::text::line(&loaded),
            crate::text::line(&wanted)
        );
    }
}

/// When this command's `ARW_HTTP_LISTEN` asks for another listener than
/// the running daemon has (SPEC §7).
fn other_http(client: &Client) -> Option<String> {
    use crate::daemon::http::listen::{parse_addr, LISTEN_ENV};
    let wanted = std::env::var(LISTEN_ENV).ok().filter(|v| !v.trim().is_empty())?;
    let running = client.welcome.http.as_deref();
    let same = match (parse_addr(&wanted), running) {
        (Ok(addr), Some(url)) => {
            let port = url.trim_end_matches('/').rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
            let host = url.trim_start_matches("http://").rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']']));
            host.and_then(|h| h.parse::<std::net::IpAddr>().ok()) == Some(addr.ip())
                && (addr.port() == 0 || port == Some(addr.port()))
        }
        _ => false,
    };
    if same {
        return None;
    }
    let wanted = crate::text::line(&wanted);
    Some(match running {
        Some(url) => format!(
            "the running daemon serves HTTP on {}, not `{wanted}` ({LISTEN_ENV}); run `arw daemon restart` to switch",
            crate::text::line(url)
        ),
        None => format!(
            "the running daemon serves no HTTP; {LISTEN_ENV}=`{wanted}` applies to a daemon this command starts: run \
             `arw daemon restart` to switch"
        ),
    })
}

/// A reload re-reads the daemon's own manifest: saying "reloaded" while
/// this command asked for another file would be a lie.
pub fn same_config_or_refuse(client: &Client) -> anyhow::Result<()> {
    match other_config(client) {
        None => Ok(()),
        Some((loaded, wanted)) => Err(ArwError::Usage {
            message: format!(
                "the running daemon reloads `{}`, not `{}`",
                crate::text::line(&loaded),
                crate::text::line(&wanted)
            ),
            hint: "run `arw daemon restart` with that `--config` to switch manifests".into(),
        }
        .into()),
    }
}

/// `(loaded, wanted)` when this command asked for another manifest than
/// the one the running daemon loaded.
pub fn other_config(client: &Client) -> Option<(String, String)> {
    let wanted = std::env::var_os("ARW_CONFIG").filter(|v| !v.is_empty())?;
    let loaded = client.welcome.registry_origin.clone()?;
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let wanted = std::path::PathBuf::from(wanted);
    (canonical(&wanted) != canonical(std::path::Path::new(&loaded))).then(|| (loaded, wanted.display().to_string()))
}
