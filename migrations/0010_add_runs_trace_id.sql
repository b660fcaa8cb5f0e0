-- The probe's W3C trace id (src/probe/trace.rs), as its 16 bytes rather than 32 hex digits.
-- NULL for runs recorded before traces existed.
ALTER TABLE runs ADD COLUMN trace_id BLOB;
