/* config - the loaded configuration and how it is read (libconfig). */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "clock.h"
#include "settings.h"
#include "xalloc.h"

#include "paths.h"

struct reader {
	const char	*file;
	buf		*errors;
	diag		*d;
	int		 nerr;
};

static void
problem(struct reader *r, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
problem(struct reader *r, int line, const char *key, const char *fmt, ...)
{
	buf msg = BUF_INIT;
	va_list ap;

	if (line > 0)
		buf_printf(&msg, "%s:%d: %s: ", r->file, line, key);
	else
		buf_printf(&msg, "%s: %s: ", r->file, key);
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (r->nerr++ == 0)
		diag_set(r->d, EX_CONFIG, "%s", buf_cstr(&msg));
	if (r->errors) {
		buf_append(r->errors, msg.data, msg.len);
		buf_putc(r->errors, '\n');
	}
	buf_free(&msg);
}

const char *
config_path(const char *cli_path)
{
	const char *env = getenv("BROADSIDE_CONFIG");

	if (cli_path && *cli_path)
		return cli_path;
	if (env && *env)
		return env;
	return BROADSIDE_SYSCONFDIR "/broadside/broadside.conf";
}

static void *
field(void *base, const struct setting *s)
{
	return (char *)base + s->offset;
}

/* Stores text `v` (a default, or a string from the file) into the field. */
static int
store_text(void *base, const struct setting *s, const char *v, const char **why)
{
	int64_t n;
	char *end;
	double f;

	switch (s->type) {
	case ST_STRING:
		free(*(char **)field(base, s));
		*(char **)field(base, s) = xstrdup(v);
		return 0;
	case ST_INT:
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno || *end || end == v) {
			*why = "not a whole number";
			return -1;
		}
		break;
	case ST_DURATION:
		if (clock_parse_duration(v, &n) < 0) {
			*why = "bad duration (write e.g. 90s, 5m, 1h, 5d, 1h30m)";
			return -1;
		}
		break;
	case ST_BOOL:
		if (strcmp(v, "true") == 0)
			n = 1;
		else if (strcmp(v, "false") == 0)
			n = 0;
		else {
			*why = "not true or false";
			return -1;
		}
		break;
	case ST_ENUM:
		n = setting_choice(s, v);
		if (n < 0) {
			*why = "not one of the allowed values";
			return -1;
		}
		break;
	case ST_PERCENT:
		errno = 0;
		f = strtod(v, &end);
		if (errno || end == v || strcmp(end, "%") != 0 || !(f >= 0 && f <= 100)) {
			*why = "not a percentage (write e.g. \"0.3%\")";
			return -1;
		}
		n = (int64_t)(f * 10000 + 0.5);	/* parts per million */
		break;
	default:
		*why = "unknown type";
		return -1;
	}
	if ((s->type == ST_INT || s->type == ST_DURATION || s->type == ST_PERCENT) &&
	    (s->min || s->max) &&
	    (n < s->min || n > s->max)) {
		*why = "out of range";
		return -1;
	}
	*(int64_t *)field(base, s) = n;
	return 0;
}

static void
apply_defaults(void *base, enum setting_scope scope)
{
	const char *why;

	for (size_t i = 0; i < settings_count; i++)
		if (settings_table[i].scope == scope)
			if (store_text(base, &settings_table[i], settings_table[i].def, &why) < 0)
				abort();	/* a bad default in the table is a bug */
}

static void
range_text(const struct setting *s, buf *b)
{
	char lo[32], hi[32];

	if (s->type == ST_ENUM) {
		buf_printf(b, "one of %s", s->choices);
	} else if (s->type == ST_PERCENT) {
		buf_printf(b, "between %g%% and %g%%", (double)s->min / 10000,
		    (double)s->max / 10000);
	} else if (s->type == ST_DURATION) {
		clock_format_duration(s->min, lo, sizeof lo);
		clock_format_duration(s->max, hi, sizeof hi);
		buf_printf(b, "between %s and %s", lo, hi);
	} else {
		buf_printf(b, "between %lld and %lld", (long long)s->min, (long long)s->max);
	}
}

