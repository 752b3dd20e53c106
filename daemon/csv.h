/* csv - an RFC 4180 CSV reader: quoted fields, "" escapes, CRLF or LF.
 *
 * Written by hand: no Debian C library reads CSV, and the format is small.
 * csv_next() yields one record at a time with its line number (a quoted
 * field may span lines; the number is where the record starts).
 */
#ifndef BROADSIDE_CSV_H
#define BROADSIDE_CSV_H

#include <stddef.h>

#include "buf.h"

#define CSV_MAX_FIELDS	16

struct csv {
	const char	*p, *end;
	int		 line;
	buf		 field[CSV_MAX_FIELDS];
};

struct csv_record {
	int		 line;
	size_t		 nfields;
	const char	*fields[CSV_MAX_FIELDS];	/* valid until the next call */
};

void	csv_open(struct csv *c, const char *data, size_t len);
void	csv_close(struct csv *c);
/* 1 with a record, 0 at the end, -1 on a malformed record (*why says). */
int	csv_next(struct csv *c, struct csv_record *r, const char **why);

/* Appends s as one CSV field (quoted when it needs to be). */
void	csv_field(buf *out, const char *s);

#endif
