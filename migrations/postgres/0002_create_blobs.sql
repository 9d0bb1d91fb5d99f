-- Weights and checkpoints move into one content-addressed table (as on SQLite, see
-- migrations/sqlite/0007_create_blobs.sql): keyed by the SHA-256 of the bytes, so equal
-- weights are stored once. PostgreSQL computes the digests of existing rows itself.
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY,
    bytes  BYTEA NOT NULL,
    size   BIGINT NOT NULL
);

INSERT INTO blobs (sha256, bytes, size)
    SELECT encode(sha256(weights), 'hex'), weights, length(weights) FROM models
    ON CONFLICT DO NOTHING;
ALTER TABLE models ADD COLUMN weights_sha256 TEXT REFERENCES blobs (sha256);
UPDATE models SET weights_sha256 = encode(sha256(weights), 'hex');
ALTER TABLE models ALTER COLUMN weights_sha256 SET NOT NULL;
ALTER TABLE models DROP COLUMN weights;
CREATE INDEX models_by_weights ON models (weights_sha256);

INSERT INTO blobs (sha256, bytes, size)
    SELECT encode(sha256(blob), 'hex'), blob, length(blob) FROM checkpoints
    ON CONFLICT DO NOTHING;
ALTER TABLE checkpoints ADD COLUMN blob_sha256 TEXT REFERENCES blobs (sha256);
UPDATE checkpoints SET blob_sha256 = encode(sha256(blob), 'hex');
ALTER TABLE checkpoints ALTER COLUMN blob_sha256 SET NOT NULL;
ALTER TABLE checkpoints DROP COLUMN blob;
CREATE INDEX checkpoints_by_blob ON checkpoints (blob_sha256);

CREATE INDEX jobs_by_init ON jobs (init_sha256);
