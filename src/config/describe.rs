//! The human summary `wsprobe validate` prints: what would run, never a secret.

use std::collections::HashMap;
use std::fmt::Write;
use std::time::Duration;

use url::Url;

use super::model::*;

/// What `config` would run, one block per environment, then alerting, server, storage and
/// telemetry. URLs lose their query string and user info (tokens hide there); secrets are never
/// shown, only which kind of auth or channel uses them.
pub fn describe(config: &Config) -> String {
    describe_with(config, &|_| Vec::new())
}

/// [`describe`], with lines of its own for each environment after its subprotocols: what a
/// protocol preset expands to (the probe knows that; config is a leaf).
pub fn describe_with(
    config: &Config,
    protocol: &dyn Fn(&Environment) -> Vec<(String, String)>,
) -> String {
    // Writing to a String cannot fail: the `let _ = write!` in this file drop an always-Ok result.
    let mut out = String::new();
    // Saying a schedule in words costs more than parsing it, and most environments share one.
    let mut words: HashMap<&str, String> = HashMap::new();
    for env in &config.environments {
        describe_environment(&mut out, config, env, &mut words, protocol(env));
    }
    describe_channels(&mut out, config);
    describe_grouping(&mut out, config);
    describe_maintenance(&mut out, config);
    describe_service(&mut out, config);
    out
}

fn describe_environment<'c>(
    out: &mut String,
    config: &Config,
    env: &'c Environment,
    words: &mut HashMap<&'c str, String>,
    protocol: Vec<(String, String)>,
) {
    let _ = writeln!(out, "environment {}", env.name);
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "  {label:<14}{value}");
    };
    line("url", redact_url(&env.url));
    line("schedule", schedule_line(env, words));
    line("timeout", human(env.timeout));
    line("auth", auth_line(env));
    if let Some(health) = &env.health {
        line("health", health_line(health));
    }
    let mut subprotocols = if env.subprotocols.is_empty() {
        "none".to_owned()
    } else {
        env.subprotocols.join(", ")
    };
    if let Some(expected) = &env.expect_subprotocol {
        let _ = write!(subprotocols, " (expecting {expected})");
    }
    line("subprotocols", subprotocols);
    for (label, value) in protocol {
        line(&label, value);
    }
    if let Some(origin) = &env.origin {
        line("origin", origin.clone());
    }
    if !env.cookies.is_empty() {
        let names: Vec<&str> = env.cookies.iter().map(|(name, _)| name.as_str()).collect();
        line("cookies", names.join(", "));
    }
    let steps = match (env.steps.len(), &env.protocol) {
        (0, None) => "none: ready when the upgrade succeeds".to_owned(),
        (0, Some(_)) => "none: ready when the protocol's handshake passes".to_owned(),
        (n, _) => n.to_string(),
    };
    line("steps", steps);
    if !env.keepalive.is_empty() {
        line("keepalive", keepalive_line(&env.keepalive));
    }
    if let Some(network) = network_line(env) {
        line("network", network);
    }
    line("alert", alert_line(config, env));
    if let Some(slo) = &env.slo {
        line("slo", slo_line(slo));
    }
}

/// `99.9% over 30 days, …`: the objective to 0.001 %, without trailing zeros.
fn slo_line(slo: &Slo) -> String {
    let percent = format!("{:.3}", slo.objective * 100.0);
    let percent = percent.trim_end_matches('0').trim_end_matches('.');
    format!(
        "{percent}% over {}, maintenance left out",
        human(slo.window)
    )
}

fn schedule_line<'c>(env: &'c Environment, words: &mut HashMap<&'c str, String>) -> String {
    let mut schedule = format!(
        "{} ({})",
        env.schedule.expression(),
        words
            .entry(env.schedule.expression())
            .or_insert_with(|| in_words(&env.schedule))
    );
    if !env.jitter.is_zero() {
        let _ = write!(schedule, ", jitter up to {}", human(env.jitter));
    }
    schedule
}

