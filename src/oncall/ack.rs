//! Acknowledging an incident: someone holds it, so its reminders stop (the state machine's
//! [`crate::incident::acknowledge`]). Who, when and why are kept on the incident and shown on
//! the page, in the API and in the `acknowledged` notification.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{comment, who};

/// Who acknowledged an incident, when, and what they said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    #[serde(with = "crate::wire::time")]
    pub at: DateTime<Utc>,
    /// `None` when nothing was said.
    pub comment: Option<String>,
}

/// `POST /api/v1/incidents/{id}/ack`'s body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    pub by: Option<String>,
    pub comment: Option<String>,
}

impl AckRequest {
    /// The acknowledgement at `now`, or the first mistake in words.
    pub fn check(self, now: DateTime<Utc>) -> Result<Acknowledgement, String> {
        let by = who("by", self.by.as_deref())?;
        let comment = comment(self.comment.as_deref(), false)?;
        Ok(Acknowledgement {
            by,
            // As the store keeps it: to the millisecond.
            at: DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now),
            comment: (!comment.is_empty()).then_some(comment),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_needs_someone() {
        let now = DateTime::from_timestamp_millis(1_800_000_000_123).unwrap();
        let ack = AckRequest {
            by: Some("alice".into()),
            comment: Some(" looking into it ".into()),
        }
        .check(now)
        .unwrap();
        assert_eq!(ack.by, "alice");
        assert_eq!(ack.at, now);
        assert_eq!(ack.comment.as_deref(), Some("looking into it"));
        let quiet = AckRequest {
            by: Some("bob".into()),
            comment: None,
        };
        assert_eq!(quiet.check(now).unwrap().comment, None);
        let nobody = AckRequest::default().check(now).unwrap_err();
        assert!(nobody.contains("by is required"), "{nobody}");
    }
}
