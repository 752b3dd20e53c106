/* buf - the one growable byte string of Broadside.
 *
 * Always NUL-terminated after any operation (data[len] == 0), so data can be
 * used as a C string when it holds no NUL. Grows through xalloc: never fails.
 * The struct is open on purpose: the renderer appends in its hot loop.
 */
#ifndef BROADSIDE_BUF_H
#define BROADSIDE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
} buf;

#define BUF_INIT { NULL, 0, 0 }

void	 buf_init(buf *b);
void	 buf_free(buf *b);
void	 buf_reset(buf *b);			/* len = 0, keeps memory */
void	 buf_reserve(buf *b, size_t extra);	/* room for extra more bytes */
void	 buf_append(buf *b, const void *p, size_t n);
void	 buf_puts(buf *b, const char *s);
void	 buf_putc(buf *b, char c);
void	 buf_printf(buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_vprintf(buf *b, const char *fmt, va_list ap);
void	 buf_truncate(buf *b, size_t len);
/* Appends s as a JSON string literal (quoted, escaped; bytes that are not
 * UTF-8 become U+FFFD, so the output is always valid); null for NULL. */
void	 buf_json_string(buf *b, const char *s);
/* The length of the valid UTF-8 sequence at p (1 for ASCII), 0 when the
 * bytes there are not one (stray, overlong, surrogate, truncated). */
size_t	 buf_utf8_len(const unsigned char *p);
const char *buf_cstr(buf *b);			/* "" for an empty, never NULL */
char	*buf_detach(buf *b);			/* caller frees; b is reset */

#endif
