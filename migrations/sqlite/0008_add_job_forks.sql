-- Forks ("same start, one change"): a job may start from given weights (`start_sha256`, a
-- blob) instead of drawing them from its seed, and records where it comes from: its parent,
-- the JobSpec fields it changed (a JSON array), and its place in the fork's pairs (pair 0 is
-- the parent and the first child; pair k >= 1 a baseline and a child with seed + k).
ALTER TABLE jobs ADD COLUMN parent_id TEXT;
ALTER TABLE jobs ADD COLUMN changed TEXT;
ALTER TABLE jobs ADD COLUMN start_sha256 TEXT REFERENCES blobs (sha256);
ALTER TABLE jobs ADD COLUMN fork_id TEXT;
ALTER TABLE jobs ADD COLUMN fork_pair INTEGER;
ALTER TABLE jobs ADD COLUMN fork_role TEXT CHECK (fork_role IN ('baseline', 'child'));
CREATE INDEX jobs_by_fork ON jobs (fork_id, fork_pair);
CREATE INDEX jobs_by_start ON jobs (start_sha256);
