//! Client side of every command, one file each; this module only routes.

mod daemon;
mod docs;
mod restore;
mod status;
mod weights;

use crate::cli::{Cli, Command, DaemonCommand, RuntimeCommand};
use crate::client::{self, Client, ConnectPolicy};
use crate::error::Exit;
use crate::paths::Paths;

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    let ctx = Ctx {
        paths: Paths::from_env(),
        policy: ConnectPolicy::from_env(cli.no_restart_daemon),
    };
    match cli.command {
        Command::Runtime(RuntimeCommand::Status(args)) => status::run(&ctx, args),
        Command::Runtime(RuntimeCommand::Restore(args)) => restore::run(&ctx, args),
        Command::Runtime(RuntimeCommand::Weights(args)) => weights::run(&ctx, args),
        Command::Runtime(RuntimeCommand::StubLlama(args)) => {
            crate::stub::run(args).map(|()| Exit::Ok)
        }
        Command::Daemon(DaemonCommand::Serve {
            config,
            fake_build_id,
        }) => crate::daemon::serve(crate::daemon::ServeOptions {
            config,
            fake_build_id,
        })
        .map(|()| Exit::Ok),
        Command::Daemon(DaemonCommand::Status { json }) => daemon::status(&ctx, json),
        Command::Daemon(DaemonCommand::Stop) => daemon::stop(&ctx),
        Command::Daemon(DaemonCommand::Restart) => daemon::restart(&ctx),
        Command::Daemon(DaemonCommand::Reload { json }) => daemon::reload(&ctx, json),
        Command::Daemon(DaemonCommand::Logs { lines, runtime }) => {
            daemon::logs(&ctx, lines, runtime)
        }
        Command::Completions { shell, dir } => docs::completions(shell, dir),
        Command::Man { dir } => docs::man(dir),
    }
}

/// What every command needs to reach the daemon.
pub struct Ctx {
    pub paths: Paths,
    pub policy: ConnectPolicy,
}

impl Ctx {
    pub fn connect(&self) -> anyhow::Result<Client> {
        client::connect_or_spawn(&self.paths, self.policy)
    }
}
