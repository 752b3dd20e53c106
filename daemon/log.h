/* log - the one logging module.
 *
 * Levels with fixed meanings (syslog priorities): debug for developers,
 * info for what goes on, notice for state changes an operator cares about,
 * warn for trouble that Broadside works around, err for a failed operation,
 * fatal for what cannot go on (logs and exits with the given sysexits code).
 * Output: stderr; with a "<N>" priority prefix when stderr is the journal
 * (JOURNAL_STREAM set, as under systemd), plain "prog: level: msg" otherwise.
 * Thread-safe: each line is written with one write(2).
 */
#ifndef BROADSIDE_LOG_H
#define BROADSIDE_LOG_H

enum log_level {
	LOG_LVL_ERR = 3,
	LOG_LVL_WARN = 4,
	LOG_LVL_NOTICE = 5,
	LOG_LVL_INFO = 6,
	LOG_LVL_DEBUG = 7,
};

void	log_init(const char *progname);
void	log_set_level(enum log_level lvl);
/* 1 when messages of this level are written (to skip costly debug work). */
int	log_enabled(enum log_level lvl);
int	log_level_parse(const char *name, enum log_level *out);
void	log_msg(enum log_level lvl, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_notice(...)	log_msg(LOG_LVL_NOTICE, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)

_Noreturn void log_fatal(int exitcode, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif
