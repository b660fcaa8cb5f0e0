//! Silences: a time-boxed hold on notifications, scoped by matchers on the environment, the
//! location and the verdict of a result, made and expired at run time through the API (a
//! maintenance window is the same hold, written in the config). A silenced result is recorded
//! and shown, and marked with the silence; the notices it produces are recorded as held and
//! never sent (the incident state machine's held path). Pure: matching, reading a request,
//! and which silence covers a result at a moment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{comment, who};
use crate::config::Config;
use crate::probe::Verdict;

/// Longest matcher value accepted: a silence is a note, not a document.
const MATCHER_MAX: usize = 200;

/// What a silence matches. Every matcher given must match; a missing one matches anything.
/// A value is exact, except that `*` stands for any run of characters (`connect_*`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matchers {
    pub environment: Option<String>,
    pub location: Option<String>,
    pub verdict: Option<String>,
}

impl Matchers {
    /// Whether a result of `environment`, probed from `location` (`None`: a node without
    /// one, which only a missing or all-`*` location matcher matches), with `verdict`, is
    /// matched.
    pub fn matches(&self, environment: &str, location: Option<&str>, verdict: Verdict) -> bool {
        let one = |matcher: &Option<String>, value: Option<&str>| match matcher {
            None => true,
            Some(pattern) => glob(pattern, value.unwrap_or_default()),
        };
        one(&self.environment, Some(environment))
            && one(&self.location, location)
            && one(&self.verdict, Some(verdict.as_str()))
    }

    /// Whether some result of `environment` can match: its environment matcher does.
    pub fn may_match_environment(&self, environment: &str) -> bool {
        self.environment
            .as_deref()
            .is_none_or(|pattern| glob(pattern, environment))
    }

    /// `environment=chat location=eu-* verdict=connect_refused`, the matchers given.
    pub fn describe(&self) -> String {
        [
            ("environment", &self.environment),
            ("location", &self.location),
            ("verdict", &self.verdict),
        ]
        .iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| format!("{name}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// `*` for any run of characters (none too), everything else literally: the one wildcard
/// people reach for, with nothing to escape in environment names, locations or verdicts.
pub fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it has been stretched to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// A stored silence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Silence {
    pub id: i64,
    pub matchers: Matchers,
    #[serde(with = "crate::wire::time")]
    pub starts_at: DateTime<Utc>,
    /// When it ends by itself; `expired_at` when it was ended early.
    #[serde(with = "crate::wire::time")]
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    #[serde(with = "crate::wire::time")]
    pub created_at: DateTime<Utc>,
    /// Ended early (`DELETE /api/v1/silences/{id}`, `wsprobe silence expire`); kept for
    /// history.
    #[serde(with = "crate::wire::time_opt")]
    pub expired_at: Option<DateTime<Utc>>,
}

/// Where a silence stands at a moment: `pending` before it starts, `active`, `expired` after
/// it ended by itself or was expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl Silence {
    /// When it stops holding: its end, or when it was expired if that came first.
    pub fn ended_at(&self) -> DateTime<Utc> {
        self.expired_at
            .map_or(self.ends_at, |e| e.min(self.ends_at))
    }

    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if now >= self.ended_at() {
            SilenceState::Expired
        } else if now < self.starts_at {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.state(now) == SilenceState::Active
    }
}

/// The active silence that covers a result of `environment` from `location` with `verdict`
/// at `now`; when several do, the one that ends last: what on-call needs to know is when
/// notifications start again.
pub fn covering<'a>(
    silences: &'a [Silence],
    environment: &str,
    location: Option<&str>,
    verdict: Verdict,
    now: DateTime<Utc>,
) -> Option<&'a Silence> {
    silences
        .iter()
        .filter(|s| s.is_active(now) && s.matchers.matches(environment, location, verdict))
        .max_by_key(|s| (s.ended_at(), s.id))
}

