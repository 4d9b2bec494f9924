//! The shipped binary is linked for a fast client start (build.rs: no PIE,
//! the unwinder linked in; src/no_libm.rs: no libm) while glibc stays dynamic, so the daemon's own
//! loading paths keep working: NVML through `dlopen`, host names through NSS.
//! These run the real `arw` binary built with the same link settings.

use crate::common::mock_hub::{MockHub, FILE, REPO};
use crate::common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A stand-in for the NVIDIA driver's `libnvidia-ml.so.1` with the entry points
/// arw's GPU probe calls. It uses libc (`snprintf`) so that loading it needs the
/// process's dynamic glibc, as the real driver library does.
const FAKE_NVML: &str = r#"
#include <stdio.h>
typedef struct { unsigned int version; unsigned long long total, reserved, free, used; } mem_v2;
typedef struct { unsigned int gpu, memory; } util;
static int inits;
int nvmlInit_v2(void) { inits++; return 0; }
int nvmlShutdown(void) { return 0; }
int nvmlSystemGetDriverVersion(char *v, unsigned int n) { snprintf(v, n, "%s", "550.54.14"); return 0; }
int nvmlDeviceGetCount_v2(unsigned int *c) { *c = inits > 0 ? 1 : 0; return 0; }
int nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **d) { *d = (void *)(unsigned long)(i + 1); return 0; }
int nvmlDeviceGetName(void *d, char *name, unsigned int n) {
    snprintf(name, n, "arw dlopen probe %lu", (unsigned long)d);
    return 0;
}
int nvmlDeviceGetMemoryInfo_v2(void *d, mem_v2 *m) {
    (void)d; m->total = 3ull << 30; m->used = 1ull << 30; m->free = 2ull << 30; m->reserved = 0;
    return 0;
}
int nvmlDeviceGetUtilizationRates(void *d, util *u) { (void)d; u->gpu = 42; u->memory = 7; return 0; }
"#;

fn gpu(status: &Value) -> &Value {
    &node(status)["accelerators"]["gpu"]
}

/// The libraries mapped into a running process, by file name.
fn mapped_libraries(pid: u32) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut names: Vec<String> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter_map(|p| Path::new(p).file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter(|n| n.contains(".so"))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// #10 (client start): the binary is a non-PIE executable that maps neither
/// `libgcc_s` nor `libm` and still maps the system's dynamic glibc, the
/// settings bench/run measured; a build without build.rs's link settings (or
/// without src/no_libm.rs) fails here.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn binary_is_linked_for_fast_start_with_dynamic_glibc() {
    let header = std::fs::read(ARW).unwrap();
    let e_type = u16::from_le_bytes([header[16], header[17]]);
    assert_eq!(e_type, 2, "{ARW} is not ET_EXEC (2 = no PIE; 3 = PIE): build.rs's `-no-pie` did not apply");

    let arw = Arw::new();
    arw.status();
    let pid = arw.daemon_pid().expect("a daemon pid after status");
    let libs = mapped_libraries(pid);
    assert!(!libs.iter().any(|l| l.starts_with("libgcc_s")), "the daemon maps libgcc_s: {libs:?}");
    assert!(!libs.iter().any(|l| l.starts_with("libm.so")), "the daemon maps libm: {libs:?}");
    assert!(libs.iter().any(|l| l.starts_with("libc.so")), "the daemon must keep a dynamic glibc: {libs:?}");
    assert!(libs.iter().any(|l| l.starts_with("ld-linux")), "no dynamic loader mapped: {libs:?}");
}

