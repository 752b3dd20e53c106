/* cli_subscriber - broadside subscriber add|import|list|show|export|set|remove. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "address.h"
#include "archive.h"
#include "buf.h"
#include "cli.h"
#include "clock.h"
#include "csv.h"
#include "issue_file.h"
#include "readerlink.h"
#include "secret.h"
#include "subscribers.h"
#include "welcome.h"

#define MAX_NAME 200

/* A display name goes into mail headers: one line, valid UTF-8, bounded. */
static int
check_name(const char *name, const char **why)
{
	if (strlen(name) > MAX_NAME) {
		*why = "name is longer than 200 bytes";
		return -1;
	}
	if (!utf8_valid(name, strlen(name))) {
		*why = "name is not valid UTF-8";
		return -1;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			*why = "name contains a line break or control character";
			return -1;
		}
	return 0;
}

/* Validates one subscriber's fields; on error *why says what. */
static int
check_fields(const char *email, const char *name, char key[ADDRESS_MAX + 1],
    const char **why)
{
	static char msg[320];
	const char *r;

	if (address_normalize(email, key, &r) < 0) {
		snprintf(msg, sizeof msg, "address '%.250s' %s", email, r);
		*why = msg;
		return -1;
	}
	if (name && check_name(name, why) < 0)
		return -1;
	return 0;
}

static int
add_one(struct db *db, struct subscriber *s, const char *key, int64_t *id, diag *d)
{
	int suppressed;

	if (subscriber_suppressed(db, key, s->email, &suppressed, d) < 0)
		return -1;
	if (suppressed)
		return diag_set(d, EX_DATAERR, "%s: was removed from the list on request "
		    "and stays suppressed", s->email);
	return subscriber_insert(db, s, key, id, d);
}

/* With welcome.on_import, the subscribers of ids lo..hi just added get the
 * welcome and catch-up copies, in the adding transaction (welcome.h). */
static int
welcome_imported(struct cli_ctx *ctx, int64_t lo, int64_t hi, int64_t *welcomed,
    int64_t *caught_up, diag *d)
{
	*welcomed = *caught_up = 0;
	if (!ctx->cfg.welcome.on_import || hi < lo)
		return 0;
	return welcome_queue(ctx->db, &ctx->cfg, lo, hi, clock_now(), welcomed, caught_up, d);
}

static void
welcome_said(struct cli_ctx *ctx, int64_t welcomed, int64_t caught_up)
{
	if (ctx->cfg.welcome.on_import)
		printf("queued %lld welcome email%s and %lld catch-up cop%s (welcome.on_import)\n",
		    (long long)welcomed, welcomed == 1 ? "" : "s", (long long)caught_up,
		    caught_up == 1 ? "y" : "ies");
}

static int
cmd_add(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "tier", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct subscriber s = { 0 };
	char key[ADDRESS_MAX + 1];
	const char *why;
	int64_t id, welcomed, caught_up;
	int ch;

	s.name = "";
	while ((ch = getopt_long(argc, argv, "n:t:", opts, NULL)) != -1) {
		if (ch == 'n')
			s.name = optarg;
		else if (ch == 't') {
			if (sub_tier_parse(optarg, &s.tier) < 0)
				return cli_usage(d, "unknown tier '%s' (free or paid)", optarg);
		} else
			return cli_usage(d, "unknown option");
	}
	if (optind != argc - 1)
		return cli_usage(d, "one EMAIL is needed");
	s.email = argv[optind];
	if (check_fields(s.email, s.name, key, &why) < 0)
		return diag_set(d, EX_DATAERR, "%s", why);
	if (db_begin(ctx->db, d) < 0)
		return -1;
	if (add_one(ctx->db, &s, key, &id, d) < 0 ||
	    welcome_imported(ctx, id, id, &welcomed, &caught_up, d) < 0 ||
	    db_commit(ctx->db, d) < 0) {
		db_rollback(ctx->db);
		return -1;
	}
	printf("added %s (id %lld, %s)\n", s.email, (long long)id, sub_tier_name(s.tier));
	welcome_said(ctx, welcomed, caught_up);
	return 0;
}

enum { COL_EMAIL, COL_NAME, COL_TIER, COL_STATUS, NCOLS };

