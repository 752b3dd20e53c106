/* clock - wall time, durations and time formats. */
#include "clock.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t
clock_now(void)
{
	return (int64_t)time(NULL);
}

int64_t
clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
clock_deadline(int64_t ms, struct timespec *out)
{
	clock_gettime(CLOCK_REALTIME, out);
	out->tv_sec += ms / 1000;
	out->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (out->tv_nsec >= 1000000000L) {
		out->tv_sec++;
		out->tv_nsec -= 1000000000L;
	}
}

int
clock_parse_duration(const char *s, int64_t *secs)
{
	int64_t total = 0;
	int any = 0;

	if (s == NULL || *s == '\0')
		return -1;
	while (*s) {
		int64_t n = 0, mult;
		if (!isdigit((unsigned char)*s))
			return -1;
		while (isdigit((unsigned char)*s)) {
			if (n > 100000000000LL)
				return -1;
			n = n * 10 + (*s++ - '0');
		}
		switch (*s) {
		case '\0': mult = 1; if (any) return -1; break;
		case 's': mult = 1; s++; break;
		case 'm': mult = 60; s++; break;
		case 'h': mult = 3600; s++; break;
		case 'd': mult = 86400; s++; break;
		case 'w': mult = 604800; s++; break;
		default: return -1;
		}
		total += n * mult;
		any = 1;
	}
	*secs = total;
	return 0;
}

void
clock_format_duration(int64_t secs, char *out, size_t outsz)
{
	static const struct { int64_t n; char c; } u[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' }
	};
	size_t off = 0;

	if (secs <= 0) {
		snprintf(out, outsz, "0s");
		return;
	}
	out[0] = '\0';
	for (size_t i = 0; i < sizeof u / sizeof u[0] && off < outsz; i++) {
		if (secs >= u[i].n) {
			int w = snprintf(out + off, outsz - off, "%lld%c",
			    (long long)(secs / u[i].n), u[i].c);
			if (w < 0)
				break;
			off += (size_t)w;
			secs %= u[i].n;
		}
	}
}

static int
digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int
valid_tm(int y, int mo, int d, int h, int mi, int se)
{
	static const int mdays[] = { 31,29,31,30,31,30,31,31,30,31,30,31 };
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] || h > 23 || mi > 59 || se > 60)
		return 0;
	if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 0;
	return 1;
}

int
clock_parse_time(const char *s, int64_t *t)
{
	int y, mo, d, h, mi, se = 0;
	struct tm tm;
	size_t len = strlen(s);

	if (len < 16 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) ||
	    s[7] != '-' || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi))
		return -1;
	memset(&tm, 0, sizeof tm);
	if (s[10] == ' ' && len == 16) {
		/* "YYYY-MM-DD HH:MM", local time. */
		if (!valid_tm(y, mo, d, h, mi, 0))
			return -1;
		tm.tm_year = y - 1900; tm.tm_mon = mo - 1; tm.tm_mday = d;
		tm.tm_hour = h; tm.tm_min = mi; tm.tm_isdst = -1;
		*t = (int64_t)mktime(&tm);
		return 0;
	}
	if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
		return -1;
	/* RFC 3339: seconds are required, fraction optional, then Z or ±hh:mm. */
	if (len < 20 || s[16] != ':' || digits(s + 17, 2, &se))
		return -1;
	const char *p = s + 19;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -1;
		while (isdigit((unsigned char)*p))
			p++;
	}
	int off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) ||
		    oh > 23 || om > 59)
			return -1;
		off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else
		return -1;
	if (*p != '\0' || !valid_tm(y, mo, d, h, mi, se))
		return -1;
	tm.tm_year = y - 1900; tm.tm_mon = mo - 1; tm.tm_mday = d;
	tm.tm_hour = h; tm.tm_min = mi; tm.tm_sec = se;
	*t = (int64_t)timegm(&tm) - off;
	return 0;
}

void
clock_format_rfc3339(int64_t t, char *out, size_t outsz)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
clock_format_rfc5322(int64_t t, char *out, size_t outsz)
{
	/* Names by hand: strftime's %a/%b follow the locale, RFC 5322 does not. */
	static const char *days[] = { "Sun","Mon","Tue","Wed","Thu","Fri","Sat" };
	static const char *mons[] = { "Jan","Feb","Mar","Apr","May","Jun","Jul",
	    "Aug","Sep","Oct","Nov","Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday], tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900,
	    tm.tm_hour, tm.tm_min, tm.tm_sec);
}
