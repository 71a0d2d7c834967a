-- Fair share between users. When the queue is contended, a new job waits
-- here (river_id NULL) with a tag in its user's virtual clock instead of
-- going to River at once; the dispatcher moves waiting jobs to River in tag
-- order, as workers free up. A user's clock advances by 1,000,000 / weight
-- per job, so users with queued work take turns, weighted, each in its own
-- submit order. aijobs_nodes.workers is how many jobs a node runs at once:
-- their sum is how many jobs River may hold ready.
ALTER TABLE aijobs_users ADD COLUMN weight INTEGER NOT NULL DEFAULT 1;
ALTER TABLE aijobs_nodes ADD COLUMN workers INTEGER NOT NULL DEFAULT 0;
ALTER TABLE aijobs_jobs ADD COLUMN fair_tag BIGINT;
CREATE TABLE aijobs_fair (
    user_id    TEXT PRIMARY KEY REFERENCES aijobs_users (id),
    finish_tag BIGINT NOT NULL
);
CREATE INDEX aijobs_fair_finish ON aijobs_fair (finish_tag);
CREATE INDEX aijobs_jobs_waiting ON aijobs_jobs (fair_tag, created_at, id) WHERE river_id IS NULL AND finished_at IS NULL;
-- A user's jobs in River, counted for --max-running-per-user.
CREATE INDEX aijobs_jobs_user_dispatched ON aijobs_jobs (user_id) WHERE river_id IS NOT NULL AND finished_at IS NULL;
