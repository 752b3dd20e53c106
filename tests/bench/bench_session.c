/* bench_session - Broadside's SMTP layer alone, without queue or rendering.
 *
 *   bench_session HOST PORT MESSAGE_FILE COUNT CONNECTIONS PER_SESSION
 *
 * Sends COUNT copies of one message file through smtp_send() (libesmtp, the
 * VERP sender, DSN, TCP_NODELAY and the corked body) over CONNECTIONS
 * threads, each running sessions of PER_SESSION messages, as the sender
 * threads do (SCHED_BATCH too) but with no database, no claims and no
 * rendering. Beside smtp-source and broadsided in `make bench`, it tells
 * how much of the daemon's rate the SMTP library itself sets.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "relay.h"
#include "secret.h"
#include "smtp.h"
#include "token.h"
#include "xalloc.h"

static buf msg = BUF_INIT;
static struct relay *relay;
static struct secret sec;
static atomic_long left;
static size_t per;
static atomic_int failed;

static void
done(struct smtp_msg *m, void *arg)
{
	(void)arg;
	if (m->outcome.code / 100 != 2)
		atomic_store(&failed, 1);
}

static void *
sender(void *arg)
{
	struct smtp_msg *ms = xcalloc(per, sizeof *ms);
	buf *froms = xcalloc(per, sizeof *froms);
	/* RFC 5321's timeouts, as the daemon's defaults. */
	static const struct smtp_timeouts to = { 300, 300, 120, 180, 600 };
	struct sched_param sp = { 0 };
	char err[256];

	(void)arg;
	pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
	for (;;) {
		long n = atomic_fetch_sub(&left, (long)per);
		size_t k = n <= 0 ? 0 : (size_t)n < per ? (size_t)n : per;
		struct smtp_job job = { .relay = relay, .timeouts = &to, .msgs = ms, .n = k,
		    .done = done };

		if (k == 0)
			break;
		for (size_t i = 0; i < k; i++) {
			memset(&ms[i], 0, sizeof ms[i]);
			ms[i].delivery_id = n - (long)i;
			ms[i].rcpt = "reader@example.com";
			/* The VERP sender, made per copy as the daemon does. */
			buf_reset(&froms[i]);
			token_verp_make(&sec, "bounces@example.com", ms[i].delivery_id, &froms[i]);
			ms[i].from = buf_cstr(&froms[i]);
			ms[i].data = msg.data;
			ms[i].len = msg.len;
		}
		if (smtp_send(&job, err, sizeof err) < 0) {
			fprintf(stderr, "bench_session: %s\n", err);
			exit(1);
		}
	}
	for (size_t i = 0; i < per; i++)
		buf_free(&froms[i]);
	free(froms);
	free(ms);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct relay_conf rc = { 0 };
	pthread_t th[256];
	FILE *f;
	char chunk[8192];
	size_t n;

	if (argc != 7) {
		fprintf(stderr, "usage: bench_session HOST PORT MESSAGE_FILE COUNT "
		    "CONNECTIONS PER_SESSION\n");
		return 64;
	}
	rc.host = argv[1];
	rc.port = atoi(argv[2]);
	rc.connections = atoi(argv[5]);
	rc.per_session = atoi(argv[6]);
	rc.username = rc.password = "";
	if (rc.connections < 1 || rc.connections > 256 || rc.per_session < 1) {
		fprintf(stderr, "bench_session: 1-256 connections, 1 or more per session\n");
		return 64;
	}
	if ((f = fopen(argv[3], "rb")) == NULL) {
		perror(argv[3]);
		return 66;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&msg, chunk, n);
	fclose(f);
	sec.nkeys = 1;
	memset(sec.keys[0].key, 0x5a, sizeof sec.keys[0].key);
	relay = relay_new(&rc, 0, 1000, 60000);
	per = (size_t)rc.per_session;
	atomic_store(&left, atol(argv[4]));
	smtp_global_init();
	for (int i = 0; i < rc.connections; i++)
		pthread_create(&th[i], NULL, sender, NULL);
	for (int i = 0; i < rc.connections; i++)
		pthread_join(th[i], NULL);
	relay_free(relay);
	buf_free(&msg);
	if (atomic_load(&failed)) {
		fprintf(stderr, "bench_session: the server refused a message\n");
		return 1;
	}
	return 0;
}
