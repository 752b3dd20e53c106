-- 0012_slug_alias.sql - an issue's earlier slugs (issues.c owns the table).
--
-- 'broadside issue edit' may change a draft's or scheduled issue's subject,
-- and with it the slug (its archive name, /p/SLUG). The slug it had is kept
-- here, so that /p/OLD answers 301 to the issue's page once it is public
-- and issue:OLD links in other issues still find it. A slug is either some
-- issue's current one or one row here, never both (issues.c chooses new
-- slugs against both); editing a subject back takes its old slug back.
CREATE TABLE issue_slug_alias (
	old_slug	TEXT PRIMARY KEY,
	issue_id	INTEGER NOT NULL REFERENCES issues (id),
	created_at	INTEGER NOT NULL
);
CREATE INDEX issue_slug_alias_issue ON issue_slug_alias (issue_id);
