-- The silence that matched the run when it was recorded; NULL when none did.
ALTER TABLE runs ADD COLUMN silence_id BIGINT;