/* A progress line on stderr while a long import or export runs, only when
 * stderr is a terminal; erased at the end. */
struct progress {
	int		 on;
	const char	*what;
	int64_t		 t0, shown;
};

static void
progress_start(struct progress *p, const char *what)
{
	p->on = isatty(STDERR_FILENO);
	p->what = what;
	p->t0 = p->shown = clock_mono_ms();
}

static void
progress_tick(struct progress *p, int64_t rows)
{
	int64_t now;

	if (!p->on || (rows & 1023) != 0)
		return;
	now = clock_mono_ms();
	if (now - p->shown < 250)
		return;
	p->shown = now;
	fprintf(stderr, "\r%s: %lld rows, %.0f rows/s\033[K", p->what, (long long)rows,
	    (double)rows * 1000.0 / (double)(now - p->t0 > 0 ? now - p->t0 : 1));
	fflush(stderr);
}

static void
progress_end(struct progress *p)
{
	if (p->on && p->shown != p->t0) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

static int
cmd_import(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const char *names[NCOLS] = { "email", "name", "tier", "status" };
	int col[NCOLS] = { -1, -1, -1, -1 };
	struct csv c;
	struct csv_record r;
	struct sub_import *im = NULL;
	struct progress pg = { 0, NULL, 0, 0 };
	struct sub_import_dup dup = { 0, 0, BUF_INIT, BUF_INIT };
	const char *file, *why;
	char source[260];
	int rc;
	int64_t added = 0, existing = 0, suppressed = 0, rows = 0;
	int64_t last = 0, welcomed = 0, caught_up = 0;
	size_t ncols;
	FILE *fp;
	int64_t t0 = clock_mono_ms();

	if (argc != 2)
		return cli_usage(d, "one FILE (or - for standard input) is needed");
	file = strcmp(argv[1], "-") == 0 ? "<stdin>" : argv[1];
	snprintf(source, sizeof source, "imported from %.240s", file);
	fp = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "rb");
	if (fp == NULL)
		return diag_set(d, errno == ENOENT ? EX_NOINPUT : EX_NOPERM, "%s: %s",
		    argv[1], strerror(errno));
	/* Streamed: memory stays the same whatever the file's size. */
	csv_open_file(&c, fp);
	rc = csv_next(&c, &r, &why);
	if (rc <= 0) {
		diag_set(d, c.ioerr ? EX_IOERR : EX_DATAERR, "%s:1: %s", file, rc == 0 ?
		    "empty file; expected a header line: email[,name][,tier][,status]" : why);
		goto fail_nodb;
	}
	for (size_t i = 0; i < r.nfields; i++) {
		int k;
		for (k = 0; k < NCOLS; k++)
			if (strcasecmp(r.fields[i], names[k]) == 0)
				break;
		if (k == NCOLS) {
			diag_set(d, EX_DATAERR, "%s:%d: unknown column '%s' (known: email, name, "
			    "tier, status)", file, r.line, r.fields[i]);
			goto fail_nodb;
		}
		if (col[k] >= 0) {
			diag_set(d, EX_DATAERR, "%s:%d: column '%s' given twice", file, r.line, names[k]);
			goto fail_nodb;
		}
		col[k] = (int)i;
	}
	if (col[COL_EMAIL] < 0) {
		diag_set(d, EX_DATAERR, "%s:%d: header has no 'email' column", file, r.line);
		goto fail_nodb;
	}
	/* One transaction: a file with one bad row imports nothing. */
	ncols = r.nfields;
	if (db_begin(ctx->db, d) < 0)
		goto fail_nodb;
	if (subscriber_last_id(ctx->db, &last, d) < 0 ||
	    (im = subscriber_import_start(ctx->db, source, d)) == NULL)
		goto fail;
	progress_start(&pg, "importing");
	/* A bad line is reported after the rows buffered before it are
	 * added: a duplicate among them is the first error. */
#define BAD_LINE(...) do {						\
		int f_ = subscriber_import_flush(im, &dup, d);		\
		if (f_ == 0)						\
			diag_set(d, __VA_ARGS__);			\
		else if (f_ > 0)					\
			goto duplicate;					\
		goto fail;						\
	} while (0)
	while ((rc = csv_next(&c, &r, &why)) != 0) {
		struct subscriber s = { 0 };
		char key[ADDRESS_MAX + 1];

		if (rc < 0)
			BAD_LINE(c.ioerr ? EX_IOERR : EX_DATAERR, "%s:%d: %s", file,
			    c.ioerr ? c.line : r.line, why);
		if (r.nfields == 1 && r.fields[0][0] == '\0')
			continue;
		if (r.nfields != ncols)
			BAD_LINE(EX_DATAERR, "%s:%d: %zu field%s, the header has %zu",
			    file, r.line, r.nfields, r.nfields == 1 ? "" : "s", ncols);
#define FIELD(k) (col[k] >= 0 && (size_t)col[k] < r.nfields ? r.fields[col[k]] : "")
		s.email = (char *)FIELD(COL_EMAIL);
		s.name = (char *)FIELD(COL_NAME);
		if (check_fields(s.email, s.name, key, &why) < 0)
			BAD_LINE(EX_DATAERR, "%s:%d: %s", file, r.line, why);
		if (*FIELD(COL_TIER) && sub_tier_parse(FIELD(COL_TIER), &s.tier) < 0)
			BAD_LINE(EX_DATAERR, "%s:%d: unknown tier '%s' (free or paid)",
			    file, r.line, FIELD(COL_TIER));
		if (*FIELD(COL_STATUS) && sub_status_parse(FIELD(COL_STATUS), &s.status) < 0)
			BAD_LINE(EX_DATAERR, "%s:%d: unknown status '%s' (active, unsubscribed, "
			    "bounced or complained)", file, r.line, FIELD(COL_STATUS));
#undef FIELD
		/* One person, one address: a duplicate in any case is an
		 * error naming both lines, not a guess at which to keep.
		 * Someone already on the list keeps their state: an import
		 * never resubscribes a person who left. */
		rc = subscriber_import_row(im, &s, key, r.line, &dup, d);
		if (rc > 0)
			goto duplicate;
		if (rc < 0) {
			diag_prefix(d, "%s: ", file);
			goto fail;
		}
		progress_tick(&pg, ++rows);
	}
