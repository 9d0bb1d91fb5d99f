-- Sweeps: as migrations/sqlite/0009_create_sweeps.sql.
CREATE TABLE sweeps (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    created_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX sweeps_by_status ON sweeps (status, created_at);

ALTER TABLE jobs ADD COLUMN sweep_id TEXT REFERENCES sweeps (id);
ALTER TABLE jobs ADD COLUMN held BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE jobs ADD COLUMN pause_at_epoch BIGINT;
CREATE INDEX jobs_by_sweep ON jobs (sweep_id);

CREATE TABLE sweep_trials (
    job_id        TEXT PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    sweep_id      TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    config        BIGINT NOT NULL,
    params        TEXT NOT NULL
);
CREATE INDEX sweep_trials_by_sweep ON sweep_trials (sweep_id, config);

CREATE TABLE sweep_decisions (
    sweep_id   TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    config     BIGINT NOT NULL,
    rung_epoch BIGINT NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('promote', 'stop')),
    value      DOUBLE PRECISION NOT NULL,
    cutoff     DOUBLE PRECISION NOT NULL,
    rank       BIGINT NOT NULL,
    of_count   BIGINT NOT NULL,
    rule       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (sweep_id, config, rung_epoch)
);
