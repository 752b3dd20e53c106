/* bench_bounce - bounce messages parsed per second over the peer corpus,
 * beside GMime's MIME parse alone of the same messages in the same run.
 *
 *   bench_bounce CORPUS_DIR SECONDS
 *
 * Every message is read into memory first; each timed pass parses all of
 * them. The ratio says what the bounce knowledge costs on top of MIME.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gmime/gmime.h>

#include "bounce_parse.h"
#include "buf.h"
#include "log.h"
#include "xalloc.h"

struct msg {
	char	*data;
	size_t	 len;
};

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
gmime_only(const struct msg *m)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(m->data, m->len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeMessage *msg = g_mime_parser_construct_message(p, NULL);

	if (msg)
		g_object_unref(msg);
	g_object_unref(p);
	g_object_unref(st);
}

static int
bounce(const struct msg *m)
{
	struct bounce_report *r;
	diag d = DIAG_INIT;
	int n = 0;

	if (bounce_parse(m->data, m->len, &r, &d) == 0) {
		n = (int)r->n;
		bounce_report_free(r);
	}
	return n;
}

int
main(int argc, char **argv)
{
	char path[4096];
	struct msg *msgs = NULL;
	size_t n = 0, cap = 0, bytes = 0;
	double secs, t0, t, rate_b, rate_g;
	long passes;
	DIR *dir;
	struct dirent *e;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_bounce CORPUS_DIR SECONDS\n");
		return 64;
	}
	log_init("bench_bounce");
	log_set_level(LOG_LVL_ERR);
	secs = atof(argv[2]);
	snprintf(path, sizeof path, "%s/emails", argv[1]);
	if ((dir = opendir(path)) == NULL) {
		fprintf(stderr, "bench_bounce: %s: cannot open\n", path);
		return 66;
	}
	while ((e = readdir(dir)) != NULL) {
		FILE *fp;
		buf b = BUF_INIT;
		char chunk[65536];
		size_t got;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/emails/%s", argv[1], e->d_name);
		if ((fp = fopen(path, "rb")) == NULL)
			continue;
		while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0)
			buf_append(&b, chunk, got);
		fclose(fp);
		msgs = xgrow(msgs, &cap, n + 1, sizeof *msgs);
		msgs[n].len = b.len;
		msgs[n].data = buf_detach(&b);
		bytes += msgs[n].len;
		n++;
	}
	closedir(dir);
	if (n == 0) {
		fprintf(stderr, "bench_bounce: no messages\n");
		return 66;
	}
	bounce(&msgs[0]);	/* GMime's one-time initialisation */

	t0 = now();
	passes = 0;
	do {
		for (size_t i = 0; i < n; i++)
			bounce(&msgs[i]);
		passes++;
	} while ((t = now()) - t0 < secs);
	rate_b = (double)(passes * (long)n) / (t - t0);

	t0 = now();
	passes = 0;
	do {
		for (size_t i = 0; i < n; i++)
			gmime_only(&msgs[i]);
		passes++;
	} while ((t = now()) - t0 < secs);
	rate_g = (double)(passes * (long)n) / (t - t0);

	printf("%-44s %9.0f msg/s  (%.1f MB/s; %zu messages, %.1f KB average)\n",
	    "bounce_parse (verdicts)", rate_b, rate_b * (double)bytes / (double)n / 1e6, n,
	    (double)bytes / (double)n / 1024.0);
	printf("%-44s %9.0f msg/s\n", "GMime MIME parse only (baseline)", rate_g);
	printf("bounce_parse / GMime parse = %.2f\n", rate_b / rate_g);
	for (size_t i = 0; i < n; i++)
		free(msgs[i].data);
	free(msgs);
	return 0;
}
