/* test_unsubscribe - unsubscribe by token (idempotent, drops queued mail,
 * forged tokens change nothing), address masking, page templates, metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "check.h"
#include "metrics.h"
#include "page.h"
#include "relay.h"
#include "token.h"
#include "unsubscribe.h"

static int64_t
count(struct db *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t n = -1;

	if (sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");
	fputs(text, fp);
	fclose(fp);
}

static void
test_mask(void)
{
	buf b = BUF_INIT;

	unsubscribe_mask_email("jane@example.com", &b);
	CHECK_STR(buf_cstr(&b), "j***@example.com", "address masked");
	buf_reset(&b);
	unsubscribe_mask_email("zoë@example.net", &b);
	CHECK_STR(buf_cstr(&b), "z***@example.net", "mask of a non-ASCII local part");
	buf_reset(&b);
	unsubscribe_mask_email("\xc3\xa9mile@example.fr", &b);
	CHECK_STR(buf_cstr(&b), "\xc3\xa9***@example.fr", "mask keeps a whole UTF-8 first character");
	buf_reset(&b);
	unsubscribe_mask_email("nodomain", &b);
	CHECK_STR(buf_cstr(&b), "***", "mask of a non-address shows nothing");
	buf_free(&b);
}

static void
test_page(const char *dir)
{
	static const char *const slots[] = { "list_name", "email", NULL };
	const char *values[] = { "Dragons & <Co>", "j***@\"x\".com" };
	struct page *p;
	diag d = DIAG_INIT;
	char path[512];
	buf b = BUF_INIT;

	snprintf(path, sizeof path, "%s/ok.html", dir);
	write_file(path, "<h1>{{list_name}}</h1>\n<p>{{email}} {{list_name}}</p>");
	CHECK(page_load(dir, "ok.html", slots, &p, &d) == 0, "page loads");
	page_fill(p, values, &b);
	CHECK_STR(buf_cstr(&b), "<h1>Dragons &amp; &lt;Co&gt;</h1>\n<p>j***@&quot;x&quot;.com "
	    "Dragons &amp; &lt;Co&gt;</p>", "slots filled and HTML-escaped");
	page_free(p);

	snprintf(path, sizeof path, "%s/bad.html", dir);
	write_file(path, "<p>\n  {{nope}}</p>");
	CHECK(page_load(dir, "bad.html", slots, &p, &d) < 0 && d.code == EX_DATAERR &&
	    strstr(d.msg, "bad.html:2:3: unknown slot '{{nope}}'"),
	    "unknown slot named with line and column (%s)", d.msg);
	write_file(path, "<p>{{email</p>");
	CHECK(page_load(dir, "bad.html", slots, &p, &d) < 0 && strstr(d.msg, ":1:4: '{{' without '}}'"),
	    "unclosed slot refused (%s)", d.msg);
	CHECK(page_load(dir, "missing.html", slots, &p, &d) < 0 && d.code == EX_NOINPUT &&
	    strstr(d.msg, "missing.html"), "missing page named (%s)", d.msg);
	/* The shipped pages load with the slots the endpoint fills. */
	static const char *const all[] = { "list_name", "email", "resubscribe_action",
	    "unsubscribe_action", "heading", "message", NULL };
	const char *files[] = { "unsubscribe.html", "unsubscribed.html", "resubscribed.html",
	    "notfound.html" };
	for (size_t i = 0; i < 4; i++) {
		int rc = page_load("templates", files[i], all, &p, &d);
		CHECK(rc == 0, "templates/%s loads%s%s", files[i], rc ? ": " : "", rc ? d.msg : "");
		page_free(p);
	}
	buf_free(&b);
}

