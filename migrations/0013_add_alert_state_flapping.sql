-- Flap detection (src/incident.rs): the recent results as bits (1 failing, newest lowest) and
-- how many of them there are; `flapping` marks an open incident kept open by flapping.
ALTER TABLE alert_state ADD COLUMN recent_bits INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alert_state ADD COLUMN recent_len INTEGER NOT NULL DEFAULT 0;
ALTER TABLE alert_state ADD COLUMN flapping INTEGER NOT NULL DEFAULT 0;
-- An incident opened (or kept open) by flapping says so on the page and in the API.
ALTER TABLE incidents ADD COLUMN flapping INTEGER NOT NULL DEFAULT 0;
