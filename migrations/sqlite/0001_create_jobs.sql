-- Training jobs. The table is also the queue: workers claim the oldest 'queued' row with an
-- atomic UPDATE ... RETURNING. Times are RFC 3339 UTC text; spec is the JobSpec as JSON with
-- every default filled in.
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    spec          TEXT NOT NULL,
    dataset       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    -- Epochs done so far and in all (k-fold runs count every fold's epochs).
    epoch         INTEGER NOT NULL DEFAULT 0,
    epochs_total  INTEGER NOT NULL,
    error         TEXT,
    model_id      TEXT,
    test_accuracy REAL,
    test_loss     REAL,
    train_seconds REAL
);

CREATE INDEX jobs_by_status ON jobs (status, created_at);
CREATE INDEX jobs_by_created ON jobs (created_at);
