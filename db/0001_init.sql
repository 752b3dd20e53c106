-- 0001_init.sql - Broadside's state: subscribers, issues, deliveries,
-- bounces and the append-only events log. Times are Unix seconds (UTC).

CREATE TABLE subscribers (
	id		INTEGER PRIMARY KEY,
	email		TEXT NOT NULL,			-- as given
	email_key	TEXT NOT NULL UNIQUE,		-- local part as is, domain lowercased
	name		TEXT NOT NULL DEFAULT '',
	tier		TEXT NOT NULL DEFAULT 'free'
			CHECK (tier IN ('free', 'paid')),
	status		TEXT NOT NULL DEFAULT 'active'
			CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained')),
	bounce_score	INTEGER NOT NULL DEFAULT 0,
	last_bounce_at	INTEGER,
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL
);
CREATE INDEX subscribers_status ON subscribers (status, tier);

-- People who asked to be forgotten: only a keyed hash of their address is
-- kept, so that a later import cannot mail them again.
CREATE TABLE suppressions (
	hash		TEXT PRIMARY KEY,
	reason		TEXT NOT NULL,
	created_at	INTEGER NOT NULL
);

CREATE TABLE issues (
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
	updated_at	INTEGER NOT NULL
);
CREATE INDEX issues_due ON issues (status, send_at);

CREATE TABLE deliveries (
	id		INTEGER PRIMARY KEY,
	issue_id	INTEGER NOT NULL REFERENCES issues (id),
	subscriber_id	INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
	state		TEXT NOT NULL DEFAULT 'queued'
			CHECK (state IN ('queued', 'sending', 'sent', 'deferred', 'failed', 'bounced', 'dropped')),
	attempts	INTEGER NOT NULL DEFAULT 0,
	next_attempt_at	INTEGER NOT NULL DEFAULT 0,
	first_attempt_at INTEGER,
	lease_owner	TEXT,
	lease_expires	INTEGER,
	relay		TEXT,
	last_code	INTEGER,
	last_status	TEXT,
	last_text	TEXT,
	message_id	TEXT,
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL,
	sent_at		INTEGER,
	UNIQUE (issue_id, subscriber_id)
);
CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at);
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id);

CREATE TABLE bounces (
	id		INTEGER PRIMARY KEY,
	delivery_id	INTEGER REFERENCES deliveries (id) ON DELETE SET NULL,
	subscriber_id	INTEGER REFERENCES subscribers (id) ON DELETE SET NULL,
	kind		TEXT NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
	status		TEXT NOT NULL DEFAULT '',	-- enhanced status, 5.1.1
	reply_code	TEXT NOT NULL DEFAULT '',
	reason		TEXT NOT NULL DEFAULT '',
	diagnostic	TEXT NOT NULL DEFAULT '',
	created_at	INTEGER NOT NULL
);
CREATE INDEX bounces_subscriber ON bounces (subscriber_id);

-- Append-only audit log of every change to a subscriber or an issue.
CREATE TABLE events (
	id		INTEGER PRIMARY KEY,
	at		INTEGER NOT NULL,
	kind		TEXT NOT NULL,			-- 'subscriber' | 'issue' | 'system'
	ref_id		INTEGER,
	event		TEXT NOT NULL,			-- 'created', 'unsubscribed', ...
	detail		TEXT NOT NULL DEFAULT ''
);
CREATE INDEX events_ref ON events (kind, ref_id);
