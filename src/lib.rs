//! arw: supervises local LLM runtimes and reports on them honestly.

// First: `dlog!` is used by bare name in the modules below.
#[macro_use]
pub mod log;

pub mod accel;
pub mod bus;
pub mod cli;
pub mod client;
pub mod commands;
pub mod daemon;
pub mod error;
pub mod fsx;
pub mod gguf;
pub mod journal;
pub mod knobs;
pub mod matrix;
pub mod paths;
pub mod protocol;
pub mod redact;
pub mod registry;
pub mod render;
pub mod smoke;
pub mod stub;
pub mod supervisor;
pub mod sys;
pub mod telemetry;
pub mod text;
pub mod time;
pub mod units;
pub mod weights;

use error::Exit;

/// Runs one parsed command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<Exit> {
    commands::run(cli)
}
