-- A scheduled slot not probed because the previous probe was still running. The key makes
-- recording the same slot twice a no-op.
CREATE TABLE skipped_slots (
    env_id  INTEGER NOT NULL REFERENCES environments (id),
    slot_ms INTEGER NOT NULL,
    PRIMARY KEY (env_id, slot_ms)
) STRICT, WITHOUT ROWID;
