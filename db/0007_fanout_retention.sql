-- 0007_fanout_retention.sql - fan-out in committed chunks, and delivery
-- rows folded into per-issue counts after a retention period.
--
-- fanout_cursor: the last subscriber id whose copy (if eligible) exists;
-- each chunk of the fan-out commits its deliveries and this cursor
-- together, so a fan-out stopped at any point (crash, kill -9) goes on from
-- it and never makes a second copy (UNIQUE (issue_id, subscriber_id) stays
-- the guard). fanout_done: 1 once every subscriber has been looked at; an
-- issue is not 'sent' before.
ALTER TABLE issues ADD COLUMN fanout_cursor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE issues ADD COLUMN fanout_done INTEGER NOT NULL DEFAULT 0;
-- Until now a fan-out was one transaction: whatever is past 'scheduled'
-- was fanned out whole (a paused issue only if it has copies).
UPDATE issues SET fanout_done = 1 WHERE status IN ('sending', 'sent', 'cancelled')
	OR (status = 'paused' AND EXISTS (SELECT 1 FROM deliveries d WHERE d.issue_id = issues.id));

-- What is left of deliveries older than retention.deliveries: counts per
-- issue and final state, with the span of their sending (queue.c owns it,
-- as it owns deliveries). Totals read deliveries plus these.
CREATE TABLE delivery_counts (
	issue_id	INTEGER NOT NULL REFERENCES issues (id),
	state		TEXT NOT NULL,			-- sent, failed, bounced, dropped
	n		INTEGER NOT NULL,
	first_sent_at	INTEGER,
	last_sent_at	INTEGER,
	PRIMARY KEY (issue_id, state)
) WITHOUT ROWID;

-- Deleting a delivery sets its bounces' delivery_id to NULL (foreign key):
-- without this index each delete would scan every bounce.
CREATE INDEX bounces_delivery ON bounces (delivery_id);
