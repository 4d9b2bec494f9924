//! Derives the build id from the sources, so two binaries built from the same
//! tree agree and any source change yields a daemon the client will replace;
//! and links the executable for a fast start (see `link_for_fast_start`).

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

/// Every client command is a fresh process, so start-up is most of a warm
/// `arw runtime status` (bench/RESULTS.md, "Client start"). On Linux with glibc:
/// - no PIE: the dynamic loader then applies no relative relocations (~14 000,
///   touching every page of `.data.rel.ro`) before `main`;
/// - the unwinder from `libgcc_eh.a` instead of `libgcc_s.so.1`: one shared
///   library fewer to find, map and relocate. Unwinding still works (tests and
///   tokio catch panics); only Rust code unwinds, never across a C library.
/// - on x86_64, where rustc links with lld, the functions a client start runs
///   placed together (link/startup-order.txt, from scripts/gen-startup-order),
///   so it faults in fewer pages of code.
///
/// glibc itself stays dynamic: NVML is `dlopen`ed and NSS modules are loaded
/// for name lookups, neither of which is reliable in a static glibc process
/// (src/no_libm.rs drops `libm.so.6` the same way).
fn link_for_fast_start() {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-no-pie");
    println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
    let order = Path::new(&var("CARGO_MANIFEST_DIR")).join("link/startup-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    if var("CARGO_CFG_TARGET_ARCH") == "x86_64" && order.is_file() {
        // A stale list only orders less: names no longer in the binary are skipped.
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering", order.display());
    }
}

fn main() {
    link_for_fast_start();
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
