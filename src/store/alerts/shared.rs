//! Alerting's statements, written once for both databases. The texts both take as written are
//! here, bound by number (`$1`, which sqlx's SQLite driver reads as `?1`); each database's
//! module (`sqlite.rs`, `postgres.rs`) holds the texts where the schemas differ (SQLite keys
//! an environment by the id of its `environments` row, PostgreSQL by its name) under the same
//! constant names, and what its dialect needs around them:
//!
//! - `Connection`, the database's connection type;
//! - `EnvKey` and `env_key(conn, name)`, how an environment is referenced;
//! - `id_list(ids)`, a list of incident ids as one parameter (JSON or an array);
//! - `text(value)`, a string made fit for a `TEXT` column.
//!
//! [`shared_statements!`] then writes every function over them into that module, once.

/// Ids from `2^52` up were made by instances paging while a fleet's database was away
/// (`crate::fleet::away::LOCAL_IDS`): the ones handed out in order stay below.
pub(super) const NEXT_INCIDENT_ID: &str =
    "SELECT MAX(id) FROM incidents WHERE id < 4503599627370496";

pub(super) const SET_INCIDENT_VERDICT: &str =
    "UPDATE incidents SET verdict = $2, diagnosis = $3 WHERE id = $1";

pub(super) const RESOLVE_INCIDENT: &str =
    "UPDATE incidents SET resolved_at_ms = $2 WHERE id = $1 AND resolved_at_ms IS NULL";

pub(super) const ENQUEUE: &str =
    "INSERT INTO outbox (incident_id, channel, kind, event, payload, state, created_at_ms,
                     due_at_ms, attempts, last_error, finished_at_ms)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id";

pub(super) const DUE_NOTIFICATIONS: &str =
    "SELECT id, incident_id, channel, kind, event, payload, attempts, created_at_ms,
        due_at_ms, last_error
 FROM outbox WHERE state = 'pending' AND due_at_ms <= $1
 ORDER BY due_at_ms, id LIMIT $2";

/// The `triggered` payloads that name a group (`alerts.grouping`), of incidents still open,
/// with when they were due: the groups the engine takes back at start.
pub(super) const OPEN_GROUP_TRIGGERS: &str = "SELECT o.payload, o.due_at_ms
 FROM outbox o JOIN incidents i ON i.id = o.incident_id
 WHERE i.resolved_at_ms IS NULL AND o.event = 'triggered' AND o.payload LIKE '%\"group\":%'
 ORDER BY o.id";

pub(super) const INSERT_NOTE: &str =
    "INSERT INTO incident_notes (incident_id, created_at_ms, status, message, author)
 VALUES ($1, $2, $3, $4, $5) RETURNING id";

pub(super) const NEXT_NOTIFICATION_DUE: &str =
    "SELECT MIN(due_at_ms) FROM outbox WHERE state = 'pending'";

pub(super) const FINISH_NOTIFICATION: &str =
    "UPDATE outbox SET state = $2, attempts = $3, finished_at_ms = $4,
                   last_error = COALESCE($5, last_error)
 WHERE id = $1 AND state = 'pending'";

pub(super) const RETRY_NOTIFICATION: &str =
    "UPDATE outbox SET attempts = $2, due_at_ms = $3, last_error = $4
     WHERE id = $1 AND state = 'pending'";

pub(super) const POSTPONE_NOTIFICATION: &str =
    "UPDATE outbox SET due_at_ms = $2 WHERE id = $1 AND state = 'pending'";

pub(super) const OVERDUE_NOTIFICATIONS: &str =
    "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND due_at_ms < $1";

pub(super) const ACKNOWLEDGE_INCIDENT: &str =
    "UPDATE incidents SET acked_by = $2, acked_at_ms = $3, ack_comment = $4
     WHERE id = $1 AND resolved_at_ms IS NULL AND acked_at_ms IS NULL";

pub(super) const INSERT_SILENCE: &str =
    "INSERT INTO silences (environment, location, verdict, starts_at_ms, ends_at_ms, created_by,
                       comment, created_at_ms)
 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";

/// The columns [`super::decode::silence`] reads.
macro_rules! silence_columns {
    () => {
        "SELECT id, environment, location, verdict, starts_at_ms, ends_at_ms, created_by, comment,
            created_at_ms, expired_at_ms FROM silences "
    };
}

/// Newest first: every silence when `$1`, else those not over at `$2` (active or pending).
pub(super) const SILENCES: &str = concat!(
    silence_columns!(),
    "WHERE $1 OR (ends_at_ms > $2 AND (expired_at_ms IS NULL OR expired_at_ms > $2))
     ORDER BY id DESC LIMIT $3"
);

