/* subscribers - the people an issue goes to: lookup, status, suppression. */
#include "subscribers.h"

#include <ctype.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "buf.h"
#include "clock.h"
#include "names.h"
#include "queue.h"
#include "xalloc.h"

static const char *const tiers[] = { "free", "paid" };
static const char *const statuses[] = {
	"active", "unsubscribed", "bounced", "complained", "pending"
};

const char *
sub_tier_name(enum sub_tier v)
{
	return names_name(tiers, NAMES_COUNT(tiers), (int)v);
}

int
sub_tier_parse(const char *s, enum sub_tier *out)
{
	int i = names_index(tiers, NAMES_COUNT(tiers), s);

	if (i < 0)
		return -1;
	*out = (enum sub_tier)i;
	return 0;
}

const char *
sub_status_name(enum sub_status v)
{
	return names_name(statuses, NAMES_COUNT(statuses), (int)v);
}

int
sub_status_parse(const char *s, enum sub_status *out)
{
	int i = names_index(statuses, NAMES_COUNT(statuses), s);

	if (i < 0)
		return -1;
	*out = (enum sub_status)i;
	return 0;
}

#define SUB_COLUMNS "id, email, name, tier, status, bounce_score, " \
	"coalesce(last_bounce_at, 0), created_at, updated_at, " \
	"CASE WHEN status = 'pending' THEN coalesce(pending_since, 0) ELSE 0 END, " \
	"coalesce(paid_until, 0), paid_kind IS 'trial', coalesce(trial_at, 0)"

static int
read_row(sqlite3_stmt *st, struct subscriber *out)
{
	memset(out, 0, sizeof *out);
	out->id = sqlite3_column_int64(st, 0);
	out->email = xstrdup((const char *)sqlite3_column_text(st, 1));
	out->name = xstrdup((const char *)sqlite3_column_text(st, 2));
	if (sub_tier_parse((const char *)sqlite3_column_text(st, 3), &out->tier) < 0 ||
	    sub_status_parse((const char *)sqlite3_column_text(st, 4), &out->status) < 0)
		return -1;
	out->bounce_score = sqlite3_column_int64(st, 5);
	out->last_bounce_at = sqlite3_column_int64(st, 6);
	out->created_at = sqlite3_column_int64(st, 7);
	out->updated_at = sqlite3_column_int64(st, 8);
	out->pending_since = sqlite3_column_int64(st, 9);
	out->paid_until = sqlite3_column_int64(st, 10);
	out->on_trial = sqlite3_column_int(st, 11);
	out->trial_at = sqlite3_column_int64(st, 12);
	return 0;
}

static int
fetch(struct db *db, sqlite3_stmt *st, struct subscriber *out, const char *what,
    diag *d)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW) {
		rc = read_row(st, out);
		sqlite3_reset(st);
		if (rc < 0) {
			subscriber_free(out);
			return diag_set(d, EX_DATAERR, "subscriber %s: bad tier or status in database", what);
		}
		return 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_fail(db, d, "reading subscriber");
	return diag_set(d, EX_NOUSER, "%s: no such subscriber", what);
}

int
subscriber_get(struct db *db, int64_t id, struct subscriber *out, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT " SUB_COLUMNS " FROM subscribers WHERE id = ?");
	char what[32];

	sqlite3_bind_int64(st, 1, id);
	snprintf(what, sizeof what, "subscriber %lld", (long long)id);
	return fetch(db, st, out, what, d);
}

int
subscriber_find(struct db *db, const char *email_key, struct subscriber *out, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT " SUB_COLUMNS " FROM subscribers WHERE email_key = ?");

	sqlite3_bind_text(st, 1, email_key, -1, SQLITE_STATIC);
	return fetch(db, st, out, email_key, d);
}

void
subscriber_free(struct subscriber *s)
{
	free(s->email);
	free(s->name);
	s->email = s->name = NULL;
}

