-- Webhooks. A user's signing secret (whsec_…, sealed with AES-256-GCM, never
-- stored in the clear) and default webhook; a job's webhook (JSON
-- {"url", "events"}); one delivery per (job, event seq), each with its tries.
ALTER TABLE aijobs_users ADD COLUMN webhook TEXT;
ALTER TABLE aijobs_users ADD COLUMN webhook_secret TEXT;
ALTER TABLE aijobs_jobs ADD COLUMN webhook TEXT;

-- state: pending | delivered | failed | dead. body is the job snapshot at the
-- event, signed afresh on every try with the same id (the webhook-id).
CREATE TABLE aijobs_deliveries (
    id              TEXT PRIMARY KEY,
    job_id          TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    user_id         TEXT NOT NULL,
    event           TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL,
    status_code     INTEGER,
    error           TEXT,
    created_at      BIGINT NOT NULL,
    next_attempt_at BIGINT,
    finished_at     BIGINT
);
CREATE UNIQUE INDEX aijobs_deliveries_job_seq ON aijobs_deliveries (job_id, seq);

-- One row per try, written when it starts: a try whose worker died shows
-- without a duration.
CREATE TABLE aijobs_delivery_attempts (
    delivery_id TEXT NOT NULL,
    n           INTEGER NOT NULL,
    started_at  BIGINT NOT NULL,
    duration_us BIGINT,
    status_code INTEGER,
    error       TEXT,
    PRIMARY KEY (delivery_id, n)
);
