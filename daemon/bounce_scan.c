/* bounce_scan - string, address and status-code scanning for the bounce readers. */
#include "bounce_int.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include <gmime/gmime.h>

#include "xalloc.h"

/* ---------------------------------------------------------------------
 * Small string helpers
 */

int
is_space(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Lowercase copy with every run of white space made one space. */
char *
norm_text(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;
	int sp = 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_space(c) || c == 0) {
			if (!sp)
				*o++ = ' ';
			sp = 1;
			continue;
		}
		*o++ = (char)tolower(c);
		sp = 0;
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = '\0';
	return out;
}

/* Trimmed copy, white space runs made one space, at most `cap` bytes
 * (cut on a UTF-8 boundary). */
char *
one_line(const char *s, size_t n, size_t cap)
{
	char *out = xmalloc(n + 1), *o = out;
	int sp = 1;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_space(c) || c == 0 || c < 0x20 || c == 0x7f) {
			if (!sp)
				*o++ = ' ';
			sp = 1;
			continue;
		}
		*o++ = (char)c;
		sp = 0;
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = '\0';
	if ((size_t)(o - out) > cap) {
		size_t k = cap;
		while (k > 0 && ((unsigned char)out[k] & 0xc0) == 0x80)
			k--;
		out[k] = '\0';
	}
	return out;
}

int
has(const char *norm, const char *pat)
{
	return strstr(norm, pat) != NULL;
}

int
has_any(const char *norm, const char *const *pats)
{
	for (; *pats; pats++)
		if (strstr(norm, *pats))
			return 1;
	return 0;
}

int
starts_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* ---------------------------------------------------------------------
 * Addresses in free text
 */

static int
local_char(int c)
{
	return isalnum(c) || (c && strchr(".!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int
domain_char(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_';
}

/* Finds the next address in s[0..n): *at its start, *alen its length.
 * Returns 0 when none. */
int
next_address(const char *s, size_t n, size_t from, size_t *at, size_t *alen)
{
	for (size_t i = from; i < n; i++) {
		size_t l, r;
		if (s[i] != '@')
			continue;
		l = i;
		while (l > from && local_char((unsigned char)s[l - 1]))
			l--;
		r = i + 1;
		while (r < n && domain_char((unsigned char)s[r]))
			r++;
		while (l < i && (s[l] == '.' || s[l] == '\''))
			l++;
		while (r > i + 1 && (s[r - 1] == '.' || s[r - 1] == '-'))
			r--;
		if (l == i || r == i + 1)
			continue;
		if (memchr(s + i + 1, '.', r - i - 1) == NULL &&
		    !(r - i - 1 == 9 && strncasecmp(s + i + 1, "localhost", 9) == 0))
			continue;
		*at = l;
		*alen = r - l;
		return 1;
	}
	return 0;
}

/* The first address in a header-ish value ("Name <a@b>", "rfc822; a@b"). */
char *
first_address(const char *s)
{
	size_t at, len;

	if (s && next_address(s, strlen(s), 0, &at, &len))
		return xstrndup(s + at, len);
	return xstrdup("");
}

int
addr_local_is(const char *addr, const char *local)
{
	size_t n = strlen(local);
	return strncasecmp(addr, local, n) == 0 && addr[n] == '@';
}

int
is_system_address(const char *addr)
{
	static const char *const locals[] = { "mailer-daemon", "postmaster",
	    "mail-daemon", "mailerdaemon", "double-bounce", "root", "daemon",
	    "nobody", "noreply", "no-reply", "abuse", "mdaemon", "mailer_daemon",
	    "mail.daemon", "bounce", "bounces", "post_master", NULL };
	for (const char *const *l = locals; *l; l++)
		if (addr_local_is(addr, *l))
			return 1;
	return 0;
}

/* ---------------------------------------------------------------------
 * Status codes in free text
 */

/* An RFC 3463 code "c.s.d" starting at p (c in 2,4,5). Returns its length. */
static size_t
status_at(const char *s, size_t i, size_t n)
{
	size_t j = i, k;

	if (i > 0 && (isdigit((unsigned char)s[i - 1]) || s[i - 1] == '.' ||
	    isalpha((unsigned char)s[i - 1])))
		return 0;
	if (j >= n || (s[j] != '2' && s[j] != '4' && s[j] != '5'))
		return 0;
	j++;
	for (int part = 0; part < 2; part++) {
		if (j >= n || s[j] != '.')
			return 0;
		j++;
		k = j;
		while (j < n && isdigit((unsigned char)s[j]) && j - k < 3)
			j++;
		if (j == k)
			return 0;
	}
	if (j < n && (isdigit((unsigned char)s[j]) || (s[j] == '.' && j + 1 < n &&
	    isdigit((unsigned char)s[j + 1]))))
		return 0;
	return j - i;
}

/* First 4.x.x/5.x.x status in the text (2.x.x only when no other). */
void
find_status(const char *s, char out[16])
{
	size_t n = strlen(s), two = (size_t)-1, twolen = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t len = status_at(s, i, n);
		if (len == 0 || len > 15)
			continue;
		if (s[i] == '2') {
			if (two == (size_t)-1) {
				two = i;
				twolen = len;
			}
			continue;
		}
		memcpy(out, s + i, len);
		out[len] = '\0';
		return;
	}
	if (two != (size_t)-1) {
		memcpy(out, s + two, twolen);
		out[twolen] = '\0';
	}
}

/* First SMTP reply code 4xx/5xx standing as a word ("550 ", "550-",
 * "550:"). A 2xx is never taken: "250 ok" lines of a transcript say
 * nothing about the failure. */
void
find_reply(const char *s, char out[4])
{
	size_t n = strlen(s);

	out[0] = '\0';
	for (size_t i = 0; i + 3 <= n; i++) {
		char c = s[i];
		if (c != '2' && c != '4' && c != '5')
			continue;
		if (!isdigit((unsigned char)s[i + 1]) || !isdigit((unsigned char)s[i + 2]))
			continue;
		if (s[i + 1] > '5')
			continue;
		if (i > 0 && !(is_space((unsigned char)s[i - 1]) || s[i - 1] == ':' ||
		    s[i - 1] == '(' || s[i - 1] == '"' || s[i - 1] == '<' ||
		    s[i - 1] == '[' || s[i - 1] == '=' || s[i - 1] == '\''))
			continue;
		if (i + 3 < n && !(s[i + 3] == ' ' || s[i + 3] == '-' || s[i + 3] == '\n' ||
		    s[i + 3] == ')' || s[i + 3] == ']' || s[i + 3] == '\r' ||
		    (s[i + 3] == ':' && !isdigit((unsigned char)s[i + 4]))))
			continue;
		if (c == '2')
			continue;
		memcpy(out, s + i, 3);
		out[3] = '\0';
		return;
	}
}
