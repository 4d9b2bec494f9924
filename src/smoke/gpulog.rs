//! Reads GPU offload facts out of a llama-server log.
//!
//! Line formats are llama.cpp's own printf formats (see
//! tests/fixtures/NOTES.md for file:line): `ggml_cuda_init: found %d CUDA
//! devices:`, `  Device %d: %s, compute capability ...`, `load_tensors:
//! offloaded %d/%d layers to GPU`, `load_tensors: %12s model buffer size =
//! %8.2f MiB`. Lines may carry a timestamp and level prefix (`0.00.027.891 I
//! `), so patterns are matched inside the line. A CPU build prints none of
//! them: the parser then reports no offload instead of guessing.

use crate::protocol::smoke::GpuReport;

pub fn parse(log: &str) -> GpuReport {
    let mut report = GpuReport::default();
    for line in log.lines() {
        if let Some(rest) = after(line, "Device ") {
            // "Device 0: NVIDIA GeForce RTX 3090, compute capability 8.6, VMM: yes"
            if let Some((_, desc)) = rest.split_once(": ") {
                if desc.contains("compute capability") || desc.contains("VMM") {
                    let name = desc.split(", compute capability").next().unwrap_or(desc).trim();
                    push_device(&mut report, name);
                }
            }
        } else if let Some(rest) = after(line, "using device ") {
            // "using device CUDA0 (NVIDIA GeForce RTX 3090) - 23975 MiB free"
            if let Some(name) = rest.split_once(" (").and_then(|(_, r)| r.rsplit_once(')')).map(|(n, _)| n) {
                push_device(&mut report, name.trim());
            }
        } else if let Some(rest) = after(line, "offloaded ") {
            if let Some((n, rest)) = rest.split_once('/') {
                let total = rest.split_whitespace().next();
                if rest.contains("layers to GPU") {
                    report.offloaded_layers = n.trim().parse().ok();
                    report.total_layers = total.and_then(|t| t.parse().ok());
                }
            }
        } else if let Some((head, size)) = line.split_once("model buffer size =") {
            let buffer = head.rsplit(':').next().unwrap_or("").trim().to_string();
            let mib = size.trim().trim_end_matches("MiB").trim().parse().unwrap_or(0.0);
            if !buffer.is_empty() {
                report.buffers.push((buffer, mib));
            }
        }
    }
    report.simulated = report.devices.iter().any(|d| d.contains("LLAMA_GPU_SIMULATE"));
    report
}

fn after<'a>(line: &'a str, pat: &str) -> Option<&'a str> {
    line.find(pat).map(|i| &line[i + pat.len()..])
}

fn push_device(report: &mut GpuReport, name: &str) {
    if !name.is_empty() && !report.devices.iter().any(|d| d == name) {
        report.devices.push(name.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    }

    /// The real CPU build's log (captured with -lv 4) reports no offload.
    #[test]
    fn real_cpu_logs_report_no_offload() {
        for name in ["llama-server-cpu-tiny.log", "llama-server-cpu-smollm2.log"] {
            let r = parse(&fixture(name));
            assert!(!r.offloaded(), "{name}: {r:?}");
            assert!(r.devices.is_empty(), "{name}: {r:?}");
            assert!(r.buffers.iter().any(|(b, _)| b == "CPU_Mapped"), "{name}: {r:?}");
        }
    }

    /// A CUDA log built from llama.cpp's format strings parses fully.
    #[test]
    fn cuda_sample_log() {
        let r = parse(&fixture("llama-server-gpu-sample.log"));
        assert!(r.offloaded(), "{r:?}");
        assert_eq!(r.offloaded_layers, r.total_layers);
        assert!(!r.devices.is_empty());
        assert!(r.buffers.iter().any(|(b, mib)| b.starts_with("CUDA") && *mib > 0.0), "{r:?}");
        assert!(!r.simulated);
    }

    /// The stub's simulated lines go through the same parser.
    #[test]
    fn simulated_lines() {
        let r = parse(&crate::stub::simulated_gpu_log(22));
        assert_eq!((r.offloaded_layers, r.total_layers), (Some(23), Some(23)));
        assert!(r.simulated);
        assert_eq!(r.devices.len(), 1);
    }
}
