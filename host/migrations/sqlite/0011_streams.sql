-- Streams chosen per integration (NULL: the plugin's defaults), and the stream of each
-- finding, so that a full sync closes only the unseen findings of the streams it pulled.
-- Findings stored before streams have none: every full sync may close them.
ALTER TABLE integrations ADD COLUMN streams TEXT;
ALTER TABLE findings ADD COLUMN stream TEXT;
