-- Sweeps: a search over JobSpec fields whose trials are ordinary jobs (`jobs.sweep_id`), on
-- the same queue, workers and replicas. A trial that may not start yet (the sweep's
-- `parallelism` is used up) or that paused at an early-stopping rung is `queued` but
-- `held`: workers do not claim it, and it does not count against the queue cap. A trial
-- stops after epoch `pause_at_epoch` (an ASHA rung, or each epoch the median rule judges) and waits, its checkpoint kept, for the rule
-- to promote it (it resumes from the checkpoint) or stop it (it is cancelled, saying why).
CREATE TABLE sweeps (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
    created_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX sweeps_by_status ON sweeps (status, created_at);

ALTER TABLE jobs ADD COLUMN sweep_id TEXT REFERENCES sweeps (id);
ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN pause_at_epoch INTEGER;
CREATE INDEX jobs_by_sweep ON jobs (sweep_id);

-- Each trial's configuration: its index and swept values.
CREATE TABLE sweep_trials (
    job_id        TEXT PRIMARY KEY NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    sweep_id      TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    config        INTEGER NOT NULL,
    params        TEXT NOT NULL
);
CREATE INDEX sweep_trials_by_sweep ON sweep_trials (sweep_id, config);

-- Every early-stopping decision with its evidence: one per configuration and rung.
CREATE TABLE sweep_decisions (
    sweep_id   TEXT NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    config     INTEGER NOT NULL,
    rung_epoch INTEGER NOT NULL,
    action     TEXT NOT NULL CHECK (action IN ('promote', 'stop')),
    value      REAL NOT NULL,
    cutoff     REAL NOT NULL,
    rank       INTEGER NOT NULL,
    of_count   INTEGER NOT NULL,
    rule       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (sweep_id, config, rung_epoch)
);