/// The active silence that covers `environment`'s SLO burn alerts at `now`: one whose
/// environment matcher matches and that restricts no location or verdict (a burn is of the
/// environment across its locations and has no verdict), `*` being no restriction.
pub fn covering_burn<'a>(
    silences: &'a [Silence],
    environment: &str,
    now: DateTime<Utc>,
) -> Option<&'a Silence> {
    let unrestricted = |m: &Option<String>| m.as_deref().is_none_or(|p| glob(p, ""));
    silences
        .iter()
        .filter(|s| {
            s.is_active(now)
                && s.matchers.may_match_environment(environment)
                && unrestricted(&s.matchers.location)
                && unrestricted(&s.matchers.verdict)
        })
        .max_by_key(|s| (s.ended_at(), s.id))
}

/// A silence as `POST /api/v1/silences` takes it. Unknown keys are refused, so that a typo
/// (`end_at`) is an error rather than a silence without an end.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    pub matchers: Option<Matchers>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
}

/// A silence request that passed every check, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSilence {
    pub matchers: Matchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

impl SilenceRequest {
    /// Check the request against `config` (an exact environment matcher must name one of its
    /// environments, an exact verdict one of the SPEC's) at `now`; the first mistake, in
    /// words, otherwise.
    pub fn check(self, config: &Config, now: DateTime<Utc>) -> Result<NewSilence, String> {
        let matchers = check_matchers(self.matchers.unwrap_or_default(), config)?;
        let ends_at = match self.ends_at.as_deref() {
            None | Some("") => {
                return Err(
                    "ends_at is required (RFC 3339, e.g. 2026-12-01T23:00:00Z): a silence \
                     without an end would hide failures for good"
                        .into(),
                );
            }
            Some(text) => time("ends_at", text)?,
        };
        let starts_at = match self.starts_at.as_deref() {
            None | Some("") => now,
            Some(text) => time("starts_at", text)?,
        };
        if ends_at <= now {
            return Err(format!(
                "ends_at {} is not in the future (now is {})",
                crate::wire::format(ends_at),
                crate::wire::format(now)
            ));
        }
        if ends_at <= starts_at {
            return Err(format!(
                "ends_at {} is not after starts_at {}",
                crate::wire::format(ends_at),
                crate::wire::format(starts_at)
            ));
        }
        Ok(NewSilence {
            matchers,
            starts_at,
            ends_at,
            created_by: who("created_by", self.created_by.as_deref())?,
            comment: comment(self.comment.as_deref(), true)?,
        })
    }
}