int
subscriber_drop_pending(struct db *db, int64_t id, int64_t *n, diag *d)
{
	return queue_drop_subscriber(db, id, clock_now(), n, d);
}

int
subscriber_set_status(struct db *db, int64_t id, enum sub_status status,
    const char *why, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE subscribers SET status = ?1, updated_at = ?2 "
	    "WHERE id = ?3 AND status <> ?1");
	int changed;
	char detail[256];
	int64_t dropped = 0;

	sqlite3_bind_text(st, 1, sub_status_name(status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, clock_now());
	sqlite3_bind_int64(st, 3, id);
	if (db_step_done(db, st, d, "changing subscriber status") < 0)
		return -1;
	changed = sqlite3_changes(db_handle(db));
	if (status != SUB_ACTIVE && subscriber_drop_pending(db, id, &dropped, d) < 0)
		return -1;
	if (!changed && dropped == 0)
		return 0;	/* idempotent: already so */
	snprintf(detail, sizeof detail, "%s%s%s; %lld pending deliver%s dropped",
	    sub_status_name(status), why && *why ? ": " : "", why ? why : "",
	    (long long)dropped, dropped == 1 ? "y" : "ies");
	return db_event(db, "subscriber", id, "status", detail, d);
}

int
subscriber_set_bounce_score(struct db *db, int64_t id, int64_t score, int64_t at,
    diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE subscribers SET bounce_score = ?, last_bounce_at = ?, updated_at = ? "
	    "WHERE id = ?");

	sqlite3_bind_int64(st, 1, score);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_int64(st, 3, clock_now());
	sqlite3_bind_int64(st, 4, id);
	return db_step_done(db, st, d, "recording bounce score");
}

/* The suppression list keeps SHA-256("broadside-suppress\0" address key),
 * hex: enough to recognise a removed person, not to read the address back
 * from the database without guessing it. */
static void
suppress_hash(const char *email_key, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	buf in = BUF_INIT;

	buf_append(&in, "broadside-suppress", sizeof "broadside-suppress");
	buf_puts(&in, email_key);
	SHA256((const unsigned char *)in.data, in.len, md);
	for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	buf_free(&in);
}

int
subscriber_suppressed(struct db *db, const char *email_key, const char *email,
    int *yes, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT 1 FROM suppressions WHERE hash IN (?, ?)");
	char h[65], legacy[65];
	int rc;

	suppress_hash(email_key, h);
	/* Before 0006 the key kept the local part's case: a person removed
	 * then is matched under the spelling given now, domain lowercased. */
	snprintf(legacy, sizeof legacy, "%s", h);
	if (email != NULL && strrchr(email, '@') != NULL) {
		buf old = BUF_INIT;
		const char *at = strrchr(email, '@');
		buf_append(&old, email, (size_t)(at - email));
		for (const char *p = at; *p; p++)
			buf_putc(&old, (char)tolower((unsigned char)*p));
		suppress_hash(buf_cstr(&old), legacy);
		buf_free(&old);
	}
	sqlite3_bind_text(st, 1, h, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, legacy, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, d, "reading suppressions");
	*yes = rc == SQLITE_ROW;
	return 0;
}

int
subscriber_insert(struct db *db, const struct subscriber *s, const char *email_key,
    int64_t *id, diag *d)
{
	return subscriber_insert_from(db, s, email_key, NULL, id, d);
}

