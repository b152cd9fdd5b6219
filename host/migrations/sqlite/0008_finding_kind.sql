-- Findings have a kind (contract 0.2: issue, vulnerability, misconfiguration; every
-- finding stored before is an issue) and, for vulnerabilities, their details as JSON.
ALTER TABLE findings ADD COLUMN kind TEXT NOT NULL DEFAULT 'issue';
ALTER TABLE findings ADD COLUMN vulnerability TEXT;
