-- 0007_readers.sql - readers who join by themselves (double opt-in), and
-- the public archive.
--
-- subscribers.status gains 'pending': signed up on the web page, asked to
-- confirm by email, not yet confirmed. Such a subscriber gets nothing but
-- the confirmation email. pending_since is when they (last) asked;
-- pending_from is the status they had before (NULL: none, a new address),
-- which they go back to if they never confirm. The table is rebuilt for its
-- CHECK constraint (SQLite's documented procedure, foreign keys off while
-- migrations run: db.c), keeping every row, id, index and the id sequence.

CREATE TEMP TABLE seq AS
SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'subscribers'), 0) AS seq;

CREATE TABLE subscribers_new (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	email		TEXT NOT NULL,			-- as given
	email_key	TEXT NOT NULL UNIQUE,		-- the whole address, lower case
	name		TEXT NOT NULL DEFAULT '',
	tier		TEXT NOT NULL DEFAULT 'free'
			CHECK (tier IN ('free', 'paid')),
	status		TEXT NOT NULL DEFAULT 'active'
			CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained', 'pending')),
	bounce_score	INTEGER NOT NULL DEFAULT 0,
	last_bounce_at	INTEGER,
	created_at	INTEGER NOT NULL,
	updated_at	INTEGER NOT NULL,
	pending_since	INTEGER,
	pending_from	TEXT
);

INSERT INTO subscribers_new (id, email, email_key, name, tier, status, bounce_score,
	last_bounce_at, created_at, updated_at)
SELECT id, email, email_key, name, tier, status, bounce_score, last_bounce_at,
	created_at, updated_at FROM subscribers;

DROP TABLE subscribers;
ALTER TABLE subscribers_new RENAME TO subscribers;
CREATE INDEX subscribers_status ON subscribers (status, tier);
CREATE INDEX subscribers_pending ON subscribers (pending_since) WHERE status = 'pending';

INSERT INTO sqlite_sequence (name, seq)
SELECT 'subscribers', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'subscribers');
UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM temp.seq),
	coalesce((SELECT max(id) FROM subscribers), 0))
WHERE name = 'subscribers';
DROP TABLE temp.seq;

-- kind 'confirmation': the one issue whose copies are the signup
-- confirmation emails (queue.c, render.c): always 'sending', never public.
-- slug: the issue's public name in the archive (/p/SLUG), made from the
-- subject when the issue is created and never changed; issues older than
-- this migration get "issue-ID".
ALTER TABLE issues ADD COLUMN kind TEXT NOT NULL DEFAULT 'issue'
	CHECK (kind IN ('issue', 'confirmation'));
ALTER TABLE issues ADD COLUMN slug TEXT;
UPDATE issues SET slug = 'issue-' || id;
CREATE UNIQUE INDEX issues_slug ON issues (slug);

-- Signup attempts, for the abuse limits (per address, per client address,
-- confirmations per day); rows older than a day are pruned as new ones come.
CREATE TABLE signups (
	id		INTEGER PRIMARY KEY,
	at		INTEGER NOT NULL,
	ip		TEXT NOT NULL,
	email_key	TEXT NOT NULL DEFAULT '',
	outcome		TEXT NOT NULL		-- mailed, known, limited, refused
);
CREATE INDEX signups_ip ON signups (ip, at);
CREATE INDEX signups_email ON signups (email_key, at);
CREATE INDEX signups_at ON signups (at);
