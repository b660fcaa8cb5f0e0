//! Alerting's tables on SQLite, where an environment is the id of its `environments` row and a
//! list parameter is JSON: the texts of its own and what the shared statements need
//! (`shared.rs`).

use std::borrow::Cow;

use sqlx::SqliteConnection as Connection;

use crate::store::{StoreError, environments};

super::shared::shared_statements!();

type EnvKey = i64;

/// The environment's id, its row made on first use.
pub(crate) async fn env_key(conn: &mut Connection, name: &str) -> Result<EnvKey, StoreError> {
    environments::id_for(conn, name).await
}

fn id_list(ids: &[i64]) -> Result<String, StoreError> {
    serde_json::to_string(ids).map_err(StoreError::Encode)
}

/// SQLite keeps any text as given.
fn text(value: &str) -> Cow<'_, str> {
    Cow::Borrowed(value)
}

const STATES: &str = "SELECT s.failures, s.successes, s.failing_since_ms, s.incident_id,
        s.last_notice_at_ms, s.announced, i.started_at_ms, i.opened_at_ms, i.verdict,
        i.diagnosis, e.name, s.recent_bits, s.recent_len, s.flapping, i.acked_at_ms
     FROM alert_state s JOIN environments e ON e.id = s.env_id
     LEFT JOIN incidents i ON i.id = s.incident_id";

const SAVE_STATE: &str = super::shared::save_state_keyed_by!("env_id");

const INSERT_INCIDENT: &str =
    "INSERT INTO incidents (id, env_id, started_at_ms, opened_at_ms, verdict, diagnosis, flapping)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

const INCIDENTS: &str =
    "SELECT i.id, e.name, i.started_at_ms, i.opened_at_ms, i.resolved_at_ms, i.verdict,
        i.diagnosis, i.flapping, i.acked_by, i.acked_at_ms, i.ack_comment
 FROM incidents i JOIN environments e ON e.id = i.env_id
 WHERE ($1 IS NULL OR e.name = $1)
   AND ($2 IS NULL
        OR ($2 = 'open' AND i.resolved_at_ms IS NULL)
        OR ($2 = 'resolved' AND i.resolved_at_ms IS NOT NULL))
 ORDER BY i.opened_at_ms DESC, i.id DESC
 LIMIT $3";

/// One incident by id: the columns of [`INCIDENTS`], which `decode::incident` reads.
const INCIDENT: &str =
    "SELECT i.id, e.name, i.started_at_ms, i.opened_at_ms, i.resolved_at_ms, i.verdict,
        i.diagnosis, i.flapping, i.acked_by, i.acked_at_ms, i.ack_comment
 FROM incidents i JOIN environments e ON e.id = i.env_id WHERE i.id = $1";

const NOTES: &str = "SELECT incident_id, id, created_at_ms, status, message, author
 FROM incident_notes WHERE incident_id IN (SELECT value FROM json_each($1))
 ORDER BY incident_id, id";

const TIMELINES: &str = "SELECT incident_id, id, channel, kind, event, state, attempts, last_error,
        created_at_ms, due_at_ms, finished_at_ms
 FROM outbox WHERE incident_id IN (SELECT value FROM json_each($1))
 ORDER BY incident_id, id";

const OPEN_INCIDENTS: &str =
    "SELECT e.name, i.id FROM incidents i JOIN environments e ON e.id = i.env_id
 WHERE i.resolved_at_ms IS NULL ORDER BY e.name";

const FAILED_NOTIFICATIONS: &str =
    "SELECT o.id, o.incident_id, e.name, o.channel, o.kind, o.event, o.attempts,
        o.last_error, o.finished_at_ms
 FROM outbox o
 JOIN incidents i ON i.id = o.incident_id
 JOIN environments e ON e.id = i.env_id
 WHERE o.state = 'failed' AND o.finished_at_ms >= $1
 ORDER BY o.finished_at_ms DESC, o.id DESC LIMIT $2";
