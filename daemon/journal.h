/* journal - the outcome journal: what the relays answered, kept on disk
 * until the database has it.
 *
 * An outcome once received from a relay must never be forgotten: a copy
 * whose acceptance is forgotten is sent again. The queue thread commits
 * outcomes in batches, and a commit can fail for minutes (disk full, a
 * long write lock, an I/O error) or never happen (kill -9). So each
 * outcome is also appended here the moment it is known, before the next
 * message goes out on that connection: one line, written, not fsynced (a
 * killed process's writes are in the page cache; a power cut loses what
 * the relay's own queue would lose too).
 *
 * Two files, <database>.outcomes.<tag>.0 and .1. Writers append to the
 * current one; when the queue thread takes the outcomes gathered it
 * switches writers to the other, and once everything taken is committed
 * the file no longer current is emptied. A file is emptied only when every
 * line in it is in the database. Replaying a line is harmless twice: each
 * outcome is written only under the lease it was received under.
 *
 * At start (before leases are released) journal_replay() applies every
 * <database>.outcomes.* file a previous run left, then removes them.
 */
#ifndef BROADSIDE_JOURNAL_H
#define BROADSIDE_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "diag.h"
#include "queue.h"

struct journal;

/* Creates (truncates) the two files for `tag` (unique per sender). */
int	journal_open(const char *database, const char *tag, struct journal **out, diag *d);
/* Appends one outcome to the current file; trouble (ENOSPC) is logged once
 * per change of state and otherwise ignored: the outcome is still in memory.
 * Callers serialise appends and switches. */
void	journal_append(struct journal *j, const struct queue_outcome *o);
/* Writers go to the other file from now on. */
void	journal_switch(struct journal *j);
/* Everything appended before the last switch is committed: empty the file
 * that is not current. */
void	journal_committed(struct journal *j);
/* Closes; removes both files when `clean` (nothing uncommitted). */
void	journal_close(struct journal *j, int clean);

/* Applies every outcome a previous run left in <database>.outcomes.* and
 * removes those files. *n (may be NULL): lines applied. */
int	journal_replay(struct db *db, const char *database, int64_t *n, diag *d);

#endif
