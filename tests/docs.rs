//! Checked-in completions and man pages match the CLI definition.

use crate::common::*;

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

/// man/ holds exactly the pages `arw man --dir` writes, and `arw man`
/// prints the top page.
#[test]
fn man_pages_do_not_drift() {
    let arw = Arw::new();
    let fresh = arw.dir.path().join("man");
    arw.ok(&["man", "--dir", fresh.to_str().unwrap()]);
    let checked_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("man");
    let names = |dir: &std::path::Path| {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&fresh), names(&checked_in), "man/ has other pages: run `just docs`");
    for name in names(&fresh) {
        let a = std::fs::read_to_string(fresh.join(&name)).unwrap();
        let b = std::fs::read_to_string(checked_in.join(&name)).unwrap();
        assert!(a == b, "man/{name} is stale: run `just docs`");
    }
    assert!(generated(&["man"]).contains(".TH arw 1"), "`arw man` prints the top page");
}
