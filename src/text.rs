//! Small text helpers shared by the probe, the alerts, the pages and the CLI: how wsprobe cuts
//! a server's text short, formats a latency or a duration, and tells an error with its causes.
//! Pure; nothing here knows about probes.

/// `text` trimmed and cut to `max_chars` characters, with `…` when cut. For bodies and
/// messages quoted as evidence: a hostile server can send megabytes.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let trimmed = text.trim();
    if trimmed.chars().count() <= max_chars {
        return trimmed.to_owned();
    }
    trimmed.chars().take(max_chars).collect::<String>() + "…"
}

/// At most `max` characters of `text` in all, the last one `…` when cut: for receivers with a
/// hard field limit (Slack's header, PagerDuty's summary).
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// An error with its causes: reqwest's top-level message ("error sending request") hides the
/// cause on-call needs.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    with_causes(err.to_string(), err.source())
}

/// `text`, then each cause in turn that does not repeat what is already said.
pub fn with_causes(mut text: String, mut source: Option<&dyn std::error::Error>) -> String {
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A latency as people read it: one decimal under 10 ms, whole milliseconds under 10 s, then
/// seconds and minutes (`61 s`, not `61000 ms`); `?` when unknown.
pub fn ms(value: Option<f64>) -> String {
    match value {
        None => "?".into(),
        Some(v) if v < 10.0 => format!("{v:.1} ms"),
        Some(v) if v < 10_000.0 => format!("{v:.0} ms"),
        Some(v) if v < 120_000.0 => format!("{:.0} s", v / 1000.0),
        Some(v) => format!("{:.0} min", v / 60_000.0),
    }
}

/// `3725` → `1h 2m 5s`: how long an outage lasted, in words on-call reads at a glance.
pub fn duration_words(seconds: i64) -> String {
    let s = seconds.max(0);
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// How far `seconds` (positive: in the future) is from now, as on-call reads it at a glance:
/// `12 s ago`, `in 4 min`, `3 h ago`, `2 d ago`; `now` within a second.
pub fn relative(seconds: i64) -> String {
    let magnitude = seconds.unsigned_abs();
    if magnitude == 0 {
        return "now".into();
    }
    let amount = match magnitude {
        0..120 => format!("{magnitude} s"),
        120..7_200 => format!("{} min", magnitude / 60),
        7_200..172_800 => format!("{} h", magnitude / 3600),
        _ => format!("{} d", magnitude / 86_400),
    };
    if seconds > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A std duration as chrono's, saturating: config durations are bounded by validation, and an
/// absurd one should mean "never" rather than a panic in date arithmetic.
pub fn chrono_duration(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_trims_and_cuts_on_characters() {
        assert_eq!(excerpt("  héllo  ", 10), "héllo");
        assert_eq!(excerpt("ééééé", 2), "éé…");
    }

    #[test]
    fn truncate_keeps_within_the_limit() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
        assert_eq!(truncate("ééééé", 3), "éé…");
    }

    #[test]
    fn durations_and_latencies_read_as_words() {
        assert_eq!(duration_words(5), "5s");
        assert_eq!(duration_words(65), "1m 5s");
        assert_eq!(duration_words(3725), "1h 2m 5s");
        assert_eq!(ms(Some(4.23)), "4.2 ms");
        assert_eq!(ms(Some(63.4)), "63 ms");
        assert_eq!(ms(Some(2000.0)), "2000 ms");
        assert_eq!(ms(Some(61_000.0)), "61 s");
        assert_eq!(ms(Some(300_000.0)), "5 min");
        assert_eq!(ms(None), "?");
    }

    #[test]
    fn relative_times_read_in_the_largest_whole_unit() {
        let cases = [
            (0, "now"),
            (-12, "12 s ago"),
            (4 * 60 + 10, "in 4 min"),
            (-119, "119 s ago"),
            (-3 * 3600 - 5, "3 h ago"),
            (50 * 3600, "in 2 d"),
        ];
        for (seconds, words) in cases {
            assert_eq!(relative(seconds), words, "{seconds}");
        }
    }
}
