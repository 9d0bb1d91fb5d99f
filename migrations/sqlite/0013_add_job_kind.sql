-- Job kinds: what a job does (`train` for every job so far; the datasets issue adds
-- `dataset_import`). Workers claim any kind and hand it to that kind's handler; `spec` holds
-- the kind's payload (a JobSpec for `train`). The words are checked by the application's
-- JobKind enum, not by a CHECK here, so that a new kind needs no table rebuild in SQLite.
ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'train';
