-- Forks: as migrations/sqlite/0008_add_job_forks.sql.
ALTER TABLE jobs ADD COLUMN parent_id TEXT;
ALTER TABLE jobs ADD COLUMN changed TEXT;
ALTER TABLE jobs ADD COLUMN start_sha256 TEXT REFERENCES blobs (sha256);
ALTER TABLE jobs ADD COLUMN fork_id TEXT;
ALTER TABLE jobs ADD COLUMN fork_pair BIGINT;
ALTER TABLE jobs ADD COLUMN fork_role TEXT CHECK (fork_role IN ('baseline', 'child'));
CREATE INDEX jobs_by_fork ON jobs (fork_id, fork_pair);
CREATE INDEX jobs_by_start ON jobs (start_sha256);
