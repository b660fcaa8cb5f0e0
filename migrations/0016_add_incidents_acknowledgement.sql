-- Who acknowledged an open incident (POST /api/v1/incidents/{id}/ack), when (Unix
-- milliseconds) and what they said: its reminders stop. NULL until acknowledged.
ALTER TABLE incidents ADD COLUMN acked_by TEXT;
ALTER TABLE incidents ADD COLUMN acked_at_ms INTEGER;
ALTER TABLE incidents ADD COLUMN ack_comment TEXT;
