//! The daemon's own blocks: `server`, `storage`, `telemetry`.

use super::*;

impl Validator<'_> {
    pub(super) fn server(&self, raw: RawServer) -> Result<ServerConfig> {
        let listen = match &raw.listen {
            Some(value) => value.value.trim().parse::<SocketAddr>().map_err(|_| {
                self.err(
                    value,
                    "server.listen",
                    format!(
                        "invalid address {:?}: expected IP:port, like 127.0.0.1:8080 or [::]:8080",
                        value.value
                    ),
                )
            })?,
            None => DEFAULT_LISTEN.parse().expect("the built-in address parses"),
        };
        let public_url = match &raw.public_url {
            Some(value) => Some(self.url(value, "server.public_url", &["http", "https"])?),
            None => None,
        };
        let trace_url = match &raw.trace_url {
            Some(value) => Some(TraceUrl::parse(&value.value).ok_or_else(|| {
                self.err(
                    value,
                    "server.trace_url",
                    "must be an http(s) URL with {trace_id} where the trace id goes, like \
                     https://grafana.example.com/explore?…{trace_id}…",
                )
            })?),
            None => None,
        };
        Ok(ServerConfig {
            listen,
            public_url,
            trace_url,
            // Empty (`${WSPROBE_ADMIN_TOKEN:-}`) leaves the admin API closed, as if absent.
            admin_token: raw
                .admin_token
                .filter(|token| !token.value.is_empty())
                .map(|token| Secret::new(token.0.value)),
        })
    }

    pub(super) fn storage(&self, raw: RawStorage) -> Result<StorageConfig> {
        let path = match &raw.path {
            Some(value) if value.value.trim().is_empty() => {
                return Err(self.err(value, "storage.path", "must not be empty"));
            }
            Some(value) => self.resolve(&value.value),
            None => self.resolve(DEFAULT_STORAGE_PATH),
        };
        let retention = match &raw.retention {
            Some(value) => self.positive_duration(value, "storage.retention")?,
            None => StorageConfig::default().retention,
        };
        let url = match &raw.url {
            None => None,
            Some(value) => {
                if raw.path.is_some() {
                    return Err(self.err(
                        value,
                        "storage.url",
                        "set storage.path (one SQLite file) or storage.url (a shared PostgreSQL), not both",
                    ));
                }
                let text = value.value.trim();
                if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
                    return Err(self.err(
                        value,
                        "storage.url",
                        "must be a PostgreSQL URL (postgres://user@host/database)",
                    ));
                }
                if let Err(err) = url::Url::parse(text) {
                    return Err(self.err(value, "storage.url", format!("is not a URL: {err}")));
                }
                Some(Secret::new(text))
            }
        };
        Ok(StorageConfig {
            path,
            url,
            retention,
        })
    }

    pub(super) fn telemetry(&self, raw: Option<RawTelemetry>) -> Result<TelemetryConfig> {
        let Some(raw) = raw else {
            return Ok(TelemetryConfig::default());
        };
        let prometheus = raw
            .prometheus
            .unwrap_or(TelemetryConfig::default().prometheus);
        let otlp = match raw.otlp {
            Some(otlp) => Some(self.otlp(otlp)?),
            None => None,
        };
        Ok(TelemetryConfig { otlp, prometheus })
    }

    fn otlp(&self, otlp: Located<RawOtlp>) -> Result<OtlpConfig> {
        let o = &otlp.value;
        let endpoint =
            self.required(&o.endpoint, &otlp.referenced, "telemetry.otlp", "endpoint")?;
        let endpoint = self.url(endpoint, "telemetry.otlp.endpoint", &["http", "https"])?;
        let protocol = match &o.protocol {
            Some(value) => match value.value.as_str() {
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                "grpc" => OtlpProtocol::Grpc,
                other => {
                    return Err(self.err(
                        value,
                        "telemetry.otlp.protocol",
                        format!("unknown protocol {other:?}: expected http/protobuf or grpc"),
                    ));
                }
            },
            None => OtlpProtocol::HttpProtobuf,
        };
        let interval = match &o.interval {
            Some(value) => self.positive_duration(value, "telemetry.otlp.interval")?,
            None => DEFAULT_OTLP_INTERVAL,
        };
        let mut headers = BTreeMap::new();
        for (name, value) in o.headers.iter().flat_map(|map| &map.0) {
            if reqwest::header::HeaderName::from_bytes(name.value.as_bytes()).is_err() {
                return Err(self.err(
                    name,
                    &format!("telemetry.otlp.headers.{}", name.value),
                    "not a valid HTTP header name",
                ));
            }
            headers.insert(name.value.clone(), Secret::new(value.clone()));
        }
        Ok(OtlpConfig {
            endpoint,
            protocol,
            interval,
            headers,
        })
    }
}
