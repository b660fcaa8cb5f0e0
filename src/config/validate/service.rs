//! The daemon's own blocks: `server`, `storage`, `telemetry`.

use super::*;

/// First path segments the internal page and API use: a public page there would shadow them.
const TAKEN_PATHS: &[&str] = &[
    "api",
    "environments",
    "badge",
    "feed.atom",
    "metrics",
    "healthz",
    "readyz",
];
/// The public page's title is a heading, not a paragraph.
const TITLE_MAX: usize = 100;

impl Validator<'_> {
    /// `environments`: the validated ones, to check the names `server.public` lists against;
    /// `None` when they did not validate (their errors are reported already).
    pub(super) fn server(
        &self,
        raw: RawServer,
        environments: Option<&[Arc<Environment>]>,
    ) -> Result<ServerConfig> {
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
        let public = match &raw.public {
            Some(public) => Some(self.public_page(public, listen, environments)?),
            None => None,
        };
        Ok(ServerConfig {
            listen,
            public_url,
            trace_url,
            public,
            // Empty (`${WSPROBE_ADMIN_TOKEN:-}`) leaves the admin API closed, as if absent.
            admin_token: raw
                .admin_token
                .filter(|token| !token.value.is_empty())
                .map(|token| Secret::new(token.0.value)),
        })
    }

    /// `server.public`: exactly one of `listen` and `path`, a title, known environments.
    fn public_page(
        &self,
        raw: &Located<RawPublic>,
        internal: SocketAddr,
        environments: Option<&[Arc<Environment>]>,
    ) -> Result<PublicPage> {
        let p = &raw.value;
        let at = match (&p.listen, &p.path) {
            (Some(listen), None) => PublicAt::Listen(self.public_listen(listen, internal)?),
            (None, Some(path)) => PublicAt::Path(self.public_path(path)?),
            (Some(_), Some(path)) => {
                return Err(self.err(
                    path,
                    "server.public",
                    "set `listen` (an address of its own) or `path` (a prefix on server.listen), not both",
                ));
            }
            (None, None) => {
                return Err(self.err(
                    raw,
                    "server.public",
                    "needs `listen` (like 0.0.0.0:8081) or `path` (like /public)",
                ));
            }
        };
        let title = match &p.title {
            None => PublicPage::DEFAULT_TITLE.to_owned(),
            Some(title) => self.public_title(title)?,
        };
        let shown = match environments {
            Some(environments) => self.public_environments(p, environments)?,
            None => Vec::new(),
        };
        Ok(PublicPage {
            at,
            title,
            environments: shown,
        })
    }

    fn public_title(&self, title: &Text) -> Result<String> {
        let text = title.value.trim();
        if text.is_empty() || text.chars().any(char::is_control) {
            return Err(self.err(title, "server.public.title", "must be one line of text"));
        }
        if text.chars().count() > TITLE_MAX {
            return Err(self.err(
                title,
                "server.public.title",
                format!("is longer than {TITLE_MAX} characters"),
            ));
        }
        Ok(text.to_owned())
    }

    /// The names `server.public.environments` lists, each a configured environment.
    fn public_environments(
        &self,
        p: &RawPublic,
        environments: &[Arc<Environment>],
    ) -> Result<Vec<EnvName>> {
        let mut shown = Vec::new();
        for (i, name) in p.environments.iter().flatten().enumerate() {
            match environments
                .iter()
                .find(|env| env.name.as_str() == name.value)
            {
                Some(env) => shown.push(env.name.clone()),
                None => {
                    let known: Vec<&str> = environments.iter().map(|e| e.name.as_str()).collect();
                    return Err(self.err(
                        name,
                        &format!("server.public.environments[{i}]"),
                        format!(
                            "unknown environment {:?} (environments: {})",
                            name.value,
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(shown)
    }

    fn public_listen(&self, value: &Text, internal: SocketAddr) -> Result<SocketAddr> {
        let key = "server.public.listen";
        let addr = value.value.trim().parse::<SocketAddr>().map_err(|_| {
            self.err(
                value,
                key,
                format!(
                    "invalid address {:?}: expected IP:port, like 0.0.0.0:8081",
                    value.value
                ),
            )
        })?;
        let overlaps = addr.ip() == internal.ip()
            || addr.ip().is_unspecified()
            || internal.ip().is_unspecified();
        if addr.port() != 0 && addr.port() == internal.port() && overlaps {
            return Err(self.err(
                value,
                key,
                format!(
                    "is server.listen's port ({internal}): give the public page a port of its own, or use `path`"
                ),
            ));
        }
        Ok(addr)
    }

    /// `/public` or `/status/acme`: URL-safe segments, no trailing slash (one is dropped), not
    /// under a path the internal page uses.
    fn public_path(&self, value: &Text) -> Result<String> {
        let key = "server.public.path";
        let path = value.value.trim().trim_end_matches('/');
        let segments: Vec<&str> = path
            .strip_prefix('/')
            .map_or(Vec::new(), |p| p.split('/').collect());
        let safe = |segment: &&str| {
            !segment.is_empty()
                && *segment != "."
                && *segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        };
        if !path.starts_with('/') || segments.is_empty() || !segments.iter().all(safe) {
            return Err(self.err(
                value,
                key,
                format!(
                    "{:?} is not a path prefix: expected one like /public (letters, digits, - . _ ~ between slashes)",
                    value.value
                ),
            ));
        }
        if TAKEN_PATHS.contains(&segments[0]) {
            return Err(self.err(
                value,
                key,
                format!(
                    "/{} is the internal page's own: choose another prefix, like /public",
                    segments[0]
                ),
            ));
        }
        Ok(path.to_owned())
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
