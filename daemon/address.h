/* address - validate and normalise an email address (RFC 5321/5322 limits).
 *
 * Accepts the dot-atom form people subscribe with: local@domain, local part
 * at most 64 octets, domain at most 255 with labels of at most 63, whole
 * address at most 254 (the RFC 5321 path limit less the brackets). Quoted
 * local parts, IP literals and non-ASCII (SMTPUTF8) addresses are refused
 * with a reason. The normal form (the subscriber's key) is the whole
 * address in lower case: RFC 5321 leaves the local part's case to the
 * receiving domain, and every mailbox provider ignores it, so
 * Gone@Example.COM and gone@example.com are one person. The spelling
 * given is kept beside it for sending (subscribers.email).
 */
#ifndef BROADSIDE_ADDRESS_H
#define BROADSIDE_ADDRESS_H

#include <stddef.h>

#define ADDRESS_MAX	254

/* 0 and the normal form in out (ADDRESS_MAX + 1 bytes); -1 and a reason. */
int	address_normalize(const char *in, char out[ADDRESS_MAX + 1], const char **why);

/* The address part of "Name <addr>" or of a bare address, into out. */
int	address_from_mailbox(const char *mailbox, char out[ADDRESS_MAX + 1]);

#endif
