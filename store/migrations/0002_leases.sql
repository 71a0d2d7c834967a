-- Leases of worker processes (nodes): each renews its own every couple of
-- seconds; a node whose lease lapsed is dead and its attempts are handed back.
CREATE TABLE aijobs_nodes (
    id         TEXT PRIMARY KEY,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- river_id is the River job that runs this job; node the node that runs its
-- current attempt (NULL until an attempt starts).
ALTER TABLE aijobs_jobs ADD COLUMN river_id BIGINT;
ALTER TABLE aijobs_jobs ADD COLUMN node TEXT;
CREATE INDEX aijobs_jobs_unfinished ON aijobs_jobs (created_at) WHERE finished_at IS NULL;

