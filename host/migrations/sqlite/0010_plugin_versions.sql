-- Plugin versions side by side: every version installed (by `plugins install`, or when an
-- integration is set up with a file from the plugins folder) is kept here, so what an
-- integration runs never depends on what the folder holds today, and every process of a
-- fleet can run it. One build per name and version: a changed build needs a new version.
CREATE TABLE plugin_versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    contract_version TEXT NOT NULL,
    component BLOB NOT NULL,
    installed_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
-- The exact build an integration runs; empty for integrations from before, pinned to the
-- newest available the first time they are used.
ALTER TABLE integrations ADD COLUMN plugin_version TEXT;
ALTER TABLE integrations ADD COLUMN plugin_digest TEXT;
