/* issues - the newsletter issues: stored source, audience, status, schedule. */
#include "issues.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "clock.h"
#include "names.h"
#include "xalloc.h"

static const char *const audiences[] = { "all", "free", "paid" };
static const char *const statuses[] = {
	"draft", "scheduled", "sending", "paused", "sent", "cancelled"
};

/* Past up to three spaces: where CommonMark reads what starts a block. */
static const char *
indent3(const char *a, const char *z)
{
	for (int i = 0; i < 3 && a < z && *a == ' '; i++)
		a++;
	return a;
}

/* A code fence at a: three or more of one of ` or ~ (an opening backtick
 * fence's info string has no backtick). Returns the end of that run, with
 * its length and char; NULL when a is no fence. */
static const char *
fence(const char *a, const char *z, size_t *len, char *ch)
{
	const char *e = a;

	if (a == z || (*a != '`' && *a != '~'))
		return NULL;
	while (e < z && *e == *a)
		e++;
	if (e - a < 3 || (*a == '`' && memchr(e, '`', (size_t)(z - e)) != NULL))
		return NULL;
	*len = (size_t)(e - a);
	*ch = *a;
	return e;
}

static int
blank_from(const char *a, const char *z)
{
	while (a < z && (*a == ' ' || *a == '\t' || *a == '\r'))
		a++;
	return a == z;
}

const char *
issue_paywall(const char *src, const char **after, int *count)
{
	const size_t ml = sizeof ISSUE_PAYWALL_MARK - 1;
	const char *first = NULL, *p = src;
	size_t open = 0;	/* the length of the fence we are in, 0: none */
	char open_ch = 0;
	int n = 0;

	while (*p) {
		const char *nl = strchr(p, '\n');
		const char *z = nl ? nl : p + strlen(p);
		const char *next = nl ? nl + 1 : z;
		const char *a = indent3(p, z), *e;
		size_t len;
		char ch;

		if (open) {
			/* Closed by the same char, at least as many, and
			 * nothing but blanks after them. */
			e = fence(a, z, &len, &ch);
			if (e && ch == open_ch && len >= open && blank_from(e, z))
				open = 0;
		} else if (fence(a, z, &len, &ch) != NULL) {
			open = len;
			open_ch = ch;
		} else if ((size_t)(z - a) >= ml && memcmp(a, ISSUE_PAYWALL_MARK, ml) == 0 &&
		    blank_from(a + ml, z)) {
			if (n++ == 0) {
				first = p;
				if (after)
					*after = next;
			}
		}
		p = next;
	}
	if (count)
		*count = n;
	return first;
}

const char *
issue_audience_name(enum issue_audience v)
{
	return names_name(audiences, NAMES_COUNT(audiences), (int)v);
}

int
issue_audience_parse(const char *s, enum issue_audience *out)
{
	int i = names_index(audiences, NAMES_COUNT(audiences), s);

	if (i < 0)
		return -1;
	*out = (enum issue_audience)i;
	return 0;
}

const char *
issue_status_name(enum issue_status v)
{
	return names_name(statuses, NAMES_COUNT(statuses), (int)v);
}

int
issue_status_parse(const char *s, enum issue_status *out)
{
	int i = names_index(statuses, NAMES_COUNT(statuses), s);

	if (i < 0)
		return -1;
	*out = (enum issue_status)i;
	return 0;
}

