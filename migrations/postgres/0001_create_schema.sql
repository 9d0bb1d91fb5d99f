-- The PostgreSQL schema: the same tables as the SQLite one (migrations/sqlite, where each
-- is commented), in their current form. Times are RFC 3339 UTC text, as on SQLite; lease
-- expiries are unix milliseconds.

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    spec             TEXT NOT NULL,
    dataset          TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    epoch            BIGINT NOT NULL DEFAULT 0,
    epochs_total     BIGINT NOT NULL,
    error            TEXT,
    model_id         TEXT,
    test_accuracy    DOUBLE PRECISION,
    test_loss        DOUBLE PRECISION,
    train_seconds    DOUBLE PRECISION,
    attempts         BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL DEFAULT 3,
    lease_owner      TEXT,
    lease_token      TEXT,
    lease_expires_ms BIGINT,
    init_sha256      TEXT
);

CREATE INDEX jobs_by_status ON jobs (status, created_at, id);
CREATE INDEX jobs_by_created ON jobs (created_at);
CREATE INDEX jobs_by_lease ON jobs (status, lease_expires_ms);

CREATE TABLE epochs (
    job_id         TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epochs_done    BIGINT NOT NULL,
    fold           BIGINT NOT NULL,
    epoch          BIGINT NOT NULL,
    train_loss     DOUBLE PRECISION,
    train_accuracy DOUBLE PRECISION,
    val_loss       DOUBLE PRECISION,
    val_accuracy   DOUBLE PRECISION,
    learning_rate  DOUBLE PRECISION,
    seconds        DOUBLE PRECISION,
    samples        BIGINT,
    grad_norms     TEXT NOT NULL,
    weight_norms   TEXT NOT NULL,
    PRIMARY KEY (job_id, epochs_done)
);

CREATE TABLE step_losses (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step   BIGINT NOT NULL,
    epoch  BIGINT NOT NULL,
    loss   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job_id, step)
);

CREATE TABLE models (
    id            TEXT PRIMARY KEY,
    job_id        TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    dataset       TEXT NOT NULL,
    spec          TEXT NOT NULL,
    job_spec      TEXT,
    weights       BYTEA NOT NULL,
    parameters    BIGINT NOT NULL,
    test_accuracy DOUBLE PRECISION,
    test_loss     DOUBLE PRECISION,
    created_at    TEXT NOT NULL
);

CREATE INDEX models_by_dataset ON models (dataset, test_accuracy);

CREATE TABLE checkpoints (
    job_id TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    epoch  BIGINT NOT NULL,
    step   BIGINT NOT NULL DEFAULT 0,
    blob   BYTEA NOT NULL
);
