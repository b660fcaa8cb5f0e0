-- Silences made at run time, shared by every instance of the fleet; as in the SQLite schema
-- (migrations/0012_create_silences.sql).
CREATE TABLE silences (
    id            BIGSERIAL PRIMARY KEY,
    environment   TEXT,
    location      TEXT,
    verdict       TEXT,
    starts_at_ms  BIGINT NOT NULL,
    ends_at_ms    BIGINT NOT NULL,
    created_by    TEXT NOT NULL,
    comment       TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    expired_at_ms BIGINT
);
CREATE INDEX silences_by_end ON silences (ends_at_ms);
