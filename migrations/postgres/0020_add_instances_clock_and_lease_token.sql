-- How far each instance's clock is from the database's (its clock minus the database's, in
-- milliseconds), measured on each membership round: shown by /api/v1/instances.
ALTER TABLE instances ADD COLUMN skew_ms BIGINT;
-- When it last started a probe (the database's clock), said on each membership round: an
-- instance that probes but cannot write its results (a locked or slow table) is not quiet.
ALTER TABLE instances ADD COLUMN last_probe TIMESTAMPTZ;

-- The lease's fencing token: raised each time the lease changes hands (or is taken again
-- after it expired), never lowered; the evaluator's writes carry it and are refused once
-- another token is current.
ALTER TABLE leases ADD COLUMN token BIGINT NOT NULL DEFAULT 0;
