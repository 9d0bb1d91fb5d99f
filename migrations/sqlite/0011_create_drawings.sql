-- Labelled drawings from the draw page: an evaluation set of real handwriting.
-- `pixels` is the 28x28 image the models saw, row-major, one byte per pixel (0 paper, 255 ink).
CREATE TABLE drawings (
    id TEXT PRIMARY KEY,
    label INTEGER NOT NULL CHECK (label BETWEEN 0 AND 9),
    pixels BLOB NOT NULL CHECK (length(pixels) = 784),
    created_at TEXT NOT NULL
);
CREATE INDEX drawings_by_label ON drawings (label, created_at);
CREATE INDEX drawings_by_time ON drawings (created_at, id);
