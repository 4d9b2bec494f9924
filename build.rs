//! Derives the build id from the sources, so two binaries built from the same
//! tree agree and any source change yields a daemon the client will replace.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;

fn hash_dir(dir: &Path, hasher: &mut DefaultHasher) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            hash_dir(&path, hasher);
        } else if let Ok(bytes) = std::fs::read(&path) {
            path.to_string_lossy().hash(hasher);
            bytes.hash(hasher);
        }
    }
}

fn main() {
    let mut hasher = DefaultHasher::new();
    for dir in ["src", "configs"] {
        println!("cargo:rerun-if-changed={dir}");
        hash_dir(Path::new(dir), &mut hasher);
    }
    println!("cargo:rerun-if-changed=Cargo.toml");
    if let Ok(bytes) = std::fs::read("Cargo.toml") {
        bytes.hash(&mut hasher);
    }
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=ARW_BUILD_ID={version}-{:016x}", hasher.finish());
}
