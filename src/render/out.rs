//! Everything arw prints on stdout goes through here, so a full disk or a
//! closed pipe is an error the caller handles (`println!` would panic), and
//! `--json` failures know whether a document was already printed.

use crate::error::ArwError;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static DOCUMENT_PRINTED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout as it is and flushes.
pub fn print(text: &str) -> Result<(), ArwError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(ArwError::Stdout)
}

/// Writes `text` and a newline.
pub fn println(text: &str) -> Result<(), ArwError> {
    // One write for the whole line: stdout is line-buffered.
    let mut line = String::with_capacity(text.len() + 1);
    line.push_str(text);
    line.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).and_then(|()| out.flush()).map_err(ArwError::Stdout)
}

/// Prints one JSON document on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    // Set before writing: a half-written document must not be followed by
    // an error document in the same stream.
    DOCUMENT_PRINTED.store(true, Ordering::Relaxed);
    println(&text)?;
    Ok(())
}

/// Whether this process already printed its `--json` document.
pub fn document_printed() -> bool {
    DOCUMENT_PRINTED.load(Ordering::Relaxed)
}
