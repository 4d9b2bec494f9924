//! The integration suite: one test binary (one link on 2 cores), one
//! module per capability. Every test runs the real `arw` binary with a
//! private `ARW_HOME` (see `common`). Run one capability with
//! `cargo test --test integration smoke::`.

mod common;

mod config;
mod daemon_autostart;
mod dlopen;
mod docs;
mod feed_herd;
mod handshake;
mod hostile_cli;
mod hostile_config;
mod hostile_socket;
mod hostile_supervisor;
mod hostile_weights;
mod http_dashboard;
mod http_events;
mod http_metrics;
mod http_surface;
mod journal;
mod lifecycle;
mod real_llama;
mod restore;
mod smoke;
mod status;
mod supervisor;
mod weights;
