/* token - HMAC-SHA256 tokens: unsubscribe links and VERP envelope senders. */
#include "token.h"

#include <ctype.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

#include "log.h"
#include "xalloc.h"

#define UNSUB_MAC_BYTES	16
#define VERP_MAC_HEX	10

/* HMAC() looks the algorithm up by name on every call, which costs more
 * than the MAC (two per copy sent: the unsubscribe token and the
 * Message-ID). Each thread keeps an HMAC-SHA256 context with the algorithm
 * set, and one already keyed with the last key used (the current key, in
 * practice), and copies that one per MAC: no lookup, no key schedule. */
struct hmac_cache {
	EVP_MAC_CTX	*tmpl;			/* HMAC-SHA256, no key */
	EVP_MAC_CTX	*keyed;			/* tmpl keyed with key */
	unsigned char	 key[SECRET_KEY_LEN];
};

static pthread_key_t tmpl_key;
static pthread_once_t tmpl_once = PTHREAD_ONCE_INIT;

static void
tmpl_free(void *p)
{
	struct hmac_cache *c = p;

	EVP_MAC_CTX_free(c->keyed);
	EVP_MAC_CTX_free(c->tmpl);
	OPENSSL_cleanse(c->key, sizeof c->key);
	free(c);
}

static void
tmpl_init(void)
{
	pthread_key_create(&tmpl_key, tmpl_free);
}

/* A fresh HMAC-SHA256 context keyed with key, ready for updates. */
static EVP_MAC_CTX *
hmac_sha256(const unsigned char *key)
{
	struct hmac_cache *c;

	pthread_once(&tmpl_once, tmpl_init);
	if ((c = pthread_getspecific(tmpl_key)) == NULL) {
		EVP_MAC *alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
		OSSL_PARAM params[] = {
			OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
			OSSL_PARAM_construct_end()
		};
		c = xcalloc(1, sizeof *c);
		if (alg == NULL || (c->tmpl = EVP_MAC_CTX_new(alg)) == NULL ||
		    !EVP_MAC_CTX_set_params(c->tmpl, params))
			log_fatal(EX_SOFTWARE, "OpenSSL has no HMAC-SHA256");
		EVP_MAC_free(alg);
		pthread_setspecific(tmpl_key, c);
	}
	if (c->keyed == NULL || CRYPTO_memcmp(c->key, key, SECRET_KEY_LEN) != 0) {
		EVP_MAC_CTX_free(c->keyed);
		if ((c->keyed = EVP_MAC_CTX_dup(c->tmpl)) == NULL ||
		    !EVP_MAC_init(c->keyed, key, SECRET_KEY_LEN, NULL))
			log_fatal(EX_SOFTWARE, "HMAC-SHA256 failed");
		memcpy(c->key, key, SECRET_KEY_LEN);
	}
	return EVP_MAC_CTX_dup(c->keyed);
}

/* HMAC-SHA256(key, label NUL a [NUL b]). */
static void
mac(const unsigned char *key, const char *label, const char *a, const char *b,
    unsigned char out[32])
{
	EVP_MAC_CTX *c = hmac_sha256(key);
	size_t len = 0;

	if (c == NULL ||
	    !EVP_MAC_update(c, (const unsigned char *)label, strlen(label) + 1) ||
	    !EVP_MAC_update(c, (const unsigned char *)a, strlen(a) + (b ? 1 : 0)) ||
	    (b && !EVP_MAC_update(c, (const unsigned char *)b, strlen(b))) ||
	    !EVP_MAC_final(c, out, &len, 32) || len != 32)
		log_fatal(EX_SOFTWARE, "HMAC-SHA256 failed");
	EVP_MAC_CTX_free(c);
}

void
token_b64url(const unsigned char *p, size_t n, buf *out)
{
	static const char al[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
		buf_putc(out, al[v >> 18 & 63]);
		buf_putc(out, al[v >> 12 & 63]);
		buf_putc(out, al[v >> 6 & 63]);
		buf_putc(out, al[v & 63]);
	}
	if (n - i == 1) {
		unsigned v = (unsigned)p[i] << 16;
		buf_putc(out, al[v >> 18 & 63]);
		buf_putc(out, al[v >> 12 & 63]);
	} else if (n - i == 2) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
		buf_putc(out, al[v >> 18 & 63]);
		buf_putc(out, al[v >> 12 & 63]);
		buf_putc(out, al[v >> 6 & 63]);
	}
}

