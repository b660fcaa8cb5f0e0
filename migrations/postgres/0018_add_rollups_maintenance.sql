-- Runs in a maintenance window, and how many of those served (up or degraded), per hour: an
-- SLO leaves maintenance out (see the SQLite migration of the same number).
ALTER TABLE rollups ADD COLUMN maint_runs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rollups ADD COLUMN maint_serving BIGINT NOT NULL DEFAULT 0;

-- The hours whose raw runs are still kept get their counts now (status 0 up, 1 degraded).
UPDATE rollups SET maint_runs = m.runs, maint_serving = m.serving
FROM (
    SELECT environment, started_at_ns / 1000000000 / 3600 * 3600 AS hour,
           COUNT(*) AS runs, COUNT(*) FILTER (WHERE status IN (0, 1)) AS serving
    FROM runs WHERE in_maintenance
    GROUP BY 1, 2
) AS m
WHERE rollups.environment = m.environment AND rollups.hour = m.hour;
