//! Alerting's tables on PostgreSQL, where rows are keyed by the environment's name and a list
//! parameter is an array: the texts of its own and what the shared statements need
//! (`shared.rs`).

use sqlx::PgConnection as Connection;

use crate::store::StoreError;
use crate::store::postgres::text;

super::shared::shared_statements!();

type EnvKey = String;

/// The environment's name: the shared store keys alerting's rows by it.
pub(crate) async fn env_key(_: &mut Connection, name: &str) -> Result<EnvKey, StoreError> {
    Ok(name.to_owned())
}

fn id_list(ids: &[i64]) -> Result<&[i64], StoreError> {
    Ok(ids)
}

const STATES: &str = "SELECT s.failures, s.successes, s.failing_since_ms, s.incident_id,
        s.last_notice_at_ms, s.announced, i.started_at_ms, i.opened_at_ms, i.verdict,
        i.diagnosis, s.environment, s.recent_bits, s.recent_len, s.flapping, i.acked_at_ms
     FROM alert_state s LEFT JOIN incidents i ON i.id = s.incident_id";

const SAVE_STATE: &str = super::shared::save_state_keyed_by!("environment");

const INSERT_INCIDENT: &str =
    "INSERT INTO incidents (id, environment, started_at_ms, opened_at_ms, verdict, diagnosis,
        flapping)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

const INCIDENTS: &str =
    "SELECT id, environment, started_at_ms, opened_at_ms, resolved_at_ms, verdict, diagnosis,
        flapping, acked_by, acked_at_ms, ack_comment
 FROM incidents
 WHERE ($1::TEXT IS NULL OR environment = $1)
   AND ($2::TEXT IS NULL
        OR ($2 = 'open' AND resolved_at_ms IS NULL)
        OR ($2 = 'resolved' AND resolved_at_ms IS NOT NULL))
 ORDER BY opened_at_ms DESC, id DESC
 LIMIT $3";

/// One incident by id: the columns of [`INCIDENTS`], which `decode::incident` reads.
const INCIDENT: &str =
    "SELECT id, environment, started_at_ms, opened_at_ms, resolved_at_ms, verdict, diagnosis,
        flapping, acked_by, acked_at_ms, ack_comment
 FROM incidents WHERE id = $1";

const NOTES: &str = "SELECT incident_id, id, created_at_ms, status, message, author
 FROM incident_notes WHERE incident_id = ANY($1) ORDER BY incident_id, id";

const TIMELINES: &str = "SELECT incident_id, id, channel, kind, event, state, attempts, last_error,
        created_at_ms, due_at_ms, finished_at_ms
 FROM outbox WHERE incident_id = ANY($1) ORDER BY incident_id, id";

const OPEN_INCIDENTS: &str =
    "SELECT environment, id FROM incidents WHERE resolved_at_ms IS NULL ORDER BY environment";

const FAILED_NOTIFICATIONS: &str =
    "SELECT o.id, o.incident_id, i.environment, o.channel, o.kind, o.event, o.attempts,
        o.last_error, o.finished_at_ms
 FROM outbox o JOIN incidents i ON i.id = o.incident_id
 WHERE o.state = 'failed' AND o.finished_at_ms >= $1
 ORDER BY o.finished_at_ms DESC, o.id DESC LIMIT $2";
