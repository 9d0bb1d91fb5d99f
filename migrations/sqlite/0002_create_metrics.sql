-- Loss histories, MLflow-like: one row per metric point. Epoch metrics are named
-- train_loss, train_accuracy, val_loss, val_accuracy, learning_rate, seconds, and
-- grad_norm.{i} / weight_norm.{i} per dense layer i; fold is 0 outside k-fold runs.
CREATE TABLE epoch_metrics (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    fold   INTEGER NOT NULL,
    epoch  INTEGER NOT NULL,
    name   TEXT NOT NULL,
    value  REAL NOT NULL,
    PRIMARY KEY (job_id, fold, epoch, name)
) WITHOUT ROWID;

-- Sampled mini-batch losses (about 50 per epoch): the mean loss of the steps since the
-- previous sample.
CREATE TABLE step_losses (
    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step   INTEGER NOT NULL,
    epoch  INTEGER NOT NULL,
    loss   REAL NOT NULL,
    PRIMARY KEY (job_id, step)
) WITHOUT ROWID;
