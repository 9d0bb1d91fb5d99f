-- Job lifecycle: a job is claimed under a lease (owner, token, expiry in unix milliseconds)
-- that its worker renews while it trains. Every write a worker makes about the job checks
-- that the lease token is still the job's (and the job still running): a worker whose lease
-- expired, or whose job was cancelled, writes nothing more. A lease that expires returns the
-- job to the queue to resume from its checkpoint.
--
-- attempts: claims spent (a job given back by a graceful shutdown gets its attempt back);
-- a job that would need more than max_attempts ends 'failed'.
-- init_sha256: hex SHA-256 of the initial weights (safetensors bytes), once training starts.
ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 3;
ALTER TABLE jobs ADD COLUMN lease_owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_token TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_ms INTEGER;
ALTER TABLE jobs ADD COLUMN init_sha256 TEXT;

CREATE INDEX jobs_by_lease ON jobs (status, lease_expires_ms);

-- The last sampled step recorded with a checkpoint: a job taken back drops the step samples
-- after it (step numbers run on across the folds of a k-fold run, epochs restart per fold).
ALTER TABLE checkpoints ADD COLUMN step INTEGER NOT NULL DEFAULT 0;
