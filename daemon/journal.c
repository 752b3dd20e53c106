/* journal - the outcome journal (see journal.h).
 *
 * Written by hand: one tab-separated line per outcome is all it takes, and
 * no Debian library offers an append-only record log lighter than SQLite
 * itself, which is exactly what may be unavailable when this is needed. */
#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "xalloc.h"

#define NFIELDS	14

struct journal {
	char	*path[2];
	int	 fd[2];
	int	 cur;
	int	 failing;	/* the last append failed (logged once) */
	buf	 line;
};

int
journal_open(const char *database, const char *tag, struct journal **out, diag *d)
{
	struct journal *j = xcalloc(1, sizeof *j);

	j->fd[0] = j->fd[1] = -1;
	for (int i = 0; i < 2; i++) {
		buf p = BUF_INIT;
		buf_printf(&p, "%s.outcomes.%s.%d", database, tag, i);
		j->path[i] = buf_detach(&p);
		j->fd[i] = open(j->path[i], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC,
		    0600);
		if (j->fd[i] < 0) {
			diag_set(d, EX_CANTCREAT, "%s: cannot create the outcome journal: %s",
			    j->path[i], strerror(errno));
			journal_close(j, 1);
			return -1;
		}
	}
	*out = j;
	return 0;
}

/* A field as it can stand in a line: no tab, no line break. */
static void
put_field(buf *b, const char *s)
{
	for (; s && *s; s++)
		buf_putc(b, *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
	buf_putc(b, '\t');
}

void
journal_append(struct journal *j, const struct queue_outcome *o)
{
	buf *b = &j->line;
	ssize_t w;

	buf_reset(b);
	put_field(b, o->owner);
	buf_printf(b, "%lld\t%lld\t%lld\t%d\t%d\t%d\t%lld\t%lld\t%d\t",
	    (long long)o->token, (long long)o->delivery_id, (long long)o->subscriber_id,
	    (int)o->result, o->suppress, o->blamed, (long long)o->at,
	    (long long)o->next_attempt_at, o->code);
	put_field(b, o->status);
	put_field(b, o->message_id);
	put_field(b, o->relay);
	put_field(b, o->text);
	b->data[b->len - 1] = '\n';
	w = write(j->fd[j->cur], b->data, b->len);
	if (w == (ssize_t)b->len) {
		if (j->failing)
			log_notice("outcome journal %s: writing again", j->path[j->cur]);
		j->failing = 0;
		return;
	}
	if (!j->failing)
		log_warn("outcome journal %s: %s; outcomes are kept in memory until "
		    "the database has them", j->path[j->cur],
		    w < 0 ? strerror(errno) : "short write");
	j->failing = 1;
}

void
journal_switch(struct journal *j)
{
	j->cur ^= 1;
}

void
journal_committed(struct journal *j)
{
	int other = j->cur ^ 1;

	if (ftruncate(j->fd[other], 0) < 0)
		log_warn("outcome journal %s: cannot empty it: %s", j->path[other],
		    strerror(errno));
}

void
journal_close(struct journal *j, int clean)
{
	if (!j)
		return;
	for (int i = 0; i < 2; i++) {
		if (j->fd[i] >= 0)
			close(j->fd[i]);
		if (clean && j->path[i])
			unlink(j->path[i]);
		free(j->path[i]);
	}
	buf_free(&j->line);
	free(j);
}

/* Splits a line in place into NFIELDS fields; 0 when it is whole. */
static int
split(char *line, char **f)
{
	int n = 0;

	f[n++] = line;
	for (char *p = line; *p && n < NFIELDS; p++)
		if (*p == '\t') {
			*p = '\0';
			f[n++] = p + 1;
		}
	return n == NFIELDS ? 0 : -1;
}

static int
parse(char *line, struct queue_outcome *o)
{
	char *f[NFIELDS];
	int res;

	memset(o, 0, sizeof *o);
	if (split(line, f) < 0)
		return -1;
	res = atoi(f[4]);
	if (res < QR_SENT || res > QR_RELEASE)
		return -1;
	o->owner = xstrdup(f[0]);
	o->token = strtoll(f[1], NULL, 10);
	o->delivery_id = strtoll(f[2], NULL, 10);
	o->subscriber_id = strtoll(f[3], NULL, 10);
	o->result = (enum queue_result)res;
	o->suppress = atoi(f[5]) != 0;
	o->blamed = atoi(f[6]) != 0;
	o->at = strtoll(f[7], NULL, 10);
	o->next_attempt_at = strtoll(f[8], NULL, 10);
	o->code = atoi(f[9]);
	snprintf(o->status, sizeof o->status, "%s", f[10]);
	o->message_id = *f[11] ? xstrdup(f[11]) : NULL;
	o->relay = *f[12] ? xstrdup(f[12]) : NULL;
	o->text = xstrdup(f[13]);
	return 0;
}

int
journal_replay(struct db *db, const char *database, int64_t *n, diag *d)
{
	glob_t g;
	buf pat = BUF_INIT;
	struct queue_outcome *os = NULL;
	size_t no = 0, cap = 0;
	int rc = 0;

	if (n)
		*n = 0;
	buf_printf(&pat, "%s.outcomes.*", database);
	if (glob(buf_cstr(&pat), 0, NULL, &g) != 0) {
		buf_free(&pat);
		return 0;
	}
	buf_free(&pat);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		FILE *fp = fopen(g.gl_pathv[i], "r");
		char *line = NULL;
		size_t lcap = 0;
		ssize_t len;

		if (!fp) {
			rc = diag_set(d, EX_NOINPUT, "%s: cannot read the outcome journal: %s",
			    g.gl_pathv[i], strerror(errno));
			break;
		}
		while ((len = getline(&line, &lcap, fp)) > 0) {
			/* A line cut short by a crash has no newline: it never
			 * counted (its copy is still leased, and due again). */
			if (line[len - 1] != '\n')
				break;
			line[len - 1] = '\0';
			os = xgrow(os, &cap, no + 1, sizeof *os);
			if (parse(line, &os[no]) == 0)
				no++;
			else
				log_warn("%s: an unreadable line skipped", g.gl_pathv[i]);
		}
		free(line);
		fclose(fp);
	}
	if (rc == 0 && no > 0 && (rc = queue_complete(db, os, no, d)) == 0 && n)
		*n = (int64_t)no;
	if (rc == 0)
		for (size_t i = 0; i < g.gl_pathc; i++)
			unlink(g.gl_pathv[i]);
	for (size_t i = 0; i < no; i++)
		queue_outcome_free(&os[i]);
	free(os);
	globfree(&g);
	return rc;
}