#undef BAD_LINE
	if ((rc = subscriber_import_flush(im, &dup, d)) > 0)
		goto duplicate;
	if (rc < 0) {
		diag_prefix(d, "%s: ", file);
		goto fail;
	}
	subscriber_import_counts(im, &added, &existing, &suppressed);
	progress_end(&pg);
	if (subscriber_import_finish(im, d) < 0 ||
	    welcome_imported(ctx, last + 1, INT64_MAX, &welcomed, &caught_up, d) < 0 ||
	    db_commit(ctx->db, d) < 0)
		goto fail;
	subscriber_import_end(im);
	csv_close(&c);
	buf_free(&dup.email);
	buf_free(&dup.first_email);
	if (fp != stdin)
		fclose(fp);
	printf("imported %lld subscriber%s from %s; %lld already on the list (unchanged), "
	    "%lld suppressed (skipped); %.2f s\n", (long long)added, added == 1 ? "" : "s",
	    file, (long long)existing, (long long)suppressed,
	    (double)(clock_mono_ms() - t0) / 1000.0);
	welcome_said(ctx, welcomed, caught_up);
	return 0;
duplicate:
	diag_set(d, EX_DATAERR, "%s:%d: %s: duplicate address in the file (line %d has %s; "
	    "addresses are compared ignoring case)", file, dup.line, buf_cstr(&dup.email),
	    dup.first_line, buf_cstr(&dup.first_email));
fail:
	progress_end(&pg);
	db_rollback(ctx->db);
	diag_prefix(d, "nothing imported: ");
fail_nodb:
	subscriber_import_end(im);
	csv_close(&c);
	buf_free(&dup.email);
	buf_free(&dup.first_email);
	if (fp != stdin)
		fclose(fp);
	return -1;
}

