/* outbox - the single writer of a sender: outcomes in, claims out (outbox.h). */
#include "outbox.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "deliverability.h"
#include "issues.h"
#include "journal.h"
#include "log.h"
#include "smtp_policy.h"
#include "xalloc.h"

#define RETRY_MIN_MS	100	/* a pass that could not commit: tried again */
#define RETRY_MAX_MS	5000	/* after this long, doubling up to this */

struct pause {
	int64_t		 issue_id;
	char		*why;
};

struct outbox {
	const struct config *cfg;
	struct db	*db;
	struct journal	*journal;
	char		 process[96];	/* "host:pid:": every lease of this daemon */
	char		 prefix[128];	/* "host:pid:gN:": this sender's */

	struct queue_outcome *in;	/* gathered, not yet taken */
	size_t		 nin, capin;
	int64_t		 in_since_ms;
	struct queue_outcome *taken;	/* taken, not yet recorded */
	size_t		 ntaken, captaken;
	struct pause	*pauses;
	size_t		 npauses, cappauses;

	int64_t		 failing_since_ms, backoff_ms, retry_ms;
	int64_t		 renew_every_ms, next_renew_ms;
	int		 unrecorded_at_close;
	atomic_llong	 sent_total;
};

int
outbox_open(const struct config *cfg, unsigned gen, struct outbox **out, diag *d)
{
	struct outbox *ob = xcalloc(1, sizeof *ob);
	char host[64] = "localhost", tag[32];

	gethostname(host, sizeof host - 1);
	snprintf(ob->process, sizeof ob->process, "%s:%d:", host, (int)getpid());
	snprintf(ob->prefix, sizeof ob->prefix, "%sg%u:", ob->process, gen);
	snprintf(tag, sizeof tag, "%d.%u", (int)getpid(), gen);
	ob->cfg = cfg;
	ob->renew_every_ms = cfg->sending.lease * 1000 / 3;
	ob->next_renew_ms = clock_mono_ms() + ob->renew_every_ms;
	if (db_open(cfg->database, DB_OPEN_EXISTING, &ob->db, d) < 0 ||
	    journal_open(cfg->database, tag, &ob->journal, d) < 0) {
		outbox_close(ob);
		return -1;
	}
	*out = ob;
	return 0;
}

void
outbox_close(struct outbox *ob)
{
	if (!ob)
		return;
	for (size_t i = 0; i < ob->nin; i++)
		queue_outcome_free(&ob->in[i]);
	for (size_t i = 0; i < ob->ntaken; i++)
		queue_outcome_free(&ob->taken[i]);
	for (size_t i = 0; i < ob->npauses; i++)
		free(ob->pauses[i].why);
	/* The journal goes only when everything in it is recorded. */
	journal_close(ob->journal, ob->nin == 0 && ob->ntaken == 0 && !ob->unrecorded_at_close);
	db_close(ob->db);
	free(ob->in);
	free(ob->taken);
	free(ob->pauses);
	free(ob);
}

const char *
outbox_prefix(const struct outbox *ob)
{
	return ob->prefix;
}

struct db *
outbox_db(struct outbox *ob)
{
	return ob->db;
}

size_t
outbox_add(struct outbox *ob, struct queue_outcome *o)
{
	journal_append(ob->journal, o);
	ob->in = xgrow(ob->in, &ob->capin, ob->nin + 1, sizeof *ob->in);
	ob->in[ob->nin++] = *o;
	if (ob->nin == 1)
		ob->in_since_ms = clock_mono_ms();
	return ob->nin;
}

size_t
outbox_waiting(const struct outbox *ob, int64_t *since_ms)
{
	if (since_ms)
		*since_ms = ob->in_since_ms;
	return ob->nin;
}

size_t
outbox_unrecorded(const struct outbox *ob)
{
	return ob->ntaken;
}

int64_t
outbox_due_ms(const struct outbox *ob, int64_t now_ms)
{
	int64_t due = ob->next_renew_ms - now_ms;

	if (ob->ntaken > 0 && ob->retry_ms - now_ms < due)
		due = ob->retry_ms - now_ms;
	return due > 0 ? due : 0;
}

void
outbox_take(struct outbox *ob)
{
	/* With nothing older unrecorded, the journal's writers move to its
	 * other file: the one left holds exactly what is taken now, and is
	 * emptied once that is recorded. */
	if (ob->ntaken == 0)
		journal_switch(ob->journal);
	if (ob->nin == 0)
		return;
	ob->taken = xgrow(ob->taken, &ob->captaken, ob->ntaken + ob->nin, sizeof *ob->taken);
	memcpy(ob->taken + ob->ntaken, ob->in, ob->nin * sizeof *ob->in);
	ob->ntaken += ob->nin;
	ob->nin = 0;
}

