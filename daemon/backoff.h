/* backoff - the one function that says when a deferred message is tried again.
 *
 * Exponential, as MTAs do (RFC 5321 4.5.4.1; Postfix's minimal/maximal
 * backoff): the n-th failed attempt waits min * 2^(n-1), capped at max, with
 * up to 10% jitter either way so that copies deferred together do not all
 * come back in the same second. Never less than min, never more than max.
 * Pure: the randomness comes in as an argument, so it is unit-tested.
 */
#ifndef BROADSIDE_BACKOFF_H
#define BROADSIDE_BACKOFF_H

#include <stdint.h>

/* Seconds to wait after `attempts` (>= 1) failed attempts. `rnd` is any
 * random 32-bit value (0 gives the least, UINT32_MAX the most jitter). */
int64_t	backoff_delay(int64_t attempts, int64_t min, int64_t max, uint32_t rnd);

#endif
