-- Weights and checkpoints move into one content-addressed table: a blob is keyed by the
-- SHA-256 of its bytes, so equal weights (a model and the job it came from, forks that
-- share a start) are stored once. Rows point at blobs by digest; a blob goes when the
-- last row pointing at it does (store::sqlite::blobs::release).
CREATE TABLE blobs (
    sha256 TEXT PRIMARY KEY NOT NULL,
    bytes  BLOB NOT NULL,
    size   INTEGER NOT NULL
);

-- SQLite has no SHA-256 function, so the digests of existing rows are computed by the
-- server right after this migration (store::sqlite::blobs::adopt_legacy): the old bytes
-- wait in `legacy_*` columns, which are NULL once adopted and for every new row.
CREATE TABLE models_new (
    id             TEXT PRIMARY KEY NOT NULL,
    job_id         TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    dataset        TEXT NOT NULL,
    spec           TEXT NOT NULL,
    job_spec       TEXT,
    weights_sha256 TEXT REFERENCES blobs (sha256),
    parameters     INTEGER NOT NULL,
    test_accuracy  REAL,
    test_loss      REAL,
    created_at     TEXT NOT NULL,
    legacy_weights BLOB
);
INSERT INTO models_new (id, job_id, dataset, spec, job_spec, parameters, test_accuracy, test_loss, created_at, legacy_weights)
    SELECT id, job_id, dataset, spec, job_spec, parameters, test_accuracy, test_loss, created_at, weights FROM models;
DROP TABLE models;
ALTER TABLE models_new RENAME TO models;
CREATE INDEX models_by_dataset ON models (dataset, test_accuracy);
CREATE INDEX models_by_weights ON models (weights_sha256);

CREATE TABLE checkpoints_new (
    job_id      TEXT PRIMARY KEY NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch       INTEGER NOT NULL,
    step        INTEGER NOT NULL DEFAULT 0,
    blob_sha256 TEXT REFERENCES blobs (sha256),
    legacy_blob BLOB
);
INSERT INTO checkpoints_new (job_id, epoch, step, legacy_blob) SELECT job_id, epoch, step, blob FROM checkpoints;
DROP TABLE checkpoints;
ALTER TABLE checkpoints_new RENAME TO checkpoints;
CREATE INDEX checkpoints_by_blob ON checkpoints (blob_sha256);

-- A job's initial weights are kept as a blob too (forks start from them).
CREATE INDEX jobs_by_init ON jobs (init_sha256);
