//! Thin entry: parse, run, map the outcome to an exit code.
//!
//! SIGPIPE stays ignored (Rust's default): a closed stdout is a write error
//! that `error::report` turns into a quiet exit 0, like ripgrep.

use clap::Parser;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod no_libm;

fn main() -> std::process::ExitCode {
    let cli = match arw::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return arw::error::usage(e).into(),
    };
    let json = cli.json();
    match arw::run(cli) {
        Ok(code) => code.into(),
        Err(err) => arw::error::report(&err, json).into(),
    }
}
