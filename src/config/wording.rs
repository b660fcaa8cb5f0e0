//! Config errors in the words a person uses: what a value should look like, and which known
//! key a typo was probably meant to be.

/// The known key closest to `typed`, when it is close enough to be a typo of it: at most one
/// edit for short keys, two for longer ones, or the same key in another case or with `-` for
/// `_`.
pub fn did_you_mean<'a>(typed: &str, known: &[&'a str]) -> Option<&'a str> {
    let folded = fold(typed);
    if let Some(same) = known.iter().find(|key| fold(key) == folded) {
        return Some(same);
    }
    let allowed = if typed.chars().count() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|key| (strsim::damerau_levenshtein(typed, key), *key))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, key)| key)
}

fn fold(key: &str) -> String {
    key.to_ascii_lowercase().replace('-', "_")
}

/// Why `value` is not a duration, for `key: "banana"`: humantime's own "expected number at 0"
/// names a byte offset, which says nothing to someone reading their YAML.
pub fn not_a_duration(value: &str, err: &humantime::DurationError) -> String {
    let shape = "write a number and a unit, like 500ms, 15s, 2m, 1h or 30d";
    match err {
        humantime::DurationError::Empty => format!("is empty: {shape}"),
        humantime::DurationError::UnknownUnit { unit, .. } if unit.is_empty() => {
            format!("{value:?} has no unit: {shape}")
        }
        humantime::DurationError::UnknownUnit { unit, .. } => format!(
            "{value:?} has the unknown unit {unit:?}: units are ns, us, ms, s, m, h, d, w (or their long names)"
        ),
        humantime::DurationError::NumberOverflow => {
            format!("{value:?} is too long a duration to count")
        }
        _ => format!("{value:?} is not a duration: {shape}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_the_key_it_was_meant_to_be() {
        let known = [
            "name", "url", "schedule", "headers", "timeout", "retries", "steps", "auth",
        ];
        let rows: &[(&str, Option<&str>)] = &[
            ("schedul", Some("schedule")),
            ("header", Some("headers")),
            ("hedaers", Some("headers")),
            ("Headers", Some("headers")),
            ("time_out", Some("timeout")),
            ("stpes", Some("steps")),
            ("urls", Some("url")),
            ("color", None),
            ("authentication", None),
            ("x", None),
        ];
        for (typed, want) in rows {
            assert_eq!(did_you_mean(typed, &known), *want, "{typed}");
        }
    }

    #[test]
    fn durations_are_explained_not_located() {
        let rows: &[(&str, &str)] = &[
            (
                "banana",
                "\"banana\" is not a duration: write a number and a unit",
            ),
            ("15", "\"15\" has no unit"),
            ("15 parsecs", "unknown unit \"parsecs\""),
            ("", "is empty"),
        ];
        for (value, want) in rows {
            let err = humantime::parse_duration(value).unwrap_err();
            let message = not_a_duration(value, &err);
            assert!(message.contains(want), "{value:?}: {message}");
            assert!(!message.contains(" at 0"), "{message}");
        }
    }
}
