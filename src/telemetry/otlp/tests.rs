//! How `telemetry.otlp` and the `OTEL_*` variables resolve, one table row per case.

use super::*;
use crate::config::{OtlpConfig, Secret};

fn block(endpoint: &str, protocol: OtlpProtocol, headers: &[(&str, &str)]) -> OtlpConfig {
    OtlpConfig {
        endpoint: Url::parse(endpoint).unwrap(),
        protocol,
        interval: Duration::from_secs(5),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect(),
    }
}

fn run(config: Option<&OtlpConfig>, vars: &[(&str, &str)]) -> Resolved {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    OtlpSettings::resolve(config, &move |name| {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

fn on(resolved: &Resolved) -> &OtlpSettings {
    resolved
        .export
        .as_ref()
        .unwrap_or_else(|off| panic!("export is off: {off}"))
}

type Vars<'a> = &'a [(&'a str, &'a str)];

#[test]
fn export_is_off_without_an_endpoint_or_when_disabled() {
    let http = block("http://collector:4318", OtlpProtocol::HttpProtobuf, &[]);
    let cases: &[(Option<&OtlpConfig>, Vars, Off)] = &[
        (None, &[], Off::NoEndpoint),
        // Settings without an endpoint do not turn export on.
        (
            None,
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
            ],
            Off::NoEndpoint,
        ),
        (
            None,
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "")],
            Off::NoEndpoint,
        ),
        (Some(&http), &[("OTEL_SDK_DISABLED", "true")], Off::Disabled),
        (
            None,
            &[
                ("OTEL_SDK_DISABLED", "TRUE"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ],
            Off::Disabled,
        ),
    ];
    for (config, vars, expected) in cases {
        assert_eq!(run(*config, vars).export, Err(*expected), "{vars:?}");
    }
    // Anything but "true" leaves export on.
    assert!(
        run(Some(&http), &[("OTEL_SDK_DISABLED", "false")])
            .export
            .is_ok()
    );
}

#[test]
fn endpoints_follow_the_otlp_rules() {
    let http = block("http://collector:4318", OtlpProtocol::HttpProtobuf, &[]);
    let http_path = block("http://c:4318/v1/metrics", OtlpProtocol::HttpProtobuf, &[]);
    let http_prefix = block("https://c/otlp/", OtlpProtocol::HttpProtobuf, &[]);
    let grpc = block("http://collector:4317", OtlpProtocol::Grpc, &[]);
    let cases: &[(Option<&OtlpConfig>, Vars, &str, OtlpProtocol)] = &[
        (
            Some(&http),
            &[],
            "http://collector:4318/v1/metrics",
            OtlpProtocol::HttpProtobuf,
        ),
        (
            Some(&http_path),
            &[],
            "http://c:4318/v1/metrics",
            OtlpProtocol::HttpProtobuf,
        ),
        (
            Some(&http_prefix),
            &[],
            "https://c/otlp/v1/metrics",
            OtlpProtocol::HttpProtobuf,
        ),
        (
            Some(&grpc),
            &[],
            "http://collector:4317/",
            OtlpProtocol::Grpc,
        ),
        // The block wins over the variables for what it defines.
        (
            Some(&http),
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
            "http://collector:4318/v1/metrics",
            OtlpProtocol::HttpProtobuf,
        ),
        (
            None,
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")],
            "http://c:4318/v1/metrics",
            OtlpProtocol::HttpProtobuf,
        ),
        (
            None,
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/prefix/")],
            "http://c:4318/prefix/v1/metrics",
            OtlpProtocol::HttpProtobuf,
        ),
        // The signal variable is used as is, and wins over the generic one.
        (
            None,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
                (
                    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                    "http://m:9000/custom",
                ),
            ],
            "http://m:9000/custom",
            OtlpProtocol::HttpProtobuf,
        ),
        (
            None,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
            "http://c:4317/",
            OtlpProtocol::Grpc,
        ),
        (
            None,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ],
            "http://c:4317/",
            OtlpProtocol::Grpc,
        ),
    ];
    for (config, vars, endpoint, protocol) in cases {
        let resolved = run(*config, vars);
        let settings = on(&resolved);
        assert_eq!(settings.endpoint.as_str(), *endpoint, "{vars:?}");
        assert_eq!(settings.protocol, *protocol, "{vars:?}");
        assert!(resolved.warnings.is_empty(), "{:?}", resolved.warnings);
    }
}