int
issue_get(struct db *db, int64_t id, struct issue *out, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT id, subject, preheader, source, audience, status, coalesce(send_at, 0), "
	    "coalesce(started_at, 0), coalesce(finished_at, 0), created_at, updated_at, "
	    "coalesce(pause_reason, ''), fanout_cursor, fanout_done, kind, coalesce(slug, '') "
	    "FROM issues WHERE id = ?");
	int rc;

	memset(out, 0, sizeof *out);
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return db_fail(db, d, "reading issue");
		return diag_set(d, EX_NOINPUT, "issue %lld: no such issue", (long long)id);
	}
	out->id = sqlite3_column_int64(st, 0);
	out->subject = xstrdup((const char *)sqlite3_column_text(st, 1));
	out->preheader = xstrdup((const char *)sqlite3_column_text(st, 2));
	out->source = xstrdup((const char *)sqlite3_column_text(st, 3));
	rc = issue_audience_parse((const char *)sqlite3_column_text(st, 4), &out->audience) |
	    issue_status_parse((const char *)sqlite3_column_text(st, 5), &out->status);
	out->send_at = sqlite3_column_int64(st, 6);
	out->started_at = sqlite3_column_int64(st, 7);
	out->finished_at = sqlite3_column_int64(st, 8);
	out->created_at = sqlite3_column_int64(st, 9);
	out->updated_at = sqlite3_column_int64(st, 10);
	out->pause_reason = xstrdup((const char *)sqlite3_column_text(st, 11));
	out->fanout_cursor = sqlite3_column_int64(st, 12);
	out->fanout_done = sqlite3_column_int(st, 13);
	const char *kind = (const char *)sqlite3_column_text(st, 14);
	out->kind = strcmp(kind, "confirmation") == 0 ? ISSUE_KIND_CONFIRMATION :
	    strcmp(kind, "welcome") == 0 ? ISSUE_KIND_WELCOME : ISSUE_KIND_ISSUE;
	out->slug = xstrdup((const char *)sqlite3_column_text(st, 15));
	sqlite3_reset(st);
	if (rc != 0) {
		issue_free(out);
		return diag_set(d, EX_DATAERR, "issue %lld: bad audience or status in database",
		    (long long)id);
	}
	return 0;
}

void
issue_free(struct issue *is)
{
	free(is->subject);
	free(is->preheader);
	free(is->source);
	free(is->pause_reason);
	free(is->slug);
	is->subject = is->preheader = is->source = is->pause_reason = is->slug = NULL;
}

void
issue_slugify(const char *subject, buf *out)
{
	size_t start = out->len, cut = 0;
	int dash = 0;

	for (const unsigned char *p = (const unsigned char *)subject; p && *p; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) {
			if (dash && out->len > start) {
				if (out->len - start + 1 > ISSUE_SLUG_MAX)
					break;
				cut = out->len;
				buf_putc(out, '-');
			}
			if (out->len - start + 1 > ISSUE_SLUG_MAX) {
				if (cut > start)
					buf_truncate(out, cut);
				break;
			}
			buf_putc(out, (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
			dash = 0;
		} else if (c == '\'' || (c == 0xE2 && p[1] == 0x80 && p[2] == 0x99)) {
			/* An apostrophe (' or U+2019) joins: "what's" -> "whats". */
			if (c == 0xE2)
				p += 2;
		} else {
			dash = 1;
		}
	}
	if (out->len == start)
		buf_puts(out, "issue");
}

/* A slug no other issue has, now or had (issue_slug_alias): the subject's,
 * then -2, -3, ... Slugs `self` has or had count as free: an issue edited
 * back to an earlier subject takes its earlier slug back. */
static int
unique_slug(struct db *db, const char *subject, int64_t self, buf *out, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT 1 FROM issues WHERE slug = ?1 AND id != ?2 UNION ALL "
	    "SELECT 1 FROM issue_slug_alias WHERE old_slug = ?1 AND issue_id != ?2");
	size_t base;

	issue_slugify(subject, out);
	base = out->len;
	for (int n = 2; ; n++) {
		int rc;
		sqlite3_bind_text(st, 1, buf_cstr(out), -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, self);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE)
			return 0;
		if (rc != SQLITE_ROW)
			return db_fail(db, d, "choosing the issue's slug");
		buf_truncate(out, base);
		buf_printf(out, "-%d", n);
	}
}

int
issue_insert(struct db *db, struct issue *is, diag *d)
{
	sqlite3_stmt *st;
	buf slug = BUF_INIT;

	if (unique_slug(db, is->subject ? is->subject : "", 0, &slug, d) < 0) {
		buf_free(&slug);
		return -1;
	}
	st = db_stmt(db,
	    "INSERT INTO issues (subject, preheader, audience, source, status, "
	    "created_at, updated_at, slug) VALUES (?, ?, ?, ?, 'draft', ?6, ?6, ?7)");
	sqlite3_bind_text(st, 1, is->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, is->preheader ? is->preheader : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, issue_audience_name(is->audience), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, is->source, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, clock_now());
	sqlite3_bind_text(st, 7, buf_cstr(&slug), -1, SQLITE_TRANSIENT);
	buf_free(&slug);
	if (db_step_done(db, st, d, "storing issue") < 0)
		return -1;
	is->id = sqlite3_last_insert_rowid(db_handle(db));
	is->status = ISSUE_DRAFT;
	return db_event(db, "issue", is->id, "created", is->subject, d);
}

