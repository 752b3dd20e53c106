-- 0010_welcome.sql - what a new reader gets: a welcome email and the latest
-- issue(s) ("catch-up"), as ordinary deliveries (welcome.c, queue.c).
--
-- issues.kind gains 'welcome': the one issue whose copies are the welcome
-- emails (like 'confirmation': always 'sending', never public). The table
-- is rebuilt for its CHECK constraint (SQLite's documented procedure,
-- foreign keys off while migrations run: db.c), keeping every row and id.
-- (Numbered 0010, not 0009: another branch holds 0009.)

CREATE TABLE issues_new (
	id		INTEGER PRIMARY KEY,
	subject		TEXT NOT NULL,
	preheader	TEXT NOT NULL DEFAULT '',
	audience	TEXT NOT NULL DEFAULT 'all'
			CHECK (audience IN ('all', 'free', 'paid')),
	source		TEXT NOT NULL,			-- Markdown body, cut marker included
	source_file	TEXT NOT NULL DEFAULT '',
	status		TEXT NOT NULL DEFAULT 'draft'
			CHECK (status IN ('draft', 'scheduled', 'sending', 'paused', 'sent', 'cancelled')),
	send_at		INTEGER,
	started_at	INTEGER,
	finished_at	INTEGER,
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL,
	pause_reason	TEXT,
	fanout_cursor	INTEGER NOT NULL DEFAULT 0,
	fanout_done	INTEGER NOT NULL DEFAULT 0,
	kind		TEXT NOT NULL DEFAULT 'issue'
			CHECK (kind IN ('issue', 'confirmation', 'welcome')),
	slug		TEXT
);
INSERT INTO issues_new (id, subject, preheader, audience, source, source_file, status,
	send_at, started_at, finished_at, created_at, updated_at, pause_reason,
	fanout_cursor, fanout_done, kind, slug)
SELECT id, subject, preheader, audience, source, source_file, status, send_at,
	started_at, finished_at, created_at, updated_at, pause_reason, fanout_cursor,
	fanout_done, kind, slug FROM issues;
DROP TABLE issues;
ALTER TABLE issues_new RENAME TO issues;
CREATE INDEX issues_due ON issues (status, send_at);
CREATE UNIQUE INDEX issues_slug ON issues (slug);

-- catch_up: 1 for a copy of an issue that went out before the reader
-- joined, queued for them on joining (stats count these apart). Copies of
-- a 'sent' issue are claimed through the partial index below.
ALTER TABLE deliveries ADD COLUMN catch_up INTEGER NOT NULL DEFAULT 0;
CREATE INDEX deliveries_catch_up ON deliveries (issue_id)
	WHERE catch_up = 1 AND state IN ('queued', 'deferred', 'sending');
-- How many of the folded copies (retention) were catch-up copies.
ALTER TABLE delivery_counts ADD COLUMN catch_up INTEGER NOT NULL DEFAULT 0;
