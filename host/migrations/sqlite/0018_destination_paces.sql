-- The request pace of each destination, when the operator sets a ceiling per
-- destination: every worker sharing the store keeps to it together. `next_due_us` is
-- when the destination's next request would be due at an even pace, in microseconds
-- since the epoch by the store's clock.
CREATE TABLE destination_paces (
    destination TEXT PRIMARY KEY,
    next_due_us INTEGER NOT NULL
);
