-- The request pace of each destination (see the SQLite migration of the same name).
CREATE TABLE destination_paces (
    destination TEXT PRIMARY KEY,
    next_due_us BIGINT NOT NULL
);