/* The slug of issue `id` becomes `slug` (chosen by unique_slug): the one
 * it had is kept as an alias, and `slug`, if it had it before, is one no
 * more. */
static int
change_slug(struct db *db, int64_t id, const char *old, const char *slug, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "DELETE FROM issue_slug_alias WHERE old_slug = ?1 AND issue_id = ?2");
	buf ev = BUF_INIT;
	int rc;

	sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	if (db_step_done(db, st, d, "taking back an earlier slug") < 0)
		return -1;
	if (*old) {
		st = db_stmt(db, "INSERT INTO issue_slug_alias (old_slug, issue_id, created_at) "
		    "VALUES (?1, ?2, ?3)");
		sqlite3_bind_text(st, 1, old, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, id);
		sqlite3_bind_int64(st, 3, clock_now());
		if (db_step_done(db, st, d, "keeping the issue's earlier slug") < 0)
			return -1;
	}
	st = db_stmt(db, "UPDATE issues SET slug = ?1 WHERE id = ?2");
	sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	if (db_step_done(db, st, d, "changing the issue's slug") < 0)
		return -1;
	buf_printf(&ev, "%s -> %s", *old ? old : "(none)", slug);
	rc = db_event(db, "issue", id, "slug", ev.data, d);
	buf_free(&ev);
	return rc;
}

int
issue_update(struct db *db, int64_t id, const struct issue *in, diag *d)
{
	struct issue cur;
	sqlite3_stmt *st;
	buf slug = BUF_INIT;
	int rc = -1;

	if (issue_get(db, id, &cur, d) < 0)
		return -1;
	if (cur.kind != ISSUE_KIND_ISSUE) {
		diag_set(d, EX_DATAERR, "issue %lld holds the %s emails: it is not edited "
		    "with 'issue edit'", (long long)id,
		    cur.kind == ISSUE_KIND_WELCOME ? "welcome" : "signup confirmation");
		goto out;
	}
	if ((cur.status != ISSUE_DRAFT && cur.status != ISSUE_SCHEDULED) || cur.started_at) {
		diag_set(d, EX_DATAERR, "issue %lld is %s: only a draft or a scheduled issue "
		    "that has not started sending can be edited", (long long)id,
		    issue_status_name(cur.status));
		goto out;
	}
	if (strcmp(cur.subject, in->subject) != 0) {
		if (unique_slug(db, in->subject, id, &slug, d) < 0)
			goto out;
		if (strcmp(buf_cstr(&slug), cur.slug) != 0 &&
		    change_slug(db, id, cur.slug, buf_cstr(&slug), d) < 0)
			goto out;
	}
	/* The status is asked again: the transaction holds the write lock, so
	 * the daemon cannot start it in between, and a row not changed is a
	 * bug to report, not an edit to claim. */
	st = db_stmt(db,
	    "UPDATE issues SET subject = ?1, preheader = ?2, source = ?3, audience = ?4, "
	    "updated_at = ?5 WHERE id = ?6 AND status IN ('draft', 'scheduled') "
	    "AND started_at IS NULL");
	sqlite3_bind_text(st, 1, in->subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, in->preheader ? in->preheader : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, in->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, issue_audience_name(in->audience), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, clock_now());
	sqlite3_bind_int64(st, 6, id);
	if (db_step_done(db, st, d, "editing issue") < 0)
		goto out;
	if (sqlite3_changes(db_handle(db)) != 1) {
		diag_set(d, EX_SOFTWARE, "issue %lld: changed while being edited", (long long)id);
		goto out;
	}
	rc = db_event(db, "issue", id, "edited", in->subject, d);
out:
	buf_free(&slug);
	issue_free(&cur);
	return rc;
}

/* The issue whose id the statement (its parameters bound) finds: 1 and
 * *out, 0 when none, -1 on error. */
static int
one_found(struct db *db, sqlite3_stmt *st, struct issue *out, diag *d)
{
	int64_t id;
	int rc = sqlite3_step(st);

	id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return db_fail(db, d, "looking up an issue");
	if (issue_get(db, id, out, d) < 0)
		return -1;
	return 1;
}