static void
base36(int64_t v, char *out, size_t n)
{
	char tmp[32];
	size_t i = 0, j = 0;

	do {
		int dgt = (int)(v % 36);
		tmp[i++] = (char)(dgt < 10 ? '0' + dgt : 'a' + dgt - 10);
		v /= 36;
	} while (v > 0 && i < sizeof tmp);
	while (i > 0 && j + 1 < n)
		out[j++] = tmp[--i];
	out[j] = '\0';
}

static int
parse_base(const char *s, size_t len, int base, int64_t *out)
{
	int64_t v = 0;

	if (len == 0 || len > 12)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int c = tolower((unsigned char)s[i]), dgt;
		if (c >= '0' && c <= '9')
			dgt = c - '0';
		else if (c >= 'a' && c <= 'z')
			dgt = c - 'a' + 10;
		else
			return -1;
		if (dgt >= base)
			return -1;
		v = v * base + dgt;
	}
	*out = v;
	return 0;
}

/* "<id base 36>.<MAC>", MAC = base64url of the first 16 bytes of
 * HMAC-SHA256(key, label "\0" list_id "\0" id36): unsubscribe, confirm
 * and form tokens differ only in the label. */
static void
id_mac(const unsigned char *key, const char *label, const char *list_id,
    const char *id36, buf *out)
{
	unsigned char m[32];
	mac(key, label, list_id, id36, m);
	token_b64url(m, UNSUB_MAC_BYTES, out);
}

static void
id_make(const struct secret *s, const char *label, const char *list_id, int64_t id,
    char out[TOKEN_MAX])
{
	char id36[16];
	buf b = BUF_INIT;

	base36(id, id36, sizeof id36);
	buf_puts(&b, id36);
	buf_putc(&b, '.');
	id_mac(s->keys[0].key, label, list_id, id36, &b);
	snprintf(out, TOKEN_MAX, "%s", buf_cstr(&b));
	buf_free(&b);
}

void
token_unsub_make(const struct secret *s, const char *list_id, int64_t id,
    char out[TOKEN_MAX])
{
	id_make(s, "unsub", list_id, id, out);
}

void
token_confirm_make(const struct secret *s, const char *list_id, int64_t id,
    char out[TOKEN_MAX])
{
	id_make(s, "confirm", list_id, id, out);
}

void
token_form_make(const struct secret *s, const char *list_id, int64_t when,
    char out[TOKEN_MAX])
{
	id_make(s, "form", list_id, when, out);
}

void
token_trial_make(const struct secret *s, const char *list_id, int64_t id,
    char out[TOKEN_MAX])
{
	id_make(s, "trial", list_id, id, out);
}

void
token_feed_make(const struct secret *s, const char *list_id, int64_t id,
    char out[TOKEN_MAX])
{
	id_make(s, "feed", list_id, id, out);
}

/* "view/<issue base 36>": a label no other token has. */
static void
view_label(int64_t issue_id, char out[24])
{
	memcpy(out, "view/", 5);
	base36(issue_id, out + 5, 19);
}

void
token_view_make(const struct secret *s, const char *list_id, int64_t issue_id,
    int64_t id, char out[TOKEN_MAX])
{
	char label[24];

	view_label(issue_id, label);
	id_make(s, label, list_id, id, out);
}

/* Is key i still accepted? The current one always; a previous one until
 * `grace` seconds after its successor was made. */
static int
key_live(const struct secret *s, size_t i, int64_t grace, int64_t now)
{
	return i == 0 || now - s->keys[i - 1].created <= grace;
}

static int
id_verify(const struct secret *s, const char *label, int64_t grace, int64_t now,
    const char *list_id, const char *token, int64_t *id)
{
	const char *dot = strchr(token, '.');
	char id36[16];
	int found = 0;

	if (dot == NULL || dot == token || (size_t)(dot - token) >= sizeof id36 ||
	    strlen(dot + 1) != 22 /* 16 bytes in base64url */)
		return -1;
	memcpy(id36, token, (size_t)(dot - token));
	id36[dot - token] = '\0';
	for (const char *p = id36; *p; p++)
		if (!(isdigit((unsigned char)*p) || (*p >= 'a' && *p <= 'z')))
			return -1;
	for (size_t i = 0; i < s->nkeys; i++) {
		buf m = BUF_INIT;
		if (key_live(s, i, grace, now)) {
			id_mac(s->keys[i].key, label, list_id, id36, &m);
			/* Every live key is tried: time does not tell which matched. */
			found |= CRYPTO_memcmp(m.data, dot + 1, 22) == 0;
		}
		buf_free(&m);
	}
	if (!found)
		return -1;
	return parse_base(id36, strlen(id36), 36, id);
}

