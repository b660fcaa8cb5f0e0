-- Hourly counts per environment, written in the same transaction as each run, so uptime and
-- latency over any range read a few hundred small rows, and outlive the raw runs.
-- hour: Unix seconds of the start of the UTC hour.
-- histogram: total latency of serving (up or degraded) runs, in the fixed log-scale buckets of
-- src/store/histogram.rs, sparse-encoded; NULL while the hour has none.
CREATE TABLE rollups (
    env_id    INTEGER NOT NULL REFERENCES environments (id),
    hour      INTEGER NOT NULL,
    runs      INTEGER NOT NULL DEFAULT 0,
    up        INTEGER NOT NULL DEFAULT 0,
    degraded  INTEGER NOT NULL DEFAULT 0,
    down      INTEGER NOT NULL DEFAULT 0,
    skipped   INTEGER NOT NULL DEFAULT 0,
    histogram BLOB,
    PRIMARY KEY (env_id, hour)
) STRICT, WITHOUT ROWID;
