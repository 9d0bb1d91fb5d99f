-- A job page lists the forks of its job (GET /api/v1/jobs?parent_id=...), newest first.
CREATE INDEX jobs_by_parent ON jobs (parent_id, created_at);