int
token_unsub_verify(const struct secret *s, int64_t grace, int64_t now,
    const char *list_id, const char *token, int64_t *id)
{
	return id_verify(s, "unsub", grace, now, list_id, token, id);
}

int
token_confirm_verify(const struct secret *s, int64_t grace, int64_t now,
    const char *list_id, const char *token, int64_t *id)
{
	return id_verify(s, "confirm", grace, now, list_id, token, id);
}

int
token_form_verify(const struct secret *s, int64_t grace, int64_t now,
    const char *list_id, const char *token, int64_t *when)
{
	return id_verify(s, "form", grace, now, list_id, token, when);
}

int
token_trial_verify(const struct secret *s, int64_t grace, int64_t now,
    const char *list_id, const char *token, int64_t *id)
{
	return id_verify(s, "trial", grace, now, list_id, token, id);
}

int
token_feed_verify(const struct secret *s, int64_t grace, int64_t now,
    const char *list_id, const char *token, int64_t *id)
{
	return id_verify(s, "feed", grace, now, list_id, token, id);
}

int
token_view_verify(const struct secret *s, int64_t grace, int64_t now,
    const char *list_id, int64_t issue_id, const char *token, int64_t *id)
{
	char label[24];

	view_label(issue_id, label);
	return id_verify(s, label, grace, now, list_id, token, id);
}