fn check_matchers(matchers: Matchers, config: &Config) -> Result<Matchers, String> {
    let given = [
        ("environment", &matchers.environment),
        ("location", &matchers.location),
        ("verdict", &matchers.verdict),
    ];
    if given.iter().all(|(_, value)| value.is_none()) {
        return Err(
            "matchers needs at least one of environment, location, verdict (`*` matches \
             anything: {\"environment\": \"*\"} silences everything)"
                .into(),
        );
    }
    for (name, value) in given {
        let Some(value) = value else { continue };
        if value.is_empty() || value.chars().count() > MATCHER_MAX {
            return Err(format!(
                "matchers.{name} must be 1 to {MATCHER_MAX} characters"
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(format!("matchers.{name} holds a control character"));
        }
    }
    if let Some(env) = matchers.environment.as_deref().filter(|e| !e.contains('*'))
        && config.environment(env).is_none()
    {
        return Err(format!(
            "matchers.environment: no environment named {env:?} (it would silence nothing)"
        ));
    }
    if let Some(verdict) = matchers.verdict.as_deref().filter(|v| !v.contains('*'))
        && Verdict::parse(verdict).is_none()
    {
        return Err(format!(
            "matchers.verdict: {verdict:?} is not a verdict (e.g. closed_before_ready, \
             connect_refused, or a pattern like connect_*)"
        ));
    }
    Ok(matchers)
}

fn time(key: &str, text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|err| {
            format!("{key}: {text:?} is not an RFC 3339 time like 2026-12-01T23:00:00Z ({err})")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::minutes(minute)
    }

    fn config() -> Config {
        let yaml = "environments:\n  - { name: chat, url: \"ws://127.0.0.1:9/ws\" }\n  - { name: chat-eu, url: \"ws://127.0.0.1:9/ws\" }\n";
        crate::config::load_str(std::path::Path::new("t.yaml"), yaml, &|_| None).unwrap()
    }

    #[test]
    fn glob_stars_stand_for_any_run() {
        #[rustfmt::skip]
        let cases = [
            ("chat", "chat", true), ("chat", "chat-eu", false), ("chat*", "chat-eu", true),
            ("*", "", true), ("*", "anything", true), ("*-eu", "chat-eu", true),
            ("c*t", "chat", true), ("c*t", "chart", true), ("c*t", "char", false),
            ("connect_*", "connect_refused", true), ("connect_*", "dns_failed", false),
            ("*a*a*", "banana", true), ("a**", "a", true), ("", "", true), ("", "x", false),
            ("eu-?", "eu-1", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn every_matcher_given_must_match() {
        let m = |env: Option<&str>, loc: Option<&str>, verdict: Option<&str>| Matchers {
            environment: env.map(str::to_owned),
            location: loc.map(str::to_owned),
            verdict: verdict.map(str::to_owned),
        };
        let refused = Verdict::ConnectRefused;
        #[rustfmt::skip]
        let cases = [
            ("environment only", m(Some("chat"), None, None), "chat", Some("eu"), refused, true),
            ("another environment", m(Some("chat"), None, None), "api", Some("eu"), refused, false),
            ("location too", m(Some("chat"), Some("eu"), None), "chat", Some("us"), refused, false),
            ("a node without a location", m(None, Some("eu"), None), "chat", None, refused, false),
            ("`*` matches no location", m(None, Some("*"), None), "chat", None, refused, true),
            ("verdict pattern", m(None, None, Some("connect_*")), "chat", None, refused, true),
            ("verdict mismatch", m(None, None, Some("dns_failed")), "chat", None, refused, false),
            ("all three", m(Some("c*"), Some("eu-*"), Some("connect_refused")), "chat", Some("eu-west"), refused, true),
        ];
        for (name, matchers, env, location, verdict, expected) in cases {
            assert_eq!(matchers.matches(env, location, verdict), expected, "{name}");
        }
        assert_eq!(
            m(Some("chat"), None, Some("connect_*")).describe(),
            "environment=chat verdict=connect_*"
        );
    }

    fn silence(id: i64, env: &str, from: i64, to: i64, expired: Option<i64>) -> Silence {
        Silence {
            id,
            matchers: Matchers {
                environment: Some(env.into()),
                ..Matchers::default()
            },
            starts_at: at(from),
            ends_at: at(to),
            created_by: "alice".into(),
            comment: "deploy".into(),
            created_at: at(from),
            expired_at: expired.map(at),
        }
    }

    #[test]
    fn a_silence_holds_from_its_start_until_it_ends_or_is_expired() {
        let s = silence(1, "chat", 10, 20, None);
        let states: Vec<SilenceState> = [0, 10, 19, 20, 30].map(|m| s.state(at(m))).into();
        use SilenceState::*;
        assert_eq!(states, [Pending, Active, Active, Expired, Expired]);
        let expired = silence(1, "chat", 10, 20, Some(15));
        assert_eq!(expired.state(at(14)), Active);
        assert_eq!(expired.state(at(15)), Expired);
        assert_eq!(expired.ended_at(), at(15));
    }

    #[test]
    fn the_covering_silence_is_the_one_that_ends_last() {
        let silences = [
            silence(1, "chat", 0, 30, None),
            silence(2, "chat*", 0, 60, None),
            silence(3, "chat", 0, 90, Some(5)),
            silence(4, "api", 0, 120, None),
        ];
        let id = |env: &str, minute: i64| {
            covering(&silences, env, None, Verdict::ClosedBeforeReady, at(minute)).map(|s| s.id)
        };
        assert_eq!(id("chat", 10), Some(2));
        assert_eq!(id("chat", 45), Some(2), "1 ended, 3 was expired");
        assert_eq!(id("chat", 61), None);
        assert_eq!(id("chat-eu", 10), Some(2));
        assert_eq!(id("api", 10), Some(4));
        assert_eq!(id("web", 10), None);
    }

    #[test]
    fn an_slo_burn_is_held_by_a_silence_of_its_environment_that_restricts_nothing_else() {
        let scoped = |id: i64, location: Option<&str>, verdict: Option<&str>| {
            let mut s = silence(id, "chat*", 0, 60, None);
            s.matchers.location = location.map(str::to_owned);
            s.matchers.verdict = verdict.map(str::to_owned);
            s
        };
        // (silences, environment, minute, covering id)
        let cases: [(&[Silence], &str, i64, Option<i64>); 7] = [
            (&[scoped(1, None, None)], "chat", 10, Some(1)),
            (&[scoped(1, None, None)], "api", 10, None),
            (&[scoped(1, None, None)], "chat", 61, None),
            (&[scoped(1, Some("*"), Some("*"))], "chat-eu", 10, Some(1)),
            // A burn is of every location and has no verdict.
            (&[scoped(1, Some("eu-*"), None)], "chat", 10, None),
            (&[scoped(1, None, Some("connect_*"))], "chat", 10, None),
            (
                &[scoped(1, None, None), scoped(2, Some("eu"), None)],
                "chat",
                10,
                Some(1),
            ),
        ];
        for (silences, env, minute, expected) in cases {
            let got = covering_burn(silences, env, at(minute)).map(|s| s.id);
            assert_eq!(got, expected, "{env} at {minute}: {silences:?}");
        }
    }

    fn request(json: serde_json::Value) -> Result<NewSilence, String> {
        let request: SilenceRequest = serde_json::from_value(json).map_err(|e| e.to_string())?;
        request.check(&config(), at(0))
    }

    #[test]
    fn a_request_is_checked_with_a_clear_error_each() {
        use serde_json::json;
        let ok = json!({ "matchers": { "environment": "chat" }, "ends_at": "2027-01-15T08:02:00Z",
                         "comment": "deploy", "created_by": "alice" });
        let with = |key: &str, value: serde_json::Value| {
            let mut v = ok.clone();
            v[key] = value;
            v
        };
        let without = |key: &str| {
            let mut v = ok.clone();
            v.as_object_mut().unwrap().remove(key);
            v
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            ("no end", without("ends_at"), "ends_at is required"),
            ("an end in the past", with("ends_at", json!("2027-01-15T07:00:00Z")), "is not in the future"),
            ("an end that is no time", with("ends_at", json!("tomorrow")), "\"tomorrow\" is not an RFC 3339 time"),
            ("an end before the start", with("starts_at", json!("2027-01-15T09:00:00Z")), "is not after starts_at"),
            ("no matchers", without("matchers"), "at least one of environment, location, verdict"),
            ("empty matchers", with("matchers", json!({})), "at least one of"),
            ("an unknown matcher", with("matchers", json!({ "env": "chat" })), "unknown field `env`"),
            ("an unknown environment", with("matchers", json!({ "environment": "chta" })), "no environment named \"chta\""),
            ("an unknown verdict", with("matchers", json!({ "verdict": "down" })), "\"down\" is not a verdict"),
            ("an empty matcher", with("matchers", json!({ "location": "" })), "matchers.location must be 1 to 200"),
            ("no comment", without("comment"), "comment is required"),
            ("nobody", without("created_by"), "created_by is required"),
            ("markup as a name", with("created_by", json!("<!channel>")), "created_by must be a name"),
            ("a typo'd key", with("end_at", json!("2027-01-15T09:00:00Z")), "unknown field `end_at`"),
        ];
        for (name, body, expected) in cases {
            let err = request(body).expect_err(name);
            assert!(err.contains(expected), "{name}: {err}");
        }
        let made = request(ok).unwrap();
        assert_eq!(made.starts_at, at(0), "starts now by default");
        assert_eq!(
            made.ends_at,
            "2027-01-15T08:02:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(made.created_by, "alice");
        let patterns = request(
            json!({ "matchers": { "environment": "chat*", "verdict": "connect_*", "location": "eu-*" },
            "ends_at": "2027-01-15T08:02:00Z", "comment": "c", "created_by": "Zoë O'Brien" }),
        );
        assert!(patterns.is_ok(), "{patterns:?}");
    }
}