fn auth_line(env: &Environment) -> String {
    let kind = match &env.auth {
        Auth::Jwt { algorithm, .. } => format!("jwt ({algorithm:?})"),
        Auth::TokenEndpoint { url, method, .. } => {
            format!("token_endpoint ({method} {})", redact_url(url))
        }
        Auth::Session(session) => {
            let login = &session.login;
            let csrf = session
                .csrf
                .as_ref()
                .map(|csrf| {
                    format!(
                        ", CSRF cookie {} from {}",
                        csrf.cookie,
                        redact_url(&csrf.url)
                    )
                })
                .unwrap_or_default();
            let token = login
                .token_pointer
                .as_ref()
                .map(|pointer| format!(", token at {pointer}"))
                .unwrap_or_default();
            format!(
                "session ({} {}{csrf}{token}), sent as the session's cookies",
                login.method,
                redact_url(&login.url)
            )
        }
        other => other.kind().to_owned(),
    };
    // Where the token goes: a token sent nowhere is the mistake this line exists to show.
    let in_url = env.url.as_str().contains("{token") || env.url.as_str().contains("%7Btoken");
    let carriers: Vec<String> = in_url
        .then(|| "the URL".to_owned())
        .into_iter()
        .chain(
            env.headers
                .iter()
                .filter(|(_, value)| value.contains("{token"))
                .map(|(name, value)| format!("{name}: {value}")),
        )
        .chain(
            env.subprotocols
                .iter()
                .filter(|p| p.contains("{token"))
                .map(|p| format!("subprotocol {p}")),
        )
        .collect();
    match (&env.auth, carriers.is_empty()) {
        (Auth::None, _) | (_, true) => kind,
        _ => format!("{kind}, sent as {}", carriers.join(", ")),
    }
}