int
subscriber_insert_from(struct db *db, const struct subscriber *s, const char *email_key,
    const char *source, int64_t *id, diag *d)
{
	char detail[300];

	sqlite3_stmt *st = db_stmt(db,
	    "INSERT INTO subscribers (email, email_key, name, tier, status, "
	    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?6)");

	sqlite3_bind_text(st, 1, s->email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, email_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->name ? s->name : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sub_tier_name(s->tier), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, sub_status_name(s->status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, clock_now());
	if (sqlite3_step(st) != SQLITE_DONE) {
		int ext = sqlite3_extended_errcode(db_handle(db));
		sqlite3_reset(st);
		if (ext == SQLITE_CONSTRAINT_UNIQUE)
			return diag_set(d, EX_DATAERR, "%s: already a subscriber", s->email);
		return db_fail(db, d, "adding subscriber");
	}
	sqlite3_reset(st);
	*id = sqlite3_last_insert_rowid(db_handle(db));
	snprintf(detail, sizeof detail, "%s%s%.250s", sub_tier_name(s->tier),
	    source ? "; " : "", source ? source : "");
	return db_event(db, "subscriber", *id, "created", detail, d);
}

int
subscriber_update(struct db *db, int64_t id, const char *name, const enum sub_tier *tier,
    diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE subscribers SET name = coalesce(?1, name), updated_at = ?2 WHERE id = ?3");

	if (name) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, clock_now());
		sqlite3_bind_int64(st, 3, id);
		if (db_step_done(db, st, d, "updating subscriber") < 0 ||
		    db_event(db, "subscriber", id, "updated", "name", d) < 0)
			return -1;
	}
	return tier ? subscriber_set_paid(db, id, *tier, 0, "set by operator", d) : 0;
}

enum trial_state
subscriber_trial_state(const struct subscriber *s)
{
	if (s->tier == TIER_PAID)
		return TRIAL_PAID;
	if (s->trial_at)
		return TRIAL_USED;
	if (s->status != SUB_ACTIVE)
		return TRIAL_INACTIVE;
	return TRIAL_OK;
}

int
subscriber_start_trial(struct db *db, int64_t id, int64_t now, int64_t until,
    enum trial_state *state, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE subscribers SET tier = 'paid', paid_until = ?2, paid_kind = 'trial', "
	    "trial_at = ?3, updated_at = ?3 WHERE id = ?1 AND tier = 'free' AND "
	    "status = 'active' AND trial_at IS NULL");
	struct subscriber s;
	char end[40], detail[80];

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, until);
	sqlite3_bind_int64(st, 3, now);
	if (db_step_done(db, st, d, "starting a trial") < 0)
		return -1;
	if (sqlite3_changes(db_handle(db)) == 0) {
		/* Not started: say why, as the row reads now. */
		if (subscriber_get(db, id, &s, d) < 0)
			return -1;
		*state = subscriber_trial_state(&s);
		subscriber_free(&s);
		if (*state == TRIAL_OK)
			return diag_set(d, EX_SOFTWARE, "subscriber %lld: trial not started",
			    (long long)id);
		return 0;
	}
	*state = TRIAL_OK;
	clock_format_rfc3339(until, end, sizeof end);
	snprintf(detail, sizeof detail, "paid until %s", end);
	return db_event(db, "subscriber", id, "trial started", detail, d);
}

int
subscriber_set_paid(struct db *db, int64_t id, enum sub_tier tier, int64_t until,
    const char *why, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE subscribers SET tier = ?2, paid_until = ?3, paid_kind = ?4, "
	    "updated_at = ?5 WHERE id = ?1");
	char end[40];
	buf detail = BUF_INIT;
	int rc;

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, sub_tier_name(tier), -1, SQLITE_STATIC);
	if (tier == TIER_PAID && until > 0) {
		sqlite3_bind_int64(st, 3, until);
		sqlite3_bind_text(st, 4, "period", -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 5, clock_now());
	if (db_step_done(db, st, d, "setting the tier") < 0)
		return -1;
	buf_puts(&detail, sub_tier_name(tier));
	if (tier == TIER_PAID && until > 0) {
		clock_format_rfc3339(until, end, sizeof end);
		buf_printf(&detail, " until %s", end);
	}
	if (why && *why)
		buf_printf(&detail, ": %s", why);
	rc = db_event(db, "subscriber", id, "updated", detail.data, d);
	buf_free(&detail);
	return rc;
}

