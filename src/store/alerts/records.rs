//! What alerting's tables hold, as the alert engine, the API and the status page use it: the
//! same types whichever database they were read from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::incident::MachineState;
use crate::oncall::{Acknowledgement, Silence};
use crate::probe::Verdict;
use crate::store::StoreError;

/// What is persisted per environment: the state machine's state and the open incident's id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertState {
    pub state: MachineState,
    /// Set exactly when `state.open` is.
    pub incident_id: Option<i64>,
    /// The open incident's diagnosis, as read (saving ignores it: it lives on the incident).
    pub diagnosis: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Open,
    Resolved,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Resolved => "resolved",
        }
    }
}

/// An incident with its timeline, as the API and the status page show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentRecord {
    pub id: i64,
    pub environment: String,
    pub state: IncidentState,
    /// The first failing result of the outage.
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "crate::wire::time")]
    pub opened_at: DateTime<Utc>,
    #[serde(with = "crate::wire::time_opt")]
    pub resolved_at: Option<DateTime<Utc>>,
    pub verdict: Verdict,
    pub diagnosis: String,
    /// Opened by flap detection: the environment keeps changing state.
    pub flapping: bool,
    /// Who acknowledged it, when, and what they said; `null` until someone does.
    pub acknowledged: Option<Acknowledgement>,
    /// Oldest first.
    pub notifications: Vec<NotificationRecord>,
    /// The written updates on it, oldest first.
    pub notes: Vec<NoteRecord>,
}

/// Where an incident stands, in the words status pages use (Atlassian Statuspage's incident
/// statuses): what a note says of it. Only the probes resolve an incident; a `resolved` note
/// says what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoteStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl NoteStatus {
    pub const ALL: [NoteStatus; 4] = [
        NoteStatus::Investigating,
        NoteStatus::Identified,
        NoteStatus::Monitoring,
        NoteStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoteStatus::Investigating => "investigating",
            NoteStatus::Identified => "identified",
            NoteStatus::Monitoring => "monitoring",
            NoteStatus::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<NoteStatus> {
        NoteStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// As a page heads it: `Identified`.
    pub fn title(self) -> &'static str {
        match self {
            NoteStatus::Investigating => "Investigating",
            NoteStatus::Identified => "Identified",
            NoteStatus::Monitoring => "Monitoring",
            NoteStatus::Resolved => "Resolved",
        }
    }
}

/// A note on its way into the store.
#[derive(Debug, Clone, Copy)]
pub struct NewNote<'a> {
    pub status: Option<NoteStatus>,
    pub message: &'a str,
    pub author: Option<&'a str>,
    pub at: DateTime<Utc>,
}

/// A written update on an incident: stored, shown on the pages and in the feed, and carried
/// by the `note` notification (so its shape is also the webhook's `note`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoteRecord {
    pub id: i64,
    pub incident_id: i64,
    #[serde(with = "crate::wire::time")]
    pub created_at: DateTime<Utc>,
    /// `None`: a plain update.
    pub status: Option<NoteStatus>,
    pub message: String,
    pub author: Option<String>,
}

impl NoteRecord {
    /// `Identified`, or `Update` for a note without a status.
    pub fn heading(&self) -> &'static str {
        self.status.map_or("Update", NoteStatus::title)
    }
}

/// What acknowledging an incident came to.
#[derive(Debug, Clone, PartialEq)]
pub enum AckOutcome {
    /// Acknowledged now: the incident as it is.
    Acknowledged(IncidentRecord),
    NoSuchIncident,
    /// Over already: nothing to acknowledge.
    Resolved(IncidentRecord),
    /// Someone was first: theirs stands.
    AlreadyAcknowledged(IncidentRecord),
}

/// What expiring a silence came to.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpireOutcome {
    /// Expired now: the silence as it is.
    Expired(Silence),
    NoSuchSilence,
    /// It had ended already (by itself, or expired before).
    AlreadyOver(Silence),
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter<'a> {
    pub state: Option<IncidentState>,
    pub environment: Option<&'a str>,
    pub limit: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
    /// Inside a maintenance window: recorded, never sent.
    Held,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
            DeliveryState::Held => "held",
        }
    }

    pub(crate) fn parse(text: &str) -> Result<DeliveryState, StoreError> {
        Ok(match text {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            "held" => DeliveryState::Held,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown outbox state {other:?}"
                )));
            }
        })
    }
}

pub struct NewNotification<'a> {
    pub incident_id: i64,
    pub channel: &'a str,
    pub kind: &'a str,
    pub event: &'a str,
    /// The channel-neutral notification, JSON.
    pub payload: &'a str,
    /// `Pending` or `Held` when queued as the step ran; any state when the engine sent it
    /// from memory before the store could take it.
    pub state: DeliveryState,
    pub at: DateTime<Utc>,
    pub attempts: u32,
    /// When a pending notification is next due (`at` for a new one).
    pub due_at: DateTime<Utc>,
    pub last_error: Option<&'a str>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// A queued notification the dispatcher is to attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingNotification {
    pub id: i64,
    pub incident_id: i64,
    pub channel: String,
    pub kind: String,
    pub event: String,
    pub payload: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    pub last_error: Option<String>,
}

/// One notification in an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationRecord {
    pub id: i64,
    pub channel: String,
    pub kind: String,
    pub event: String,
    pub outcome: DeliveryState,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(with = "crate::wire::time")]
    pub created_at: DateTime<Utc>,
    /// When it was delivered.
    #[serde(with = "crate::wire::time_opt")]
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was delivered or failed for good.
    #[serde(with = "crate::wire::time_opt")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Pending: when the next attempt is due.
    #[serde(with = "crate::wire::time_opt")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A notification that failed for good: what the status page warns about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedNotification {
    pub id: i64,
    pub incident_id: i64,
    pub environment: String,
    pub channel: String,
    pub kind: String,
    pub event: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    #[serde(with = "crate::wire::time")]
    pub failed_at: DateTime<Utc>,
}

/// A stored counter back into a `u32`: the columns only ever hold small non-negative counts.
pub(crate) fn count(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}
