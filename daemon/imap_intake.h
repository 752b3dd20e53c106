/* imap_intake - the daemon's poller of the bounce mailbox (IMAP, libcurl).
 *
 * Every bounces.imap.interval it asks the server for the messages it has not
 * seen (UID SEARCH from the highest UID processed), fetches each one, parses
 * it (bounce_parse) and applies it (bounce_apply) in a transaction that also
 * records the message's UID (table imap_seen, keyed by mailbox URL and
 * UIDVALIDITY). Only after that commit is the message flagged \Seen, or
 * deleted and expunged with bounces.imap.delete: a stop between the two
 * leaves a recorded UID that is skipped (and flagged) on the next poll, so
 * no message is ever applied twice, across restarts too. A busy database
 * stops the round; the message is taken again next time. Mail that is not
 * mail at all is recorded and flagged too (and logged), never retried
 * forever. Nothing is ever sent back.
 *
 * Runs on its own thread with its own database connection and its own copy
 * of the settings it needs.
 */
#ifndef BROADSIDE_IMAP_INTAKE_H
#define BROADSIDE_IMAP_INTAKE_H

#include "config.h"
#include "db.h"
#include "diag.h"

/* Starts the poller when bounces.imap.url is set (a no-op otherwise).
 * Call once, from the main thread (it initialises libcurl). */
int	imap_intake_start(const struct config *cfg, diag *d);
/* Stops it and waits for the round in progress to end. Safe to call when
 * it was never started. */
void	imap_intake_stop(void);

/* One poll of the mailbox with the given connection: for tests and for
 * `broadside` tools. *applied gets the number of messages processed. */
int	imap_intake_poll(struct db *db, const struct config *cfg, int *applied, diag *d);

#endif
