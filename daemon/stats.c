/* stats - the read-only counts reported about sending (stats.h). */
#include "stats.h"

#include <string.h>

sqlite3_stmt *
stats_deliveries_by_state(struct db *db)
{
	return db_stmt(db, "SELECT state, sum(n) FROM (SELECT state, count(*) AS n "
	    "FROM deliveries GROUP BY state UNION ALL SELECT state, sum(n) FROM delivery_counts "
	    "GROUP BY state) GROUP BY state ORDER BY state");
}

sqlite3_stmt *
stats_deliveries_by_relay(struct db *db)
{
	return db_stmt(db, "SELECT COALESCE(relay, ''), state, count(*) FROM deliveries "
	    "GROUP BY 1, 2 ORDER BY 1, 2");
}

int
stats_queue_depth(struct db *db, int64_t now, int64_t *depth, int64_t *due, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT count(*), "
	    "COALESCE(sum(state IN ('queued', 'deferred') AND next_attempt_at <= ?1), 0) "
	    "FROM deliveries WHERE state IN ('queued', 'deferred', 'sending')");

	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_fail(db, d, "counting the queue");
	}
	*depth = sqlite3_column_int64(st, 0);
	*due = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

/* One row of int64 columns into out[]; -1 (db_fail) otherwise. */
static int
row(struct db *db, sqlite3_stmt *st, int64_t *out, int n, const char *what, diag *d)
{
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		return db_fail(db, d, what);
	}
	for (int i = 0; i < n; i++)
		out[i] = sqlite3_column_int64(st, i);
	sqlite3_reset(st);
	return 0;
}

int
stats_issue(struct db *db, int64_t issue_id, int64_t min, struct stats_issue *out, diag *d)
{
	/* The copies and the dead addresses their state shows, in one pass
	 * over the issue's rows (dead_address(): smtp_policy's one rule, see
	 * db.c); then the few rows of bounces that name them. */
	sqlite3_stmt *st = db_stmt(db,
	    "SELECT count(*), coalesce(sum(state = 'bounced' OR "
	    "(state = 'failed' AND dead_address(last_status))), 0) "
	    "FROM deliveries WHERE issue_id = ?1 AND state IN ('sent', 'failed', 'bounced')");
	int64_t v[2] = { 0, 0 };

	memset(out, 0, sizeof *out);
	sqlite3_bind_int64(st, 1, issue_id);
	if (row(db, st, v, 2, "counting an issue's deliveries", d) < 0)
		return -1;
	out->finished = v[0];
	out->dead = v[1];
	if (out->finished >= min) {
		out->total_upto = out->finished;
	} else {
		st = db_stmt(db, "SELECT count(*) FROM (SELECT 1 FROM deliveries "
		    "WHERE issue_id = ?1 LIMIT ?2)");
		sqlite3_bind_int64(st, 1, issue_id);
		sqlite3_bind_int64(st, 2, min);
		if (row(db, st, &out->total_upto, 1, "counting an issue's deliveries", d) < 0)
			return -1;
	}
	st = db_stmt(db,
	    "SELECT count(DISTINCT CASE WHEN b.kind = 'complaint' THEN b.delivery_id END), "
	    "count(DISTINCT CASE WHEN b.kind = 'hard' AND NOT (d.state = 'bounced' OR "
	    "(d.state = 'failed' AND dead_address(d.last_status))) THEN b.delivery_id END) "
	    "FROM bounces b JOIN deliveries d ON d.id = b.delivery_id "
	    "WHERE d.issue_id = ?1 AND d.state IN ('sent', 'failed', 'bounced')");
	sqlite3_bind_int64(st, 1, issue_id);
	if (row(db, st, v, 2, "counting an issue's complaints", d) < 0)
		return -1;
	out->complaints = v[0];
	out->hard_reports = v[1];
	return 0;
}

int
stats_bounces_last_id(struct db *db, int64_t *id, diag *d)
{
	return row(db, db_stmt(db, "SELECT coalesce(max(id), 0) FROM bounces"), id, 1,
	    "reading the bounces", d);
}

int
stats_bounces_after(struct db *db, int64_t after, int64_t *n, diag *d)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM bounces WHERE id > ?1");

	sqlite3_bind_int64(st, 1, after);
	return row(db, st, n, 1, "reading the bounces", d);
}