void
outbox_pause(struct outbox *ob, int64_t issue_id, const char *why)
{
	if (outbox_pausing(ob, issue_id))
		return;
	ob->pauses = xgrow(ob->pauses, &ob->cappauses, ob->npauses + 1, sizeof *ob->pauses);
	ob->pauses[ob->npauses].issue_id = issue_id;
	ob->pauses[ob->npauses++].why = xstrdup(why);
}

int
outbox_pausing(const struct outbox *ob, int64_t issue_id)
{
	for (size_t i = 0; i < ob->npauses; i++)
		if (ob->pauses[i].issue_id == issue_id)
			return 1;
	return 0;
}

/* The transaction of a pass. */
static int
record_and_claim(struct outbox *ob, const struct outbox_claim *claims, size_t nclaims,
    int renew, int64_t *sending, size_t *nsending, diag *d)
{
	int64_t now = clock_now(), dropped = 0;

	if (db_begin(ob->db, d) < 0)
		return -1;
	if (queue_record(ob->db, ob->taken, ob->ntaken, d) < 0)
		goto fail;
	for (size_t i = 0; i < ob->npauses; i++)
		if (issue_pause(ob->db, ob->pauses[i].issue_id, ob->pauses[i].why, d) < 0)
			goto fail;
	if (renew && queue_renew(ob->db, ob->prefix, ob->cfg->sending.lease, now, NULL, d) < 0)
		goto fail;
	if (queue_sending_issues(ob->db, sending, nsending, d) < 0)
		goto fail;
	for (size_t i = 0; i < nclaims; i++) {
		struct queue_lease l = { claims[i].owner, ob->process, queue_token(),
		    ob->cfg->sending.lease };
		if (queue_claim_in(ob->db, &l, claims[i].limit, now, claims[i].into, &dropped,
		    d) < 0)
			goto fail;
	}
	if (db_commit(ob->db, d) < 0)
		goto reset;
	if (dropped)
		log_debug("%lld deliveries dropped at claim time", (long long)dropped);
	return 0;
fail:
	db_rollback(ob->db);
reset:
	for (size_t i = 0; i < nclaims; i++)
		queue_batch_reset(claims[i].into);
	return -1;
}

/* After a pass: what the recorded outcomes mean beyond the queue. */
static void
recorded(struct outbox *ob)
{
	for (size_t i = 0; i < ob->ntaken; i++) {
		const struct queue_outcome *o = &ob->taken[i];
		diag d = DIAG_INIT;

		if (o->result == QR_SENT)
			atomic_fetch_add(&ob->sent_total, 1);
		/* A dead address is a hard bounce: the issue's rate. */
		if (o->result == QR_FAILED && smtp_policy_dead_address(o->status) &&
		    deliverability_check_delivery(ob->db, ob->cfg, o->delivery_id, &d) < 0)
			log_warn("deliverability: %s", d.msg);
		queue_outcome_free(&ob->taken[i]);
	}
	ob->ntaken = 0;
	for (size_t i = 0; i < ob->npauses; i++)
		free(ob->pauses[i].why);
	ob->npauses = 0;
}

int
outbox_pass(struct outbox *ob, const struct outbox_claim *claims, size_t nclaims,
    int stopping, int64_t *sending, size_t *nsending)
{
	int64_t now_ms = clock_mono_ms();
	int renew = now_ms >= ob->next_renew_ms;
	diag d = DIAG_INIT;

	if (record_and_claim(ob, claims, nclaims, renew, sending, nsending, &d) == 0) {
		if (ob->failing_since_ms)
			log_notice("recorded %zu outcomes after %lld s of trouble; sending again",
			    ob->ntaken, (long long)((now_ms - ob->failing_since_ms) / 1000));
		ob->failing_since_ms = 0;
		ob->backoff_ms = 0;
		if (renew)
			ob->next_renew_ms = now_ms + ob->renew_every_ms;
		journal_committed(ob->journal);
		recorded(ob);
		return 0;
	}
	if (stopping) {
		log_err("stopping with %zu outcomes not recorded (%s): the outcome journal "
		    "keeps them for the next start", ob->ntaken, d.msg);
		ob->unrecorded_at_close = 1;
		return -1;
	}
	/* Logged once per change of state, not per try. */
	if (!ob->failing_since_ms) {
		log_warn("cannot record %zu outcomes: %s; they are kept (in memory and the "
		    "outcome journal) and nothing new is sent until they are recorded",
		    ob->ntaken, d.msg);
		ob->failing_since_ms = now_ms;
	}
	ob->backoff_ms = ob->backoff_ms ? ob->backoff_ms * 2 : RETRY_MIN_MS;
	if (ob->backoff_ms > RETRY_MAX_MS)
		ob->backoff_ms = RETRY_MAX_MS;
	ob->retry_ms = now_ms + ob->backoff_ms;
	return -1;
}

int64_t
outbox_sent_total(struct outbox *ob)
{
	return atomic_load(&ob->sent_total);
}