int
subscriber_expire_paid(struct db *db, int64_t now, int limit, int64_t *n, diag *d)
{
	sqlite3_stmt *sel = db_stmt(db,
	    "SELECT id, paid_kind IS 'trial', paid_until FROM subscribers "
	    "WHERE paid_until <= ?1 ORDER BY paid_until LIMIT ?2");
	sqlite3_stmt *up = db_stmt(db,
	    "UPDATE subscribers SET tier = 'free', paid_until = NULL, paid_kind = NULL, "
	    "updated_at = ?2 WHERE id = ?1");
	struct ended { int64_t id, until; int trial; } *e = xcalloc((size_t)limit + 1, sizeof *e);
	size_t ne = 0;
	int rc;

	*n = 0;
	sqlite3_bind_int64(sel, 1, now);
	sqlite3_bind_int(sel, 2, limit);
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW && ne < (size_t)limit) {
		e[ne].id = sqlite3_column_int64(sel, 0);
		e[ne].trial = sqlite3_column_int(sel, 1);
		e[ne].until = sqlite3_column_int64(sel, 2);
		ne++;
	}
	sqlite3_reset(sel);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		free(e);
		return db_fail(db, d, "looking for paid periods that ended");
	}
	for (size_t i = 0; i < ne; i++) {
		char end[40], detail[80];
		sqlite3_bind_int64(up, 1, e[i].id);
		sqlite3_bind_int64(up, 2, now);
		clock_format_rfc3339(e[i].until, end, sizeof end);
		snprintf(detail, sizeof detail, "free again; paid until %s", end);
		if (db_step_done(db, up, d, "ending a paid period") < 0 ||
		    db_event(db, "subscriber", e[i].id, e[i].trial ? "trial ended" :
		    "paid period ended", detail, d) < 0) {
			free(e);
			return -1;
		}
	}
	*n = (int64_t)ne;
	free(e);
	return 0;
}

int
subscriber_remove(struct db *db, int64_t id, const char *email_key, diag *d)
{
	sqlite3_stmt *st;
	char h[65];

	if (subscriber_drop_pending(db, id, NULL, d) < 0)
		return -1;
	suppress_hash(email_key, h);
	st = db_stmt(db, "INSERT OR IGNORE INTO suppressions (hash, reason, created_at) "
	    "VALUES (?, 'removed', ?)");
	sqlite3_bind_text(st, 1, h, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 2, clock_now());
	if (db_step_done(db, st, d, "recording suppression") < 0)
		return -1;
	/* Bounces keep their kind and time, not the person's diagnostics. */
	st = db_stmt(db, "UPDATE bounces SET diagnostic = '' WHERE subscriber_id = ?");
	sqlite3_bind_int64(st, 1, id);
	if (db_step_done(db, st, d, "forgetting bounces") < 0)
		return -1;
	st = db_stmt(db, "DELETE FROM subscribers WHERE id = ?");
	sqlite3_bind_int64(st, 1, id);
	if (db_step_done(db, st, d, "removing subscriber") < 0)
		return -1;
	return db_event(db, "subscriber", id, "removed", "forgotten; address hash kept", d);
}

int
subscriber_set_pending(struct db *db, int64_t id, int64_t now, const char *why, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE subscribers SET pending_from = CASE WHEN status = 'pending' "
	    "THEN pending_from ELSE status END, status = 'pending', pending_since = ?2, "
	    "updated_at = ?2 WHERE id = ?1 AND status IN ('pending', 'unsubscribed')");

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	if (db_step_done(db, st, d, "marking subscriber pending") < 0)
		return -1;
	if (sqlite3_changes(db_handle(db)) == 0)
		return diag_set(d, EX_DATAERR, "subscriber %lld: only a new, pending or "
		    "unsubscribed subscriber can sign up", (long long)id);
	return db_event(db, "subscriber", id, "pending", why ? why : "", d);
}

