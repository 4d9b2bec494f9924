//! Thin entry: parse, run, map the outcome to an exit code.
//!
//! SIGPIPE stays ignored (Rust's default): a closed stdout is a write error
//! that `error::report` turns into a quiet exit 0, like ripgrep.

use clap::{CommandFactory, FromArgMatches};

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod no_libm;

fn main() -> std::process::ExitCode {
    // `Cli::try_parse()` without dropping the command tree: the process
    // ends soon, and freeing clap's tree costs a tenth of a warm `status`.
    let mut command = std::mem::ManuallyDrop::new(arw::cli::Cli::command());
    let parsed = command
        .try_get_matches_from_mut(std::env::args_os())
        .and_then(|matches| arw::cli::Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => return arw::error::usage(e).into(),
    };
    let json = cli.json();
    match arw::run(cli) {
        Ok(code) => code.into(),
        Err(err) => arw::error::report(&err, json).into(),
    }
}
