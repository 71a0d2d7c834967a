-- API tokens get a lifecycle: an id to name them by (never the hash), a
-- name, an expiry, revocation, when they were last used, and the admin role.
-- Rows made before this migration keep working: they never expire, are not
-- admin, and get an id from the first 96 bits of their hash (the SHA-256 of
-- a 256-bit random token, so it tells nothing of the token; portable SQL has
-- no random function). New tokens get a random id.
ALTER TABLE aijobs_tokens ADD COLUMN id TEXT;
ALTER TABLE aijobs_tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE aijobs_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE aijobs_tokens ADD COLUMN revoked_at BIGINT;
ALTER TABLE aijobs_tokens ADD COLUMN last_used_at BIGINT;
ALTER TABLE aijobs_tokens ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
UPDATE aijobs_tokens SET id = 'tok_' || substr(hash, 1, 24) WHERE id IS NULL;
CREATE UNIQUE INDEX aijobs_tokens_id ON aijobs_tokens (id);
CREATE INDEX aijobs_tokens_user ON aijobs_tokens (user_id, created_at);
