-- One row per incident: an outage of one environment, from the result that crossed its
-- failure_threshold until success_threshold healthy results resolved it.
-- Times are Unix milliseconds. started_at_ms: the first failing result of the outage;
-- opened_at_ms: the result that opened the incident; resolved_at_ms: NULL while open.
-- verdict: the verdict last notified (the stable codes of src/store/codec.rs, as in runs);
-- diagnosis: the sentence of the result that set it.
CREATE TABLE incidents (
    id             INTEGER PRIMARY KEY,
    env_id         INTEGER NOT NULL REFERENCES environments (id),
    started_at_ms  INTEGER NOT NULL,
    opened_at_ms   INTEGER NOT NULL,
    resolved_at_ms INTEGER,
    verdict        INTEGER NOT NULL,
    diagnosis      TEXT NOT NULL
) STRICT;

-- The environment page lists its incidents newest first; the API lists open ones.
CREATE INDEX incidents_by_env ON incidents (env_id, opened_at_ms DESC);
CREATE INDEX incidents_open ON incidents (opened_at_ms) WHERE resolved_at_ms IS NULL;
