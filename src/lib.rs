//! wsprobe: authenticated WebSocket synthetic probes that say why a connection failed.
//!
//! # Layout
//! - [`config`]: probes.yaml → validated, typed [`config::Config`] (errors carry file:line:col).
//! - [`probe`]: one probe, phase by phase, and the pure verdict/diagnosis over its evidence.
//! - [`lab`]: the failure lab, misbehaving endpoints that reproduce each failure.
//! - [`store`]: SQLite: every result, hourly rollups, the instance id; the only place with SQL.
//! - [`check`]: probe a set of environments once and report (`wsprobe check`).
//! - [`demo`]: the lab plus wsprobe probing it from the bundled config.
//! - [`cli`]: the command line; `main.rs` only parses it and maps the outcome to an exit code.
//! - [`telemetry`]: logs.

pub mod check;
pub mod cli;
pub mod config;
pub mod demo;
pub mod lab;
pub mod probe;
pub mod store;
pub mod telemetry;
