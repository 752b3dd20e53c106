/* settings - the one table of every setting: name, type, default, limits, help.
 *
 * The config reader, `broadside config example` and the README's reference
 * all come from this table. A setting lives in the main file (SCOPE_MAIN,
 * dotted path "retry.max_age") or in each group of a list (SCOPE_RELAY:
 * keys of one `relays = ( {...} )` entry).
 */
#ifndef BROADSIDE_SETTINGS_H
#define BROADSIDE_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

enum setting_type {
	ST_STRING,	/* char * */
	ST_INT,		/* int64_t, within [min, max] */
	ST_DURATION,	/* int64_t seconds, written "5m"; within [min, max] */
	ST_BOOL,	/* int64_t 0/1 */
	ST_ENUM,	/* int64_t index into choices "a|b|c" */
	ST_PERCENT,	/* int64_t parts per million, written "0.3%"; within [min, max] */
};

enum setting_scope {
	SCOPE_MAIN,
	SCOPE_RELAY,
	SCOPE_DKIM,	/* keys of one `dkim = ( {...} )` entry */
};

struct setting {
	enum setting_scope scope;
	const char	*path;
	enum setting_type type;
	const char	*def;		/* default, as written in the file */
	int64_t		 min, max;
	const char	*choices;	/* ST_ENUM: "none|starttls|required" */
	size_t		 offset;	/* into struct config or struct relay_conf */
	const char	*help;
};

extern const struct setting settings_table[];
extern const size_t settings_count;

/* The lists of groups and where they live in struct config. */
struct setting_list {
	const char	*name;		/* "relays" */
	enum setting_scope scope;
	size_t		 elem_size;
	size_t		 array_offset;	/* void ** in struct config */
	size_t		 count_offset;	/* size_t in struct config */
	int		 min_count;
	const char	*help;
};
extern const struct setting_list settings_lists[];
extern const size_t settings_nlists;

/* ST_ENUM: index of `value` in choices, or -1. */
int	setting_choice(const struct setting *s, const char *value);
/* ST_ENUM: the name of choice `idx` into out. */
void	setting_choice_name(const struct setting *s, int64_t idx, char *out, size_t n);

#endif
