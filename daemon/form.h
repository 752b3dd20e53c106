/* form - the fields of an application/x-www-form-urlencoded body.
 *
 * form_field() finds the first field of that name and appends its value,
 * decoded ('+' is a space, %XX a byte). A field that is not well formed
 * (a '%' without two hex digits, a NUL, a value that is not UTF-8) makes
 * the whole body malformed.
 */
#ifndef BROADSIDE_FORM_H
#define BROADSIDE_FORM_H

#include <stddef.h>

#include "buf.h"

/* 1 and the value in out; 0 when there is no such field; -1 when the body
 * is malformed. */
int	form_field(const char *body, size_t len, const char *name, buf *out);

/* 1 when s[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int	form_utf8_ok(const char *s, size_t n);

#endif