pub(super) const SILENCE: &str = concat!(silence_columns!(), "WHERE id = $1");

pub(super) const EXPIRE_SILENCE: &str = "UPDATE silences SET expired_at_ms = $2
     WHERE id = $1 AND expired_at_ms IS NULL AND ends_at_ms > $2";

/// Save an environment's alert state, the environment keyed by the column `$key`: one text
/// whatever that column.
macro_rules! save_state_keyed_by {
    ($key:literal) => {
        concat!(
            "INSERT INTO alert_state (",
            $key,
            ", failures, successes, failing_since_ms, incident_id, last_notice_at_ms, announced,
               recent_bits, recent_len, flapping)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (",
            $key,
            ") DO UPDATE SET
                 failures = excluded.failures, successes = excluded.successes,
                 failing_since_ms = excluded.failing_since_ms, incident_id = excluded.incident_id,
                 last_notice_at_ms = excluded.last_notice_at_ms, announced = excluded.announced,
                 recent_bits = excluded.recent_bits, recent_len = excluded.recent_len,
                 flapping = excluded.flapping"
        )
    };
}

pub(super) use save_state_keyed_by;

/// The functions over the texts above, for the database module it is invoked in.
macro_rules! shared_statements {
    () => {
        /// The id the next incident is to get: ids are handed out in memory by the one engine
        /// that writes incidents (on a fleet, the holder of the evaluator lease), so that a
        /// notification can name its incident before the store has taken either.
        pub(crate) async fn next_incident_id(
            conn: &mut Connection,
        ) -> Result<i64, $crate::store::StoreError> {
            let max: Option<i64> = sqlx::query_scalar(super::shared::NEXT_INCIDENT_ID)
                .fetch_one(conn)
                .await?;
            Ok(max.unwrap_or(0) + 1)
        }

        pub(crate) async fn set_incident_verdict(
            conn: &mut Connection,
            id: i64,
            verdict: $crate::probe::Verdict,
            diagnosis: &str,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(super::shared::SET_INCIDENT_VERDICT)
                .bind(id)
                .bind($crate::store::codec::verdict_code(verdict))
                .bind(text(diagnosis).as_ref())
                .execute(conn)
                .await?;
            Ok(())
        }

        pub(crate) async fn resolve_incident(
            conn: &mut Connection,
            id: i64,
            at: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(super::shared::RESOLVE_INCIDENT)
                .bind(id)
                .bind($crate::store::codec::ms(at))
                .execute(conn)
                .await?;
            Ok(())
        }

        /// Queue one notification; `pending` ones are due at once.
        pub(crate) async fn enqueue(
            conn: &mut Connection,
            n: &super::NewNotification<'_>,
        ) -> Result<i64, $crate::store::StoreError> {
            use $crate::store::codec::ms;
            let id = sqlx::query_scalar(super::shared::ENQUEUE)
                .bind(n.incident_id)
                .bind(n.channel)
                .bind(n.kind)
                .bind(n.event)
                .bind(n.payload)
                .bind(n.state.as_str())
                .bind(ms(n.at))
                .bind(ms(n.due_at))
                .bind(i64::from(n.attempts))
                .bind(n.last_error.map(text).as_deref())
                .bind(n.finished_at.map(ms))
                .fetch_one(conn)
                .await?;
            Ok(id)
        }

        /// Incidents, newest first, each with its notifications and notes.
        pub(crate) async fn incidents(
            conn: &mut Connection,
            filter: &super::IncidentFilter<'_>,
        ) -> Result<Vec<super::IncidentRecord>, $crate::store::StoreError> {
            let mut incidents = incident_rows(&mut *conn, filter).await?;
            with_histories(conn, &mut incidents).await?;
            Ok(incidents)
        }

        /// One incident with its notifications and notes; `None` when there is no such id.
        pub(crate) async fn incident(
            conn: &mut Connection,
            id: i64,
        ) -> Result<Option<super::IncidentRecord>, $crate::store::StoreError> {
            let row = sqlx::query(INCIDENT)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let mut incidents = vec![super::decode::incident(&row)?];
            with_histories(conn, &mut incidents).await?;
            Ok(incidents.pop())
        }

        /// Fill in each incident's timeline and notes.
        async fn with_histories(
            conn: &mut Connection,
            incidents: &mut [super::IncidentRecord],
        ) -> Result<(), $crate::store::StoreError> {
            let ids: Vec<i64> = incidents.iter().map(|i| i.id).collect();
            let mut timelines = timelines(&mut *conn, &ids).await?;
            let mut notes = notes(conn, &ids).await?;
            for incident in incidents {
                incident.notifications = timelines.remove(&incident.id).unwrap_or_default();
                incident.notes = notes.remove(&incident.id).unwrap_or_default();
            }
            Ok(())
        }

        /// The notes of `ids`, oldest first, by incident id.
        async fn notes(
            conn: &mut Connection,
            ids: &[i64],
        ) -> Result<
            std::collections::HashMap<i64, Vec<super::NoteRecord>>,
            $crate::store::StoreError,
        > {
            let mut notes: std::collections::HashMap<i64, Vec<_>> = Default::default();
            if ids.is_empty() {
                return Ok(notes);
            }
            let rows = sqlx::query(NOTES).bind(id_list(ids)?).fetch_all(conn).await?;
            for row in &rows {
                let note = super::decode::note(row)?;
                notes.entry(note.incident_id).or_default().push(note);
            }
            Ok(notes)
        }

        /// Store a note on incident `id`.
        pub(crate) async fn insert_note(
            conn: &mut Connection,
            id: i64,
            note: &super::NewNote<'_>,
        ) -> Result<super::NoteRecord, $crate::store::StoreError> {
            let message = text(note.message);
            let author = note.author.map(text);
            let note_id = sqlx::query_scalar(super::shared::INSERT_NOTE)
                .bind(id)
                .bind($crate::store::codec::ms(note.at))
                .bind(note.status.map(super::NoteStatus::as_str))
                .bind(message.as_ref())
                .bind(author.as_deref())
                .fetch_one(conn)
                .await?;
            Ok(super::NoteRecord {
                id: note_id,
                incident_id: id,
                // Whole milliseconds, as stored and read back.
                created_at: $crate::store::codec::from_ms($crate::store::codec::ms(note.at)),
                status: note.status,
                message: message.into_owned(),
                author: author.map(std::borrow::Cow::into_owned),
            })
        }

        /// The incidents `filter` asks for, without their timelines.
        async fn incident_rows(
            conn: &mut Connection,
            filter: &super::IncidentFilter<'_>,
        ) -> Result<Vec<super::IncidentRecord>, $crate::store::StoreError> {
            let rows = sqlx::query(INCIDENTS)
                .bind(filter.environment)
                .bind(filter.state.map(super::IncidentState::as_str))
                .bind(i64::from(filter.limit))
                .fetch_all(conn)
                .await?;
            rows.iter().map(super::decode::incident).collect()
        }

        /// The timelines of `ids`, oldest notification first, by incident id.
        async fn timelines(
            conn: &mut Connection,
            ids: &[i64],
        ) -> Result<
            std::collections::HashMap<i64, Vec<super::NotificationRecord>>,
            $crate::store::StoreError,
        > {
            let mut timelines: std::collections::HashMap<i64, Vec<_>> = Default::default();
            if ids.is_empty() {
                return Ok(timelines);
            }
            let rows = sqlx::query(TIMELINES)
                .bind(id_list(ids)?)
                .fetch_all(conn)
                .await?;
            for row in &rows {
                let (incident_id, record) = super::decode::timeline_entry(row)?;
                timelines.entry(incident_id).or_default().push(record);
            }
            Ok(timelines)
        }

        /// [`super::shared::OPEN_GROUP_TRIGGERS`]: (payload, due at).
        pub(crate) async fn open_group_triggers(
            conn: &mut Connection,
        ) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, $crate::store::StoreError> {
            let rows: Vec<(String, i64)> = sqlx::query_as(super::shared::OPEN_GROUP_TRIGGERS)
                .fetch_all(conn)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(payload, due)| (payload, $crate::store::codec::from_ms(due)))
                .collect())
        }

        /// Every open incident: (environment, incident id).
        pub(crate) async fn open_incidents(
            conn: &mut Connection,
        ) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
            Ok(sqlx::query_as(OPEN_INCIDENTS).fetch_all(conn).await?)
        }

        /// Every environment's alert state, so that the engine starts knowing them all and
        /// never has to read the store in a step.
        pub(crate) async fn alert_states(
            conn: &mut Connection,
        ) -> Result<Vec<(String, super::AlertState)>, $crate::store::StoreError> {
            let rows = sqlx::query(STATES).fetch_all(conn).await?;
            rows.iter().map(super::decode::alert_state).collect()
        }

        /// Save the latest states of several environments.
        pub(crate) async fn save_alert_states(
            conn: &mut Connection,
            states: &[(&str, &super::AlertState)],
        ) -> Result<(), $crate::store::StoreError> {
            for (env, state) in states {
                let key = env_key(&mut *conn, env).await?;
                save_state(&mut *conn, &key, state).await?;
            }
            Ok(())
        }

        pub(crate) async fn save_state(
            conn: &mut Connection,
            env: &EnvKey,
            state: &super::AlertState,
        ) -> Result<(), $crate::store::StoreError> {
            use $crate::store::codec::ms;
            let open = state.state.open.as_ref();
            sqlx::query(SAVE_STATE)
                .bind(env)
                .bind(i64::from(state.state.failures))
                .bind(i64::from(state.state.successes))
                .bind(state.state.failing_since.map(ms))
                .bind(state.incident_id.filter(|_| open.is_some()))
                .bind(open.map(|o| ms(o.last_notice_at)))
                .bind(open.is_some_and(|o| o.announced))
                .bind(i64::from(state.state.recent.bits))
                .bind(i64::from(state.state.recent.len))
                .bind(open.is_some_and(|o| o.flapping))
                .execute(conn)
                .await?;
            Ok(())
        }

        /// Insert an incident under the id the alert engine gave it ([`next_incident_id`]).
        pub(crate) async fn insert_incident(
            conn: &mut Connection,
            (id, env): (i64, &EnvKey),
            open: &$crate::incident::Open,
            diagnosis: &str,
        ) -> Result<(), $crate::store::StoreError> {
            use $crate::store::codec::ms;
            sqlx::query(INSERT_INCIDENT)
                .bind(id)
                .bind(env)
                .bind(ms(open.since))
                .bind(ms(open.opened_at))
                .bind($crate::store::codec::verdict_code(open.verdict))
                .bind(text(diagnosis).as_ref())
                .bind(open.flapping)
                .execute(conn)
                .await?;
            Ok(())
        }

        /// Acknowledge incident `id` if it is open and nobody has; what came of it.
        pub(crate) async fn acknowledge_incident(
            conn: &mut Connection,
            id: i64,
            ack: &$crate::oncall::Acknowledgement,
        ) -> Result<super::AckOutcome, $crate::store::StoreError> {
            use super::AckOutcome;
            let done = sqlx::query(super::shared::ACKNOWLEDGE_INCIDENT)
                .bind(id)
                .bind(text(&ack.by).as_ref())
                .bind($crate::store::codec::ms(ack.at))
                .bind(ack.comment.as_deref().map(text).as_deref())
                .execute(&mut *conn)
                .await?
                .rows_affected();
            Ok(match incident(conn, id).await? {
                None => AckOutcome::NoSuchIncident,
                Some(incident) if done > 0 => AckOutcome::Acknowledged(incident),
                Some(incident) if incident.resolved_at.is_some() => AckOutcome::Resolved(incident),
                Some(incident) => AckOutcome::AlreadyAcknowledged(incident),
            })
        }

        /// Store a silence made at `now`.
        pub(crate) async fn insert_silence(
            conn: &mut Connection,
            new: &$crate::oncall::NewSilence,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<$crate::oncall::Silence, $crate::store::StoreError> {
            use $crate::store::codec::{from_ms, ms};
            let m = &new.matchers;
            let id: i64 = sqlx::query_scalar(super::shared::INSERT_SILENCE)
                .bind(m.environment.as_deref().map(text).as_deref())
                .bind(m.location.as_deref().map(text).as_deref())
                .bind(m.verdict.as_deref().map(text).as_deref())
                .bind(ms(new.starts_at))
                .bind(ms(new.ends_at))
                .bind(text(&new.created_by).as_ref())
                .bind(text(&new.comment).as_ref())
                .bind(ms(now))
                .fetch_one(conn)
                .await?;
            // As stored: to the millisecond.
            Ok($crate::oncall::Silence {
                id,
                matchers: new.matchers.clone(),
                starts_at: from_ms(ms(new.starts_at)),
                ends_at: from_ms(ms(new.ends_at)),
                created_by: new.created_by.clone(),
                comment: new.comment.clone(),
                created_at: from_ms(ms(now)),
                expired_at: None,
            })
        }

        /// Newest first: every silence when `all`, else those not over at `now`.
        pub(crate) async fn silences(
            conn: &mut Connection,
            all: bool,
            now: chrono::DateTime<chrono::Utc>,
            limit: u32,
        ) -> Result<Vec<$crate::oncall::Silence>, $crate::store::StoreError> {
            let rows = sqlx::query(super::shared::SILENCES)
                .bind(all)
                .bind($crate::store::codec::ms(now))
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?;
            rows.iter().map(super::decode::silence).collect()
        }

        /// End silence `id` at `now` if it has not ended; what came of it.
        pub(crate) async fn expire_silence(
            conn: &mut Connection,
            id: i64,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<super::ExpireOutcome, $crate::store::StoreError> {
            use super::ExpireOutcome;
            let done = sqlx::query(super::shared::EXPIRE_SILENCE)
                .bind(id)
                .bind($crate::store::codec::ms(now))
                .execute(&mut *conn)
                .await?
                .rows_affected();
            let row = sqlx::query(super::shared::SILENCE)
                .bind(id)
                .fetch_optional(conn)
                .await?;
            Ok(
                match row.as_ref().map(super::decode::silence).transpose()? {
                    None => ExpireOutcome::NoSuchSilence,
                    Some(silence) if done > 0 => ExpireOutcome::Expired(silence),
                    Some(silence) => ExpireOutcome::AlreadyOver(silence),
                },
            )
        }

        /// Notifications that failed for good since `since`, newest first.
        pub(crate) async fn failed_notifications(
            conn: &mut Connection,
            since: chrono::DateTime<chrono::Utc>,
            limit: u32,
        ) -> Result<Vec<super::FailedNotification>, $crate::store::StoreError> {
            let rows = sqlx::query(FAILED_NOTIFICATIONS)
                .bind($crate::store::codec::ms(since))
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?;
            rows.iter().map(super::decode::failed).collect()
        }

        /// Pending notifications due at `now`, earliest first.
        pub(crate) async fn due_notifications(
            conn: &mut Connection,
            now: chrono::DateTime<chrono::Utc>,
            limit: u32,
        ) -> Result<Vec<super::PendingNotification>, $crate::store::StoreError> {
            let rows = sqlx::query(super::shared::DUE_NOTIFICATIONS)
                .bind($crate::store::codec::ms(now))
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?;
            rows.iter().map(super::decode::pending).collect()
        }

        /// When the earliest pending notification is due, if any is pending.
        pub(crate) async fn next_notification_due(
            conn: &mut Connection,
        ) -> Result<Option<chrono::DateTime<chrono::Utc>>, $crate::store::StoreError> {
            let due: Option<i64> = sqlx::query_scalar(super::shared::NEXT_NOTIFICATION_DUE)
                .fetch_one(conn)
                .await?;
            Ok(due.map($crate::store::codec::from_ms))
        }

        /// Delivered or failed for good: a finished notification is not touched again.
        pub(crate) async fn finish_notification(
            conn: &mut Connection,
            id: i64,
            (state, attempts): (super::DeliveryState, u32),
            at: chrono::DateTime<chrono::Utc>,
            error: Option<&str>,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(super::shared::FINISH_NOTIFICATION)
                .bind(id)
                .bind(state.as_str())
                .bind(i64::from(attempts))
                .bind($crate::store::codec::ms(at))
                .bind(error.map(text).as_deref())
                .execute(conn)
                .await?;
            Ok(())
        }

        /// Record a failed attempt worth repeating at `due`.
        pub(crate) async fn notification_retry(
            conn: &mut Connection,
            id: i64,
            attempts: u32,
            due: chrono::DateTime<chrono::Utc>,
            error: &str,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(super::shared::RETRY_NOTIFICATION)
                .bind(id)
                .bind(i64::from(attempts))
                .bind($crate::store::codec::ms(due))
                .bind(text(error).as_ref())
                .execute(conn)
                .await?;
            Ok(())
        }

        /// Move a pending notification to `due` without counting an attempt (channel pacing).
        pub(crate) async fn notification_postponed(
            conn: &mut Connection,
            id: i64,
            due: chrono::DateTime<chrono::Utc>,
        ) -> Result<(), $crate::store::StoreError> {
            sqlx::query(super::shared::POSTPONE_NOTIFICATION)
                .bind(id)
                .bind($crate::store::codec::ms(due))
                .execute(conn)
                .await?;
            Ok(())
        }

        /// Pending notifications that were due before `before`: with a working dispatcher
        /// there are none for long, so some mean notifications are stuck.
        pub(crate) async fn overdue_notifications(
            conn: &mut Connection,
            before: chrono::DateTime<chrono::Utc>,
        ) -> Result<u64, $crate::store::StoreError> {
            let count: i64 = sqlx::query_scalar(super::shared::OVERDUE_NOTIFICATIONS)
                .bind($crate::store::codec::ms(before))
                .fetch_one(conn)
                .await?;
            Ok(u64::try_from(count).unwrap_or_default())
        }
    };
}

pub(super) use shared_statements;
