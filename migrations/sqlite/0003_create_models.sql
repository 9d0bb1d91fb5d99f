-- Trained (or imported) models: the architecture (ModelSpec JSON) and the weights as a
-- safetensors file with PyTorch names (see README, "Saved models").
CREATE TABLE models (
    id            TEXT PRIMARY KEY NOT NULL,
    job_id        TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    dataset       TEXT NOT NULL,
    spec          TEXT NOT NULL,
    job_spec      TEXT,
    weights       BLOB NOT NULL,
    parameters    INTEGER NOT NULL,
    test_accuracy REAL,
    test_loss     REAL,
    created_at    TEXT NOT NULL
);

CREATE INDEX models_by_dataset ON models (dataset, test_accuracy);