int
subscriber_last_id(struct db *db, int64_t *id, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT max(coalesce((SELECT seq FROM sqlite_sequence "
	    "WHERE name = 'subscribers'), 0), coalesce((SELECT max(id) FROM subscribers), 0))");
	int rc = sqlite3_step(st);

	*id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return db_fail(db, d, "reading the last subscriber id");
	return 0;
}

int
subscriber_confirm(struct db *db, int64_t id, const char *why, int *done, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "UPDATE subscribers SET status = 'active', pending_since = NULL, "
	    "pending_from = NULL, updated_at = ?2 WHERE id = ?1 AND status = 'pending'");

	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, clock_now());
	if (db_step_done(db, st, d, "confirming subscriber") < 0)
		return -1;
	*done = sqlite3_changes(db_handle(db)) > 0;
	if (!*done)
		return 0;
	return db_event(db, "subscriber", id, "confirmed", why ? why : "", d);
}

int
subscriber_expire_pending(struct db *db, int64_t before, int64_t *n, diag *d)
{
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT id, coalesce(pending_from, '') FROM subscribers "
	    "WHERE status = 'pending' AND pending_since < ?1 ORDER BY id LIMIT 1");
	int64_t count = 0;
	int rc;

	for (;;) {
		int64_t id;
		char from[32];

		sqlite3_bind_int64(st, 1, before);
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			if (rc != SQLITE_DONE)
				return db_fail(db, d, "looking for expired signups");
			break;
		}
		id = sqlite3_column_int64(st, 0);
		snprintf(from, sizeof from, "%s", (const char *)sqlite3_column_text(st, 1));
		sqlite3_reset(st);
		if (subscriber_drop_pending(db, id, NULL, d) < 0)
			return -1;
		if (*from == '\0') {
			/* Never confirmed, never a reader: nothing of it is kept. */
			sqlite3_stmt *del = db_stmt(db, "DELETE FROM subscribers WHERE id = ?");
			sqlite3_bind_int64(del, 1, id);
			if (db_step_done(db, del, d, "removing an expired signup") < 0 ||
			    db_event(db, "subscriber", id, "expired",
			    "signup never confirmed; removed", d) < 0)
				return -1;
		} else {
			sqlite3_stmt *up = db_stmt(db, "UPDATE subscribers SET status = "
			    "pending_from, pending_since = NULL, pending_from = NULL, "
			    "updated_at = ?2 WHERE id = ?1");
			char detail[96];
			sqlite3_bind_int64(up, 1, id);
			sqlite3_bind_int64(up, 2, clock_now());
			snprintf(detail, sizeof detail, "signup never confirmed; %s again", from);
			if (db_step_done(db, up, d, "expiring a signup") < 0 ||
			    db_event(db, "subscriber", id, "expired", detail, d) < 0)
				return -1;
		}
		count++;
	}
	if (n)
		*n = count;
	return 0;
}

#define IMPORT_BATCH	64

/* A row read but not yet added: its strings in the import's arena. */
struct pending {
	size_t		 email, key, name;	/* offsets in arena */
	enum sub_tier	 tier;
	enum sub_status	 status;
	int		 line;
};

struct sub_import {
	struct db	*db;
	int		 suppressions;	/* any removal recorded at all */
	int64_t		 now;
	int64_t		 base;		/* every id above it is this import's */
	char		 detail[2][300];	/* "free; imported from F", "paid; ..." */
	int64_t		*ids;		/* added by this import, ascending */
	int		*lines;
	size_t		 n, cap, capl;
	struct pending	 pend[IMPORT_BATCH];
	size_t		 npend;
	buf		 arena;
	int64_t		 added, existing, suppressed;
};

/* The batch INSERT: ?1 the time, then email, key, name, tier, status of
 * each row. Built once; db_stmt keys its cache on this buffer's address. */
static char batch_sql[IMPORT_BATCH * 48 + 160];