/// `answer a message equal to "2" with "3"; send {"type":"ping"} every 30s`
fn keepalive_line(keepalive: &[Keepalive]) -> String {
    keepalive
        .iter()
        .map(|entry| match entry {
            Keepalive::Answer {
                when,
                send: Some(send),
            } => format!("answer a message {} with {send:?}", when.describe()),
            Keepalive::Answer { when, send: None } => {
                format!("ignore a message {}", when.describe())
            }
            Keepalive::Every { every, send } => format!("send {send:?} every {}", human(*every)),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn health_line(health: &HealthCheck) -> String {
    format!(
        "{} expecting {}{}",
        redact_url(&health.url),
        health.expect_status,
        health
            .expect_body
            .as_ref()
            .map(|body| format!(" with a body {}", body.describe()))
            .unwrap_or_default()
    )
}

fn alert_line(config: &Config, env: &Environment) -> String {
    let channels: Vec<&str> = config
        .channels_for(env)
        .iter()
        .map(|channel| channel.name.as_str())
        .collect();
    let policy = config.alert_policy(env);
    if channels.is_empty() {
        return "no channels".to_owned();
    }
    let mut line = format!(
        "{} after {} failure{}",
        channels.join(", "),
        policy.failure_threshold,
        if policy.failure_threshold == 1 {
            ""
        } else {
            "s"
        }
    );
    if policy.confirm.attempts > 0 {
        line.push_str(&format!(
            ", each confirmed by {} re-probe{} {} apart",
            policy.confirm.attempts,
            if policy.confirm.attempts == 1 {
                ""
            } else {
                "s"
            },
            human(policy.confirm.every)
        ));
    }
    if !env.depends_on.is_empty() {
        line.push_str(&format!(
            ", held while {} is down",
            env.depends_on.join(" or ")
        ));
    }
    line
}

fn describe_channels(out: &mut String, config: &Config) {
    if config.alerts.channels.is_empty() {
        out.push_str("channels        none\n");
    } else {
        out.push_str("channels\n");
        for channel in &config.alerts.channels {
            let _ = writeln!(out, "  {:<14}{}", channel.name, channel.kind.kind());
        }
    }
}

fn describe_grouping(out: &mut String, config: &Config) {
    let Some(grouping) = &config.alerts.grouping else {
        return;
    };
    let split = if grouping.by.is_empty() {
        "one group".to_owned()
    } else {
        let by: Vec<&str> = grouping.by.iter().map(|label| label.as_str()).collect();
        format!("split by {}", by.join(", "))
    };
    let _ = writeln!(
        out,
        "grouping\n  failures starting within {} of each other: one notification per channel, {split}",
        human(grouping.wait)
    );
}

fn describe_maintenance(out: &mut String, config: &Config) {
    if config.alerts.maintenance.is_empty() {
        return;
    }
    out.push_str("maintenance\n");
    for window in &config.alerts.maintenance {
        let scope = if window.environments.is_empty() {
            "all environments".to_owned()
        } else {
            window
                .environments
                .iter()
                .map(EnvName::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let when = match &window.when {
            MaintenanceTime::Recurring { schedule, duration } => format!(
                "{} ({}) for {}",
                schedule.expression(),
                in_words(schedule),
                human(*duration)
            ),
            MaintenanceTime::Fixed { from, until } => format!(
                "{} to {}",
                from.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                until.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
        };
        let _ = writeln!(out, "  {scope}: {when}");
    }
}

/// The server, storage and telemetry lines.
fn describe_service(out: &mut String, config: &Config) {
    let mut server = format!("listen {}", config.server.listen);
    if let Some(public_url) = &config.server.public_url {
        let _ = write!(server, ", public {}", redact_url(public_url));
    }
    if config.server.admin_token.is_none() {
        server.push_str(", admin API closed (no admin_token)");
    }
    let _ = writeln!(out, "{:<16}{server}", "server");
    if let Some(public) = &config.server.public {
        let at = match &public.at {
            PublicAt::Listen(addr) => format!("on {addr}"),
            PublicAt::Path(path) => format!("at {path}/ on {}", config.server.listen),
        };
        let shown = if public.environments.is_empty() {
            "every environment".to_owned()
        } else {
            let names: Vec<&str> = public.environments.iter().map(|e| e.as_str()).collect();
            names.join(", ")
        };
        let _ = writeln!(out, "{:<16}{:?} {at}: {shown}", "public page", public.title);
    }
    let _ = writeln!(
        out,
        "{:<16}{} (raw results kept {})",
        "storage",
        config.storage.path.display(),
        human(config.storage.retention)
    );
    let otlp = match &config.telemetry.otlp {
        Some(otlp) => format!(
            "OTLP to {} ({}, every {})",
            redact_url(&otlp.endpoint),
            match otlp.protocol {
                OtlpProtocol::HttpProtobuf => "http/protobuf",
                OtlpProtocol::Grpc => "grpc",
            },
            human(otlp.interval)
        ),
        None => "OTLP off in probes.yaml (OTEL_EXPORTER_OTLP_* variables still apply)".to_owned(),
    };
    let prometheus = if config.telemetry.prometheus {
        "GET /metrics on"
    } else {
        "GET /metrics off"
    };
    let _ = writeln!(out, "{:<16}{otlp}; {prometheus}", "telemetry");
}

/// `url` without what may carry a credential: user info becomes `…@`, a query `?…`, and the
/// fragment goes.
pub fn redact_url(url: &Url) -> String {
    let mut shown = format!("{}://", url.scheme());
    if !url.username().is_empty() || url.password().is_some() {
        shown.push_str("…@");
    }
    if let Some(host) = url.host_str() {
        shown.push_str(host);
    }
    if let Some(port) = url.port() {
        let _ = write!(shown, ":{port}");
    }
    shown.push_str(url.path());
    if url.query().is_some() {
        shown.push_str("?…");
    }
    shown
}

/// croner's "At every 5 minutes." as "at every 5 minutes, UTC", to sit inside parentheses.
fn in_words(schedule: &Schedule) -> String {
    let words = schedule.describe();
    let words = words.trim().trim_end_matches('.');
    let mut chars = words.chars();
    let lowered: String = match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    };
    format!("{lowered}, UTC")
}

/// humantime's `30days` as people write it, `30 days`; short units stay glued (`15s`, `1h`).
fn human(duration: Duration) -> String {
    humantime::format_duration(duration)
        .to_string()
        .split(' ')
        .map(|part| {
            let unit_at = part
                .find(|c: char| c.is_ascii_alphabetic())
                .unwrap_or(part.len());
            let (number, unit) = part.split_at(unit_at);
            if unit.len() > 2 {
                format!("{number} {unit}")
            } else {
                part.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The proxy (address and where it was set, never its credentials), a family other than `any`,
/// the pins and the client certificate; `None` when all are defaults.
fn network_line(env: &Environment) -> Option<String> {
    let mut parts = Vec::new();
    match &env.network.proxy {
        super::ProxySetting::Direct => {}
        super::ProxySetting::Fixed(proxy) => parts.push(format!("proxy {}", proxy.authority())),
        super::ProxySetting::Variables(_) => {
            if let Some(proxy) = env.network.proxy_for(&env.url) {
                parts.push(format!(
                    "proxy {} (from {})",
                    proxy.authority(),
                    proxy.source
                ));
            }
        }
    }
    if env.network.ip_family != super::IpFamily::Any {
        parts.push(format!("ip_family {}", env.network.ip_family.as_str()));
    }
    for pin in &env.network.resolve {
        parts.push(format!(
            "{} pinned to {}",
            super::authority(&pin.host, pin.port),
            pin.address
        ));
    }
    if let Some(client) = &env.tls.client {
        parts.push(format!("client certificate {}", client.subject));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        for (seconds, words) in [
            (15, "15s"),
            (3600, "1h"),
            (30 * 86_400, "30 days"),
            (86_400, "1 day"),
            (86_400 + 3600, "1 day 1h"),
        ] {
            assert_eq!(human(Duration::from_secs(seconds)), words);
        }
    }

    #[test]
    fn urls_lose_what_may_carry_credentials() {
        let cases = [
            ("wss://api.example.com/ws", "wss://api.example.com/ws"),
            (
                "wss://api.example.com/ws?token=abc&x=1",
                "wss://api.example.com/ws?…",
            ),
            (
                "ws://user:pass@127.0.0.1:9000/a#frag",
                "ws://…@127.0.0.1:9000/a",
            ),
            ("https://h/", "https://h/"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_url(&Url::parse(input).unwrap()), expected);
        }
    }
}
