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
	"CASE WHEN status = 'pending' THEN coalesce(pending_since, 0) ELSE 0 END"

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
	    "UPDATE subscribers SET name = coalesce(?1, name), tier = coalesce(?2, tier), "
	    "updated_at = ?3 WHERE id = ?4");

	if (name)
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (tier)
		sqlite3_bind_text(st, 2, sub_tier_name(*tier), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, clock_now());
	sqlite3_bind_int64(st, 4, id);
	if (db_step_done(db, st, d, "updating subscriber") < 0)
		return -1;
	return db_event(db, "subscriber", id, "updated",
	    tier ? sub_tier_name(*tier) : "name", d);
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

struct sub_import {
	struct db	*db;
	int		 suppressions;	/* any removal recorded at all */
	int64_t		 now;
	int64_t		 base;		/* every id above it is this import's */
	char		 detail[2][300];	/* "free; imported from F", "paid; ..." */
	int64_t		*ids;		/* added by this import, ascending */
	int		*lines;
	size_t		 n, cap, capl;
};

struct sub_import *
subscriber_import_start(struct db *db, const char *source, diag *d)
{
	struct sub_import *im;
	sqlite3_stmt *st;
	int rc;

	/* The CLI's connection only: a big list's key index stays in memory
	 * instead of being spilled to the WAL page by page mid-transaction. */
	if (db_exec(db, "PRAGMA cache_size = -262144", d) < 0 ||
	    db_exec(db, "CREATE TEMP TABLE IF NOT EXISTS import_seen "
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
subscriber_import_end(struct sub_import *im)
{
	if (!im)
		return;
	free(im->ids);
	free(im->lines);
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

/* Remembers a key this import did not add (present or suppressed): 1 when
 * it was already remembered (the earlier line and spelling given back). */
static int
import_seen(struct sub_import *im, const char *key, const char *email, int line,
    int *dup_line, buf *dup_email, diag *d)
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
	if (rc == SQLITE_ROW) {
		*dup_line = sqlite3_column_int(st, 0);
		buf_reset(dup_email);
		buf_puts(dup_email, (const char *)sqlite3_column_text(st, 1));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW)
		return db_fail(im->db, d, "importing");
	return 1;
}

int
subscriber_import_row(struct sub_import *im, const struct subscriber *s,
    const char *email_key, int line, enum sub_import_result *res, int *dup_line,
    buf *dup_email, diag *d)
{
	sqlite3_stmt *st;
	int64_t id;
	int rc;

	if (im->suppressions) {
		int supp;
		if (subscriber_suppressed(im->db, email_key, s->email, &supp, d) < 0)
			return -1;
		if (supp) {
			rc = import_seen(im, email_key, s->email, line, dup_line, dup_email, d);
			if (rc < 0)
				return -1;
			*res = rc ? SUBIMP_DUPLICATE : SUBIMP_SUPPRESSED;
			return 0;
		}
	}
	st = db_stmt(im->db,
	    "INSERT INTO subscribers (email, email_key, name, tier, status, "
	    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?6, ?6) "
	    "ON CONFLICT (email_key) DO NOTHING");
	sqlite3_bind_text(st, 1, s->email, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, email_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->name ? s->name : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, sub_tier_name(s->tier), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, sub_status_name(s->status), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, im->now);
	if (db_step_done(im->db, st, d, "adding subscriber") < 0)
		return -1;
	if (sqlite3_changes(db_handle(im->db)) == 1) {
		id = sqlite3_last_insert_rowid(db_handle(im->db));
		im->ids = xgrow(im->ids, &im->cap, im->n + 1, sizeof *im->ids);
		im->lines = xgrow(im->lines, &im->capl, im->n + 1, sizeof *im->lines);
		im->ids[im->n] = id;
		im->lines[im->n++] = line;
		*res = SUBIMP_ADDED;
		return 0;
	}
	/* The key is taken: by this import (a duplicate line) or by someone
	 * already on the list. */
	st = db_stmt(im->db, "SELECT id, email FROM subscribers WHERE email_key = ?");
	sqlite3_bind_text(st, 1, email_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_fail(im->db, d, "importing");
	}
	id = sqlite3_column_int64(st, 0);
	if ((*dup_line = import_line_of(im, id)) > 0) {
		buf_reset(dup_email);
		buf_puts(dup_email, (const char *)sqlite3_column_text(st, 1));
		sqlite3_reset(st);
		*res = SUBIMP_DUPLICATE;
		return 0;
	}
	sqlite3_reset(st);
	rc = import_seen(im, email_key, s->email, line, dup_line, dup_email, d);
	if (rc < 0)
		return -1;
	*res = rc ? SUBIMP_DUPLICATE : SUBIMP_EXISTING;
	return 0;
}
