/* version - which release these programs are and which database schema
 * they carry (the last migration built in): what --version prints. */
#ifndef BROADSIDE_VERSION_H
#define BROADSIDE_VERSION_H

/* "0.1.0 (database schema 4)" */
const char	*version_line(void);

#endif
