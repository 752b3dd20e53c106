/* test_base - buf, clock (durations, times), diag. */
#include <stdlib.h>

#include "buf.h"
#include "check.h"
#include "clock.h"
#include "diag.h"

int
main(void)
{
	buf b = BUF_INIT;
	int64_t v;
	char s[64];
	diag d = DIAG_INIT;

	CHECK_STR(buf_cstr(&b), "", "empty buf is \"\"");
	for (int i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	CHECK(b.len == 3890, "buf grows through printf (len %zu)", b.len);
	buf_reset(&b);
	buf_append(&b, "a\0b", 3);
	CHECK(b.len == 3 && b.data[3] == '\0', "buf holds NUL bytes and stays terminated");
	char *p = buf_detach(&b);
	CHECK(b.data == NULL && b.len == 0, "detach resets");
	free(p);

	CHECK(clock_parse_duration("5m", &v) == 0 && v == 300, "5m = 300s");
	CHECK(clock_parse_duration("1h30m", &v) == 0 && v == 5400, "1h30m = 5400s");
	CHECK(clock_parse_duration("5d", &v) == 0 && v == 432000, "5d");
	CHECK(clock_parse_duration("90", &v) == 0 && v == 90, "bare seconds");
	CHECK(clock_parse_duration("5 m", &v) < 0, "space rejected");
	CHECK(clock_parse_duration("m", &v) < 0, "unit without number rejected");
	CHECK(clock_parse_duration("", &v) < 0, "empty rejected");
	CHECK(clock_parse_duration("1h5", &v) < 0, "trailing bare number rejected");
	clock_format_duration(5400, s, sizeof s);
	CHECK_STR(s, "1h30m", "format 5400s");
	clock_format_duration(432000, s, sizeof s);
	CHECK_STR(s, "5d", "format 5d");

	CHECK(clock_parse_time("2026-11-23T18:00:00Z", &v) == 0 && v == 1795456800,
	    "RFC 3339 UTC");
	CHECK(clock_parse_time("2026-11-23T19:00:00+01:00", &v) == 0 && v == 1795456800,
	    "RFC 3339 with offset");
	CHECK(clock_parse_time("2026-11-23T18:00:00.250Z", &v) == 0 && v == 1795456800,
	    "RFC 3339 with fraction");
	CHECK(clock_parse_time("2026-02-30T18:00:00Z", &v) < 0, "Feb 30 rejected");
	CHECK(clock_parse_time("2026-11-23 18:00", &v) == 0, "local YYYY-MM-DD HH:MM");
	CHECK(clock_parse_time("2026-11-23 25:00", &v) < 0, "hour 25 rejected");
	CHECK(clock_parse_time("tomorrow", &v) < 0, "words rejected");
	CHECK(clock_parse_time("2026-11-23T18:00:00", &v) < 0, "RFC 3339 needs a zone");
	clock_format_rfc3339(1795456800, s, sizeof s);
	CHECK_STR(s, "2026-11-23T18:00:00Z", "format RFC 3339");
	clock_format_rfc5322(1795456800, s, sizeof s);
	CHECK_STR(s, "Mon, 23 Nov 2026 18:00:00 +0000", "format RFC 5322");

	CHECK(diag_set(&d, 65, "bad %s", "row") == -1 && d.code == 65, "diag_set returns -1");
	diag_prefix(&d, "%s:%d: ", "f.csv", 3);
	CHECK_STR(d.msg, "f.csv:3: bad row", "diag_prefix");
	buf_free(&b);
	return check_exit();
}
