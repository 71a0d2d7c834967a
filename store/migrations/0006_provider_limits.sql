-- The fleet-wide state of each provider and model (package throttle): GCRA
-- theoretical arrival times for requests and for tokens, a pause (the
-- provider's Retry-After, or the shared backoff after a failure) and the
-- circuit. Every worker of every node takes its turn from this row. Times
-- are unix microseconds of the database's clock on PostgreSQL.
CREATE TABLE aijobs_provider_limits (
    key          TEXT PRIMARY KEY,
    request_tat  BIGINT NOT NULL DEFAULT 0,
    token_tat    BIGINT NOT NULL DEFAULT 0,
    paused_until BIGINT NOT NULL DEFAULT 0,
    pause_reason TEXT NOT NULL DEFAULT '',
    failures     INTEGER NOT NULL DEFAULT 0,
    circuit_open INTEGER NOT NULL DEFAULT 0,
    probe_until  BIGINT NOT NULL DEFAULT 0
);

-- Why a job that is not running waits (waiting_for_capacity,
-- waiting_for_provider) and since when it has waited for the provider.
ALTER TABLE aijobs_jobs ADD COLUMN reason TEXT;
ALTER TABLE aijobs_jobs ADD COLUMN waiting_since BIGINT;
