//! `arw completions SHELL` and `arw man`: generated from the clap definition
//! so they cannot drift from `--help` (a test compares the checked-in copies).

use crate::error::Exit;
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::path::PathBuf;

pub fn completions(shell: clap_complete::Shell, dir: Option<PathBuf>) -> Result<Exit> {
    let mut cmd = crate::cli::Cli::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            let path = clap_complete::generate_to(shell, &mut cmd, "arw", &dir)
                .with_context(|| format!("cannot write completions into `{}`", dir.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => {
            // Rendered into memory first: clap_complete panics when its
            // writer fails (a full disk, a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "arw", &mut script);
            crate::render::out::print(&String::from_utf8_lossy(&script))?;
        }
    }
    Ok(Exit::Ok)
}

pub fn man(dir: Option<PathBuf>) -> Result<Exit> {
    let cmd = crate::cli::Cli::command();
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("cannot write man pages into `{}`", dir.display()))?;
            eprintln!("wrote man pages into {}", dir.display());
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut page)?;
            crate::render::out::print(&String::from_utf8_lossy(&page))?;
        }
    }
    Ok(Exit::Ok)
}
