-- 0006_subscriber_identity.sql - a subscriber id is never given to anyone
-- else, and one person is one address whatever its case.
--
-- Tokens (unsubscribe links, one-click, Message-IDs) name a subscriber id:
-- with a plain INTEGER PRIMARY KEY, removing the newest subscriber freed
-- their id for the next one, and the removed reader's old link then acted
-- on the newcomer. AUTOINCREMENT never hands an id out twice; the sequence
-- starts above every id the database still mentions (deliveries, bounces,
-- events), so an id removed before this migration is not reused either.
--
-- email_key becomes the whole address in lower case (address.c): mailbox
-- providers treat local parts case-insensitively, so Gone@Example.COM is
-- gone@example.com. `email` keeps the spelling given, for sending. People
-- already on the list under several spellings are merged: the first
-- (lowest id) is the person and takes the gravest status of them all
-- (complained > bounced > unsubscribed > active); each later spelling is
-- kept for its history, 'unsubscribed' if it was active, with an email_key
-- that no address matches ("<key> #<id> merged into #<first>"), and an
-- event.
--
-- The table is rebuilt (SQLite's documented procedure, with foreign keys
-- off while migrations run: db.c), keeping every row, id and index.

CREATE TEMP TABLE person AS
SELECT lower(email_key) AS k, min(id) AS first,
       max(CASE status WHEN 'complained' THEN 3 WHEN 'bounced' THEN 2
                       WHEN 'unsubscribed' THEN 1 ELSE 0 END) AS grave
FROM subscribers GROUP BY lower(email_key) HAVING count(*) > 1;
CREATE UNIQUE INDEX temp.person_k ON person (k);

CREATE TABLE subscribers_new (
	id		INTEGER PRIMARY KEY AUTOINCREMENT,
	email		TEXT NOT NULL,			-- as given
	email_key	TEXT NOT NULL UNIQUE,		-- the whole address, lower case
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

INSERT INTO subscribers_new (id, email, email_key, name, tier, status, bounce_score,
	last_bounce_at, created_at, updated_at)
SELECT s.id, s.email,
       CASE WHEN p.first IS NULL OR p.first = s.id THEN lower(s.email_key)
            ELSE lower(s.email_key) || ' #' || s.id || ' merged into #' || p.first END,
       s.name, s.tier,
       CASE WHEN p.first IS NULL THEN s.status
            WHEN p.first = s.id THEN
                 CASE p.grave WHEN 3 THEN 'complained' WHEN 2 THEN 'bounced'
                              WHEN 1 THEN 'unsubscribed' ELSE 'active' END
            WHEN s.status = 'active' THEN 'unsubscribed'
            ELSE s.status END,
       s.bounce_score, s.last_bounce_at, s.created_at, s.updated_at
FROM subscribers s LEFT JOIN person p ON p.k = lower(s.email_key);

INSERT INTO events (at, kind, ref_id, event, detail)
SELECT CAST(strftime('%s', 'now') AS INTEGER), 'subscriber', s.id, 'merged',
       'same address as subscriber ' || p.first || ' in another case: merged into it'
FROM subscribers s JOIN person p ON p.k = lower(s.email_key) WHERE s.id != p.first;

-- A merged person who is no longer active gets no more queued copies.
UPDATE deliveries SET state = 'dropped', updated_at = CAST(strftime('%s', 'now') AS INTEGER),
	lease_owner = NULL, lease_expires = NULL
WHERE state IN ('queued', 'deferred') AND subscriber_id IN
	(SELECT s.id FROM subscribers s JOIN person p ON p.k = lower(s.email_key)
	 JOIN subscribers_new n ON n.id = s.id WHERE n.status != 'active');

DROP TABLE subscribers;
ALTER TABLE subscribers_new RENAME TO subscribers;
CREATE INDEX subscribers_status ON subscribers (status, tier);

-- Start above every id still mentioned anywhere.
INSERT INTO sqlite_sequence (name, seq)
SELECT 'subscribers', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'subscribers');
UPDATE sqlite_sequence SET seq = max(seq,
	coalesce((SELECT max(id) FROM subscribers), 0),
	coalesce((SELECT max(subscriber_id) FROM deliveries), 0),
	coalesce((SELECT max(subscriber_id) FROM bounces), 0),
	coalesce((SELECT max(ref_id) FROM events WHERE kind = 'subscriber'), 0))
WHERE name = 'subscribers';

DROP TABLE temp.person;
