//! wsprobe: authenticated WebSocket synthetic probes that say why a connection failed.
//!
//! # Layout
//! - [`config`]: probes.yaml → validated, typed [`config::Config`] (errors carry file:line:col).
//! - [`probe`]: one probe, phase by phase, and the pure verdict/diagnosis over its evidence.
//! - [`lab`]: the failure lab, misbehaving endpoints that reproduce each failure.
//! - [`check`]: probe a set of environments once and report (`wsprobe check`).
//! - [`cli`]: the command line.

pub mod config;
pub mod lab;
pub mod probe;
