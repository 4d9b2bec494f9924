//! `pow` and `log` for the executable itself, so it needs no `libm.so.6`
//! (one shared library fewer to map and relocate at every client start;
//! bench/RESULTS.md, "Client start"). They are the only libm symbols arw
//! uses: `pow` for tokio's scheduler statistics and indicatif's ETA
//! (through `f64::powf`), `log` for the bundled SQLite's query planner. rustc exports
//! `#[no_mangle]` symbols from executables, so a library `dlopen`ed later
//! (NVML) that calls `pow` gets this one: the same function within an ulp,
//! without setting `errno`.

#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[no_mangle]
pub extern "C" fn log(x: f64) -> f64 {
    libm::log(x)
}