static int
cmd_list(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "tier", required_argument, NULL, 't' },
		{ "status", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const char *tier = NULL, *status = NULL;
	enum sub_tier t;
	enum sub_status s;
	int json = 0, ch, rc, n = 0;
	sqlite3_stmt *st;
	buf out = BUF_INIT;

	while ((ch = getopt_long(argc, argv, "t:s:j", opts, NULL)) != -1) {
		if (ch == 't') {
			if (sub_tier_parse(optarg, &t) < 0)
				return cli_usage(d, "unknown tier '%s' (free or paid)", optarg);
			tier = optarg;
		} else if (ch == 's') {
			if (sub_status_parse(optarg, &s) < 0)
				return cli_usage(d, "unknown status '%s' (active, unsubscribed, "
				    "bounced or complained)", optarg);
			status = optarg;
		} else if (ch == 'j')
			json = 1;
		else
			return cli_usage(d, "unknown option");
	}
	if (optind != argc)
		return cli_usage(d, "unexpected argument '%s'", argv[optind]);
	st = db_stmt(ctx->db,
	    "SELECT id, email, name, tier, status, bounce_score, created_at FROM subscribers "
	    "WHERE (?1 IS NULL OR tier = ?1) AND (?2 IS NULL OR status = ?2) ORDER BY id");
	if (tier)
		sqlite3_bind_text(st, 1, tier, -1, SQLITE_STATIC);
	if (status)
		sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	if (json)
		buf_putc(&out, '[');
	else
		buf_printf(&out, "%-8s %-36s %-24s %-5s %-12s %s\n", "ID", "EMAIL", "NAME",
		    "TIER", "STATUS", "SINCE");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char since[32];
		clock_format_rfc3339(sqlite3_column_int64(st, 6), since, sizeof since);
		if (json) {
			buf_printf(&out, "%s\n {\"id\": %lld, \"email\": ", n ? "," : "",
			    (long long)sqlite3_column_int64(st, 0));
			buf_json_string(&out, (const char *)sqlite3_column_text(st, 1));
			buf_puts(&out, ", \"name\": ");
			buf_json_string(&out, (const char *)sqlite3_column_text(st, 2));
			buf_printf(&out, ", \"tier\": \"%s\", \"status\": \"%s\", "
			    "\"bounce_score\": %lld, \"created_at\": \"%s\"}",
			    sqlite3_column_text(st, 3), sqlite3_column_text(st, 4),
			    (long long)sqlite3_column_int64(st, 5), since);
		} else {
			buf_printf(&out, "%-8lld %-36s %-24s %-5s %-12s %s\n",
			    (long long)sqlite3_column_int64(st, 0), sqlite3_column_text(st, 1),
			    sqlite3_column_text(st, 2), sqlite3_column_text(st, 3),
			    sqlite3_column_text(st, 4), since);
		}
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		buf_free(&out);
		return db_fail(ctx->db, d, "listing subscribers");
	}
	if (json)
		buf_puts(&out, n ? "\n]\n" : "]\n");
	rc = cli_write_stdout(&out, d);
	buf_free(&out);
	return rc;
}

/* Writes and empties out; -1 when the write failed. */
static int
flush_out(buf *out, FILE *fp)
{
	int rc = out->len && fwrite(out->data, 1, out->len, fp) != out->len ? -1 : 0;

	buf_reset(out);
	return rc;
}

static int
cmd_export(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	sqlite3_stmt *st;
	buf out = BUF_INIT;
	FILE *fp = stdout;
	const char *name = "standard output";
	struct progress pg = { 0, NULL, 0, 0 };
	int64_t rows = 0;
	int rc, werr = 0;

	if (argc > 2)
		return cli_usage(d, "at most one FILE");
	if (argc == 2 && strcmp(argv[1], "-") != 0) {
		if ((fp = fopen(argv[1], "wx")) == NULL)
			return diag_set(d, errno == EEXIST ? EX_CANTCREAT : EX_IOERR, "%s: %s%s",
			    argv[1], strerror(errno), errno == EEXIST ? " (not overwritten)" : "");
		name = argv[1];
	}
	/* Streamed in 256 KB writes: memory stays the same whatever the
	 * list's size. One read transaction: a consistent snapshot. */
	progress_start(&pg, "exporting");
	if (fp == stdout && isatty(STDOUT_FILENO))
		pg.on = 0;
	st = db_stmt(ctx->db, "SELECT email, name, tier, status FROM subscribers ORDER BY id");
	buf_puts(&out, "email,name,tier,status\r\n");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		for (int i = 0; i < 4; i++) {
			if (i)
				buf_putc(&out, ',');
			csv_field(&out, (const char *)sqlite3_column_text(st, i));
		}
		buf_puts(&out, "\r\n");
		if (out.len >= 256 * 1024 && flush_out(&out, fp) < 0) {
			werr = 1;
			break;
		}
		progress_tick(&pg, ++rows);
	}
	sqlite3_reset(st);
	progress_end(&pg);
	if (!werr && (flush_out(&out, fp) < 0 || fflush(fp) != 0))
		werr = 1;
	buf_free(&out);
	if (fp != stdout && fclose(fp) != 0)
		werr = 1;
	if (werr)
		return diag_set(d, EX_IOERR, "%s: write failed", name);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(ctx->db, d, "exporting subscribers");
	return 0;
}