int
issue_find_slug(struct db *db, const char *slug, struct issue *out, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT id FROM issues WHERE slug = ?1 AND "
	    "kind = 'issue' UNION ALL SELECT issue_id FROM issue_slug_alias WHERE "
	    "old_slug = ?1 LIMIT 1");

	sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
	return one_found(db, st, out, d);
}

/* The one issue of a kind whose copies are made one by one (confirmation,
 * welcome): found, or made 'sending' with its fan-out done. */
static int
issue_of_kind(struct db *db, const char *kind, const char *subject, int64_t *id, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT id FROM issues WHERE kind = ?1 ORDER BY id LIMIT 1");
	int rc;

	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "looking for the confirmation or welcome issue");
	st = db_stmt(db,
	    "INSERT INTO issues (subject, preheader, audience, source, status, kind, "
	    "fanout_done, started_at, created_at, updated_at) VALUES (?2, "
	    "'', 'all', '', 'sending', ?3, 1, ?1, ?1, ?1)");
	sqlite3_bind_int64(st, 1, clock_now());
	sqlite3_bind_text(st, 2, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	if (db_step_done(db, st, d, "making the confirmation or welcome issue") < 0)
		return -1;
	*id = sqlite3_last_insert_rowid(db_handle(db));
	return db_event(db, "issue", *id, "created", subject, d);
}

int
issue_confirmation(struct db *db, int64_t *id, diag *d)
{
	return issue_of_kind(db, "confirmation", "Signup confirmations", id, d);
}

int
issue_welcome(struct db *db, int64_t *id, diag *d)
{
	return issue_of_kind(db, "welcome", "Welcome emails", id, d);
}

#define PUBLIC_WHERE "kind = 'issue' AND status IN ('sending', 'sent') " \
	"AND started_at IS NOT NULL AND slug IS NOT NULL"

int
issue_public_list(struct db *db, size_t limit,
    int (*each)(const struct issue_public *p, void *arg), void *arg, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT id, slug, subject, preheader, started_at, updated_at FROM issues "
	    "WHERE " PUBLIC_WHERE " ORDER BY started_at DESC, id DESC LIMIT ?1");
	int rc;

	sqlite3_bind_int64(st, 1, limit ? (int64_t)limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct issue_public p = {
			sqlite3_column_int64(st, 0),
			(const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2),
			(const char *)sqlite3_column_text(st, 3),
			sqlite3_column_int64(st, 4),
			sqlite3_column_int64(st, 5),
		};
		if (each(&p, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "listing the archive");
	return 0;
}


int
issue_public_get(struct db *db, const char *slug, struct issue *out, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT id FROM issues WHERE slug = ?1 AND "
	    PUBLIC_WHERE);

	sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
	return one_found(db, st, out, d);
}

int
issue_public_alias(struct db *db, const char *old, buf *slug, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT slug FROM issues JOIN issue_slug_alias "
	    "ON issue_id = id WHERE old_slug = ?1 AND " PUBLIC_WHERE);
	int rc;

	sqlite3_bind_text(st, 1, old, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		buf_puts(slug, (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, d, "looking up an earlier slug");
	return rc == SQLITE_ROW;
}

int
issue_public_by_id(struct db *db, int64_t id, struct issue *out, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT id FROM issues WHERE id = ?1 AND "
	    PUBLIC_WHERE);

	sqlite3_bind_int64(st, 1, id);
	return one_found(db, st, out, d);
}

int
issue_public_stamp(struct db *db, int64_t *count, int64_t *latest, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT count(*), coalesce(max(max(updated_at, started_at)), 0) FROM issues WHERE "
	    PUBLIC_WHERE);
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		*count = sqlite3_column_int64(st, 0);
		*latest = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return db_fail(db, d, "reading the archive's date");
	return 0;
}

/* Which status may follow which: the issue life cycle in one table. */
static int
allowed(enum issue_status from, enum issue_status to)
{
	static const unsigned char ok[6][6] = {
		/* to:    draft sched sending paused sent cancelled */
		[ISSUE_DRAFT]     = { 0, 1, 0, 0, 0, 1 },
		[ISSUE_SCHEDULED] = { 1, 1, 1, 1, 0, 1 },
		[ISSUE_SENDING]   = { 0, 0, 0, 1, 1, 1 },
		[ISSUE_PAUSED]    = { 0, 1, 1, 0, 0, 1 },
		[ISSUE_SENT]      = { 0, 0, 0, 0, 0, 0 },
		[ISSUE_CANCELLED] = { 0, 0, 0, 0, 0, 0 },
	};
	return (unsigned)from < 6 && (unsigned)to < 6 && ok[from][to];
}

