-- The session login phase (`auth.kind: session`), in milliseconds as the other phases are
-- (INTEGER microseconds when exact, else REAL). NULL for every other auth kind and for runs
-- recorded before it existed.
ALTER TABLE runs ADD COLUMN login_ms ANY;