static void
verp_mac(const unsigned char *key, const char *idtext, char out[VERP_MAC_HEX + 1])
{
	unsigned char m[32];

	mac(key, "verp", idtext, NULL, m);
	for (int i = 0; i < VERP_MAC_HEX / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", m[i]);
}

void
token_verp_make(const struct secret *s, const char *bounce_address, int64_t id,
    buf *out)
{
	const char *at = strrchr(bounce_address, '@');
	char idtext[24], m[VERP_MAC_HEX + 1];

	snprintf(idtext, sizeof idtext, "%lld", (long long)id);
	verp_mac(s->keys[0].key, idtext, m);
	if (at == NULL)
		at = bounce_address + strlen(bounce_address);
	buf_append(out, bounce_address, (size_t)(at - bounce_address));
	buf_printf(out, "+%s.%s%s", idtext, m, at);
}

int
token_verp_verify(const struct secret *s, int64_t grace, int64_t now,
    const char *bounce_address, const char *address, int64_t *id)
{
	const char *bat = strrchr(bounce_address, '@');
	size_t blocal = bat ? (size_t)(bat - bounce_address) : strlen(bounce_address);
	const char *plus, *dot, *at;
	char idtext[24];
	int found = 0;

	if (strncasecmp(address, bounce_address, blocal) != 0 || address[blocal] != '+')
		return -1;
	plus = address + blocal;
	dot = strchr(plus, '.');
	at = strchr(plus, '@');
	if (dot == NULL || (at && dot > at) || dot - plus - 1 <= 0 ||
	    (size_t)(dot - plus - 1) >= sizeof idtext)
		return -1;
	if ((at ? (size_t)(at - dot - 1) : strlen(dot + 1)) != VERP_MAC_HEX)
		return -1;
	memcpy(idtext, plus + 1, (size_t)(dot - plus - 1));
	idtext[dot - plus - 1] = '\0';
	if (parse_base(idtext, strlen(idtext), 10, id) < 0)
		return -1;
	char given[VERP_MAC_HEX + 1];
	for (int i = 0; i < VERP_MAC_HEX; i++)
		given[i] = (char)tolower((unsigned char)dot[1 + i]);
	given[VERP_MAC_HEX] = '\0';
	for (size_t i = 0; i < s->nkeys; i++) {
		char m[VERP_MAC_HEX + 1];
		if (!key_live(s, i, grace, now))
			continue;
		verp_mac(s->keys[i].key, idtext, m);
		found |= CRYPTO_memcmp(m, given, VERP_MAC_HEX) == 0;
	}
	return found ? 0 : -1;
}

#define MSGID_RND_HEX	6

static void
msgid_mac(const unsigned char *key, const char *idtext, int64_t subscriber_id,
    const char *rnd, char out[VERP_MAC_HEX + 1])
{
	unsigned char m[32];
	char b[64];

	/* "ID\0SUB\0RND": mac() hashes a, its NUL, then b. */
	snprintf(b, sizeof b, "%lld", (long long)subscriber_id);
	size_t n = strlen(b);
	snprintf(b + n + 1, sizeof b - n - 1, "%s", rnd);
	{
		EVP_MAC_CTX *c = hmac_sha256(key);
		size_t len = 0;
		if (c == NULL || !EVP_MAC_update(c, (const unsigned char *)"mid", 4) ||
		    !EVP_MAC_update(c, (const unsigned char *)idtext, strlen(idtext) + 1) ||
		    !EVP_MAC_update(c, (const unsigned char *)b, n + 1 + strlen(rnd)) ||
		    !EVP_MAC_final(c, m, &len, 32) || len != 32)
			log_fatal(EX_SOFTWARE, "HMAC-SHA256 failed");
		EVP_MAC_CTX_free(c);
	}
	for (int i = 0; i < VERP_MAC_HEX / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", m[i]);
}

void
token_msgid_make(const struct secret *s, int64_t delivery_id, int64_t subscriber_id,
    uint32_t rnd, char out[TOKEN_MAX])
{
	char idtext[24], r[MSGID_RND_HEX + 1], m[VERP_MAC_HEX + 1];

	snprintf(idtext, sizeof idtext, "%lld", (long long)delivery_id);
	snprintf(r, sizeof r, "%06x", (unsigned)(rnd & 0xffffff));
	msgid_mac(s->keys[0].key, idtext, subscriber_id, r, m);
	snprintf(out, TOKEN_MAX, "%s.%s%s", idtext, r, m);
}

/* Splits "<ID.RRRRRRMMMMMMMMMM@domain>" (brackets and domain optional). */
static int
msgid_split(const char *mid, char idtext[24], char rnd[MSGID_RND_HEX + 1],
    char mac_[VERP_MAC_HEX + 1], int64_t *id)
{
	const char *p = mid, *dot, *end;
	size_t n;

	while (*p == ' ' || *p == '\t' || *p == '<')
		p++;
	dot = strchr(p, '.');
	if (dot == NULL || dot == p || (size_t)(dot - p) >= 24)
		return -1;
	n = (size_t)(dot - p);
	memcpy(idtext, p, n);
	idtext[n] = '\0';
	if (parse_base(idtext, n, 10, id) < 0 || *id <= 0)
		return -1;
	end = dot + 1;
	while (*end && *end != '@' && *end != '>')
		end++;
	if ((size_t)(end - dot - 1) != MSGID_RND_HEX + VERP_MAC_HEX)
		return -1;
	for (const char *q = dot + 1; q < end; q++)
		if (!isxdigit((unsigned char)*q))
			return -1;
	for (int i = 0; i < MSGID_RND_HEX; i++)
		rnd[i] = (char)tolower((unsigned char)dot[1 + i]);
	rnd[MSGID_RND_HEX] = '\0';
	for (int i = 0; i < VERP_MAC_HEX; i++)
		mac_[i] = (char)tolower((unsigned char)dot[1 + MSGID_RND_HEX + i]);
	mac_[VERP_MAC_HEX] = '\0';
	return 0;
}

int
token_msgid_delivery(const char *message_id, int64_t *id)
{
	char idtext[24], r[MSGID_RND_HEX + 1], m[VERP_MAC_HEX + 1];

	return msgid_split(message_id, idtext, r, m, id);
}

int
token_msgid_verify(const struct secret *s, int64_t grace, int64_t now,
    const char *message_id, int64_t subscriber_id, int64_t *id)
{
	char idtext[24], r[MSGID_RND_HEX + 1], given[VERP_MAC_HEX + 1];
	int found = 0;

	if (msgid_split(message_id, idtext, r, given, id) < 0)
		return -1;
	for (size_t i = 0; i < s->nkeys; i++) {
		char m[VERP_MAC_HEX + 1];
		if (!key_live(s, i, grace, now))
			continue;
		msgid_mac(s->keys[i].key, idtext, subscriber_id, r, m);
		found |= CRYPTO_memcmp(m, given, VERP_MAC_HEX) == 0;
	}
	return found ? 0 : -1;
}