int
issue_transition(struct db *db, int64_t id, enum issue_status to, diag *d)
{
	struct issue is;
	sqlite3_stmt *st;
	int64_t now = clock_now();

	if (issue_get(db, id, &is, d) < 0)
		return -1;
	issue_free(&is);
	if (is.kind != ISSUE_KIND_ISSUE && to != ISSUE_PAUSED && to != ISSUE_SENDING)
		return diag_set(d, EX_DATAERR, "issue %lld holds the %s emails: it can be "
		    "paused and resumed, not %s", (long long)id,
		    is.kind == ISSUE_KIND_WELCOME ? "welcome" : "signup confirmation",
		    to == ISSUE_CANCELLED ? "cancelled" : "rescheduled or finished");
	if (!allowed(is.status, to))
		return diag_set(d, EX_DATAERR, "issue %lld is %s; it cannot become %s",
		    (long long)id, issue_status_name(is.status), issue_status_name(to));
	st = db_stmt(db,
	    "UPDATE issues SET status = ?1, updated_at = ?2, "
	    "started_at = CASE WHEN ?1 = 'sending' THEN coalesce(started_at, ?2) ELSE started_at END, "
	    "finished_at = CASE WHEN ?1 IN ('sent', 'cancelled') THEN ?2 ELSE finished_at END, "
	    "pause_reason = NULL WHERE id = ?3");
	sqlite3_bind_text(st, 1, issue_status_name(to), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, id);
	if (db_step_done(db, st, d, "changing issue status") < 0)
		return -1;
	return db_event(db, "issue", id, issue_status_name(to), "", d);
}

int
issue_pause(struct db *db, int64_t id, const char *why, diag *d)
{
	struct issue is;
	sqlite3_stmt *st;

	if (issue_get(db, id, &is, d) < 0)
		return -1;
	issue_free(&is);
	if (is.status != ISSUE_SENDING)
		return 0;	/* paused, cancelled or finished meanwhile */
	if (issue_transition(db, id, ISSUE_PAUSED, d) < 0)
		return -1;
	st = db_stmt(db, "UPDATE issues SET pause_reason = ?1 WHERE id = ?2");
	sqlite3_bind_text(st, 1, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	if (db_step_done(db, st, d, "recording why an issue was paused") < 0)
		return -1;
	return db_event(db, "issue", id, "pause_reason", why, d);
}

int
issue_set_fanout(struct db *db, int64_t id, int64_t cursor, int done, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE issues SET fanout_cursor = ?2, fanout_done = ?3 WHERE id = ?1");

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, cursor);
	sqlite3_bind_int(st, 3, done != 0);
	return db_step_done(db, st, d, "recording the fan-out's progress");
}

int
issue_set_send_at(struct db *db, int64_t id, int64_t when, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE issues SET send_at = ?, updated_at = ? WHERE id = ?");
	char at[32];

	sqlite3_bind_int64(st, 1, when);
	sqlite3_bind_int64(st, 2, clock_now());
	sqlite3_bind_int64(st, 3, id);
	if (db_step_done(db, st, d, "scheduling issue") < 0)
		return -1;
	clock_format_rfc3339(when, at, sizeof at);
	return db_event(db, "issue", id, "send_at", at, d);
}

int
issue_reopen(struct db *db, int64_t id, const char *why, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE issues SET status = 'sending', finished_at = NULL, updated_at = ?2 "
	    "WHERE id = ?1 AND status = 'sent'");

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, clock_now());
	if (db_step_done(db, st, d, "reopening issue") < 0)
		return -1;
	if (sqlite3_changes(db_handle(db)) == 0)
		return 0;
	return db_event(db, "issue", id, "reopened", why, d);
}

int
issue_catch_up(struct db *db, const char *tier, int64_t since, size_t max, int64_t *ids,
    size_t *n, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT id FROM issues WHERE " PUBLIC_WHERE
	    " AND audience IN ('all', ?1) AND started_at >= ?2 "
	    "ORDER BY started_at DESC, id DESC LIMIT ?3");
	int rc;

	*n = 0;
	sqlite3_bind_text(st, 1, tier, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(db, d, "looking for the latest issues");
	return 0;
}
