-- Who acknowledged an open incident, when (Unix milliseconds) and what they said; as in the
-- SQLite schema.
ALTER TABLE incidents ADD COLUMN acked_by TEXT;
ALTER TABLE incidents ADD COLUMN acked_at_ms BIGINT;
ALTER TABLE incidents ADD COLUMN ack_comment TEXT;
