-- Plugin versions side by side (see the SQLite migration of the same name).
CREATE TABLE plugin_versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    contract_version TEXT NOT NULL,
    component BYTEA NOT NULL,
    installed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, version)
);
ALTER TABLE integrations ADD COLUMN plugin_version TEXT;
ALTER TABLE integrations ADD COLUMN plugin_digest TEXT;
