//! Checked-in completions and man pages match the CLI definition.

mod common;
use common::*;

fn generated(args: &[&str]) -> String {
    let arw = Arw::new();
    arw.ok(args)
}

/// completions/ holds exactly what `arw completions SHELL` prints.
#[test]
fn completions_do_not_drift() {
    for (shell, file) in [("bash", "arw.bash"), ("zsh", "_arw"), ("fish", "arw.fish")] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("completions").join(file);
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated(&["completions", shell]),
            "completions/{file} is stale: run `just docs` (arw completions {shell} --dir completions)"
        );
    }
}

/// man/arw.1 holds exactly what `arw man` prints.
#[test]
fn man_page_does_not_drift() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man/arw.1");
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(checked_in == generated(&["man"]), "man/arw.1 is stale: run `just docs`");
}
