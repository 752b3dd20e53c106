/* bench_render - personalized messages rendered per second on one core,
 * beside a memcpy of the same bytes (the floor any renderer sits on).
 *
 *   bench_render ISSUE.md TEMPLATE_DIR [SECONDS]
 *
 * Compiles the issue once (as the daemon does), then renders copies for a
 * rotating set of 1,000 subscribers (both tiers, each with their own name,
 * address, unsubscribe token and Message-ID) into one reused buffer, the
 * way a sender thread does. Then it copies the same number of bytes with
 * memcpy, message by message, and prints both and their ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "issue_file.h"
#include "render.h"

#define NSUBS	1000

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	struct config cfg;
	struct secret sec;
	struct issue is;
	struct render *r;
	diag d = DIAG_INIT;
	buf text = BUF_INIT, out = BUF_INIT;
	static char emails[NSUBS][64], names[NSUBS][64];
	double secs = argc > 3 ? atof(argv[3]) : 2.0;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_render ISSUE.md TEMPLATE_DIR [SECONDS]\n");
		return 64;
	}
	if (issue_file_read(argv[1], &text, &d) < 0 ||
	    issue_file_parse(argv[1], buf_cstr(&text), text.len, &is, &d) < 0) {
		fprintf(stderr, "bench_render: %s\n", d.msg);
		return 1;
	}
	is.id = 1;
	config_defaults(&cfg);
	free(cfg.templates);
	cfg.templates = strdup(argv[2]);
	free(cfg.list.address);
	cfg.list.address = strdup("1 Example Street, Springfield");
	memset(&sec, 0, sizeof sec);
	sec.nkeys = 1;
	for (int i = 0; i < 32; i++)
		sec.keys[0].key[i] = (unsigned char)(i * 37 + 11);
	for (int i = 0; i < NSUBS; i++) {
		snprintf(emails[i], sizeof emails[i], "reader%d@example.com", i);
		snprintf(names[i], sizeof names[i], i % 3 ? "Reader Number %d" : "Zoë “%d” O'Brien", i);
	}

	double t0 = now_s();
	int compiles = 0;
	do {
		if (render_compile(&cfg, &sec, &is, &r, &d) < 0) {
			fprintf(stderr, "bench_render: %s\n", d.msg);
			return 1;
		}
		compiles++;
		if (now_s() - t0 < 0.3)
			render_free(r);
		else
			break;
	} while (1);
	double compile_ms = (now_s() - t0) / compiles * 1e3;

	/* Render. */
	long n = 0;
	size_t bytes = 0, maxlen = 0;
	int64_t when = clock_now();
	t0 = now_s();
	double t1;
	do {
		for (int k = 0; k < 1000; k++, n++) {
			int i = (int)(n % NSUBS);
			struct render_to to = { n + 1, i + 1, emails[i], names[i],
			    i % 2 ? TIER_PAID : TIER_FREE };
			buf_reset(&out);
			if (render_message(r, &to, when, &out, &d) < 0) {
				fprintf(stderr, "bench_render: %s\n", d.msg);
				return 1;
			}
			bytes += out.len;
			if (out.len > maxlen)
				maxlen = out.len;
		}
		t1 = now_s();
	} while (t1 - t0 < secs);
	double render_s = t1 - t0;

	/* memcpy of the same bytes, message by message. */
	char *src = malloc(maxlen), *dst = malloc(maxlen);
	memset(src, 'x', maxlen);
	size_t avg = bytes / (size_t)n, left = bytes;
	t0 = now_s();
	while (left > 0) {
		size_t len = left < avg ? left : avg;
		memcpy(dst, src, len);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
		left -= len;
	}
	double copy_s = now_s() - t0;

	double rate = (double)n / render_s, copy_rate = (double)n / copy_s;
	printf("render: weekly example, %zu-byte messages (avg), compile once %.2f ms\n",
	    avg, compile_ms);
	printf("  rendered   %10.0f messages/s  %8.1f MB/s  (%ld messages in %.2f s, one core)\n",
	    rate, (double)bytes / render_s / 1e6, n, render_s);
	printf("  memcpy     %10.0f messages/s  %8.1f MB/s  (same bytes)\n",
	    copy_rate, (double)bytes / copy_s / 1e6);
	printf("  ratio      rendering costs %.1fx a memcpy of its output; %.2f us per message\n",
	    copy_rate / rate, 1e6 / rate);
	free(src);
	free(dst);
	render_free(r);
	issue_free(&is);
	config_free(&cfg);
	buf_free(&text);
	buf_free(&out);
	return 0;
}
