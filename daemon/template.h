/* template - the small template language of the email layouts.
 *
 * A template is text with slots: {{name}} is replaced by a value, and
 * {{name|there}} by "there" when the value is empty. Slot names are the
 * fixed set below; anything else, an unclosed "{{" or an empty slot is an
 * error naming file:line:column. There is nothing else: no loops, no
 * conditions, no includes. A template whose file name ends in ".html" is an
 * HTML template (values are HTML-escaped there); others are plain text.
 * Parsing happens once per issue compile (render.c), never per subscriber.
 */
#ifndef BROADSIDE_TEMPLATE_H
#define BROADSIDE_TEMPLATE_H

#include <stddef.h>

#include "diag.h"

enum tmpl_slot {
	SLOT_NONE = -1,		/* a literal piece */
	SLOT_NAME, SLOT_EMAIL, SLOT_UNSUBSCRIBE_URL, SLOT_VIEW_URL,
	SLOT_SUBJECT, SLOT_PREHEADER, SLOT_CONTENT, SLOT_UPGRADE_URL,
	SLOT_LIST_NAME, SLOT_LIST_ADDRESS, SLOT_CONFIRM_URL,
	SLOT_FEED_URL, SLOT_TRIAL_DAYS,
	SLOT_COUNT
};

struct tmpl_piece {
	enum tmpl_slot	 slot;		/* SLOT_NONE: text[0..len) is literal */
	const char	*text;		/* points into the template's source */
	size_t		 len;
	const char	*fallback;	/* NUL-terminated, "" when none */
	int		 line, col;	/* where it starts, 1-based */
};

struct template {
	char		*file;		/* as given, for messages */
	int		 html;
	char		*src;
	char		*fallbacks;	/* a copy of src the fallbacks are cut from */
	struct tmpl_piece *pieces;
	size_t		 npieces;
};

/* "name" -> SLOT_NAME; SLOT_NONE when unknown. */
enum tmpl_slot template_slot_parse(const char *s, size_t n);
const char *template_slot_name(enum tmpl_slot s);
/* 1 for the slots that are URLs (written URL-safe). */
int	template_slot_is_url(enum tmpl_slot s);

/* Parses `len` bytes of `text`; `file` names it in errors (EX_CONFIG,
 * "layout.html:12:5: unknown slot 'nmae'"). */
int	template_parse(const char *file, const char *text, size_t len,
	    struct template **out, diag *d);
/* Reads and parses dir/name (EX_NOINPUT when it cannot be read). */
int	template_load(const char *dir, const char *name, struct template **out,
	    diag *d);
/* -1 and an error at the template's start when `slot` is absent. */
int	template_require(const struct template *t, enum tmpl_slot slot, diag *d);
void	template_free(struct template *t);

#endif