static const char *
batch_insert_sql(void)
{
	if (batch_sql[0] == '\0') {
		buf b = BUF_INIT;
		buf_puts(&b, "INSERT OR IGNORE INTO subscribers (email, email_key, name, tier, "
		    "status, created_at, updated_at) VALUES ");
		for (int i = 0; i < IMPORT_BATCH; i++)
			buf_printf(&b, "%s(?%d, ?%d, ?%d, ?%d, ?%d, ?1, ?1)", i ? ", " : "",
			    5 * i + 2, 5 * i + 3, 5 * i + 4, 5 * i + 5, 5 * i + 6);
		snprintf(batch_sql, sizeof batch_sql, "%s", buf_cstr(&b));
		buf_free(&b);
	}
	return batch_sql;
}

struct sub_import *
subscriber_import_start(struct db *db, const char *source, diag *d)
{
	struct sub_import *im;
	sqlite3_stmt *st;
	int rc;

	/* SQLite's default page cache (2 MB): a bigger one only made the
	 * import bigger (320 MB for a million), not faster. */
	if (db_exec(db, "CREATE TEMP TABLE IF NOT EXISTS import_seen "
	    "(k TEXT PRIMARY KEY, line INTEGER, email TEXT) WITHOUT ROWID", d) < 0 ||
	    db_exec(db, "DELETE FROM temp.import_seen", d) < 0)
		return NULL;
	st = db_stmt(db, "SELECT EXISTS (SELECT 1 FROM suppressions)");
	rc = sqlite3_step(st);
	im = xcalloc(1, sizeof *im);
	im->suppressions = rc == SQLITE_ROW && sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		free(im);
		db_fail(db, d, "reading suppressions");
		return NULL;
	}
	st = db_stmt(db, "SELECT coalesce(max(seq), 0) FROM sqlite_sequence "
	    "WHERE name = 'subscribers'");
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		free(im);
		db_fail(db, d, "reading the subscriber sequence");
		return NULL;
	}
	im->base = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	im->db = db;
	im->now = clock_now();
	for (int t = 0; t < 2; t++)
		snprintf(im->detail[t], sizeof im->detail[t], "%s%s%.250s",
		    sub_tier_name((enum sub_tier)t), source ? "; " : "", source ? source : "");
	return im;
}

int
subscriber_import_finish(struct sub_import *im, diag *d)
{
	/* Each new subscriber's "created" event, in one statement: ids are
	 * handed out above the sequence (AUTOINCREMENT) and nobody else
	 * writes inside this transaction. */
	sqlite3_stmt *st = db_stmt(im->db, "INSERT INTO events (at, kind, ref_id, event, "
	    "detail) SELECT ?1, 'subscriber', id, 'created', CASE tier WHEN 'paid' THEN ?4 "
	    "ELSE ?3 END FROM subscribers WHERE id > ?2 ORDER BY id");

	sqlite3_bind_int64(st, 1, im->now);
	sqlite3_bind_int64(st, 2, im->base);
	sqlite3_bind_text(st, 3, im->detail[TIER_FREE], -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, im->detail[TIER_PAID], -1, SQLITE_STATIC);
	return db_step_done(im->db, st, d, "recording the import");
}

void
subscriber_import_counts(const struct sub_import *im, int64_t *added, int64_t *existing,
    int64_t *suppressed)
{
	*added = im->added;
	*existing = im->existing;
	*suppressed = im->suppressed;
}

void
subscriber_import_end(struct sub_import *im)
{
	if (!im)
		return;
	free(im->ids);
	free(im->lines);
	buf_free(&im->arena);
	free(im);
}

