-- Optional per-epoch measurements (JobSpec `eval_train_accuracy`, `epoch_test_metrics`):
-- the training rows' accuracy measured in eval mode (no dropout, batch norm's running
-- statistics), and the test set's loss and accuracy, so the book's train/test figures can
-- be drawn directly. NULL when not asked for.
ALTER TABLE epochs ADD COLUMN eval_train_accuracy REAL;
ALTER TABLE epochs ADD COLUMN test_loss REAL;
ALTER TABLE epochs ADD COLUMN test_accuracy REAL;
