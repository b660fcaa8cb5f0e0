//! `wsprobe silence add|list|expire`: a client of the running daemon's API, as `amtool` is
//! of Alertmanager's. Going through the daemon rather than the database keeps one path for
//! every silence (the same checks, applied at once by the daemon that holds them in memory,
//! on any instance of a fleet), and needs neither the database's credentials nor its file.
//! The daemon is `--url`, else the config's `server.listen`; the admin token is
//! `$WSPROBE_ADMIN_TOKEN`, else the config's `server.admin_token` (never a flag: a command
//! line is visible to every user of the machine).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::{CONFIG_HELP, Format, emit};
use crate::config;

/// How long a command waits for the daemon.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Where the admin token is read from first.
pub const TOKEN_VARIABLE: &str = "WSPROBE_ADMIN_TOKEN";

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Silence matching results: recorded and shown, never notified, until it ends. At least
    /// one matcher; each is exact or a pattern with `*`.
    Add {
        /// Environments to match (`chat`, `chat-*`).
        #[arg(long = "env", short = 'e', value_name = "PATTERN")]
        environment: Option<String>,
        /// Locations to match (`eu-west`, `eu-*`).
        #[arg(long, value_name = "PATTERN")]
        location: Option<String>,
        /// Verdicts to match (`connect_refused`, `connect_*`).
        #[arg(long, value_name = "PATTERN")]
        verdict: Option<String>,
        /// How long from its start (`2h`, `30m`, `1d`).
        #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "ends_at",
              required_unless_present = "ends_at")]
        duration: Option<Duration>,
        /// When it ends, RFC 3339 (`2026-12-01T23:00:00Z`).
        #[arg(long, value_name = "TIME")]
        ends_at: Option<String>,
        /// When it starts, RFC 3339 [default: now].
        #[arg(long, value_name = "TIME")]
        starts_at: Option<String>,
        /// Why: shown beside it on the status page.
        #[arg(long, short = 'm')]
        comment: String,
        /// Who is silencing [default: $USER].
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// List the silences not over yet (active or pending); `--all` adds expired ones.
    List {
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// End a silence now (it is kept, expired, for history).
    Expire {
        /// The silence's id, as `list` shows it.
        id: i64,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
}

/// Which daemon to ask.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// The daemon's base address, e.g. `http://127.0.0.1:8080` [default: the config's
    /// server.listen].
    #[arg(long)]
    url: Option<url::Url>,
    #[arg(long, short, value_name = "FILE", help = CONFIG_HELP)]
    config: Option<PathBuf>,
}

/// The daemon's address and the admin token, from the flags, the environment and the config
/// (read only when something is missing).
struct Target {
    base: url::Url,
    token: Option<String>,
}

impl DaemonArgs {
    fn target(&self, token_needed: bool) -> Result<Target, String> {
        let token = std::env::var(TOKEN_VARIABLE).ok().filter(|t| !t.is_empty());
        if let Some(base) = &self.url
            && (token.is_some() || !token_needed)
        {
            return Ok(Target {
                base: directory(base),
                token,
            });
        }
        let path = config::resolve_path(self.config.as_deref());
        let config = config::load(&path).map_err(|err| {
            format!("{err} (the config gives the daemon's address and admin token; or pass --url and set ${TOKEN_VARIABLE})")
        })?;
        let token = token.or_else(|| {
            config
                .server
                .admin_token
                .as_ref()
                .map(|t| t.expose().to_owned())
        });
        if token_needed && token.is_none() {
            return Err(format!(
                "no admin token: set ${TOKEN_VARIABLE} or server.admin_token in {}",
                path.display()
            ));
        }
        let base = match &self.url {
            Some(url) => directory(url),
            None => super::daemon_url(config.server.listen, "/"),
        };
        Ok(Target { base, token })
    }
}

/// `url` as a directory, so that the API's paths join under it: a daemon served under a
/// prefix (`https://ops.example.com/wsprobe`) keeps it.
fn directory(url: &url::Url) -> url::Url {
    let mut url = url.clone();
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    url
}

