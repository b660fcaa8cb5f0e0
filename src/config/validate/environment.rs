//! One environment over `defaults`: URL, headers, subprotocols, TLS, steps, echo, version.

use super::*;

/// Every place a `{token}` template appears (where, its key path, what carries it): refused
/// when there is no token.
pub(super) type TokenUses<'r> = Vec<(&'r Location, String, Carrier)>;

/// What takes a `{token}` to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Carrier {
    /// A header or a subprotocol of the upgrade request: the token authenticates it.
    Handshake,
    /// A message sent during the session.
    Message,
}

/// The keys that say when and how long to probe.
struct Timing {
    schedule: Schedule,
    jitter: Duration,
    timeout: Duration,
    retries: u32,
    degraded_after: Duration,
    cert_warn_days: u32,
}

/// What the environment offers and expects of the WebSocket handshake.
struct Handshake {
    headers: Vec<(String, String)>,
    subprotocols: Vec<String>,
    expect_subprotocol: Option<String>,
}

/// A minted or fetched token that no header or subprotocol carries goes the standard way,
/// `Authorization: Bearer <token>` (RFC 6750 §2.1): written as `auth: { kind: bearer, token: … }`
/// alone, it was never sent at all, and the 401 that followed sent people after the token. An
/// `Authorization` header of the config's own is left as written.
fn send_token_the_standard_way(auth: &Auth, uses: &TokenUses, headers: &mut Vec<(String, String)>) {
    let carried = uses
        .iter()
        .any(|(_, _, carrier)| *carrier == Carrier::Handshake);
    let has_authorization = headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"));
    if auth.has_token() && !carried && !has_authorization {
        headers.push(("Authorization".to_owned(), "Bearer {token}".to_owned()));
    }
}

/// A session whose templates use `{token}` reads it from the login's JSON answer: at
/// `login.token_pointer`, or where a token endpoint's answer has it (`/access_token`).
fn read_the_session_token_where_used(auth: &mut Auth, uses: &TokenUses) {
    if let Auth::Session(session) = auth
        && !uses.is_empty()
        && session.login.token_pointer.is_none()
    {
        session.login.token_pointer = Some(DEFAULT_TOKEN_POINTER.to_owned());
    }
}

/// A cross-check against a value inherited from `defaults` names the environment too.
fn in_env(name: &EnvName, key: &str) -> String {
    if key.starts_with("defaults") {
        format!(" (in environment {name})")
    } else {
        String::new()
    }
}

