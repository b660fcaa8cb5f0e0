//! What on-call does to alerting at run time, through the API and `wsprobe silence`:
//! acknowledge an incident ([`ack`]) and silence notifications ([`silence`]). The requests,
//! their checks and the matching, pure; the store keeps them, the alert engine applies them.

pub mod ack;
pub mod silence;

pub use ack::{AckRequest, Acknowledgement};
pub use silence::{Matchers, NewSilence, Silence, SilenceRequest, SilenceState};

/// Longest name and comment accepted.
const WHO_MAX: usize = 100;
pub const COMMENT_MAX: usize = 1000;

/// Who did it, as the page and the notifications show it: a name or an address, nothing a
/// chat service could read as markup or a mention.
pub fn who(key: &str, text: Option<&str>) -> Result<String, String> {
    let text = text.map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(format!("{key} is required: who is doing this"));
    }
    let allowed = |c: char| c.is_alphanumeric() || " ._-@+'".contains(c);
    // `@` inside an address only: at the start of a word chat services read a mention.
    let mention = text.split(' ').any(|word| word.starts_with('@'));
    if text.chars().count() > WHO_MAX || !text.chars().all(allowed) || mention {
        return Err(format!(
            "{key} must be a name or an address of at most {WHO_MAX} characters: letters, \
             digits, spaces and . _ - @ + ' only (no @mention)"
        ));
    }
    Ok(text.to_owned())
}

/// A free-text comment: required for a silence (why is it there), optional elsewhere.
pub fn comment(text: Option<&str>, required: bool) -> Result<String, String> {
    let text = text.map(str::trim).unwrap_or_default();
    if required && text.is_empty() {
        return Err("comment is required: say why notifications are silenced".into());
    }
    if text.chars().count() > COMMENT_MAX {
        return Err(format!("comment is longer than {COMMENT_MAX} characters"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err("comment holds a control character".into());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_comments_are_checked() {
        assert_eq!(who("by", Some("  alice ")).unwrap(), "alice");
        assert_eq!(
            who("by", Some("Zoë O'Brien-Smith")).unwrap(),
            "Zoë O'Brien-Smith"
        );
        assert_eq!(
            who("by", Some("oncall+eu@example.com")).unwrap(),
            "oncall+eu@example.com"
        );
        for refused in [
            "",
            "   ",
            "<!channel>",
            "a|b",
            "@here",
            "bob @channel",
            &"x".repeat(101),
        ] {
            assert!(who("by", Some(refused)).is_err(), "{refused:?}");
        }
        assert!(who("by", None).unwrap_err().contains("by is required"));
        assert_eq!(comment(None, false).unwrap(), "");
        assert!(comment(None, true).is_err());
        assert_eq!(
            comment(Some("line one\nline two"), true).unwrap(),
            "line one\nline two"
        );
        assert!(comment(Some("bell\u{7}"), false).is_err());
        assert!(comment(Some(&"x".repeat(COMMENT_MAX + 1)), false).is_err());
    }
}
