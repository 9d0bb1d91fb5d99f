-- As migrations/sqlite/0010_add_epoch_eval_metrics.sql.
ALTER TABLE epochs ADD COLUMN eval_train_accuracy DOUBLE PRECISION;
ALTER TABLE epochs ADD COLUMN test_loss DOUBLE PRECISION;
ALTER TABLE epochs ADD COLUMN test_accuracy DOUBLE PRECISION;
