/* log - the one logging module. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

static const char *prog = "broadside";
static enum log_level threshold = LOG_LVL_INFO;
static int journal;

static const char *names[8] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
};

void
log_init(const char *progname)
{
	const char *lvl = getenv("BROADSIDE_LOG_LEVEL");
	enum log_level l;

	prog = progname;
	journal = getenv("JOURNAL_STREAM") != NULL;
	if (lvl && log_level_parse(lvl, &l) == 0)
		threshold = l;
}

void
log_set_level(enum log_level lvl)
{
	threshold = lvl;
}

int
log_enabled(enum log_level lvl)
{
	return lvl <= threshold;
}

int
log_level_parse(const char *name, enum log_level *out)
{
	for (int i = LOG_LVL_ERR; i <= LOG_LVL_DEBUG; i++) {
		if (strcmp(name, names[i]) == 0 ||
		    (i == LOG_LVL_WARN && strcmp(name, "warn") == 0) ||
		    (i == LOG_LVL_ERR && strcmp(name, "err") == 0)) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

static void
emit(enum log_level lvl, const char *fmt, va_list ap)
{
	buf b = BUF_INIT;

	if (journal)
		buf_printf(&b, "<%d>", (int)lvl);
	else if (lvl <= LOG_LVL_WARN || lvl == LOG_LVL_DEBUG)
		buf_printf(&b, "%s: %s: ", prog, names[lvl]);
	else
		buf_printf(&b, "%s: ", prog);
	buf_vprintf(&b, fmt, ap);
	/* One line per message: a newline in the text cannot forge a record. */
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n' || b.data[i] == '\r')
			b.data[i] = ' ';
	buf_putc(&b, '\n');
	(void)!write(STDERR_FILENO, b.data, b.len);
	buf_free(&b);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if (lvl > threshold)
		return;
	va_start(ap, fmt);
	emit(lvl, fmt, ap);
	va_end(ap);
}

void
log_fatal(int exitcode, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(exitcode);
}
