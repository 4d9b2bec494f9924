//! GPU inventory: NVML when an NVIDIA driver is present, a simulated device
//! with `LLAMA_GPU_SIMULATE=1`, and a clean "no GPU" otherwise.
//!
//! NVML is sampled on a background thread (its init dlopens the driver and
//! can take hundreds of milliseconds); the status path only reads the last
//! sample.

use crate::protocol::matrix::{GpuDevice, GpuSource};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often NVML is re-read while the daemon runs.
const SAMPLE_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuInventory {
    pub source: GpuSource,
    pub devices: Vec<GpuDevice>,
    /// Why there is no GPU, e.g. "NVML not available: libnvidia-ml.so not found".
    pub note: Option<String>,
}

impl GpuInventory {
    pub fn none(note: impl Into<String>) -> GpuInventory {
        GpuInventory { source: GpuSource::None, devices: Vec::new(), note: Some(note.into()) }
    }

    /// The one device `LLAMA_GPU_SIMULATE=1` presents; named so nobody
    /// mistakes it for hardware.
    pub fn simulated() -> GpuInventory {
        GpuInventory {
            source: GpuSource::Simulated,
            devices: vec![GpuDevice {
                index: 0,
                name: "Simulated GPU (arw LLAMA_GPU_SIMULATE)".to_string(),
                memory_total_bytes: Some(8 << 30),
                memory_used_bytes: Some(0),
                utilization_pct: Some(0),
                simulated: true,
            }],
            note: Some("simulated by LLAMA_GPU_SIMULATE=1".to_string()),
        }
    }

    /// What a request sees: the simulation when its knobs ask for it, else
    /// the last real sample.
    pub fn effective(sampled: &GpuInventory, simulate: bool) -> GpuInventory {
        if simulate && sampled.devices.is_empty() {
            GpuInventory::simulated()
        } else {
            sampled.clone()
        }
    }
}

/// Reads NVML once. Never panics; a missing driver is a note, not an error.
pub fn probe_nvml() -> GpuInventory {
    use nvml_wrapper::Nvml;
    let nvml = match Nvml::init() {
        Ok(n) => n,
        Err(e) => return GpuInventory::none(format!("NVML not available: {e}")),
    };
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => return GpuInventory::none(format!("NVML could not count devices: {e}")),
    };
    let devices = (0..count)
        .filter_map(|index| {
            let dev = nvml.device_by_index(index).ok()?;
            let memory = dev.memory_info().ok();
            Some(GpuDevice {
                index,
                name: dev.name().unwrap_or_else(|_| format!("GPU {index}")),
                memory_total_bytes: memory.as_ref().map(|m| m.total),
                memory_used_bytes: memory.as_ref().map(|m| m.used),
                utilization_pct: dev.utilization_rates().ok().map(|u| u.gpu),
                simulated: false,
            })
        })
        .collect::<Vec<_>>();
    let note = devices.is_empty().then(|| "NVML found no devices".to_string());
    GpuInventory { source: GpuSource::Nvml, devices, note }
}

/// The latest sample, shared with the status path.
#[derive(Clone)]
pub struct Sampler {
    latest: Arc<Mutex<GpuInventory>>,
}

impl Sampler {
    /// Starts the background thread; the first sample arrives shortly after.
    pub fn start() -> Sampler {
        let latest = Arc::new(Mutex::new(GpuInventory::none("GPU inventory not sampled yet")));
        let shared = latest.clone();
        let spawned = std::thread::Builder::new().name("arw-nvml".into()).spawn(move || loop {
            let inv = probe_nvml();
            let no_driver = inv.source == GpuSource::None;
            *shared.lock().unwrap_or_else(|p| p.into_inner()) = inv;
            // Without a driver there is nothing to watch; do not wake up again.
            if no_driver {
                return;
            }
            std::thread::sleep(SAMPLE_EVERY);
        });
        if let Err(e) = spawned {
            *latest.lock().unwrap_or_else(|p| p.into_inner()) =
                GpuInventory::none(format!("could not start the GPU sampler: {e}"));
        }
        Sampler { latest }
    }

    pub fn latest(&self) -> GpuInventory {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
