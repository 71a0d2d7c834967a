-- aijobs' own tables. Portable SQL: it runs unchanged on SQLite and PostgreSQL.
-- Times are unix microseconds; JSON is TEXT; booleans are INTEGER 0/1.
CREATE TABLE aijobs_users (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    daily_quota BIGINT NOT NULL,
    event_seq   BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL
);

CREATE TABLE aijobs_tokens (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES aijobs_users (id),
    created_at BIGINT NOT NULL
);

CREATE TABLE aijobs_jobs (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES aijobs_users (id),
    status        TEXT NOT NULL,
    progress      INTEGER NOT NULL DEFAULT 0,
    seq           BIGINT NOT NULL,
    intent        TEXT NOT NULL DEFAULT '',
    attempt       INTEGER NOT NULL DEFAULT 0,
    input         TEXT NOT NULL,
    user_key      INTEGER NOT NULL DEFAULT 0,
    request_key   TEXT,
    body_hash     TEXT NOT NULL DEFAULT '',
    result        TEXT,
    error_code    TEXT,
    error_message TEXT,
    retry_at      BIGINT,
    tokens_in     BIGINT NOT NULL DEFAULT 0,
    tokens_out    BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    finished_at   BIGINT,
    expires_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX aijobs_jobs_request_key ON aijobs_jobs (user_id, request_key) WHERE request_key IS NOT NULL;
CREATE INDEX aijobs_jobs_user_created ON aijobs_jobs (user_id, created_at DESC, id DESC);
CREATE INDEX aijobs_jobs_expires ON aijobs_jobs (expires_at) WHERE finished_at IS NOT NULL;

CREATE TABLE aijobs_events (
    job_id   TEXT NOT NULL,
    seq      BIGINT NOT NULL,
    user_id  TEXT NOT NULL,
    user_seq BIGINT NOT NULL,
    type     TEXT NOT NULL,
    data     TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX aijobs_events_user ON aijobs_events (user_id, user_seq);

-- A user's own provider key, sealed with AES-256-GCM; deleted when the job ends.
CREATE TABLE aijobs_sealed_keys (
    job_id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL
);

CREATE TABLE aijobs_usage (
    user_id           TEXT NOT NULL,
    day               TEXT NOT NULL,
    requests          BIGINT NOT NULL DEFAULT 0,
    user_key_requests BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);
