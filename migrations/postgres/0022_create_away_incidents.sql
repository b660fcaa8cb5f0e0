-- Incidents an instance paged itself while this database was away (SPEC "Alerts go on"):
-- reported by that instance once the database answers again, and reconciled by the
-- evaluator, which adopts or records each under the same id and never pages it twice.
CREATE TABLE away_incidents (
    id             BIGINT NOT NULL,
    instance       TEXT NOT NULL,
    environment    TEXT NOT NULL,
    location       TEXT NOT NULL,
    started_at_ms  BIGINT NOT NULL,
    opened_at_ms   BIGINT NOT NULL,
    verdict        BIGINT NOT NULL,
    flapping       BOOLEAN NOT NULL,
    diagnosis      TEXT NOT NULL,
    -- The notifications as sent (channel-neutral JSON, no channel settings).
    triggered      JSONB NOT NULL,
    resolved_at_ms BIGINT,
    resolved       JSONB,
    reported_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    reconciled_at  TIMESTAMPTZ,
    -- adopt, record, merge or known (crate::fleet::away::Reconcile); gone (no such environment
    -- any more) or unreadable.
    reconciled_as  TEXT,
    PRIMARY KEY (id, instance)
);
CREATE INDEX away_incidents_unreconciled ON away_incidents (reported_at)
    WHERE reconciled_at IS NULL;