/* The subscriber named by EMAIL (any case of its domain). */
static int
lookup(struct cli_ctx *ctx, const char *email, struct subscriber *s, char *key, diag *d)
{
	const char *why;

	if (address_normalize(email, key, &why) < 0)
		return diag_set(d, EX_DATAERR, "address '%s' %s", email, why);
	return subscriber_find(ctx->db, key, s, d);
}

/* One line of a subscriber's history: what the events log says happened. */
static const char *
history_label(const char *event, const char *detail)
{
	static const char *const statuses[] = { "unsubscribed", "bounced", "complained" };

	if (strcmp(event, "created") == 0)
		return strstr(detail, "imported from") ? "imported" : "subscribed";
	if (strcmp(event, "status") == 0) {
		/* subscriber_set_status: "STATUS[: why]; N pending ... dropped" */
		if (strncmp(detail, "active", 6) == 0)
			return "resubscribed";
		for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++)
			if (strncmp(detail, statuses[i], strlen(statuses[i])) == 0)
				return statuses[i];
	}
	return event;	/* bounce, complaint, updated, ... as recorded */
}

struct history {
	buf	*out;
	int	 json, n;
};

static int
history_row(int64_t at, const char *event, const char *detail, void *arg)
{
	struct history *h = arg;
	char when[32];

	clock_format_rfc3339(at, when, sizeof when);
	if (h->json) {
		buf_printf(h->out, "%s\n  {\"at\": \"%s\", \"event\": ", h->n ? "," : "", when);
		buf_json_string(h->out, history_label(event, detail));
		buf_puts(h->out, ", \"detail\": ");
		buf_json_string(h->out, detail);
		buf_putc(h->out, '}');
	} else {
		buf_printf(h->out, "  %s  %-13s %s\n", when, history_label(event, detail), detail);
	}
	h->n++;
	return 0;
}

/* A paid reader's private feed URL (the key file signs it). */
static int
reader_feed(struct cli_ctx *ctx, int64_t id, buf *out, diag *d)
{
	struct secret sec;
	buf base = BUF_INIT;

	if (secret_load(ctx->cfg.key_file, &sec, d) < 0)
		return diag_prefix(d, "the private feed link needs the key: ");
	archive_base(&ctx->cfg, &base);
	readerlink(out, LINK_FEED, base.data, &sec, ctx->cfg.list.id, 0, id);
	buf_free(&base);
	return 0;
}