static void
read_value(struct reader *r, void *base, const struct setting *s,
    config_setting_t *cs, const char *fullkey)
{
	int line = (int)config_setting_source_line(cs);
	int t = config_setting_type(cs);
	const char *why = NULL;
	char num[32];
	const char *text = NULL;

	switch (s->type) {
	case ST_STRING:
	case ST_ENUM:
		if (t != CONFIG_TYPE_STRING) {
			problem(r, line, fullkey, "expected a string in double quotes");
			return;
		}
		text = config_setting_get_string(cs);
		break;
	case ST_INT:
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
			problem(r, line, fullkey, "expected a whole number");
			return;
		}
		snprintf(num, sizeof num, "%lld", config_setting_get_int64(cs));
		text = num;
		break;
	case ST_DURATION:
		if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
			snprintf(num, sizeof num, "%llds", config_setting_get_int64(cs));
			text = num;
		} else if (t == CONFIG_TYPE_STRING) {
			text = config_setting_get_string(cs);
		} else {
			problem(r, line, fullkey, "expected a duration such as \"5m\"");
			return;
		}
		break;
	case ST_PERCENT:
		if (t == CONFIG_TYPE_INT && config_setting_get_int(cs) == 0) {
			text = "0%";
		} else if (t == CONFIG_TYPE_STRING) {
			text = config_setting_get_string(cs);
		} else {
			problem(r, line, fullkey, "expected a percentage such as \"0.3%%\"");
			return;
		}
		break;
	case ST_BOOL:
		if (t != CONFIG_TYPE_BOOL) {
			problem(r, line, fullkey, "expected true or false");
			return;
		}
		text = config_setting_get_bool(cs) ? "true" : "false";
		break;
	}
	if (store_text(base, s, text, &why) < 0) {
		buf lim = BUF_INIT;
		if (s->type == ST_ENUM || ((s->type == ST_INT || s->type == ST_DURATION ||
		    s->type == ST_PERCENT) &&
		    strcmp(why, "out of range") == 0))
			range_text(s, &lim);
		problem(r, line, fullkey, "\"%s\": %s%s%s", text, why,
		    lim.len ? "; must be " : "", buf_cstr(&lim));
		buf_free(&lim);
	}
}

static const struct setting *
find_setting(enum setting_scope scope, const char *path)
{
	for (size_t i = 0; i < settings_count; i++)
		if (settings_table[i].scope == scope &&
		    strcmp(settings_table[i].path, path) == 0)
			return &settings_table[i];
	return NULL;
}

static int
is_group_prefix(enum setting_scope scope, const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < settings_count; i++)
		if (settings_table[i].scope == scope &&
		    strncmp(settings_table[i].path, path, n) == 0 &&
		    settings_table[i].path[n] == '.')
			return 1;
	return 0;
}

static const struct setting_list *
find_list(const char *path)
{
	for (size_t i = 0; i < settings_nlists; i++)
		if (strcmp(settings_lists[i].name, path) == 0)
			return &settings_lists[i];
	return NULL;
}

static void free_strings(void *, enum setting_scope);
static void walk_group(struct reader *, void *, enum setting_scope,
    config_setting_t *, const char *, const char *);

static void
read_list(struct reader *r, struct config *cfg, const struct setting_list *l,
    config_setting_t *cs)
{
	int n = config_setting_length(cs);
	int line = (int)config_setting_source_line(cs);
	void **arr = (void **)((char *)cfg + l->array_offset);
	size_t *count = (size_t *)((char *)cfg + l->count_offset);

	if (!config_setting_is_list(cs) && !config_setting_is_array(cs)) {
		problem(r, line, l->name, "expected a list of groups: %s = ( { ... } );", l->name);
		return;
	}
	if (n < l->min_count) {
		problem(r, line, l->name, "needs at least %d entr%s", l->min_count,
		    l->min_count == 1 ? "y" : "ies");
		return;
	}
	/* The file's list replaces the default one. */
	for (size_t j = 0; j < *count; j++)
		free_strings((char *)*arr + j * l->elem_size, l->scope);
	free(*arr);
	*arr = xcalloc((size_t)n, l->elem_size);
	*count = (size_t)n;
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(cs, (unsigned)i);
		void *elem = (char *)*arr + (size_t)i * l->elem_size;
		char prefix[64];

		apply_defaults(elem, l->scope);
		snprintf(prefix, sizeof prefix, "%s[%d]", l->name, i);
		if (!config_setting_is_group(g)) {
			problem(r, (int)config_setting_source_line(g), prefix,
			    "expected a group { ... }");
			continue;
		}
		walk_group(r, elem, l->scope, g, "", prefix);
	}
}

