//! The one integration test binary: real servers on 127.0.0.1 port 0, real sockets.

mod alerts;
mod browser;
mod cli;
mod config;
mod daemon;
mod dashboards;
mod dialects;
mod faults;
mod fleet;
mod helpers;
mod lab;
mod layout;
mod metrics;
mod packaging;
mod presets;
mod probe;
mod prometheus;
mod proxies;
mod store;
mod store_alerts;
mod traces;