pub async fn execute(command: SilenceCommand) -> ExitCode {
    crate::probe::tls::ensure_crypto_provider();
    let outcome = match command {
        SilenceCommand::Add {
            environment,
            location,
            verdict,
            duration,
            ends_at,
            starts_at,
            comment,
            by,
            daemon,
        } => {
            let matchers =
                json!({ "environment": environment, "location": location, "verdict": verdict });
            let when = When {
                starts_at,
                ends_at,
                duration,
            };
            add(&daemon, matchers, when, comment, by).await
        }
        SilenceCommand::List {
            all,
            format,
            daemon,
        } => list(&daemon, all, format).await,
        SilenceCommand::Expire { id, daemon } => expire(&daemon, id).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Refused(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Why a command failed: 2 for what the user must fix here, 1 for what the daemon said or
/// that it could not be reached.
enum Failure {
    Usage(String),
    Refused(String),
}

struct When {
    starts_at: Option<String>,
    ends_at: Option<String>,
    duration: Option<Duration>,
}

impl When {
    /// `ends_at` as given, or the start (now by default) plus the duration.
    fn ends_at(&self, now: DateTime<Utc>) -> Result<String, Failure> {
        if let Some(ends_at) = &self.ends_at {
            return Ok(ends_at.clone());
        }
        let start = match &self.starts_at {
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|err| Failure::Usage(format!("--starts-at {text:?}: {err}")))?,
            None => now,
        };
        let duration = self.duration.unwrap_or_default();
        let end = chrono::Duration::from_std(duration)
            .ok()
            .and_then(|d| start.checked_add_signed(d))
            .filter(|end| *end > start)
            .ok_or_else(|| Failure::Usage("--duration must be longer than zero".into()))?;
        Ok(crate::wire::format(end))
    }
}

async fn add(
    daemon: &DaemonArgs,
    matchers: Value,
    when: When,
    comment: String,
    by: Option<String>,
) -> Result<(), Failure> {
    let by = by
        .or_else(|| std::env::var("USER").ok())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Failure::Usage("say who is silencing with --by".into()))?;
    let body = json!({
        "matchers": matchers,
        "starts_at": when.starts_at,
        "ends_at": when.ends_at(Utc::now())?,
        "comment": comment,
        "created_by": by,
    });
    let target = daemon.target(true).map_err(Failure::Usage)?;
    let silence = call(
        &target,
        reqwest::Method::POST,
        "api/v1/silences",
        Some(body),
    )
    .await?;
    emit(&format!(
        "silence {} added: {} until {} (by {})\n",
        silence["id"],
        describe(&silence["matchers"]),
        silence["ends_at"].as_str().unwrap_or("?"),
        silence["created_by"].as_str().unwrap_or("?"),
    ));
    Ok(())
}

async fn list(daemon: &DaemonArgs, all: bool, format: Format) -> Result<(), Failure> {
    let target = daemon.target(false).map_err(Failure::Usage)?;
    let path = if all {
        "api/v1/silences?all=true"
    } else {
        "api/v1/silences"
    };
    let body = call(&target, reqwest::Method::GET, path, None).await?;
    match format {
        Format::Json => emit(&format!("{body}\n")),
        Format::Text => emit(&table(
            body["silences"].as_array().map_or(&[], Vec::as_slice),
        )),
    }
    Ok(())
}

async fn expire(daemon: &DaemonArgs, id: i64) -> Result<(), Failure> {
    let target = daemon.target(true).map_err(Failure::Usage)?;
    let path = format!("api/v1/silences/{id}");
    let silence = call(&target, reqwest::Method::DELETE, &path, None).await?;
    emit(&format!(
        "silence {id} expired ({})\n",
        describe(&silence["matchers"])
    ));
    Ok(())
}

/// One request to the daemon; the JSON it answered with, or its error in words.
async fn call(
    target: &Target,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, Failure> {
    let url = target
        .base
        .join(path)
        .map_err(|err| Failure::Usage(format!("--url {}: {err}", target.base)))?;
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|err| Failure::Refused(format!("cannot build an HTTP client: {err}")))?;
    let mut request = client.request(method, url.clone());
    if let Some(token) = &target.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|err| Failure::Refused(format!("{url}: {}", crate::text::error_chain(&err))))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(json);
    }
    let reason = json["error"].as_str().map_or(text.as_str(), |e| e);
    Err(Failure::Refused(format!(
        "the daemon answered {status}: {reason}"
    )))
}

