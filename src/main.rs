//! Thin entry: parse, run, map the outcome to an exit code.

use clap::Parser;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod no_libm;

fn main() -> std::process::ExitCode {
    arw::sys::reset_sigpipe();
    let cli = arw::cli::Cli::parse();
    match arw::run(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            arw::error::report(&err);
            arw::error::exit_code_of(&err).into()
        }
    }
}
