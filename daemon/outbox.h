/* outbox - the single writer of a sender: outcomes in, claims out.
 *
 * The sender's workers hand it each message's outcome the moment the relay
 * answers (outbox_add: appended to the outcome journal, then kept in
 * memory). The sender's queue thread takes what was gathered
 * (outbox_take) and makes one pass (outbox_pass): in ONE transaction it
 * records those outcomes under the leases they were claimed with, pauses
 * the issues that could not be rendered, renews this sender's leases when
 * the heartbeat is due, and claims the next batch of every worker that
 * needs one. A pass that cannot commit (disk full, a long write lock, an
 * I/O error) keeps its outcomes, claims nothing, and is tried again with
 * backoff: an outcome once known is recorded or still in the journal,
 * never dropped, and nothing new is sent until it is recorded.
 *
 * Not thread-safe by itself: outbox_add and outbox_take run under the
 * sender's lock; the rest only in the queue thread.
 */
#ifndef BROADSIDE_OUTBOX_H
#define BROADSIDE_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "db.h"
#include "diag.h"
#include "queue.h"

struct outbox;

/* A claim for one worker: up to `limit` deliveries into `into`. */
struct outbox_claim {
	const char		*owner;
	size_t			 limit;
	struct queue_batch	*into;
};

/* `gen` tells this sender's leases and journal from other senders'. */
int	outbox_open(const struct config *cfg, unsigned gen, struct outbox **out, diag *d);
/* clean: nothing left uncommitted (the journal files go too). */
void	outbox_close(struct outbox *ob);

/* "host:pid:gGEN:": the owner prefix of this sender's leases. */
const char *outbox_prefix(const struct outbox *ob);
/* The queue thread's database connection (reads for rendering). */
struct db *outbox_db(struct outbox *ob);

/* Takes o (its strings too). Returns how many outcomes now wait. */
size_t	outbox_add(struct outbox *ob, struct queue_outcome *o);
/* Outcomes waiting to be taken, and since when (monotonic ms). */
size_t	outbox_waiting(const struct outbox *ob, int64_t *since_ms);
/* Outcomes taken but not recorded: while there are, nothing is claimed. */
size_t	outbox_unrecorded(const struct outbox *ob);
/* Milliseconds until a pass is due for the outbox's own sake (a retry, the
 * lease heartbeat); 0: now. */
int64_t	outbox_due_ms(const struct outbox *ob, int64_t now_ms);
/* Moves what waits into the pass to come. */
void	outbox_take(struct outbox *ob);

/* Pauses the issue, saying why, in the next pass. */
void	outbox_pause(struct outbox *ob, int64_t issue_id, const char *why);
int	outbox_pausing(const struct outbox *ob, int64_t issue_id);

/* One pass (see above). *sending gets the issues still being sent (room
 * for QUEUE_MAX_SENDING). 0: recorded (and claimed); -1: kept for later,
 * nothing claimed. `stopping`: the last pass; what it cannot record stays
 * in the journal for the next start. */
int	outbox_pass(struct outbox *ob, const struct outbox_claim *claims, size_t nclaims,
	    int stopping, int64_t *sending, size_t *nsending);

/* Messages accepted by a relay, recorded. */
int64_t	outbox_sent_total(struct outbox *ob);

#endif