#[test]
fn interval_timeout_and_compression() {
    let http = block("http://c:4318", OtlpProtocol::HttpProtobuf, &[]);
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
    type Case<'a> = (
        Option<&'a OtlpConfig>,
        &'a [(&'a str, &'a str)],
        (u64, u64, Compression),
        usize,
    );
    let cases: &[Case] = &[
        (None, &[endpoint], (30_000, 10_000, Compression::None), 0),
        // The block's interval wins over the variable.
        (
            Some(&http),
            &[("OTEL_METRIC_EXPORT_INTERVAL", "1000")],
            (5_000, 10_000, Compression::None),
            0,
        ),
        (
            None,
            &[
                endpoint,
                ("OTEL_METRIC_EXPORT_INTERVAL", "250"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ],
            (250, 2_000, Compression::Gzip),
            0,
        ),
        (
            Some(&http),
            &[
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000"),
                ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "500"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
                ("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none"),
            ],
            (5_000, 500, Compression::None),
            0,
        ),
        // Unusable values are ignored with a warning each, never fatal.
        (
            None,
            &[
                endpoint,
                ("OTEL_METRIC_EXPORT_INTERVAL", "30s"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ],
            (30_000, 10_000, Compression::None),
            3,
        ),
    ];
    for (config, vars, (interval, timeout, compression), warnings) in cases {
        let resolved = run(*config, vars);
        let settings = on(&resolved);
        assert_eq!(
            settings.interval,
            Duration::from_millis(*interval),
            "{vars:?}"
        );
        assert_eq!(
            settings.timeout,
            Duration::from_millis(*timeout),
            "{vars:?}"
        );
        assert_eq!(settings.compression, *compression, "{vars:?}");
        assert_eq!(
            resolved.warnings.len(),
            *warnings,
            "{:?}",
            resolved.warnings
        );
    }
}

#[test]
fn unusable_variables_warn_and_fall_back() {
    let resolved = run(
        None,
        &[
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "collector:4318"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key"),
        ],
    );
    let settings = on(&resolved);
    assert_eq!(settings.endpoint.as_str(), "http://c:4318/v1/metrics");
    assert_eq!(settings.protocol, OtlpProtocol::HttpProtobuf);
    assert!(settings.headers.is_empty());
    let warnings = resolved.warnings.join("\n");
    for name in [
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ] {
        assert!(warnings.contains(name), "{warnings}");
    }
    // An endpoint that cannot be used is no endpoint.
    let resolved = run(None, &[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://c")]);
    assert_eq!(resolved.export, Err(Off::NoEndpoint));
    assert_eq!(resolved.warnings.len(), 1);
}

#[test]
fn headers_merge_the_block_and_the_variables() {
    let http = block(
        "http://c:4318",
        OtlpProtocol::HttpProtobuf,
        &[("X-Api-Key", "from-file"), ("X-Team", "sre")],
    );
    let cases: &[(Vars, Vars)] = &[
        (&[], &[("x-api-key", "from-file"), ("x-team", "sre")]),
        (
            &[(
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=from-env, x-extra=a%20b",
            )],
            &[
                ("x-api-key", "from-env"),
                ("x-extra", "a b"),
                ("x-team", "sre"),
            ],
        ),
        // The signal variable replaces the generic one entirely.
        (
            &[
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-generic=1"),
                ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-metrics=2"),
            ],
            &[
                ("x-api-key", "from-file"),
                ("x-metrics", "2"),
                ("x-team", "sre"),
            ],
        ),
    ];
    for (vars, expected) in cases {
        let resolved = run(Some(&http), vars);
        let headers: Vec<(&str, &str)> = on(&resolved)
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(headers, *expected, "{vars:?}");
    }
    // Header values never reach Debug output.
    let debug = format!("{:?}", on(&run(Some(&http), &[])));
    assert!(!debug.contains("from-file"), "{debug}");
}

#[test]
fn resource_attributes_and_service_name() {
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
    let cases: &[(Vars, Vars)] = &[
        (&[endpoint], &[("service.name", "wsprobe")]),
        (
            &[endpoint, ("OTEL_SERVICE_NAME", "probe-eu")],
            &[("service.name", "probe-eu")],
        ),
        (
            &[
                endpoint,
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=prod,service.name=from-attrs,team=sre%2Fweb",
                ),
            ],
            &[
                ("service.name", "from-attrs"),
                ("deployment.environment", "prod"),
                ("team", "sre/web"),
            ],
        ),
        // OTEL_SERVICE_NAME wins over service.name in the attributes.
        (
            &[
                endpoint,
                ("OTEL_SERVICE_NAME", "named"),
                ("OTEL_RESOURCE_ATTRIBUTES", "service.name=attr,k=1,k=2"),
            ],
            &[("service.name", "named"), ("k", "2")],
        ),
    ];
    for (vars, expected) in cases {
        let resolved = run(None, vars);
        let resource: Vec<(&str, &str)> = on(&resolved)
            .resource
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(resource, *expected, "{vars:?}");
    }
    let resolved = run(None, &[endpoint, ("OTEL_RESOURCE_ATTRIBUTES", "a=1,oops")]);
    assert_eq!(
        on(&resolved).resource,
        [("service.name".into(), "wsprobe".into())]
    );
    assert_eq!(resolved.warnings.len(), 1);
}

fn traces(config: Option<&OtlpConfig>, vars: &[(&str, &str)]) -> Resolved {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    OtlpSettings::resolve_signal(Signal::Traces, config, &move |name| {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

#[test]
fn traces_take_their_own_path_variables_and_off_switch() {
    let http = block("http://c:4318", OtlpProtocol::HttpProtobuf, &[]);
    let rows: &[(Option<&OtlpConfig>, Vars<'_>, Result<&str, Off>)] = &[
        (Some(&http), &[], Ok("http://c:4318/v1/traces")),
        (
            Some(&block(
                "http://c:4318/v1/metrics",
                OtlpProtocol::HttpProtobuf,
                &[],
            )),
            &[],
            Ok("http://c:4318/v1/traces"),
        ),
        (
            None,
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/base/")],
            Ok("http://c:4318/base/v1/traces"),
        ),
        (
            None,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318/custom"),
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://m:4318/other"),
            ],
            Ok("http://t:4318/custom"),
        ),
        (
            Some(&http),
            &[("OTEL_TRACES_EXPORTER", "none")],
            Err(Off::ExporterNone(Signal::Traces)),
        ),
        (
            None,
            &[(
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "http://m:4318/v1/metrics",
            )],
            Err(Off::NoEndpoint),
        ),
    ];
    for (config, vars, expected) in rows {
        let resolved = traces(*config, vars);
        match expected {
            Ok(url) => assert_eq!(on(&resolved).endpoint.as_str(), *url, "{vars:?}"),
            Err(off) => assert_eq!(resolved.export.as_ref().err(), Some(off), "{vars:?}"),
        }
    }
    // The metrics side is untouched by the traces' switch, and says what an odd value does.
    assert!(
        run(Some(&http), &[("OTEL_TRACES_EXPORTER", "none")])
            .export
            .is_ok()
    );
    let odd = traces(Some(&http), &[("OTEL_TRACES_EXPORTER", "zipkin")]);
    assert!(odd.export.is_ok());
    assert_eq!(
        odd.warnings,
        ["OTEL_TRACES_EXPORTER=\"zipkin\" is not supported (otlp or none): using otlp"]
    );
    let timeout = traces(
        Some(&http),
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "9000"),
        ],
    );
    assert_eq!(on(&timeout).timeout, Duration::from_millis(2500));
}

#[test]
fn a_delta_temporality_preference_is_named_not_silently_ignored() {
    let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318");
    for (preference, warned) in [("delta", true), ("LowMemory", true), ("cumulative", false)] {
        let resolved = run(None, &[endpoint, (TEMPORALITY_VAR, preference)]);
        assert!(resolved.export.is_ok(), "export stays on");
        let said = resolved
            .warnings
            .iter()
            .any(|w| w.contains(TEMPORALITY_VAR));
        assert_eq!(said, warned, "{preference}: {:?}", resolved.warnings);
    }
    // The traces export has no temporality: nothing to say there.
    let traces = traces(None, &[endpoint, (TEMPORALITY_VAR, "delta")]);
    assert!(traces.warnings.is_empty(), "{:?}", traces.warnings);
}

#[test]
fn resource_attributes_resolve_with_export_off() {
    let resolved = run(
        None,
        &[
            ("OTEL_SERVICE_NAME", "probes-eu"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
        ],
    );
    assert_eq!(resolved.export, Err(Off::NoEndpoint));
    assert_eq!(
        resolved.resource,
        [
            ("service.name".to_owned(), "probes-eu".to_owned()),
            ("deployment.environment".to_owned(), "prod".to_owned()),
        ]
    );
}
