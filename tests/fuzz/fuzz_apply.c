/* fuzz_apply - libFuzzer target for bounce_apply with the parser: each
 * input is parsed and applied to a database of subscribers who were sent
 * copies (in memory, with a fixed key). Besides crashes and leaks it checks
 * two promises of issue 15 on every input:
 *  - a report without proof (or with a forged one) changes no subscriber
 *    (status, score) — only a genuine unsubscribe+TOKEN@ mail may, and the
 *    fuzzer cannot forge one;
 *  - the JSON of `bounce check` is valid UTF-8.
 * Built by `make fuzz` beside fuzz_bounce (tests/fuzz/run.sh runs either).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bounce_apply.h"
#include "bounce_parse.h"
#include "buf.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "secret.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct db *db;
static struct config cfg;

static void
setup(void)
{
	char keypath[] = "/tmp/fuzz_apply.key.XXXXXX";
	int fd = mkstemp(keypath);
	diag d = DIAG_INIT;
	FILE *fp;

	log_init("fuzz_apply");
	log_set_level(LOG_LVL_ERR);
	if (fd < 0 || (fp = fdopen(fd, "w")) == NULL)
		abort();
	fprintf(fp, "1700000000 %s\n",
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
	fclose(fp);
	config_defaults(&cfg);
	free(cfg.key_file);
	cfg.key_file = xstrdup(keypath);
	if (db_open(":memory:", DB_OPEN_CREATE, &db, &d) < 0 ||
	    db_exec(db, "INSERT INTO subscribers (email, email_key, created_at, updated_at) "
	    "VALUES ('a@example.org', 'a@example.org', 1, 1), ('b@example.org', "
	    "'b@example.org', 1, 1), ('kijitora@example.jp', 'kijitora@example.jp', 1, 1);"
	    "INSERT INTO issues (subject, source, created_at, updated_at) VALUES ('x', 'y', 1, 1);"
	    "INSERT INTO deliveries (issue_id, subscriber_id, state, created_at, updated_at) "
	    "VALUES (1, 1, 'sent', 1, 1), (1, 2, 'sent', 1, 1), (1, 3, 'sent', 1, 1);", &d) < 0) {
		fprintf(stderr, "fuzz_apply: setup: %s\n", d.msg);
		abort();
	}
}

static char *
fingerprint(void)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT group_concat(id || status || bounce_score, ',') "
	    "FROM subscribers");
	char *s = NULL;

	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		s = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return s ? s : xstrdup("");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bounce_report *r = NULL;
	struct bounce_outcome oc;
	diag d = DIAG_INIT;
	buf out = BUF_INIT;
	char *before, *after;

	if (db == NULL)
		setup();
	if (bounce_parse(data, size, &r, &d) < 0)
		return 0;
	bounce_report_json(r, "fuzz", &out);
	for (size_t i = 0; i < out.len; ) {
		size_t n = buf_utf8_len((const unsigned char *)out.data + i);
		if (n == 0) {
			fprintf(stderr, "fuzz_apply: JSON not UTF-8 at %zu\n", i);
			abort();
		}
		i += n;
	}
	before = fingerprint();
	if (bounce_apply(db, &cfg, r, 1700000000, &oc, &d) == 0) {
		after = fingerprint();
		if (oc.proof == PROOF_NONE && r->unsub_token[0] == '\0' &&
		    strcmp(before, after) != 0) {
			fprintf(stderr, "fuzz_apply: a report without proof changed a "
			    "subscriber: %s -> %s (%s)\n", before, after, oc.summary);
			abort();
		}
		free(after);
	}
	free(before);
	bounce_report_free(r);
	buf_free(&out);
	return 0;
}
