-- One row per epoch holding the epoch's metrics as the API serves them: `/metrics` and the
-- event stream send this row as it is. It replaces the name/value rows of epoch_metrics,
-- whose data are carried over.
CREATE TABLE epochs (
    job_id         TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    -- The epoch's place in the run, 1-based; k-fold runs count every fold's epochs. What
    -- `?since_epoch=` and a job's `progress.epoch` count.
    epochs_done    INTEGER NOT NULL,
    -- 1-based fold of a k-fold run, 0 otherwise; the epoch within its fold, 1-based.
    fold           INTEGER NOT NULL,
    epoch          INTEGER NOT NULL,
    -- NULL where the value was not finite (a diverged run) or not measured (no validation).
    train_loss     REAL,
    train_accuracy REAL,
    val_loss       REAL,
    val_accuracy   REAL,
    learning_rate  REAL,
    seconds        REAL,
    samples        INTEGER,
    -- JSON arrays, one value per dense layer, input side first (null where not finite).
    grad_norms     TEXT NOT NULL,
    weight_norms   TEXT NOT NULL,
    PRIMARY KEY (job_id, epochs_done)
) WITHOUT ROWID;

INSERT INTO epochs (job_id, epochs_done, fold, epoch, train_loss, train_accuracy, val_loss, val_accuracy,
                    learning_rate, seconds, samples, grad_norms, weight_norms)
SELECT m.job_id,
       (MAX(m.fold, 1) - 1) * json_extract(j.spec, '$.epochs') + m.epoch,
       m.fold,
       m.epoch,
       MAX(CASE WHEN m.name = 'train_loss' THEN m.value END),
       MAX(CASE WHEN m.name = 'train_accuracy' THEN m.value END),
       MAX(CASE WHEN m.name = 'val_loss' THEN m.value END),
       MAX(CASE WHEN m.name = 'val_accuracy' THEN m.value END),
       MAX(CASE WHEN m.name = 'learning_rate' THEN m.value END),
       MAX(CASE WHEN m.name = 'seconds' THEN m.value END),
       NULL,
       (SELECT json_group_array(g.value) FROM
           (SELECT value FROM epoch_metrics WHERE job_id = m.job_id AND fold = m.fold AND epoch = m.epoch
              AND name LIKE 'grad\_norm.%' ESCAPE '\' ORDER BY CAST(substr(name, 11) AS INTEGER)) AS g),
       (SELECT json_group_array(w.value) FROM
           (SELECT value FROM epoch_metrics WHERE job_id = m.job_id AND fold = m.fold AND epoch = m.epoch
              AND name LIKE 'weight\_norm.%' ESCAPE '\' ORDER BY CAST(substr(name, 13) AS INTEGER)) AS w)
FROM epoch_metrics AS m JOIN jobs AS j ON j.id = m.job_id
GROUP BY m.job_id, m.fold, m.epoch;

DROP TABLE epoch_metrics;
