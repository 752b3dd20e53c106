/* backoff - the one function that says when a deferred message is tried again. */
#include "backoff.h"

int64_t
backoff_delay(int64_t attempts, int64_t min, int64_t max, uint32_t rnd)
{
	int64_t base = min > 0 ? min : 1, spread, d;

	if (max < base)
		max = base;
	for (int64_t i = 1; i < attempts && base < max; i++)
		base = base > max / 2 ? max : base * 2;
	if (base > max)
		base = max;
	/* Jitter in [-10%, +10%] of the base, mapped from rnd. */
	spread = base / 10;
	d = base - spread + (int64_t)(((uint64_t)rnd * (uint64_t)(2 * spread + 1)) >> 32);
	if (d < min)
		d = min;
	if (d > max)
		d = max;
	return d < 1 ? 1 : d;
}
