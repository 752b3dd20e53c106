/* clock - wall time, durations and the time formats Broadside reads and writes.
 *
 * Times are int64_t Unix seconds (clock_now) or milliseconds (clock_now_ms).
 * Durations are written "90s", "5m", "1h", "5d", "1h30m" or bare seconds.
 */
#ifndef BROADSIDE_CLOCK_H
#define BROADSIDE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t	clock_now(void);
int64_t	clock_now_ms(void);
int64_t	clock_mono_ms(void);		/* monotonic, for intervals */
/* The CLOCK_REALTIME instant `ms` from now, for pthread_cond_timedwait(). */
struct timespec;
void	clock_deadline(int64_t ms, struct timespec *out);

/* "5m" -> 300. Returns -1 on a malformed duration. */
int	clock_parse_duration(const char *s, int64_t *secs);
/* 300 -> "5m"; 5400 -> "1h30m". */
void	clock_format_duration(int64_t secs, char *out, size_t outsz);

/* RFC 3339 ("2026-11-23T18:00:00Z", "...+01:00") or "YYYY-MM-DD HH:MM"
 * in local time. Returns -1 when it is neither. */
int	clock_parse_time(const char *s, int64_t *t);
/* RFC 3339 in UTC: 2026-11-23T18:00:00Z */
void	clock_format_rfc3339(int64_t t, char *out, size_t outsz);
/* RFC 5322 date: "Mon, 23 Nov 2026 18:00:00 +0000" */
void	clock_format_rfc5322(int64_t t, char *out, size_t outsz);

#endif
