-- On PostgreSQL a user's events are ordered by the transaction that wrote
-- them, not by a counter on the user's row (which every event of the user
-- had to lock until commit): an event's user_seq is its transaction id plus
-- shift, and readers see an event only once every older transaction has
-- ended (store/dialect.go). shift starts above every user_seq already
-- written, so positions handed out before this migration stay below the new
-- ones. After a logical restore (pg_dump) into another cluster, whose
-- transaction ids start again from low numbers, set it again with
--   UPDATE aijobs_event_clock SET shift = (SELECT MAX(user_seq) FROM aijobs_events);
-- SQLite has one writer at a time and keeps its per-user counter
-- (aijobs_users.event_seq); the table is unused there.
CREATE TABLE aijobs_event_clock (
    shift BIGINT NOT NULL
);
INSERT INTO aijobs_event_clock (shift) SELECT COALESCE(MAX(user_seq), 0) FROM aijobs_events;

-- A user's positions are unique: two events at one position would let a
-- client resuming from it skip the second.
DROP INDEX aijobs_events_user;
CREATE UNIQUE INDEX aijobs_events_user ON aijobs_events (user_id, user_seq);