static void
test_metrics(void)
{
	struct config cfg;
	buf b = BUF_INIT;
	diag d = DIAG_INIT;
	enum relay_circuit st;

	config_defaults(&cfg);
	size_t r0 = metrics_relay_index("127.0.0.1:25"), r1 = metrics_relay_index("relay2:587");
	CHECK(r0 == 0 && r1 == 1 && metrics_relay_index("127.0.0.1:25") == 0,
	    "relay slots by name: the same name, the same slot");
	CHECK_STR(metrics_relay_name(r1), "relay2:587", "slot name");
	metrics_relay_add(r0, RELAY_SENT, 41);
	metrics_relay_inc(r0, RELAY_SENT);
	metrics_relay_inc(METRICS_NO_RELAY, RELAY_SENT);	/* ignored */
	CHECK(metrics_relay_get(r0, RELAY_SENT) == 42, "relay counter adds");
	CHECK(metrics_relay_circuit_get(r0, &st) < 0, "circuit unknown until reported");
	metrics_relay_circuit(r0, CIRCUIT_OPEN);
	CHECK(metrics_relay_circuit_get(r0, &st) == 0 && st == CIRCUIT_OPEN, "circuit reported");
	metrics_inc(METRIC_RENDERED);
	CHECK(metrics_scrape(NULL, &cfg, &b, &d) == 0, "scrape without database");
	CHECK(strstr(buf_cstr(&b), "broadside_relay_sent_total{relay=\"127.0.0.1:25\"} 42\n") != NULL,
	    "relay counter in Prometheus text");
	CHECK(strstr(buf_cstr(&b), "broadside_relay_circuit{relay=\"127.0.0.1:25\"} 1\n") != NULL,
	    "circuit gauge");
	CHECK(strstr(buf_cstr(&b), "broadside_relay_sent_total{relay=\"relay2:587\"} 0\n") != NULL,
	    "a relay not in the config but reporting is shown");
	{
		/* A reload that changes a relay's address: the new relay's slot is
		 * its name's, whatever its place in the config, and only the
		 * running config's relays have a circuit on the page. */
		struct config moved;
		struct relay *rl;
		size_t slots[4], n;
		buf m = BUF_INIT;

		config_defaults(&moved);
		moved.relays[0].port = 2526;
		rl = relay_new(&moved.relays[0], 0, 1, 2);
		CHECK_STR(metrics_relay_name(relay_index(rl)), "127.0.0.1:2526",
		    "a relay's metrics slot is its name's, not its config position's");
		CHECK(relay_index(rl) != r0, "the moved relay does not report in the old slot");
		n = metrics_relays_current(&moved, slots, 4);
		CHECK(n == 1 && slots[0] == relay_index(rl), "current slots follow the config by name");
		metrics_relay_inc(relay_index(rl), RELAY_SENT);
		CHECK(metrics_scrape(NULL, &moved, &m, &d) == 0, "scrape after the move");
		CHECK(strstr(buf_cstr(&m), "broadside_relay_circuit{relay=\"127.0.0.1:2526\"} 0\n") != NULL &&
		    strstr(buf_cstr(&m), "broadside_relay_circuit{relay=\"127.0.0.1:25\"}") == NULL,
		    "circuit under the new name only");
		CHECK(strstr(buf_cstr(&m), "broadside_relay_sent_total{relay=\"127.0.0.1:2526\"} 1\n") != NULL,
		    "the moved relay's sends under its new name");
		relay_free(rl);
		buf_free(&m);
		config_free(&moved);
	}
	for (int i = 0; i < METRICS_MAX_RELAYS; i++) {
		char n[32];
		snprintf(n, sizeof n, "r%d:25", i);
		metrics_relay_index(n);
	}
	CHECK(metrics_relay_index("one-too-many:25") == METRICS_NO_RELAY &&
	    metrics_relay_count() == METRICS_MAX_RELAYS, "slots run out: METRICS_NO_RELAY");
	CHECK(strstr(buf_cstr(&b), "# TYPE broadside_rendered_total counter\n"
	    "broadside_rendered_total 1\n") != NULL, "TYPE line and counter");
	buf_free(&b);
	config_free(&cfg);
}