/// `environment=chat verdict=connect_*`, from a silence's matchers as JSON.
fn describe(matchers: &Value) -> String {
    ["environment", "location", "verdict"]
        .iter()
        .filter_map(|key| matchers[key].as_str().map(|v| format!("{key}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The silences as aligned columns, newest first as the daemon gave them.
fn table(silences: &[Value]) -> String {
    if silences.is_empty() {
        return "no silences\n".to_owned();
    }
    let rows: Vec<[String; 6]> = silences
        .iter()
        .map(|s| {
            let text = |key: &str| s[key].as_str().unwrap_or_default().to_owned();
            let ended = s["expired_at"]
                .as_str()
                .map_or_else(|| text("ends_at"), str::to_owned);
            [
                s["id"].to_string(),
                text("state"),
                describe(&s["matchers"]),
                ended,
                text("created_by"),
                text("comment").replace('\n', " "),
            ]
        })
        .collect();
    let header = ["ID", "STATE", "MATCHERS", "UNTIL", "BY", "COMMENT"].map(str::to_owned);
    let mut widths = [0; 6];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_ends_that_long_after_the_start() {
        let now = "2026-12-01T22:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let when = |starts_at: Option<&str>, duration: u64| When {
            starts_at: starts_at.map(str::to_owned),
            ends_at: None,
            duration: Some(Duration::from_secs(duration)),
        };
        assert_eq!(
            when(None, 7200).ends_at(now).ok().unwrap(),
            "2026-12-02T00:00:00.000Z"
        );
        assert_eq!(
            when(Some("2026-12-01T23:00:00Z"), 1800)
                .ends_at(now)
                .ok()
                .unwrap(),
            "2026-12-01T23:30:00.000Z"
        );
        assert!(when(None, 0).ends_at(now).is_err());
    }

    #[test]
    fn a_prefix_in_the_url_is_kept() {
        let join = |base: &str| {
            directory(&url::Url::parse(base).unwrap())
                .join("api/v1/silences")
                .unwrap()
                .to_string()
        };
        assert_eq!(
            join("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/api/v1/silences"
        );
        assert_eq!(
            join("https://ops.example.com/wsprobe"),
            "https://ops.example.com/wsprobe/api/v1/silences"
        );
        assert_eq!(
            join("https://ops.example.com/wsprobe/"),
            "https://ops.example.com/wsprobe/api/v1/silences"
        );
    }

    #[test]
    fn the_list_is_aligned_columns() {
        let silences = [
            json!({ "id": 12, "state": "active", "matchers": { "environment": "chat", "location": null, "verdict": null },
                    "ends_at": "2026-12-02T00:00:00.000Z", "expired_at": null, "created_by": "alice", "comment": "deploy" }),
            json!({ "id": 3, "state": "expired", "matchers": { "environment": null, "location": "eu-*", "verdict": "connect_*" },
                    "ends_at": "2026-12-02T00:00:00.000Z", "expired_at": "2026-12-01T22:10:00.000Z", "created_by": "bob", "comment": "edge\nwork" }),
        ];
        assert_eq!(
            table(&silences),
            "ID  STATE    MATCHERS                         UNTIL                     BY     COMMENT\n\
             12  active   environment=chat                 2026-12-02T00:00:00.000Z  alice  deploy\n\
             3   expired  location=eu-* verdict=connect_*  2026-12-01T22:10:00.000Z  bob    edge work\n"
        );
        assert_eq!(table(&[]), "no silences\n");
    }
}
