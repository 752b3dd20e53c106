/* welcome - what a new reader gets: the welcome email and the latest issues. */
#include "welcome.h"

#include "issues.h"
#include "queue.h"

#define CATCH_UP_MAX	10	/* welcome.catch_up's upper limit (settings.c) */

int
welcome_queue(struct db *db, const struct config *cfg, int64_t lo, int64_t hi, int64_t now,
    int64_t *welcomed, int64_t *caught_up, diag *d)
{
	static const char *const tiers[2] = { "free", "paid" };
	int64_t id, n;

	if (welcomed)
		*welcomed = 0;
	if (caught_up)
		*caught_up = 0;
	if (cfg->welcome.enabled) {
		if (issue_welcome(db, &id, d) < 0 ||
		    queue_welcome(db, id, lo, hi, NULL, 0, now, &n, d) < 0)
			return -1;
		if (welcomed)
			*welcomed = n;
	}
	/* Per tier: the latest issues a paid reader would have got may be
	 * paid-only ones a free reader never gets. */
	for (int t = 0; t < 2 && cfg->welcome.catch_up > 0; t++) {
		int64_t ids[CATCH_UP_MAX];
		size_t nids, max = (size_t)cfg->welcome.catch_up;

		if (max > CATCH_UP_MAX)
			max = CATCH_UP_MAX;
		if (issue_catch_up(db, tiers[t], now - cfg->welcome.catch_up_age, max, ids,
		    &nids, d) < 0)
			return -1;
		for (size_t i = 0; i < nids; i++) {
			if (queue_welcome(db, ids[i], lo, hi, tiers[t], 1, now, &n, d) < 0)
				return -1;
			if (caught_up)
				*caught_up += n;
		}
	}
	return 0;
}
