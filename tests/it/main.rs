//! The one integration test binary: real servers on 127.0.0.1 port 0, real sockets.

mod alerts;
mod browser;
mod cli;
mod config;
mod daemon;
mod dashboards;
mod dialect;
mod faults;
mod fleet;
mod helpers;
mod lab;
mod layout;
mod metrics;
mod network;
mod oncall;
mod packaging;
mod paging;
mod probe;
mod prometheus;
mod proxies;
mod public;
mod session;
mod slo;
mod store;
mod store_alerts;
mod traces;
