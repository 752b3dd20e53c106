/* version - which release these programs are and which database schema
 * they carry. */
#include "version.h"

#include <stdio.h>

#include "db.h"
#include "paths.h"

const char *
version_line(void)
{
	static char line[64];

	snprintf(line, sizeof line, "%s (database schema %d)", BROADSIDE_VERSION,
	    db_nmigrations ? db_migrations[db_nmigrations - 1].version : 0);
	return line;
}
