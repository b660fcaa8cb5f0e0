-- The incident state machine's state per environment (src/alert/incident.rs), so that counts
-- and an open incident survive a restart: an incident open before it stays open and is not
-- triggered again. A missing row is the initial state.
-- failures, successes: consecutive failing / healthy results (saturating at the thresholds).
-- failing_since_ms: the first result of the current run of failures.
-- incident_id: the open incident, NULL when none.
-- last_notice_at_ms: the open incident's last notice, sent or held (reminders count from it).
-- announced: 1 once the open incident's `triggered` notice went out (was not held).
CREATE TABLE alert_state (
    env_id            INTEGER PRIMARY KEY REFERENCES environments (id),
    failures          INTEGER NOT NULL,
    successes         INTEGER NOT NULL,
    failing_since_ms  INTEGER,
    incident_id       INTEGER REFERENCES incidents (id),
    last_notice_at_ms INTEGER,
    announced         INTEGER NOT NULL DEFAULT 0
) STRICT;
