-- 0011_check_cost.sql - the same CHECK constraints on deliveries.state and
-- subscribers.status, written so that SQLite checks them cheaply.
--
-- SQLite evaluates a CHECK of the form `x IN (three or more values)` by
-- building a throwaway index of the values for every row written: ~14,000
-- instructions per row, paid at every claim, outcome and fan-out row of
-- `deliveries` (~89,000 instructions of the daemon's ~700,000 a message,
-- callgrind) and at every subscriber added or changed. The same test
-- written as `x = 'a' OR x = 'b' OR ...` costs a few comparisons. Rows that
-- passed one pass the other (NULL passes both), so no row is read again.
--
-- SQLite's documented procedure for changing a CHECK in place (lang_altertable,
-- "making other kinds of table schema changes"): the table's text in
-- sqlite_schema is edited with writable_schema on, inside this migration's
-- transaction; db.c then bumps schema_version, as the procedure asks, so that
-- every connection reads the new text. replace() edits only the CHECK, so
-- the columns a table has (whatever other migrations added) stay as they are.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql,
	'CHECK (state IN (''queued'', ''sending'', ''sent'', ''deferred'', ''failed'', ''bounced'', ''dropped''))',
	'CHECK (state = ''queued'' OR state = ''sending'' OR state = ''sent'' OR state = ''deferred'' OR state = ''failed'' OR state = ''bounced'' OR state = ''dropped'')')
WHERE type = 'table' AND name = 'deliveries';
UPDATE sqlite_schema SET sql = replace(sql,
	'CHECK (status IN (''active'', ''unsubscribed'', ''bounced'', ''complained'', ''pending''))',
	'CHECK (status = ''active'' OR status = ''unsubscribed'' OR status = ''bounced'' OR status = ''complained'' OR status = ''pending'')')
WHERE type = 'table' AND name = 'subscribers';
PRAGMA writable_schema = OFF;
