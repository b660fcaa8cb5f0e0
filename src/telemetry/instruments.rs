//! The SPEC's instruments: names, kinds, units and attributes, in one table that the OTLP
//! export, the dashboards test and the documentation all read.

/// Bucket boundaries of `wsprobe.probe.duration`, in seconds: a loopback DNS answer or TCP
/// connect (0.1 ms) up to a whole probe budget (60 s), roughly 1–2.5–5 per decade.
pub const DURATION_BOUNDARIES: [f64; 21] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0,
];
/// Series per instrument the SDK keeps before folding new ones into `otel.metric.overflow`:
/// ten `phase` series per environment for 2000 environments.
pub const CARDINALITY_LIMIT: usize = 20_000;

/// What an instrument is, as the SPEC's table and OTLP name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Histogram,
    Gauge,
    /// A monotonic cumulative sum.
    Counter,
}

/// One row of the SPEC's metrics table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstrumentSpec {
    pub name: &'static str,
    pub kind: Kind,
    /// UCUM as OTLP carries it; empty for none.
    pub unit: &'static str,
    /// Besides `location`, which every instrument carries when it is set.
    pub attributes: &'static [&'static str],
    pub description: &'static str,
}

pub const PROBE_DURATION: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.probe.duration",
    kind: Kind::Histogram,
    unit: "s",
    attributes: &["environment", "phase"],
    description: "Time of each probe phase and of the whole probe (phase=total).",
};
pub const PROBE_UP: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.probe.up",
    kind: Kind::Gauge,
    unit: "{up}",
    attributes: &["environment"],
    description: "1 when the last probe was up or degraded, 0 when down.",
};
pub const PROBE_RUNS: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.probe.runs",
    kind: Kind::Counter,
    unit: "",
    attributes: &["environment", "verdict", "status", "close_code"],
    description: "Probes run, by verdict, status and close code (none when no close frame).",
};
pub const HEALTH_UP: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.health.up",
    kind: Kind::Gauge,
    unit: "{up}",
    attributes: &["environment"],
    description: "1 when the last HTTP health check was as expected, 0 otherwise.",
};
pub const TLS_CERT_NOT_AFTER: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.tls.cert.not_after",
    kind: Kind::Gauge,
    unit: "s",
    attributes: &["environment"],
    description: "Expiry of the server certificate last seen, as Unix time.",
};
pub const INCIDENTS_OPEN: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.incidents.open",
    kind: Kind::Gauge,
    unit: "",
    attributes: &["environment"],
    description: "Incidents open for the environment.",
};
pub const NOTIFICATIONS: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.notifications",
    kind: Kind::Counter,
    unit: "",
    attributes: &["channel", "kind", "outcome"],
    description: "Notification delivery attempts by channel, kind and outcome.",
};
pub const SCHEDULE_SKIPPED: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.schedule.skipped",
    kind: Kind::Counter,
    unit: "",
    attributes: &["environment"],
    description: "Schedule slots skipped because the previous probe was still running.",
};
pub const SLO_BUDGET_REMAINING: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.slo.budget_remaining",
    kind: Kind::Gauge,
    unit: "1",
    attributes: &["environment"],
    description: "Error budget left over the SLO window (1 untouched, 0 spent, negative overspent).",
};
pub const STORE_RUNS_DROPPED: InstrumentSpec = InstrumentSpec {
    name: "wsprobe.store.runs_dropped",
    kind: Kind::Counter,
    unit: "",
    attributes: &[],
    description: "Results never stored: the spool that keeps them while the store is away was full.",
};

/// Every instrument wsprobe exports, in the SPEC's order.
pub const INSTRUMENTS: [InstrumentSpec; 10] = [
    PROBE_DURATION,
    PROBE_UP,
    PROBE_RUNS,
    HEALTH_UP,
    TLS_CERT_NOT_AFTER,
    INCIDENTS_OPEN,
    NOTIFICATIONS,
    SCHEDULE_SKIPPED,
    SLO_BUDGET_REMAINING,
    STORE_RUNS_DROPPED,
];
