//! What the public page and `status.json` show, as types that have no field for anything a
//! probed server said or anything that would lead to it: no URL, header, message, close
//! reason, verdict, diagnosis, evidence, location or trace. The page is rendered from these
//! alone, so nothing else can leak into it: the guarantee is the shape, not a filter.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::PublicPage;
use crate::probe::Status;
use crate::store::{IncidentRecord, IncidentState, NoteRecord, NoteStatus};
use crate::web::pages::urgency;
use crate::web::view::{StatusBody, Uptime, status_name};

/// Resolved incidents stay on the page this long, as status pages keep their "past incidents".
pub const PAST_DAYS: i64 = 14;
/// And at most this many of them.
pub const PAST_SHOWN: usize = 20;

#[derive(Debug, Serialize)]
pub struct PublicStatus {
    pub title: String,
    #[serde(with = "crate::wire::time")]
    pub generated_at: DateTime<Utc>,
    /// The worst of the environments': `down`, `degraded`, `unknown` or `up`.
    pub status: &'static str,
    pub environments: Vec<PublicEnvironment>,
    /// Open ones first, then those resolved in the last [`PAST_DAYS`] days, newest first.
    pub incidents: Vec<PublicIncident>,
    /// False when the incident history could not be read (the list is then empty, not
    /// "no incidents").
    pub incidents_known: bool,
}

#[derive(Debug, Serialize)]
pub struct PublicEnvironment {
    pub name: String,
    /// `up`, `degraded`, `down` or `unknown` (not probed yet).
    pub status: &'static str,
    /// Percent, to 0.01 %.
    pub uptime_percent: Uptime,
    /// Inside a maintenance window until then.
    #[serde(with = "crate::wire::time_opt")]
    pub maintenance_until: Option<DateTime<Utc>>,
    pub open_incident: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct PublicIncident {
    pub id: i64,
    pub environment: String,
    pub state: IncidentState,
    #[serde(with = "crate::wire::time")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "crate::wire::time_opt")]
    pub resolved_at: Option<DateTime<Utc>>,
    pub duration_s: Option<i64>,
    /// Newest first, as status pages list updates.
    pub notes: Vec<PublicNote>,
}

/// A note as outside readers see it: what was written and when, not who wrote it.
#[derive(Debug, Serialize)]
pub struct PublicNote {
    pub status: Option<NoteStatus>,
    pub message: String,
    #[serde(with = "crate::wire::time")]
    pub created_at: DateTime<Utc>,
}

impl PublicNote {
    fn of(note: &NoteRecord) -> PublicNote {
        PublicNote {
            status: note.status,
            message: note.message.clone(),
            created_at: note.created_at,
        }
    }

    /// `Identified`, or `Update`.
    pub fn heading(&self) -> &'static str {
        self.status.map_or("Update", NoteStatus::title)
    }
}

/// The public view of `status` and `incidents` (the store's newest, any environment; `None`
/// when they could not be read), limited to what `page` shows. Pure.
pub fn build(
    page: &PublicPage,
    status: &StatusBody,
    incidents: Option<&[IncidentRecord]>,
) -> PublicStatus {
    let overall = worst(
        status
            .environments
            .iter()
            .filter(|env| page.shows(&env.name))
            .map(|env| env.status),
    );
    let environments: Vec<PublicEnvironment> = status
        .environments
        .iter()
        .filter(|env| page.shows(&env.name))
        .map(|env| PublicEnvironment {
            name: env.name.clone(),
            status: status_name(env.status),
            uptime_percent: env.uptime.percent(),
            maintenance_until: env.maintenance.as_ref().map(|w| w.until),
            // The store's open incident when it could be read, so the page and its list agree.
            open_incident: incidents
                .unwrap_or_default()
                .iter()
                .find(|i| i.environment == env.name && i.state == IncidentState::Open)
                .map(|i| i.id)
                .or(env.open_incident),
        })
        .collect();
    let shown = |name: &str| environments.iter().any(|env| env.name == name);
    let since = status.generated_at - chrono::Duration::days(PAST_DAYS);
    let mut open = Vec::new();
    let mut past = Vec::new();
    for incident in incidents.unwrap_or_default() {
        if !shown(&incident.environment) {
            continue;
        }
        match (incident.state, incident.resolved_at) {
            (IncidentState::Open, _) => open.push(public_incident(incident)),
            (IncidentState::Resolved, Some(at)) if at >= since && past.len() < PAST_SHOWN => {
                past.push(public_incident(incident))
            }
            _ => {}
        }
    }
    open.append(&mut past);
    PublicStatus {
        title: page.title.clone(),
        generated_at: status.generated_at,
        status: overall,
        environments,
        incidents: open,
        incidents_known: incidents.is_some(),
    }
}

fn public_incident(incident: &IncidentRecord) -> PublicIncident {
    PublicIncident {
        id: incident.id,
        environment: incident.environment.clone(),
        state: incident.state,
        started_at: incident.started_at,
        resolved_at: incident.resolved_at,
        duration_s: incident
            .resolved_at
            .map(|at| (at - incident.started_at).num_seconds()),
        notes: incident.notes.iter().rev().map(PublicNote::of).collect(),
    }
}

/// The worst of `statuses` by the overview's urgency (down, degraded, not yet probed, up);
/// `up` when there are none.
fn worst(statuses: impl Iterator<Item = Option<Status>>) -> &'static str {
    statuses
        .min_by_key(|status| urgency(*status))
        .map_or("up", status_name)
}