/* The line that added subscriber id in this import, or 0. */
static int
import_line_of(const struct sub_import *im, int64_t id)
{
	size_t lo = 0, hi = im->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (im->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < im->n && im->ids[lo] == id ? im->lines[lo] : 0;
}

static void
import_added(struct sub_import *im, int64_t id, int line)
{
	im->ids = xgrow(im->ids, &im->cap, im->n + 1, sizeof *im->ids);
	im->lines = xgrow(im->lines, &im->capl, im->n + 1, sizeof *im->lines);
	im->ids[im->n] = id;
	im->lines[im->n++] = line;
	im->added++;
}

static const char *
arena_str(const struct sub_import *im, size_t off)
{
	return im->arena.data + off;
}

static void
set_dup(struct sub_import_dup *dup, int line, const char *email, int first_line,
    const char *first_email)
{
	dup->line = line;
	dup->first_line = first_line;
	buf_reset(&dup->email);
	buf_puts(&dup->email, email);
	buf_reset(&dup->first_email);
	buf_puts(&dup->first_email, first_email);
}

/* Remembers a key this import did not add (present or suppressed): 1 when
 * it was already remembered (*dup says where). */
static int
import_seen(struct sub_import *im, const char *key, const char *email, int line,
    struct sub_import_dup *dup, diag *d)
{
	sqlite3_stmt *st = db_stmt(im->db, "INSERT INTO temp.import_seen (k, line, email) "
	    "VALUES (?, ?, ?) ON CONFLICT (k) DO NOTHING");
	int rc;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, line);
	sqlite3_bind_text(st, 3, email, -1, SQLITE_STATIC);
	if (db_step_done(im->db, st, d, "importing") < 0)
		return -1;
	if (sqlite3_changes(db_handle(im->db)) == 1)
		return 0;
	st = db_stmt(im->db, "SELECT line, email FROM temp.import_seen WHERE k = ?");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		set_dup(dup, line, email, sqlite3_column_int(st, 0),
		    (const char *)sqlite3_column_text(st, 1));
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return db_fail(im->db, d, "importing");
	return 1;
}

/* One row on its own: 0, 1 for a duplicate, -1. */
static int
import_one(struct sub_import *im, const struct pending *p, struct sub_import_dup *dup,
    diag *d)
{
	const char *email = arena_str(im, p->email), *key = arena_str(im, p->key);
	sqlite3_stmt *st;
	int64_t id;
	int rc, first;

	if (im->suppressions) {
		int supp;
		if (subscriber_suppressed(im->db, key, email, &supp, d) < 0)
			return -1;
		if (supp) {
			if ((rc = import_seen(im, key, email, p->line, dup, d)) != 0)
				return rc;
			im->suppressed++;
			return 0;
		}
	}
	st = db_stmt(im->db,
	    "INSERT INTO subscribers (email, email_key, name, tier, status, "
	    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?6, ?6) "
	    "ON CONFLICT (email_key) DO NOTHING");
	sqlite3_bind_text(st, 1, email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, arena_str(im, p->name), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sub_tier_name(p->tier), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, sub_status_name(p->status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, im->now);
	if (db_step_done(im->db, st, d, "adding subscriber") < 0)
		return -1;
	if (sqlite3_changes(db_handle(im->db)) == 1) {
		import_added(im, sqlite3_last_insert_rowid(db_handle(im->db)), p->line);
		return 0;
	}
	/* The key is taken: by this import (a duplicate line) or by someone
	 * already on the list. */
	st = db_stmt(im->db, "SELECT id, email FROM subscribers WHERE email_key = ?");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_fail(im->db, d, "importing");
	}
	id = sqlite3_column_int64(st, 0);
	if ((first = import_line_of(im, id)) > 0) {
		set_dup(dup, p->line, email, first, (const char *)sqlite3_column_text(st, 1));
		sqlite3_reset(st);
		return 1;
	}
	sqlite3_reset(st);
	if ((rc = import_seen(im, key, email, p->line, dup, d)) != 0)
		return rc;
	im->existing++;
	return 0;
}