/// #10 (client start): the daemon `dlopen`s a real shared library the way
/// NVML is loaded (nvml-wrapper → libloading → `dlopen("libnvidia-ml.so.1")`
/// through the library search path) and reports the device the library
/// describes, calling into it for name, memory and utilisation.
#[test]
fn daemon_dlopens_a_shared_library_like_nvml() {
    let cc_here = Command::new("cc").arg("--version").output().is_ok_and(|o| o.status.success());
    if !require("a C compiler (`cc`)", cc_here, "install gcc (Debian: apt-get install -y gcc)") {
        return;
    }
    let arw = Arw::new();
    let lib_dir = arw.dir.path().join("lib");
    std::fs::create_dir_all(&lib_dir).unwrap();
    let source = lib_dir.join("fake_nvml.c");
    std::fs::write(&source, FAKE_NVML).unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(lib_dir.join("libnvidia-ml.so.1"))
        .arg(&source)
        .output()
        .unwrap();
    assert!(built.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&built.stderr));

    // The daemon starts with this environment, so its loader searches lib_dir.
    let arw = arw.env("LD_LIBRARY_PATH", lib_dir.to_str().unwrap());
    let status =
        arw.wait_for(Duration::from_secs(10), "the GPU sampler to read the library", |s| gpu(s)["source"] == "nvml");
    let gpu = gpu(&status);
    assert_eq!(gpu["available"], true, "{gpu:#}");
    let devices = gpu["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 1, "{gpu:#}");
    assert_eq!(devices[0]["name"], "arw dlopen probe 1", "{gpu:#}");
    assert_eq!(devices[0]["memory_total_bytes"], 3u64 << 30, "{gpu:#}");
    assert_eq!(devices[0]["memory_used_bytes"], 1u64 << 30, "{gpu:#}");
    assert_eq!(devices[0]["utilization_pct"], 42, "{gpu:#}");
    assert_eq!(devices[0]["simulated"], false, "{gpu:#}");
}

/// #10 (client start): without a driver library the daemon reports NVML as
/// absent with the loader's reason, and keeps serving.
#[test]
fn daemon_without_nvml_reports_it_absent() {
    let arw = Arw::new();
    let status = arw.wait_for(Duration::from_secs(10), "the first GPU sample", |s| {
        gpu(s)["note"] != "GPU inventory not sampled yet"
    });
    let gpu = gpu(&status);
    if gpu["source"] == "nvml" {
        eprintln!("skipping: this machine has an NVIDIA driver library, so NVML is not absent: {gpu}");
        return;
    }
    assert_eq!(gpu["source"], "none", "{gpu:#}");
    assert_eq!(gpu["available"], false, "{gpu:#}");
    let note = gpu["note"].as_str().unwrap_or_default();
    assert!(note.starts_with("NVML not available") && note.contains("libnvidia-ml.so.1"), "{gpu:#}");
    assert!(arw.status()["supervisor"]["runtimes"].is_array(), "the daemon stopped serving");
}

/// #10 (client start): the daemon resolves host names for downloads: a fetch
/// from `http://localhost:PORT` (getaddrinfo through NSS `files`) lands, and
/// the hub saw the requests under that name.
#[test]
fn daemon_resolves_localhost_for_downloads() {
    let Some(hub) = MockHub::start() else { return };
    let endpoint = format!("http://localhost:{}", hub.port);
    let arw = Arw::new()
        .env("HF_ENDPOINT", &endpoint)
        .env("LLAMA_MODEL_SOURCES", &format!("{REPO}::{FILE}"))
        .env("ARW_WEIGHTS_BACKOFF_MS", "20");
    let out = arw.run(&["runtime", "weights", "fetch", "--allow-downloads", "--json"]);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); stderr:\n{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "fetch failed: {doc:#}\nstderr:\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(doc["models"][0]["status"], "downloaded", "{doc:#}");
    assert_eq!(doc["models"][0]["sha256"], hub.sha256.as_str(), "{doc:#}");
    let host = format!("localhost:{}", hub.port);
    let log = hub.file_requests();
    let cdn_ok = log.iter().any(|r| r["route"] == "cdn" && r["host"] == host.as_str() && r["status"] == 200);
    assert!(cdn_ok, "no successful blob GET addressed to {host}: {log:#?}");
    assert!(log.iter().all(|r| r["host"] == host.as_str()), "a request bypassed the name: {log:#?}");
}
