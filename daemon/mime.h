/* mime - the bytes of a message: quoted-printable, RFC 2047 words, headers.
 *
 * Quoted-printable (RFC 2045 6.7) with a caller-visible line state, so that
 * the renderer can encode static segments once at compile time and splice
 * per-subscriber slots between them: every segment starts at column 0 and
 * ends at column 0 (a soft line break "=" CRLF closes an open line). Output
 * lines are at most 76 octets, CRLF, with trailing white space, "=", control
 * bytes, a leading "." and a leading "From " encoded; a UTF-8 sequence is
 * never split over two lines.
 *
 * Headers: values are cleaned of control characters (CR and LF become a
 * space: a header can never be injected through a value), non-ASCII text
 * goes out as RFC 2047 Q encoded-words of at most 75 octets that never split
 * a UTF-8 sequence, and lines are folded at 78 columns. Display names are
 * sent as atoms, a quoted-string, or encoded-words, whichever is needed.
 *
 * Written by hand rather than through GMime: the compile-once design needs
 * an encoder whose line state is ours at every segment boundary, and the
 * per-subscriber path must not build a MIME object tree per copy.
 */
#ifndef BROADSIDE_MIME_H
#define BROADSIDE_MIME_H

#include <stddef.h>

#include "buf.h"

#define MIME_QP_MAX	76	/* octets per encoded line, "=" included */
#define MIME_FOLD_AT	78	/* header line length to fold at */

struct mime_qp {
	buf	*out;
	int	 col;		/* octets on the current output line */
	int	 bol;		/* at the start of a decoded line */
};

void	mime_qp_init(struct mime_qp *q, buf *out);
/* Encodes n bytes; "\n" and "\r\n" in the input are hard line breaks. */
void	mime_qp_put(struct mime_qp *q, const char *s, size_t n);
/* Closes an open line with a soft break so that the next byte starts at
 * column 0 (a no-op at column 0). The decoded text is unchanged. */
void	mime_qp_end(struct mime_qp *q);
/* Whole-string convenience: init, put, end. */
void	mime_qp_encode(buf *out, const char *s, size_t n);
/* Decodes quoted-printable (for previews and tests); appends to out. */
void	mime_qp_decode(buf *out, const char *s, size_t n);

/* Appends a copy of s with CR, LF, TAB and other control bytes replaced by
 * spaces, runs of white space collapsed, and both ends trimmed. */
void	mime_clean(buf *out, const char *s);

/* Appends "Name: value" CRLF for an unstructured value (Subject): plain
 * folded ASCII when it can be, encoded-words otherwise. */
void	mime_header_text(buf *out, const char *name, const char *value);
/* Appends "Name: value" CRLF for a structured value the caller built from
 * safe parts (addresses, message ids, URLs); folded at white space. Control
 * bytes are still replaced. */
void	mime_header_raw(buf *out, const char *name, const char *value);
/* Folds a ready header line "Name: value" (no CRLF, no control bytes;
 * namelen = strlen("Name")) at white space to MIME_FOLD_AT where a space
 * allows it, and appends it with CRLF. */
void	mime_fold(buf *out, const char *line, size_t len, size_t namelen);

/* Appends a display name as an RFC 5322 phrase: atoms as they are, a
 * quoted-string when it holds specials, encoded-words when non-ASCII. */
void	mime_phrase(buf *out, const char *name);
/* The same, but ASCII always as a quoted-string (List-Id's "Name"). */
void	mime_phrase_quoted(buf *out, const char *name);
/* Appends "phrase <addr>" or just "addr" when the name is empty.
 * The address must have passed mime_addr_ok(). */
void	mime_mailbox(buf *out, const char *name, const char *addr);
/* 1 when addr is a plain ASCII dot-atom addr-spec (local@domain), short
 * enough and free of anything that could break a header; 0 otherwise. */
int	mime_addr_ok(const char *addr);
/* Splits "Display Name <local@domain>" (or a bare address) into its parts;
 * the name loses its quotes. Returns 0, or -1 when there is no valid
 * address. Both outputs are appended to. */
int	mime_addr_parse(const char *s, buf *name, buf *addr);

#endif