int
subscriber_import_flush(struct sub_import *im, struct sub_import_dup *dup, diag *d)
{
	size_t n = im->npend;
	int rc = 0;
	int64_t prev = im->n ? im->ids[im->n - 1] : im->base;

	im->npend = 0;
	if (n == IMPORT_BATCH) {
		/* All in one statement; OR IGNORE, so that it cannot abort half
		 * way (SQLite then keeps no statement journal). */
		sqlite3_stmt *st = db_stmt(im->db, batch_insert_sql());
		int64_t changed;

		sqlite3_bind_int64(st, 1, im->now);
		for (size_t i = 0; i < n; i++) {
			const struct pending *p = &im->pend[i];
			int k = 5 * (int)i + 2;
			sqlite3_bind_text(st, k, arena_str(im, p->email), -1, SQLITE_STATIC);
			sqlite3_bind_text(st, k + 1, arena_str(im, p->key), -1, SQLITE_STATIC);
			sqlite3_bind_text(st, k + 2, arena_str(im, p->name), -1, SQLITE_STATIC);
			sqlite3_bind_text(st, k + 3, sub_tier_name(p->tier), -1, SQLITE_STATIC);
			sqlite3_bind_text(st, k + 4, sub_status_name(p->status), -1, SQLITE_STATIC);
		}
		if (db_step_done(im->db, st, d, "adding subscribers") < 0) {
			buf_reset(&im->arena);
			return -1;
		}
		changed = sqlite3_changes(db_handle(im->db));
		if (changed == (int64_t)n) {
			/* One statement's rows take consecutive ids. */
			int64_t last = sqlite3_last_insert_rowid(db_handle(im->db));
			for (size_t i = 0; i < n; i++)
				import_added(im, last - (int64_t)(n - 1 - i), im->pend[i].line);
			buf_reset(&im->arena);
			return 0;
		}
		/* Some address was taken (on the list, or twice in the batch):
		 * row by row, in order, each finds the id its key has now. An
		 * id above `prev` not yet counted was added by its first row. */
		for (size_t i = 0; i < n && rc == 0; i++) {
			const struct pending *p = &im->pend[i];
			int64_t id = 0;

			st = db_stmt(im->db, "SELECT id FROM subscribers WHERE email_key = ?");
			sqlite3_bind_text(st, 1, arena_str(im, p->key), -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW)
				id = sqlite3_column_int64(st, 0);
			sqlite3_reset(st);
			if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
				buf_reset(&im->arena);
				return db_fail(im->db, d, "adding subscribers");
			}
			rc = 0;
			if (id > prev && import_line_of(im, id) == 0)
				import_added(im, id, p->line);
			else
				rc = import_one(im, p, dup, d);
		}
		buf_reset(&im->arena);
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = import_one(im, &im->pend[i], dup, d);
	buf_reset(&im->arena);
	return rc;
}

int
subscriber_import_row(struct sub_import *im, const struct subscriber *s,
    const char *email_key, int line, struct sub_import_dup *dup, diag *d)
{
	struct pending *p;
	int rc;

	/* A removed address is skipped: seen now, after the rows before it. */
	if (im->suppressions) {
		int supp;
		if (subscriber_suppressed(im->db, email_key, s->email, &supp, d) < 0)
			return -1;
		if (supp) {
			if ((rc = subscriber_import_flush(im, dup, d)) != 0)
				return rc;
			if ((rc = import_seen(im, email_key, s->email, line, dup, d)) != 0)
				return rc;
			im->suppressed++;
			return 0;
		}
	}
	p = &im->pend[im->npend++];

	p->email = im->arena.len;
	buf_append(&im->arena, s->email, strlen(s->email) + 1);
	p->key = im->arena.len;
	buf_append(&im->arena, email_key, strlen(email_key) + 1);
	p->name = im->arena.len;
	buf_append(&im->arena, s->name ? s->name : "", strlen(s->name ? s->name : "") + 1);
	p->tier = s->tier;
	p->status = s->status;
	p->line = line;
	return im->npend == IMPORT_BATCH ? subscriber_import_flush(im, dup, d) : 0;
}