/* Checks every key in group `g` against the table and reads its value. */
static void
walk_group(struct reader *r, void *base, enum setting_scope scope,
    config_setting_t *g, const char *path, const char *display)
{
	int n = config_setting_length(g);

	for (int i = 0; i < n; i++) {
		config_setting_t *cs = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(cs);
		char full[256], shown[320];
		const struct setting *s;
		const struct setting_list *l;
		int line = (int)config_setting_source_line(cs);

		snprintf(full, sizeof full, "%s%s%s", path, *path ? "." : "", name);
		snprintf(shown, sizeof shown, "%s%s%s", display, *display ? "." : "", name);
		if (scope == SCOPE_MAIN && (l = find_list(full)) != NULL) {
			read_list(r, base, l, cs);
		} else if ((s = find_setting(scope, full)) != NULL) {
			read_value(r, base, s, cs, shown);
		} else if (is_group_prefix(scope, full)) {
			if (!config_setting_is_group(cs))
				problem(r, line, shown, "expected a group { ... }");
			else
				walk_group(r, base, scope, cs, full, shown);
		} else {
			problem(r, line, shown, "unknown key");
		}
	}
}

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	apply_defaults(cfg, SCOPE_MAIN);
	for (size_t i = 0; i < settings_nlists; i++) {
		const struct setting_list *l = &settings_lists[i];
		void **arr = (void **)((char *)cfg + l->array_offset);
		if (l->min_count == 0)
			continue;	/* an optional list is empty by default */
		*arr = xcalloc(1, l->elem_size);
		*(size_t *)((char *)cfg + l->count_offset) = 1;
		apply_defaults(*arr, l->scope);
	}
	cfg->path = xstrdup("");
}

