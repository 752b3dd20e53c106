/* scheduler - the thread that starts and finishes issues.
 *
 * Twenty times a second: a scheduled issue whose time has come is fanned
 * out in committed chunks (queue_fanout_step) and becomes 'sending' with
 * the first one, so sending starts while the rest is fanned out; a fan-out
 * interrupted by a stop goes on from its cursor at the next start. A
 * sending issue whose fan-out is done and whose deliveries are all final
 * becomes 'sent'; a cancelled issue's waiting deliveries are dropped. Pause and resume need nothing from it: senders only claim for
 * issues that are 'sending'. It logs one line per issue event (sending,
 * paused, resumed, cancelled, sent), never per message. Once a second it
 * also ends the paid periods that are over (trials, paid-until dates set
 * from outside): those readers are free again (subscriber_expire_paid).
 */
#ifndef BROADSIDE_SCHEDULER_H
#define BROADSIDE_SCHEDULER_H

#include <stdint.h>

#include "config.h"
#include "diag.h"

struct scheduler;

/* fanned_out(arg) (may be NULL) is called after each fan-out, from the
 * scheduler's thread: the senders need not wait for their next look. */
int	scheduler_start(const struct config *cfg, void (*fanned_out)(void *arg), void *arg,
	    struct scheduler **out, diag *d);
void	scheduler_stop(struct scheduler *s);
/* clock_mono_ms() of the last completed round (for the watchdog). */
int64_t	scheduler_heartbeat(struct scheduler *s);

#endif
