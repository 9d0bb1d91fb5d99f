-- The newest checkpoint of each running job (train::checkpoint: weights, optimizer and RNG
-- state, row order, counters), written in the same transaction as that epoch's metrics, so
-- a job interrupted by a crash resumes after its last recorded epoch. Deleted when the job
-- ends.
CREATE TABLE checkpoints (
    job_id TEXT PRIMARY KEY NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    epoch  INTEGER NOT NULL,
    blob   BLOB NOT NULL
);
