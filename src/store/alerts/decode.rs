//! Rows of alerting's tables into their types, for either database: both select the same
//! columns in the same order, and only the row type differs. Each decoder's column list is
//! the one its queries select (`shared.rs`, or `sqlite.rs` and `postgres.rs` beside it).

use sqlx::{ColumnIndex, Decode, Row, Type};

use super::records::{
    AlertState, DeliveryState, FailedNotification, IncidentRecord, IncidentState, NoteRecord,
    NoteStatus, NotificationRecord, PendingNotification, count,
};
use crate::incident::{MachineState, Open, Recent};
use crate::oncall::{Acknowledgement, Matchers, Silence};
use crate::store::StoreError;
use crate::store::codec::{self, from_ms};

/// `failures, successes, failing_since_ms, incident_id, last_notice_at_ms, announced,
/// started_at_ms, opened_at_ms, verdict, diagnosis, environment, recent_bits, recent_len,
/// flapping, acked_at_ms` (the state joined to its incident): the environment's name and its
/// state.
pub(super) fn alert_state<R>(row: &R) -> Result<(String, AlertState), StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let incident_id: Option<i64> = row.try_get(3)?;
    let opened_at: Option<i64> = row.try_get(7)?;
    let diagnosis: Option<String> = row.try_get(9)?;
    let (open, incident_id) = match (incident_id, opened_at) {
        (Some(id), Some(opened_at)) => {
            let open = Open {
                since: from_ms(row.try_get(6)?),
                opened_at: from_ms(opened_at),
                verdict: codec::verdict_from_code(row.try_get(8)?)?,
                last_notice_at: from_ms(row.try_get::<Option<i64>, _>(4)?.unwrap_or(opened_at)),
                announced: row.try_get(5)?,
                flapping: row.try_get(13)?,
                acknowledged: row.try_get::<Option<i64>, _>(14)?.is_some(),
            };
            (Some(open), Some(id))
        }
        _ => (None, None),
    };
    let state = AlertState {
        state: MachineState {
            failures: count(row.try_get(0)?),
            successes: count(row.try_get(1)?),
            failing_since: row.try_get::<Option<i64>, _>(2)?.map(from_ms),
            open,
            recent: Recent {
                // Bits beyond the window are history: keep the low 32 whatever was stored.
                bits: row.try_get::<i64, _>(11)? as u32,
                len: count(row.try_get(12)?).min(crate::incident::MAX_FLAP_WINDOW),
            },
        },
        incident_id,
        diagnosis: incident_id.and(diagnosis),
    };
    Ok((row.try_get(10)?, state))
}

/// `id, environment, started_at_ms, opened_at_ms, resolved_at_ms, verdict, diagnosis,
/// flapping, acked_by, acked_at_ms, ack_comment`; the timeline is filled in afterwards.
pub(super) fn incident<R>(row: &R) -> Result<IncidentRecord, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let resolved_at: Option<i64> = row.try_get(4)?;
    Ok(IncidentRecord {
        id: row.try_get(0)?,
        environment: row.try_get(1)?,
        state: match resolved_at {
            None => IncidentState::Open,
            Some(_) => IncidentState::Resolved,
        },
        started_at: from_ms(row.try_get(2)?),
        opened_at: from_ms(row.try_get(3)?),
        resolved_at: resolved_at.map(from_ms),
        verdict: codec::verdict_from_code(row.try_get(5)?)?,
        diagnosis: row.try_get(6)?,
        flapping: row.try_get(7)?,
        acknowledged: acknowledgement(row.try_get(8)?, row.try_get(9)?, row.try_get(10)?),
        notifications: Vec::new(),
        notes: Vec::new(),
    })
}

/// `incident_id, id, created_at_ms, status, message, author`.
pub(super) fn note<R>(row: &R) -> Result<NoteRecord, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let status = match row.try_get::<Option<String>, _>(3)? {
        None => None,
        Some(text) => Some(
            NoteStatus::parse(&text)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown note status {text:?}")))?,
        ),
    };
    Ok(NoteRecord {
        incident_id: row.try_get(0)?,
        id: row.try_get(1)?,
        created_at: from_ms(row.try_get(2)?),
        status,
        message: row.try_get(4)?,
        author: row.try_get(5)?,
    })
}

fn acknowledgement(
    by: Option<String>,
    at: Option<i64>,
    comment: Option<String>,
) -> Option<Acknowledgement> {
    Some(Acknowledgement {
        by: by?,
        at: from_ms(at?),
        comment,
    })
}

/// `id, environment, location, verdict, starts_at_ms, ends_at_ms, created_by, comment,
/// created_at_ms, expired_at_ms`.
pub(super) fn silence<R>(row: &R) -> Result<Silence, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(Silence {
        id: row.try_get(0)?,
        matchers: Matchers {
            environment: row.try_get(1)?,
            location: row.try_get(2)?,
            verdict: row.try_get(3)?,
        },
        starts_at: from_ms(row.try_get(4)?),
        ends_at: from_ms(row.try_get(5)?),
        created_by: row.try_get(6)?,
        comment: row.try_get(7)?,
        created_at: from_ms(row.try_get(8)?),
        expired_at: row.try_get::<Option<i64>, _>(9)?.map(from_ms),
    })
}

/// `incident_id, id, channel, kind, event, state, attempts, last_error, created_at_ms,
/// due_at_ms, finished_at_ms`: the incident's id and one entry of its timeline.
pub(super) fn timeline_entry<R>(row: &R) -> Result<(i64, NotificationRecord), StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    let outcome = DeliveryState::parse(&row.try_get::<String, _>(5)?)?;
    let finished_at: Option<i64> = row.try_get(10)?;
    let record = NotificationRecord {
        id: row.try_get(1)?,
        channel: row.try_get(2)?,
        kind: row.try_get(3)?,
        event: row.try_get(4)?,
        outcome,
        attempts: count(row.try_get(6)?),
        last_error: row.try_get(7)?,
        created_at: from_ms(row.try_get(8)?),
        sent_at: finished_at
            .filter(|_| outcome == DeliveryState::Delivered)
            .map(from_ms),
        finished_at: finished_at.map(from_ms),
        next_attempt_at: (outcome == DeliveryState::Pending)
            .then(|| row.try_get(9).map(from_ms))
            .transpose()?,
    };
    Ok((row.try_get(0)?, record))
}

/// `id, incident_id, channel, kind, event, payload, attempts, created_at_ms, due_at_ms,
/// last_error`.
pub(super) fn pending<R>(row: &R) -> Result<PendingNotification, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(PendingNotification {
        id: row.try_get(0)?,
        incident_id: row.try_get(1)?,
        channel: row.try_get(2)?,
        kind: row.try_get(3)?,
        event: row.try_get(4)?,
        payload: row.try_get(5)?,
        attempts: count(row.try_get(6)?),
        created_at: from_ms(row.try_get(7)?),
        due_at: from_ms(row.try_get(8)?),
        last_error: row.try_get(9)?,
    })
}

/// `id, incident_id, environment, channel, kind, event, attempts, last_error, finished_at_ms`.
pub(super) fn failed<R>(row: &R) -> Result<FailedNotification, StoreError>
where
    R: Row,
    usize: ColumnIndex<R>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
{
    Ok(FailedNotification {
        id: row.try_get(0)?,
        incident_id: row.try_get(1)?,
        environment: row.try_get(2)?,
        channel: row.try_get(3)?,
        kind: row.try_get(4)?,
        event: row.try_get(5)?,
        attempts: count(row.try_get(6)?),
        last_error: row.try_get(7)?,
        failed_at: from_ms(row.try_get(8)?),
    })
}