impl Validator<'_> {
    pub(super) fn environment(
        &self,
        index: usize,
        raw: &Located<Box<RawEnvironment>>,
        defaults: &RawEnvironment,
        channels: &[ChannelConfig],
    ) -> Result<Environment> {
        let own = &raw.value;
        let here = format!("environments[{index}]");
        let layers = Layers {
            own,
            defaults,
            here: &here,
        };
        let raw_name = self.required(&own.name, &raw.referenced, &here, "name")?;
        let name = EnvName::parse(&raw_name.value)
            .map_err(|message| self.err(raw_name, &format!("{here}.name"), message))?;
        let raw_url = self.required(&own.url, &raw.referenced, &here, "url")?;
        let url = self.url(raw_url, &format!("{here}.url"), &["ws", "wss"])?;
        let timing = self.timing(&layers)?;
        let health = layers
            .pick(|e| &e.health, "health")
            .map(|(value, key)| self.health(value, &key))
            .transpose()?;
        let mut auth = match layers.pick(|e| &e.auth, "auth") {
            Some((value, key)) => self.auth(value, &key)?,
            None => Auth::None,
        };

        let mut token_uses = TokenUses::new();
        self.url_templates(raw_url, &url, format!("{here}.url"), &mut token_uses)?;
        let dialect = self.dialect(&layers, &auth)?;
        let protocol = self.protocol(&layers, &url, timing.timeout, &mut token_uses)?;
        let implied = protocol.as_ref().and_then(|p| p.preset.subprotocol());
        let mut handshake = self.handshake(&layers, &name, implied, &mut token_uses)?;
        let tls = self.tls(own.tls.as_deref(), defaults.tls.as_deref(), &here)?;
        let steps = self.steps(&layers, &name, timing.timeout, &mut token_uses)?;
        let keepalive = self.keepalive(&layers, &mut token_uses)?;
        self.token_needs_auth(&auth, &token_uses, &name)?;
        read_the_session_token_where_used(&mut auth, &token_uses);
        send_token_the_standard_way(&auth, &token_uses, &mut handshake.headers);

        let echo = layers
            .pick(|e| &e.echo, "echo")
            .map(|(value, key)| self.echo(value, &key))
            .transpose()?;
        let version = layers
            .pick(|e| &e.version, "version")
            .map(|(value, key)| self.version(value, &key))
            .transpose()?;
        let alert = self.alert_override(
            own.alert.as_deref(),
            defaults.alert.as_deref(),
            &here,
            channels,
        )?;
        let limits = self.limits(&layers)?;
        let network = self.network(&layers)?;
        let slo = self.slo(own.slo.as_deref(), defaults.slo.as_deref(), &here)?;

        Ok(Environment {
            name,
            url,
            schedule: timing.schedule,
            jitter: timing.jitter,
            timeout: timing.timeout,
            retries: timing.retries,
            degraded_after: timing.degraded_after,
            cert_warn_days: timing.cert_warn_days,
            health,
            auth,
            headers: handshake.headers,
            subprotocols: handshake.subprotocols,
            expect_subprotocol: handshake.expect_subprotocol,
            tls,
            steps,
            keepalive,
            protocol,
            echo,
            version,
            alert,
            limits,
            depends_on: own
                .depends_on
                .iter()
                .flatten()
                .map(|parent| parent.value.clone())
                .collect(),
            network,
            origin: dialect.origin,
            cookies: dialect.cookies,
            synthetic_baggage: dialect.synthetic_baggage,
            slo,
        })
    }

    /// A `{token}` template needs a token to fill it.
    fn token_needs_auth(&self, auth: &Auth, token_uses: &TokenUses, name: &EnvName) -> Result<()> {
        match (auth, token_uses.first()) {
            (Auth::None, Some((location, key, _))) => Err(self.at(
                location,
                key,
                format!(
                    "uses {{token}} but auth is none{}: set `auth` or remove the template",
                    in_env(name, key)
                ),
            )),
            _ => Ok(()),
        }
    }

    fn timing(&self, layers: &Layers) -> Result<Timing> {
        let schedule = match layers.pick(|e| &e.schedule, "schedule") {
            Some((value, key)) => self.schedule(value, &key)?,
            None => self
                .shared_schedule(DEFAULT_SCHEDULE)
                .expect("the built-in schedule parses"),
        };
        let jitter = match layers.pick(|e| &e.jitter, "jitter") {
            Some((value, key)) => self.duration(value, &key)?,
            None => Duration::ZERO,
        };
        let timeout = match layers.pick(|e| &e.timeout, "timeout") {
            Some((value, key)) => self.positive_duration(value, &key)?,
            None => DEFAULT_TIMEOUT,
        };
        let retries = layers
            .pick(|e| &e.retries, "retries")
            .map_or(0, |(v, _)| v.value);
        let degraded_after = match layers.pick(|e| &e.degraded_after, "degraded_after") {
            Some((value, key)) => self.duration(value, &key)?,
            None => DEFAULT_DEGRADED_AFTER,
        };
        let cert_warn_days = layers
            .pick(|e| &e.cert_warn_days, "cert_warn_days")
            .map_or(DEFAULT_CERT_WARN_DAYS, |(v, _)| v.value);
        Ok(Timing {
            schedule,
            jitter,
            timeout,
            retries,
            degraded_after,
            cert_warn_days,
        })
    }

    /// `implied`: the subprotocol a preset offers first, before the config's own.
    fn handshake<'r>(
        &self,
        layers: &Layers<'r>,
        name: &EnvName,
        implied: Option<&str>,
        token_uses: &mut TokenUses<'r>,
    ) -> Result<Handshake> {
        let headers = self.headers(layers, token_uses)?;
        let (mut subprotocols, subprotocols_key) =
            match layers.pick(|e| &e.subprotocols, "subprotocols") {
                Some((list, key)) => (self.subprotocols(list, &key, token_uses)?, key),
                None => (Vec::new(), String::new()),
            };
        if let Some(implied) = implied.filter(|p| !subprotocols.iter().any(|s| s == p)) {
            subprotocols.insert(0, implied.to_owned());
        }
        let expect_subprotocol = match layers.pick(|e| &e.expect_subprotocol, "expect_subprotocol")
        {
            Some((value, key)) => {
                if !subprotocols.contains(&value.value) {
                    let offered = if subprotocols.is_empty() {
                        "none are offered: add it to `subprotocols`".to_owned()
                    } else {
                        format!("offered ({subprotocols_key}): {}", subprotocols.join(", "))
                    };
                    return Err(self.err(
                        value,
                        &key,
                        format!(
                            "{:?} is not one of the offered subprotocols{}; {offered}",
                            value.value,
                            in_env(name, &key)
                        ),
                    ));
                }
                Some(value.value.clone())
            }
            None => None,
        };
        Ok(Handshake {
            headers,
            subprotocols,
            expect_subprotocol,
        })
    }

    /// `defaults.headers` then the environment's own, a header written in both taking the
    /// environment's value (names compared without case).
    fn headers<'r>(
        &self,
        layers: &Layers<'r>,
        token_uses: &mut TokenUses<'r>,
    ) -> Result<Vec<(String, String)>> {
        let mut headers: Vec<(String, String)> = Vec::new();
        let default_headers = layers.defaults.headers.iter().map(|map| (map, "defaults"));
        let own_headers = layers.own.headers.iter().map(|map| (map, layers.here));
        for (map, prefix) in default_headers.chain(own_headers) {
            for (header, value) in &map.0 {
                let key = format!("{prefix}.headers.{}", header.value);
                self.header(header, value, &key)?;
                if uses_token(&value.value).map_err(|message| self.err(value, &key, message))? {
                    token_uses.push((&value.referenced, key, Carrier::Handshake));
                }
                let template = value.value.clone();
                match headers
                    .iter_mut()
                    .find(|(existing, _)| existing.eq_ignore_ascii_case(&header.value))
                {
                    Some(entry) => entry.1 = template,
                    None => headers.push((header.value.clone(), template)),
                }
            }
        }
        Ok(headers)
    }

    fn subprotocols<'r>(
        &self,
        list: &'r [Text],
        key: &str,
        token_uses: &mut TokenUses<'r>,
    ) -> Result<Vec<String>> {
        let mut subprotocols = Vec::with_capacity(list.len());
        for (i, value) in list.iter().enumerate() {
            let item_key = format!("{key}[{i}]");
            if uses_token(&value.value).map_err(|message| self.err(value, &item_key, message))? {
                token_uses.push((&value.referenced, item_key.clone(), Carrier::Handshake));
            }
            if let Some(bad) = without_templates(&value.value)
                .chars()
                .find(|c| !is_tchar(*c))
            {
                return Err(self.err(
                    value,
                    &item_key,
                    format!("a subprotocol is an HTTP token: {bad:?} is not allowed"),
                ));
            }
            subprotocols.push(value.value.clone());
        }
        Ok(subprotocols)
    }

    fn steps<'r>(
        &self,
        layers: &Layers<'r>,
        name: &EnvName,
        timeout: Duration,
        token_uses: &mut TokenUses<'r>,
    ) -> Result<Arc<[Step]>> {
        let Some((list, key)) = layers.pick(|e| &e.steps, "steps") else {
            return Ok(Arc::from([]));
        };
        let from_defaults = layers.own.steps.is_none();
        let steps = self.checked_steps(list, &key, timeout, from_defaults, &in_env(name, &key))?;
        for (i, (step, raw_step)) in steps.iter().zip(list).enumerate() {
            if let (Step::Send { text }, Some(send)) = (step, &raw_step.value.send) {
                let send_key = format!("{key}[{i}].send");
                if uses_token(text).map_err(|m| self.err(send, &send_key, m))? {
                    token_uses.push((&send.referenced, send_key, Carrier::Message));
                }
            }
        }
        Ok(steps)
    }

    /// The steps validated, or `defaults.steps` as already validated for this timeout.
    fn checked_steps(
        &self,
        list: &[Located<RawStep>],
        key: &str,
        timeout: Duration,
        from_defaults: bool,
        in_env: &str,
    ) -> Result<Arc<[Step]>> {
        let shared = self
            .default_steps
            .borrow()
            .as_ref()
            .filter(|(checked_for, _)| from_defaults && *checked_for == timeout)
            .map(|(_, steps)| steps.clone());
        if let Some(steps) = shared {
            return Ok(steps);
        }
        let mut steps = Vec::with_capacity(list.len());
        for (i, raw_step) in list.iter().enumerate() {
            steps.push(self.step(raw_step, &format!("{key}[{i}]"), timeout, in_env)?);
        }
        let steps: Arc<[Step]> = steps.into();
        if from_defaults {
            *self.default_steps.borrow_mut() = Some((timeout, steps.clone()));
        }
        Ok(steps)
    }

    fn limits(&self, layers: &Layers) -> Result<MessageLimits> {
        let mut limits = MessageLimits::default();
        if let Some((value, key)) = layers.pick(|e| &e.max_message_bytes, "max_message_bytes") {
            limits.max_message_bytes = self.positive_count(value, &key)?;
        }
        if let Some((value, key)) = layers.pick(|e| &e.max_messages, "max_messages") {
            limits.max_messages = self.positive_count(value, &key)?;
        }
        Ok(limits)
    }

    pub(super) fn header(&self, name: &Text, value: &Text, key: &str) -> Result<()> {
        if reqwest::header::HeaderName::from_bytes(name.value.as_bytes()).is_err() {
            return Err(self.err(name, key, "not a valid HTTP header name"));
        }
        if HANDSHAKE_HEADERS.contains(&name.value.to_ascii_lowercase().as_str()) {
            let hint = if name.value.eq_ignore_ascii_case("sec-websocket-protocol") {
                ": list them under `subprotocols`"
            } else {
                ""
            };
            return Err(self.err(
                name,
                key,
                format!("set by the WebSocket handshake itself{hint}"),
            ));
        }
        if name.value.eq_ignore_ascii_case("traceparent") {
            return Err(self.err(
                name,
                key,
                "set by wsprobe itself: each probe sends the traceparent of its own trace",
            ));
        }
        if reqwest::header::HeaderValue::from_str(&value.value).is_err() {
            return Err(self.err(
                value,
                key,
                "not a valid HTTP header value (control characters or non-ASCII text)",
            ));
        }
        Ok(())
    }

    pub(super) fn health(&self, raw: &Located<RawHealth>, key: &str) -> Result<HealthCheck> {
        let url = self.required(&raw.value.url, &raw.referenced, key, "url")?;
        let url = self.url(url, &format!("{key}.url"), &["http", "https"])?;
        let expect_status = match &raw.value.expect_status {
            Some(status) if !(100..=599).contains(&status.value) => {
                return Err(self.err(
                    status,
                    &format!("{key}.expect_status"),
                    "not an HTTP status (100 to 599)",
                ));
            }
            Some(status) => status.value,
            None => 200,
        };
        let expect_body = match &raw.value.expect_body {
            None => None,
            Some(body) => {
                let body_key = format!("{key}.expect_body");
                match self.matcher(&MatcherKeys::of_body(&body.value), &body_key)? {
                    Matcher::Any => {
                        return Err(self.err(
                            body,
                            &body_key,
                            "expect_body needs `json: {/pointer: value}`, `contains`, `equals`, `prefix` or `regex`",
                        ));
                    }
                    matcher => Some(matcher),
                }
            }
        };
        Ok(HealthCheck {
            url,
            expect_status,
            expect_body,
        })
    }

    /// `tls` merges key by key: `defaults` can set a CA that every environment shares.
    pub(super) fn tls(
        &self,
        own: Option<&RawTls>,
        defaults: Option<&RawTls>,
        here: &str,
    ) -> Result<TlsOptions> {
        let ca_file = own
            .and_then(|tls| {
                tls.ca_file
                    .as_ref()
                    .map(|v| (v, format!("{here}.tls.ca_file")))
            })
            .or_else(|| {
                defaults.and_then(|tls| {
                    tls.ca_file
                        .as_ref()
                        .map(|v| (v, "defaults.tls.ca_file".to_owned()))
                })
            });
        let ca_file = match ca_file {
            Some((value, key)) => Some(self.ca_file(value, &key)?.0),
            None => None,
        };
        let insecure_skip_verify = own
            .and_then(|tls| tls.insecure_skip_verify)
            .or_else(|| defaults.and_then(|tls| tls.insecure_skip_verify))
            .unwrap_or(false);
        Ok(TlsOptions {
            ca_file,
            insecure_skip_verify,
            client: self.client_identity(own, defaults, here)?,
        })
    }

    /// A `ca_file`: a PEM file (relative to the config's folder) holding at least one
    /// certificate, read now so that a typo fails the load; its path and its contents.
    pub(super) fn ca_file(&self, value: &Text, key: &str) -> Result<(PathBuf, Vec<u8>)> {
        let path = self.resolve(&value.value);
        let bytes = std::fs::read(&path).map_err(|err| {
            self.err(value, key, format!("cannot read {}: {err}", path.display()))
        })?;
        use rustls_pki_types::pem::PemObject as _;
        let certificates = rustls_pki_types::CertificateDer::pem_slice_iter(&bytes)
            .filter(|cert| cert.is_ok())
            .count();
        if certificates == 0 {
            return Err(self.err(
                value,
                key,
                format!("{} holds no PEM certificate", path.display()),
            ));
        }
        Ok((path, bytes))
    }

    pub(super) fn step(
        &self,
        raw: &Located<RawStep>,
        key: &str,
        timeout: Duration,
        in_env: &str,
    ) -> Result<Step> {
        match (&raw.value.expect, &raw.value.send) {
            (Some(expect), None) => {
                let e = &expect.value;
                let expect_key = format!("{key}.expect");
                let within = match &e.within {
                    Some(value) => {
                        let within_key = format!("{expect_key}.within");
                        let within = self.positive_duration(value, &within_key)?;
                        if within > timeout {
                            return Err(self.err(
                                value,
                                &within_key,
                                format!(
                                    "{} is longer than the probe's timeout {}{in_env}",
                                    humantime::format_duration(within),
                                    humantime::format_duration(timeout)
                                ),
                            ));
                        }
                        within
                    }
                    // The default must not outlast a short timeout: the timeout is the budget.
                    None => DEFAULT_WITHIN.min(timeout),
                };
                let matcher = self.matcher(&MatcherKeys::of_expect(e), &expect_key)?;
                Ok(Step::Expect { within, matcher })
            }
            (None, Some(send)) => Ok(Step::Send {
                text: send.value.clone(),
            }),
            (Some(_), Some(send)) => Err(self.err(
                send,
                key,
                "a step is either `expect` or `send`, not both: make them two steps",
            )),
            (None, None) => {
                Err(self.err(raw, key, "a step needs `expect: {...}` or `send: \"...\"`"))
            }
        }
    }

    pub(super) fn echo(&self, raw: &Located<RawEcho>, key: &str) -> Result<EchoCheck> {
        let pointer = self.required(&raw.value.pointer, &raw.referenced, key, "pointer")?;
        Ok(EchoCheck {
            pointer: self.pointer(pointer, &format!("{key}.pointer"))?,
            require: raw
                .value
                .require
                .iter()
                .flatten()
                .map(|header| header.trim().to_ascii_lowercase())
                .collect(),
        })
    }

    pub(super) fn version(&self, raw: &Located<RawVersion>, key: &str) -> Result<VersionSource> {
        match (&raw.value.header, &raw.value.pointer) {
            (Some(header), None) => {
                if reqwest::header::HeaderName::from_bytes(header.value.as_bytes()).is_err() {
                    return Err(self.err(
                        header,
                        &format!("{key}.header"),
                        "not a valid HTTP header name",
                    ));
                }
                Ok(VersionSource::Header(header.value.to_ascii_lowercase()))
            }
            (None, Some(pointer)) => Ok(VersionSource::Pointer(
                self.pointer(pointer, &format!("{key}.pointer"))?,
            )),
            (Some(_), Some(pointer)) => Err(self.err(
                pointer,
                &format!("{key}.pointer"),
                "version takes `header` or `pointer`, not both",
            )),
            (None, None) => Err(self.err(raw, key, "version needs `header` or `pointer`")),
        }
    }
}
