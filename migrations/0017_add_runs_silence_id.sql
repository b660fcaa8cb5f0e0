-- The silence that matched the run when it was recorded (its notifications were held); NULL
-- when none did.
ALTER TABLE runs ADD COLUMN silence_id INTEGER;
