/* address - validate and normalise an email address (RFC 5321/5322 limits). */
#include "address.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* RFC 5322 atext, less nothing: what a dot-atom local part may hold. */
static int
atext(int c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

int
address_normalize(const char *in, char out[ADDRESS_MAX + 1], const char **why)
{
	const char *at = strrchr(in, '@');
	size_t len = strlen(in), llen, dlen;

	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		if (*p >= 0x80) {
			*why = "non-ASCII addresses (SMTPUTF8) are not supported";
			return -1;
		}
		if (*p <= ' ' || *p == 0x7f) {
			*why = "contains a space or control character";
			return -1;
		}
	}
	if (len == 0) {
		*why = "is empty";
		return -1;
	}
	if (at == NULL) {
		*why = "has no '@'";
		return -1;
	}
	llen = (size_t)(at - in);
	dlen = len - llen - 1;
	if (llen == 0) {
		*why = "has no local part before '@'";
		return -1;
	}
	if (dlen == 0) {
		*why = "has no domain after '@'";
		return -1;
	}
	if (llen > 64) {
		*why = "local part is longer than 64 characters (RFC 5321)";
		return -1;
	}
	if (dlen > 255) {
		*why = "domain is longer than 255 characters (RFC 5321)";
		return -1;
	}
	if (len > ADDRESS_MAX) {
		*why = "is longer than 254 characters (RFC 5321)";
		return -1;
	}
	if (in[0] == '"') {
		*why = "quoted local parts are not supported";
		return -1;
	}
	for (size_t i = 0; i < llen; i++) {
		if (in[i] == '.') {
			if (i == 0 || i == llen - 1 || in[i + 1] == '.') {
				*why = "local part has a leading, trailing or double dot";
				return -1;
			}
		} else if (!atext((unsigned char)in[i])) {
			*why = "local part has a character not allowed unquoted";
			return -1;
		}
	}
	if (at[1] == '[') {
		*why = "address literals ([1.2.3.4]) are not accepted";
		return -1;
	}
	/* Domain: dot-separated labels of letters, digits and inner hyphens. */
	size_t label = 0, labels = 1;
	for (size_t i = 0; i < dlen; i++) {
		unsigned char c = (unsigned char)at[1 + i];
		if (c == '.') {
			if (label == 0 || at[i] == '-') {
				*why = "domain has an empty label or a label ending in '-'";
				return -1;
			}
			label = 0;
			labels++;
			continue;
		}
		if (!isalnum(c) && c != '-') {
			*why = "domain has a character other than letters, digits, '-' and '.'";
			return -1;
		}
		if (c == '-' && label == 0) {
			*why = "domain label starts with '-'";
			return -1;
		}
		if (++label > 63) {
			*why = "domain label is longer than 63 characters";
			return -1;
		}
	}
	if (label == 0 || at[dlen] == '-') {
		*why = "domain ends with '.' or '-'";
		return -1;
	}
	if (labels < 2) {
		*why = "domain has no dot (not a public mail domain)";
		return -1;
	}
	/* One person, one address: mailbox providers ignore the case of the
	 * local part too, so the key is all lower case. */
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[len] = '\0';
	return 0;
}

int
address_from_mailbox(const char *mailbox, char out[ADDRESS_MAX + 1])
{
	const char *lt = strrchr(mailbox, '<'), *gt;
	size_t n;

	if (lt) {
		gt = strchr(lt, '>');
		if (gt == NULL)
			return -1;
		n = (size_t)(gt - lt - 1);
		lt++;
	} else {
		while (isspace((unsigned char)*mailbox))
			mailbox++;
		lt = mailbox;
		n = strlen(lt);
		while (n > 0 && isspace((unsigned char)lt[n - 1]))
			n--;
	}
	if (n == 0 || n > ADDRESS_MAX)
		return -1;
	memcpy(out, lt, n);
	out[n] = '\0';
	return 0;
}