static int
cmd_show(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct subscriber s;
	struct history h = { NULL, 0, 0 };
	char key[ADDRESS_MAX + 1], since[32], last[32], until[32], trial[32];
	buf out = BUF_INIT, feed = BUF_INIT;
	int ch, rc, gone = 0;

	while ((ch = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (ch != 'j')
			return cli_usage(d, "unknown option");
		h.json = 1;
	}
	if (optind != argc - 1)
		return cli_usage(d, "one EMAIL is needed");
	if (lookup(ctx, argv[optind], &s, key, d) < 0) {
		if (d->code == EX_NOUSER && subscriber_suppressed(ctx->db, key, argv[optind], &gone, NULL) == 0 &&
		    gone)
			return diag_set(d, EX_NOUSER, "%s: not a subscriber: removed on request "
			    "(only a hash of the address is kept, so it stays suppressed)",
			    argv[optind]);
		if (d->code == EX_NOUSER)
			return diag_set(d, EX_NOUSER, "%s: no such subscriber", argv[optind]);
		return -1;
	}
	clock_format_rfc3339(s.created_at, since, sizeof since);
	if (s.last_bounce_at)
		clock_format_rfc3339(s.last_bounce_at, last, sizeof last);
	if (s.paid_until)
		clock_format_rfc3339(s.paid_until, until, sizeof until);
	if (s.trial_at)
		clock_format_rfc3339(s.trial_at, trial, sizeof trial);
	if (s.tier == TIER_PAID && reader_feed(ctx, s.id, &feed, d) < 0) {
		subscriber_free(&s);
		return -1;
	}
	h.out = &out;
	if (h.json) {
		buf_printf(&out, "{\"id\": %lld, \"email\": ", (long long)s.id);
		buf_json_string(&out, s.email);
		buf_puts(&out, ", \"name\": ");
		buf_json_string(&out, s.name);
		buf_printf(&out, ", \"tier\": \"%s\", \"status\": \"%s\", \"bounce_score\": %lld, "
		    "\"last_bounce_at\": ", sub_tier_name(s.tier), sub_status_name(s.status),
		    (long long)s.bounce_score);
		buf_json_string(&out, s.last_bounce_at ? last : NULL);
		buf_puts(&out, ", \"paid_until\": ");
		buf_json_string(&out, s.paid_until ? until : NULL);
		buf_printf(&out, ", \"on_trial\": %s, \"trial_started_at\": ",
		    s.on_trial ? "true" : "false");
		buf_json_string(&out, s.trial_at ? trial : NULL);
		buf_puts(&out, ", \"feed_url\": ");
		buf_json_string(&out, feed.len ? feed.data : NULL);
		buf_printf(&out, ", \"created_at\": \"%s\", \"history\": [", since);
	} else {
		buf_printf(&out, "%s (subscriber %lld)\n  name:         %s\n  tier:         %s\n"
		    "  status:       %s\n  bounce score: %lld", s.email, (long long)s.id,
		    *s.name ? s.name : "-", sub_tier_name(s.tier), sub_status_name(s.status),
		    (long long)s.bounce_score);
		if (s.last_bounce_at)
			buf_printf(&out, " (last bounce %s)", last);
		if (s.paid_until)
			buf_printf(&out, "\n  paid until:   %s%s", until, s.on_trial ? " (free trial)" : "");
		if (s.trial_at)
			buf_printf(&out, "\n  trial:        had one, from %s", trial);
		if (feed.len)
			buf_printf(&out, "\n  private feed: %s", feed.data);
		buf_printf(&out, "\n  since:        %s\nhistory:\n", since);
	}
	rc = db_events(ctx->db, "subscriber", s.id, history_row, &h, d);
	subscriber_free(&s);
	buf_free(&feed);
	if (rc < 0) {
		buf_free(&out);
		return -1;
	}
	if (h.json)
		buf_puts(&out, h.n ? "\n]}\n" : "]}\n");
	else if (h.n == 0)
		buf_puts(&out, "  (nothing recorded)\n");
	rc = cli_write_stdout(&out, d);
	buf_free(&out);
	return rc;
}

static int
cmd_set(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "tier", required_argument, NULL, 't' },
		{ "until", required_argument, NULL, 'u' },
		{ "status", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *why, *until_arg = NULL;
	enum sub_tier tier;
	enum sub_status status;
	int have_tier = 0, have_status = 0, ch;
	int64_t until = 0;
	struct subscriber s;
	char key[ADDRESS_MAX + 1], end[40];

	while ((ch = getopt_long(argc, argv, "n:t:u:s:", opts, NULL)) != -1) {
		if (ch == 'n') {
			if (check_name(optarg, &why) < 0)
				return diag_set(d, EX_DATAERR, "%s", why);
			name = optarg;
		} else if (ch == 't') {
			if (sub_tier_parse(optarg, &tier) < 0)
				return cli_usage(d, "unknown tier '%s' (free or paid)", optarg);
			have_tier = 1;
		} else if (ch == 'u') {
			if (clock_parse_time(optarg, &until) < 0 || until <= 0)
				return cli_usage(d, "--until '%s': not a time (write "
				    "2026-12-31T00:00:00Z, or \"2026-12-31 00:00\" in local time)",
				    optarg);
			until_arg = optarg;
		} else if (ch == 's') {
			if (sub_status_parse(optarg, &status) < 0 ||
			    (status != SUB_ACTIVE && status != SUB_UNSUBSCRIBED))
				return cli_usage(d, "status '%s': set takes active or unsubscribed",
				    optarg);
			have_status = 1;
		} else
			return cli_usage(d, "unknown option");
	}
	if (optind != argc - 1)
		return cli_usage(d, "one EMAIL is needed");
	if (!name && !have_tier && !have_status)
		return cli_usage(d, "nothing to change: give --name, --tier or --status");
	if (until_arg && !(have_tier && tier == TIER_PAID))
		return cli_usage(d, "--until %s: a paid period's end goes with --tier paid",
		    until_arg);
	if (db_begin(ctx->db, d) < 0)
		return -1;
	if (lookup(ctx, argv[optind], &s, key, d) < 0)
		goto fail;
	if (name && subscriber_update(ctx->db, s.id, name, NULL, d) < 0)
		goto fail_s;
	if (have_tier && subscriber_set_paid(ctx->db, s.id, tier, until,
	    "set by operator", d) < 0)
		goto fail_s;
	if (have_status && subscriber_set_status(ctx->db, s.id, status,
	    "set by operator", d) < 0)
		goto fail_s;
	if (db_commit(ctx->db, d) < 0)
		goto fail_s;
	if (until_arg) {
		clock_format_rfc3339(until, end, sizeof end);
		printf("%s: updated; paid until %s%s\n", s.email, end, until <= clock_now() ?
		    " (over: the daemon makes it free within a second)" : "");
	} else {
		printf("%s: updated\n", s.email);
	}
	subscriber_free(&s);
	return 0;
fail_s:
	subscriber_free(&s);
fail:
	db_rollback(ctx->db);
	return -1;
}

static int
cmd_remove(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	struct subscriber s;
	char key[ADDRESS_MAX + 1];

	if (argc != 2)
		return cli_usage(d, "one EMAIL is needed");
	if (db_begin(ctx->db, d) < 0)
		return -1;
	if (lookup(ctx, argv[1], &s, key, d) < 0) {
		db_rollback(ctx->db);
		return -1;
	}
	if (subscriber_remove(ctx->db, s.id, key, d) < 0 || db_commit(ctx->db, d) < 0) {
		subscriber_free(&s);
		db_rollback(ctx->db);
		return -1;
	}
	printf("%s: removed; the address stays suppressed\n", s.email);
	subscriber_free(&s);
	return 0;
}

const struct cli_command cli_subscriber_commands[] = {
	{ "subscriber", "add", "EMAIL [--name N] [--tier free|paid]", "add one subscriber",
	  CLI_NEEDS_DB, cmd_add },
	{ "subscriber", "import", "FILE|-", "import a CSV with a header email[,name][,tier][,status]; "
	  "all rows or none", CLI_NEEDS_DB, cmd_import },
	{ "subscriber", "list", "[--tier T] [--status S] [--json]", "list subscribers",
	  CLI_NEEDS_DB, cmd_list },
	{ "subscriber", "show", "EMAIL [--json]", "one subscriber: status, tier (paid until, "
	  "trial, private feed), bounce score and history (subscribed, imported, bounced, complained, unsubscribed, ...)",
	  CLI_NEEDS_DB, cmd_show },
	{ "subscriber", "export", "[FILE|-]", "write all subscribers as CSV (the import format)",
	  CLI_NEEDS_DB, cmd_export },
	{ "subscriber", "set", "EMAIL [--tier free|paid [--until TIME]] "
	  "[--status active|unsubscribed] [--name N]", "change a subscriber; --tier paid "
	  "--until TIME: a paid period that ends then (a payment system's), free again after",
	  CLI_NEEDS_DB, cmd_set },
	{ "subscriber", "remove", "EMAIL", "forget the person; keep a hash so they stay suppressed",
	  CLI_NEEDS_DB, cmd_remove },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};
