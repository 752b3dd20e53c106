/* csv - an RFC 4180 CSV reader: quoted fields, "" escapes, CRLF or LF.
 *
 * Written by hand: no Debian C library reads CSV, and the format is small.
 * csv_next() yields one record at a time with its line number (a quoted
 * field may span lines; the number is where the record starts). The input
 * is a buffer in memory (csv_open) or a stream read in fixed chunks
 * (csv_open_file): a file of any size is read with constant memory.
 */
#ifndef BROADSIDE_CSV_H
#define BROADSIDE_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"

#define CSV_MAX_FIELDS	16

struct csv {
	const char	*p, *end;
	FILE		*fp;		/* NULL: the whole input is in memory */
	char		*chunk;		/* the stream's read buffer */
	int		 started, ioerr;
	int		 line;
	uint64_t	 bytes;		/* read from the stream so far */
	buf		 field[CSV_MAX_FIELDS];
};

struct csv_record {
	int		 line;
	size_t		 nfields;
	const char	*fields[CSV_MAX_FIELDS];	/* valid until the next call */
};

void	csv_open(struct csv *c, const char *data, size_t len);
/* Reads fp (not closed by csv_close) in chunks as records are asked for. */
void	csv_open_file(struct csv *c, FILE *fp);
void	csv_close(struct csv *c);
/* 1 with a record, 0 at the end, -1 on a malformed record or a read error
 * (*why says). */
int	csv_next(struct csv *c, struct csv_record *r, const char **why);

/* Appends s as one CSV field (quoted when it needs to be). */
void	csv_field(buf *out, const char *s);

#endif
