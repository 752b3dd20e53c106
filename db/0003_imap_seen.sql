-- 0003_imap_seen.sql - messages of the bounce mailbox already processed.
-- The IMAP intake records each message's UID in the same transaction that
-- applies it, so that no message is applied twice, even when the daemon
-- stops between applying it and flagging it on the server.

CREATE TABLE imap_seen (
	mailbox		TEXT NOT NULL,			-- the bounces.imap.url
	uidvalidity	INTEGER NOT NULL,
	uid		INTEGER NOT NULL,
	processed_at	INTEGER NOT NULL,
	PRIMARY KEY (mailbox, uidvalidity, uid)
);