static void
test_unsubscribe(const char *dir)
{
	struct config cfg;
	struct secret sec = { .nkeys = 1 };
	struct subscriber s;
	struct db *db;
	diag d = DIAG_INIT;
	char path[512], tok[TOKEN_MAX], bad[TOKEN_MAX];
	int done = 0;

	config_defaults(&cfg);
	memset(sec.keys[0].key, 0x5a, SECRET_KEY_LEN);
	sec.keys[0].created = 1;
	snprintf(path, sizeof path, "%s/t.db", dir);
	if (db_open(path, DB_OPEN_CREATE, &db, &d) < 0) {
		CHECK(0, "open database: %s", d.msg);
		return;
	}
	db_exec(db, "INSERT INTO subscribers (id, email, email_key, created_at, updated_at) "
	    "VALUES (7, 'jane@example.com', 'jane@example.com', 0, 0);"
	    "INSERT INTO issues (id, subject, source, status, created_at, updated_at) "
	    "VALUES (1, 's', 'x', 'sending', 0, 0), (2, 's', 'x', 'sent', 0, 0);"
	    "INSERT INTO deliveries (issue_id, subscriber_id, state, created_at, updated_at) "
	    "VALUES (1, 7, 'queued', 0, 0), (2, 7, 'sent', 0, 0)", &d);

	token_unsub_make(&sec, cfg.list.id, 7, tok);
	snprintf(bad, sizeof bad, "%s", tok);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
	CHECK(unsubscribe_token(db, &cfg, &sec, bad, "one-click", &d) < 0 && d.code == EX_DATAERR,
	    "forged token refused: %s", d.msg);
	bad[strlen(bad) - 5] = '\0';
	CHECK(unsubscribe_token(db, &cfg, &sec, bad, "one-click", &d) < 0 && d.code == EX_DATAERR,
	    "truncated token refused");
	CHECK(count(db, "SELECT count(*) FROM subscribers WHERE status = 'active'") == 1 &&
	    count(db, "SELECT count(*) FROM events") == 0, "refused tokens change nothing");

	CHECK(unsubscribe_lookup(db, &cfg, &sec, tok, &s, &d) == 0 && s.id == 7 &&
	    strcmp(s.email, "jane@example.com") == 0, "lookup finds the subscriber");
	subscriber_free(&s);
	CHECK(unsubscribe_token(db, &cfg, &sec, tok, "one-click", &d) == 0, "unsubscribe");
	CHECK(count(db, "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'") == 1,
	    "subscriber unsubscribed");
	CHECK(count(db, "SELECT count(*) FROM deliveries WHERE issue_id = 1 AND state = 'dropped'") == 1,
	    "queued delivery dropped");
	CHECK(count(db, "SELECT count(*) FROM deliveries WHERE issue_id = 2 AND state = 'sent'") == 1,
	    "sent delivery kept");
	CHECK(unsubscribe_token(db, &cfg, &sec, tok, "one-click", &d) == 0 &&
	    count(db, "SELECT count(*) FROM events") == 1, "idempotent: one event");
	CHECK(resubscribe_token(db, &cfg, &sec, tok, "web", &done, &d) == 0 && done &&
	    count(db, "SELECT count(*) FROM subscribers WHERE status = 'active'") == 1, "resubscribe");
	db_exec(db, "UPDATE subscribers SET status = 'complained'", &d);
	CHECK(unsubscribe_token(db, &cfg, &sec, tok, "mail", &d) == 0 &&
	    resubscribe_token(db, &cfg, &sec, tok, "web", &done, &d) == 0 && !done &&
	    count(db, "SELECT count(*) FROM subscribers WHERE status = 'complained'") == 1,
	    "complained stays complained");
	/* Inside the caller's transaction: joined, and undone by its rollback. */
	db_exec(db, "UPDATE subscribers SET status = 'active'", &d);
	db_begin(db, &d);
	int64_t who = 0;
	enum sub_status was = SUB_BOUNCED;
	CHECK(unsubscribe_token_ex(db, &cfg, &sec, tok, "mail", &who, &was, &d) == 0 &&
	    who == 7 && was == SUB_ACTIVE &&
	    count(db, "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'") == 1,
	    "joins an open transaction; _ex tells who and the status before");
	db_rollback(db);
	CHECK(count(db, "SELECT count(*) FROM subscribers WHERE status = 'active'") == 1,
	    "the caller's rollback undoes it");
	db_exec(db, "DELETE FROM deliveries; DELETE FROM subscribers", &d);
	CHECK(unsubscribe_token_ex(db, &cfg, &sec, tok, "one-click", &who, NULL, &d) < 0 &&
	    d.code == EX_NOUSER && who == 7, "genuine token of a removed subscriber: EX_NOUSER, id told");
	db_close(db);
	config_free(&cfg);
}

int
main(void)
{
	char dir[] = "/tmp/broadside-unsub.XXXXXX";
	char cmd[600];

	if (mkdtemp(dir) == NULL)
		return 1;
	test_mask();
	test_page(dir);
	test_metrics();
	test_unsubscribe(dir);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		return 1;
	return check_exit();
}
