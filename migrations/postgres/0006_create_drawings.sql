-- Drawings: as migrations/sqlite/0011_create_drawings.sql.
CREATE TABLE drawings (
    id TEXT PRIMARY KEY,
    label BIGINT NOT NULL CHECK (label BETWEEN 0 AND 9),
    pixels BYTEA NOT NULL CHECK (octet_length(pixels) = 784),
    created_at TEXT NOT NULL
);
CREATE INDEX drawings_by_label ON drawings (label, created_at);
CREATE INDEX drawings_by_time ON drawings (created_at, id);
