/* cli_db - broadside db stats: what the database holds and what it costs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"

static void
human(int64_t bytes, char *out, size_t outsz)
{
	if (bytes >= 10LL << 20)
		snprintf(out, outsz, "%.1f MB", (double)bytes / 1048576.0);
	else if (bytes >= 10LL << 10)
		snprintf(out, outsz, "%.1f KB", (double)bytes / 1024.0);
	else
		snprintf(out, outsz, "%lld B", (long long)bytes);
}

static const struct db_table_size *
find(const struct db_table_size *t, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return &t[i];
	return NULL;
}

/* Bytes per row of a table, its indexes included; 0 without rows. */
static double
per_row(const struct db_table_size *t)
{
	return t && t->rows > 0 ? (double)(t->bytes + t->index_bytes) / (double)t->rows : 0;
}

static int
cmd_db_stats(struct cli_ctx *ctx, int argc, char **argv, diag *d)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct db_table_size *t;
	const struct db_table_size *subs, *dels;
	size_t n;
	int64_t file, freeb;
	int json = 0, ch, rc;
	buf out = BUF_INIT;
	char a[32], b[32], c[32];

	while ((ch = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (ch != 'j')
			return cli_usage(d, "unknown option");
		json = 1;
	}
	if (optind != argc)
		return cli_usage(d, "unexpected argument '%s'", argv[optind]);
	if (db_sizes(ctx->db, &t, &n, &file, &freeb, d) < 0)
		return -1;
	subs = find(t, n, "subscribers");
	dels = find(t, n, "deliveries");
	if (json) {
		buf_puts(&out, "{\"file\": ");
		buf_json_string(&out, db_path(ctx->db));
		buf_printf(&out, ", \"bytes\": %lld, \"free_bytes\": %lld, \"tables\": [",
		    (long long)file, (long long)freeb);
		for (size_t i = 0; i < n; i++) {
			buf_printf(&out, "%s\n {\"name\": ", i ? "," : "");
			buf_json_string(&out, t[i].name);
			buf_printf(&out, ", \"rows\": %lld, \"bytes\": %lld, \"index_bytes\": %lld}",
			    (long long)t[i].rows, (long long)t[i].bytes, (long long)t[i].index_bytes);
		}
		buf_printf(&out, "%s], \"bytes_per_subscriber\": %.0f, \"bytes_per_delivery\": %.0f}\n",
		    n ? "\n" : "", per_row(subs), per_row(dels));
	} else {
		human(file, a, sizeof a);
		human(freeb, b, sizeof b);
		buf_printf(&out, "%s: %s (%s free, reused before the file grows)\n",
		    db_path(ctx->db), a, b);
		buf_printf(&out, "  %-18s %12s %12s %12s\n", "TABLE", "ROWS", "DATA", "INDEXES");
		for (size_t i = 0; i < n; i++) {
			human(t[i].bytes, b, sizeof b);
			human(t[i].index_bytes, c, sizeof c);
			buf_printf(&out, "  %-18s %12lld %12s %12s\n", t[i].name,
			    (long long)t[i].rows, b, c);
		}
		buf_printf(&out, "bytes per subscriber: %.0f (row and indexes)\n"
		    "bytes per delivery:   %.0f (row and indexes; kept for retention.deliveries, "
		    "then folded into delivery_counts)\n", per_row(subs), per_row(dels));
	}
	free(t);
	rc = cli_write_stdout(&out, d);
	buf_free(&out);
	return rc;
}

const struct cli_command cli_db_commands[] = {
	{ "db", "stats", "[--json]", "the database's size, table by table (rows, data, indexes), "
	  "and bytes per subscriber and per delivery", CLI_NEEDS_DB, cmd_db_stats },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};
