-- The shared store of a fleet: every instance of every location writes here. Times that the
-- code compares are milliseconds (BIGINT), as in the SQLite schema, so both backends share the
-- pure encodings; runs keep the whole result as JSON beside the columns queries filter on.

CREATE TABLE runs (
    id             BIGSERIAL PRIMARY KEY,
    environment    TEXT NOT NULL,
    location       TEXT NOT NULL,
    instance       TEXT NOT NULL,
    -- The scheduled slot this run was claimed for; NULL for an on-demand probe.
    slot_ms        BIGINT,
    started_at_ns  BIGINT NOT NULL,
    status         BIGINT NOT NULL,
    verdict        BIGINT NOT NULL,
    in_maintenance BOOLEAN NOT NULL DEFAULT FALSE,
    -- Copied out of the result for the location matrix, which reads them for every cell.
    diagnosis      TEXT NOT NULL,
    close_code     BIGINT,
    -- JSON, not JSONB: the text is kept as written, so every float reads back bit for bit
    -- (JSONB's numeric has no -0.0).
    result         JSON NOT NULL
);
CREATE INDEX runs_by_env_time ON runs (environment, started_at_ns DESC);
CREATE INDEX runs_by_env_location ON runs (environment, location, id DESC);
-- Pruning by age.
CREATE INDEX runs_by_time ON runs (started_at_ns);

-- The newest run of each environment from each location, kept on every insert: the status
-- page's matrix and a start's history read it without scanning a month of runs.
CREATE TABLE latest_runs (
    environment   TEXT NOT NULL,
    location      TEXT NOT NULL,
    run_id        BIGINT NOT NULL,
    started_at_ns BIGINT NOT NULL,
    status        BIGINT NOT NULL,
    verdict       BIGINT NOT NULL,
    diagnosis     TEXT NOT NULL,
    close_code    BIGINT,
    PRIMARY KEY (environment, location)
);

-- One row per (environment, location, slot): the replica whose INSERT lands probes it.
CREATE TABLE slots (
    environment TEXT NOT NULL,
    location    TEXT NOT NULL,
    slot_ms     BIGINT NOT NULL,
    instance    TEXT NOT NULL,
    claimed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (environment, location, slot_ms)
);
-- Claims matter for minutes; they are pruned after a day.
CREATE INDEX slots_by_time ON slots (slot_ms);

CREATE TABLE skipped_slots (
    environment TEXT NOT NULL,
    location    TEXT NOT NULL,
    slot_ms     BIGINT NOT NULL,
    PRIMARY KEY (environment, location, slot_ms)
);

CREATE TABLE rollups (
    environment TEXT NOT NULL,
    hour        BIGINT NOT NULL,
    runs        BIGINT NOT NULL DEFAULT 0,
    up          BIGINT NOT NULL DEFAULT 0,
    degraded    BIGINT NOT NULL DEFAULT 0,
    down        BIGINT NOT NULL DEFAULT 0,
    skipped     BIGINT NOT NULL DEFAULT 0,
    histogram   BYTEA,
    PRIMARY KEY (environment, hour)
);

CREATE TABLE incidents (
    id             BIGINT PRIMARY KEY,
    environment    TEXT NOT NULL,
    started_at_ms  BIGINT NOT NULL,
    opened_at_ms   BIGINT NOT NULL,
    resolved_at_ms BIGINT,
    verdict        BIGINT NOT NULL,
    diagnosis      TEXT NOT NULL
);
CREATE INDEX incidents_by_env ON incidents (environment, opened_at_ms DESC);
CREATE INDEX incidents_open ON incidents (opened_at_ms) WHERE resolved_at_ms IS NULL;

CREATE TABLE outbox (
    id             BIGSERIAL PRIMARY KEY,
    incident_id    BIGINT NOT NULL REFERENCES incidents (id),
    channel        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    event          TEXT NOT NULL,
    payload        TEXT NOT NULL,
    state          TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'held')),
    attempts       BIGINT NOT NULL DEFAULT 0,
    created_at_ms  BIGINT NOT NULL,
    due_at_ms      BIGINT NOT NULL,
    finished_at_ms BIGINT,
    last_error     TEXT
);
CREATE INDEX outbox_pending ON outbox (due_at_ms, id) WHERE state = 'pending';
CREATE INDEX outbox_by_incident ON outbox (incident_id, id);
CREATE INDEX outbox_failed ON outbox (finished_at_ms) WHERE state = 'failed';

CREATE TABLE alert_state (
    environment       TEXT PRIMARY KEY,
    failures          BIGINT NOT NULL,
    successes         BIGINT NOT NULL,
    failing_since_ms  BIGINT,
    incident_id       BIGINT REFERENCES incidents (id),
    last_notice_at_ms BIGINT,
    announced         BOOLEAN NOT NULL DEFAULT FALSE
);

-- Every instance that ever ran against this store; the evaluator reads who went quiet.
CREATE TABLE instances (
    id             TEXT PRIMARY KEY,
    location       TEXT NOT NULL,
    version        TEXT NOT NULL,
    started_at     TIMESTAMPTZ NOT NULL,
    last_seen      TIMESTAMPTZ NOT NULL,
    -- The last time it wrote results: "reporting", as opposed to merely alive.
    last_report    TIMESTAMPTZ,
    -- Set by a clean shutdown: a stopped replica is not a quiet one.
    stopped_at     TIMESTAMPTZ
);

-- Time-limited roles (the evaluator): held while renewed, taken over once expired.
CREATE TABLE leases (
    name   TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  TIMESTAMPTZ NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