/* What no single value shows: relations between settings. */
static void
cross_check(struct reader *r, struct config *cfg)
{
	if (cfg->retry.min_backoff > cfg->retry.max_backoff)
		problem(r, 0, "retry.min_backoff", "is longer than retry.max_backoff");
	if (strchr(cfg->bounces.address, '@') == NULL)
		problem(r, 0, "bounces.address", "\"%s\" is not an address", cfg->bounces.address);
	if (strchr(cfg->list.from, '@') == NULL)
		problem(r, 0, "list.from", "\"%s\" has no address", cfg->list.from);
	if (strncmp(cfg->list.base_url, "http://", 7) != 0 &&
	    strncmp(cfg->list.base_url, "https://", 8) != 0)
		problem(r, 0, "list.base_url", "\"%s\" is not an http(s) URL", cfg->list.base_url);
	if (strrchr(cfg->http.listen, ':') == NULL)
		problem(r, 0, "http.listen", "\"%s\" is not address:port", cfg->http.listen);
	if (*cfg->database == '\0')
		problem(r, 0, "database", "is empty");
	for (size_t i = 0; i < cfg->nrelays; i++) {
		const struct relay_conf *rc = &cfg->relays[i];
		char key[48];
		snprintf(key, sizeof key, "relays[%zu].username", i % 1000);
		if (*rc->username && rc->tls != RELAY_TLS_REQUIRED && !rc->allow_plaintext_auth)
			problem(r, 0, key, "AUTH needs tls = \"required\" (a verified certificate), "
			    "or allow_plaintext_auth = true to send the password in the clear");
	}
	for (size_t i = 0; i < cfg->ndkim; i++) {
		const struct dkim_conf *k = &cfg->dkim[i];
		char key[32];
		snprintf(key, sizeof key, "dkim[%zu]", i);
		if (*k->selector == '\0' || *k->domain == '\0' || *k->key_file == '\0')
			problem(r, 0, key, "needs selector, domain and key_file");
		else if (k->selector[strspn(k->selector, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")] != '\0')
			problem(r, 0, key, "selector \"%s\" is not a DNS label", k->selector);
		else if (k->domain[strspn(k->domain, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.")] != '\0' || !strchr(k->domain, '.'))
			problem(r, 0, key, "domain \"%s\" is not a domain name", k->domain);
	}
}

int
config_load(const char *path, struct config *cfg, buf *errors, diag *d)
{
	config_t lc;
	struct reader r = { path, errors, d, 0 };
	FILE *fp;

	config_defaults(cfg);
	free(cfg->path);
	cfg->path = xstrdup(path);
	if ((fp = fopen(path, "r")) == NULL) {
		int e = errno;
		diag_set(d, e == ENOENT ? EX_NOINPUT : EX_NOPERM,
		    "%s: cannot read config: %s%s", path, strerror(e), e == ENOENT ?
		    " (write one with 'broadside config example', or give --config FILE)" : "");
		if (errors)
			buf_printf(errors, "%s\n", d ? d->msg : "");
		return -1;
	}
	config_init(&lc);
	if (config_read(&lc, fp) != CONFIG_TRUE) {
		problem(&r, config_error_line(&lc), "syntax", "%s", config_error_text(&lc));
		config_destroy(&lc);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	walk_group(&r, cfg, SCOPE_MAIN, config_root_setting(&lc), "", "");
	config_destroy(&lc);
	if (r.nerr == 0)
		cross_check(&r, cfg);
	if (*cfg->key_file == '\0') {
		const char *slash = strrchr(cfg->database, '/');
		buf k = BUF_INIT;
		if (slash)
			buf_append(&k, cfg->database, (size_t)(slash - cfg->database + 1));
		buf_puts(&k, "broadside.key");
		free(cfg->key_file);
		cfg->key_file = buf_detach(&k);
	}
	return r.nerr ? -1 : 0;
}

static void
free_strings(void *base, enum setting_scope scope)
{
	for (size_t i = 0; i < settings_count; i++)
		if (settings_table[i].scope == scope && settings_table[i].type == ST_STRING) {
			free(*(char **)field(base, &settings_table[i]));
			*(char **)field(base, &settings_table[i]) = NULL;
		}
}

void
config_free(struct config *cfg)
{
	free_strings(cfg, SCOPE_MAIN);
	for (size_t i = 0; i < settings_nlists; i++) {
		const struct setting_list *l = &settings_lists[i];
		void **arr = (void **)((char *)cfg + l->array_offset);
		size_t n = *(size_t *)((char *)cfg + l->count_offset);
		for (size_t j = 0; j < n; j++)
			free_strings((char *)*arr + j * l->elem_size, l->scope);
		free(*arr);
		*arr = NULL;
	}
	free(cfg->path);
	memset(cfg, 0, sizeof *cfg);
}

static void
copy_strings(void *dst, const void *src, enum setting_scope scope)
{
	for (size_t i = 0; i < settings_count; i++)
		if (settings_table[i].scope == scope && settings_table[i].type == ST_STRING) {
			char *const *from = (char *const *)((const char *)src + settings_table[i].offset);
			*(char **)field(dst, &settings_table[i]) = *from ? xstrdup(*from) : NULL;
		}
}

void
config_copy(struct config *dst, const struct config *src)
{
	memcpy(dst, src, sizeof *dst);
	copy_strings(dst, src, SCOPE_MAIN);
	for (size_t i = 0; i < settings_nlists; i++) {
		const struct setting_list *l = &settings_lists[i];
		void *const *from = (void *const *)((const char *)src + l->array_offset);
		void **to = (void **)((char *)dst + l->array_offset);
		size_t n = *(const size_t *)((const char *)src + l->count_offset);
		*to = n ? xcalloc(n, l->elem_size) : NULL;
		if (n)
			memcpy(*to, *from, n * l->elem_size);
		for (size_t j = 0; j < n; j++)
			copy_strings((char *)*to + j * l->elem_size,
			    (const char *)*from + j * l->elem_size, l->scope);
	}
	dst->path = src->path ? xstrdup(src->path) : NULL;
}

static void
example_value(buf *out, const struct setting *s)
{
	if (s->type == ST_STRING || s->type == ST_ENUM || s->type == ST_DURATION ||
	    s->type == ST_PERCENT)
		buf_printf(out, "\"%s\"", s->def);
	else
		buf_puts(out, s->def);
}

static void
example_comment(buf *out, const struct setting *s, int indent)
{
	buf_printf(out, "%*s# %s", indent, "", s->help);
	if (s->type == ST_ENUM)
		buf_printf(out, " (%s)", s->choices);
	else if ((s->type == ST_INT || s->type == ST_DURATION || s->type == ST_PERCENT) &&
	    (s->min || s->max)) {
		buf_puts(out, " [");
		range_text(s, out);
		buf_puts(out, "]");
	}
	buf_putc(out, '\n');
}

void
config_example(buf *out)
{
	const char *open = "";		/* the path of the innermost open group */
	size_t openlen = 0;		/* its length; 0 at the top level */
	int depth = 0;

	buf_puts(out,
	    "# broadside.conf - Broadside's configuration (libconfig syntax).\n"
	    "# Every setting is shown with its default; `broadside config check` validates.\n\n");
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting *s = &settings_table[i];
		const char *leaf;

		if (s->scope != SCOPE_MAIN)
			continue;
		/* Close the groups this setting is not in... */
		while (depth > 0 && !(strncmp(s->path, open, openlen) == 0 &&
		    s->path[openlen] == '.')) {
			depth--;
			buf_printf(out, "%*s};\n%s", 2 * depth, "", depth ? "" : "\n");
			while (openlen > 0 && open[openlen - 1] != '.')
				openlen--;
			if (openlen > 0)
				openlen--;	/* drop the dot too */
		}
		/* ...and open the ones it is in ("a.b.c": a, then b). */
		for (const char *dot; (dot = strchr(s->path + (depth ? openlen + 1 : 0), '.'));) {
			const char *name = s->path + (depth ? openlen + 1 : 0);
			buf_printf(out, "%*s%.*s: {\n", 2 * depth, "", (int)(dot - name), name);
			open = s->path;
			openlen = (size_t)(dot - s->path);
			depth++;
		}
		leaf = strrchr(s->path, '.');
		leaf = leaf ? leaf + 1 : s->path;
		example_comment(out, s, 2 * depth);
		buf_printf(out, "%*s%s = ", 2 * depth, "", leaf);
		example_value(out, s);
		buf_puts(out, ";\n");
		if (!depth)
			buf_putc(out, '\n');
		/* The lists follow the top-level settings that precede list.*. */
		if (!depth && strcmp(s->path, "log_level") == 0) {
			for (size_t j = 0; j < settings_nlists; j++) {
				const struct setting_list *l = &settings_lists[j];
				/* An optional list is shown commented out. */
				const char *c = l->min_count ? "" : "# ";
				buf_printf(out, "# %s\n%s%s = (\n%s  {\n", l->help, c, l->name, c);
				for (size_t k = 0; k < settings_count; k++) {
					const struct setting *e = &settings_table[k];
					if (e->scope != l->scope)
						continue;
					example_comment(out, e, 4);
					buf_printf(out, "%s    %s = ", c, e->path);
					example_value(out, e);
					buf_puts(out, ";\n");
				}
				buf_printf(out, "%s  }\n%s);\n\n", c, c);
			}
		}
	}
	while (depth-- > 0)
		buf_printf(out, "%*s};\n", 2 * depth, "");
}
