-- The CONNECT exchange with an egress proxy (the `proxy` phase), like the other phases in
-- INTEGER microseconds or REAL milliseconds. NULL without a proxy, and for runs recorded before.
ALTER TABLE runs ADD COLUMN proxy_ms ANY;
