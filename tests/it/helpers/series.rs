//! The Prometheus names wsprobe's OTLP instruments get.

use std::collections::BTreeMap;

use wsprobe::telemetry::metrics::{INSTRUMENTS, InstrumentSpec, Kind};

/// The Prometheus base name of an OTLP instrument (OpenTelemetry's Prometheus compatibility
/// rules, Prometheus's `UnderscoreEscapingWithSuffixes`), written out here independently of
/// wsprobe's code.
pub fn prometheus_base(spec: &InstrumentSpec) -> String {
    let mut name = spec.name.replace('.', "_");
    let unit = match spec.unit {
        "" => "",
        // Annotations such as {up} carry no unit.
        annotation if annotation.starts_with('{') => "",
        "s" => "seconds",
        "ms" => "milliseconds",
        "By" => "bytes",
        "1" if spec.kind == Kind::Gauge => "ratio",
        other => panic!("add the Prometheus spelling of unit {other:?}"),
    };
    if !unit.is_empty() && !name.ends_with(unit) {
        name.push('_');
        name.push_str(unit);
    }
    name
}

/// Every series name an instrument shows up as, mapped back to it.
pub fn exported_series() -> BTreeMap<String, &'static InstrumentSpec> {
    let mut series = BTreeMap::new();
    for spec in &INSTRUMENTS {
        let base = prometheus_base(spec);
        let names = match spec.kind {
            Kind::Histogram => vec![
                format!("{base}_bucket"),
                format!("{base}_sum"),
                format!("{base}_count"),
            ],
            Kind::Counter => vec![format!("{base}_total")],
            Kind::Gauge => vec![base],
        };
        for name in names {
            series.insert(name, spec);
        }
    }
    series
}
