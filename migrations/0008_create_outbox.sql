-- Every notification, written in the same transaction as the incident change that caused it and
-- before any attempt to send it; the dispatcher works from here, so a notification survives a
-- crash or restart between being decided and being delivered.
-- channel, kind: the configured channel's name and kind when queued. Channel settings (URLs,
-- keys) are never stored: they are read from the config at send time.
-- event: triggered | reminder | verdict_changed | resolved.
-- payload: the channel-neutral notification as JSON (src/alert/notification.rs).
-- state: pending (due at due_at_ms), delivered, failed (permanently: a 4xx, or given up after
-- alerts.give_up_after), held (inside a maintenance window: recorded, never sent).
-- last_error: the last attempt's error, scrubbed of secrets. Times are Unix milliseconds;
-- finished_at_ms: when it was delivered or failed.
CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY,
    incident_id    INTEGER NOT NULL REFERENCES incidents (id),
    channel        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    event          TEXT NOT NULL,
    payload        TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'held')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    created_at_ms  INTEGER NOT NULL,
    due_at_ms      INTEGER NOT NULL,
    finished_at_ms INTEGER,
    last_error     TEXT
) STRICT;

-- The dispatcher's one question: what is due next.
CREATE INDEX outbox_pending ON outbox (due_at_ms, id) WHERE state = 'pending';
-- An incident's timeline.
CREATE INDEX outbox_by_incident ON outbox (incident_id, id);
-- Recent permanent failures, shown on the status page.
CREATE INDEX outbox_failed ON outbox (finished_at_ms) WHERE state = 'failed';
