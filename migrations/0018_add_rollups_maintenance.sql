-- Runs in a maintenance window, and how many of those served (up or degraded), per hour: an
-- SLO leaves maintenance out, so availability over a window is
-- (up + degraded - maint_serving) / (runs - maint_runs).
ALTER TABLE rollups ADD COLUMN maint_runs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollups ADD COLUMN maint_serving INTEGER NOT NULL DEFAULT 0;

-- The hours whose raw runs are still kept get their counts now (status 0 up, 1 degraded:
-- src/store/codec.rs); older hours keep maintenance counted in, as they were.
UPDATE rollups SET maint_runs = m.runs, maint_serving = m.serving
FROM (
    SELECT env_id, started_at_ns / 1000000000 / 3600 * 3600 AS hour,
           COUNT(*) AS runs, SUM(status IN (0, 1)) AS serving
    FROM runs WHERE in_maintenance
    GROUP BY 1, 2
) AS m
WHERE rollups.env_id = m.env_id AND rollups.hour = m.hour;
