/* dkim - DKIM signatures (RFC 6376) on every outgoing copy, and their check.
 *
 * Written on libcrypto rather than libopendkim: opendkim's library is built
 * around a milter's per-message handle with its own header store and DNS
 * resolver, and would copy each copy's bytes again; what signing needs here
 * is two canonicalizations, two SHA-256 digests and one private-key
 * operation, all of which OpenSSL does.
 */
#include "dkim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "config.h"
#include "log.h"
#include "xalloc.h"

/* The fields signed, in h= order; each is listed once more than it occurs. */
static const char *const signed_fields[] = {
	"from", "to", "subject", "date", "message-id", "reply-to", "list-id",
	"list-unsubscribe", "list-unsubscribe-post", "feedback-id",
	"mime-version", "content-type",
};
#define NSIGNED	(sizeof signed_fields / sizeof signed_fields[0])

#define SHA256_LEN	32
#define MAX_SIG		1024	/* bytes: an RSA key of 8192 bits */

struct dkim_key {
	enum dkim_alg	 alg;
	EVP_PKEY	*pkey;
	char		*domain, *selector;
	buf		 prefix;	/* "DKIM-Signature: v=1; a=...; ...; s=...;" */
};

struct dkim {
	struct dkim_key	*keys;
	size_t		 nkeys;
	EVP_MD		*sha256;	/* fetched once, shared by every thread */
};

static const char *
alg_name(enum dkim_alg a)
{
	return a == DKIM_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

/* ---- the message: header fields and body ---- */

struct field {
	const char	*name;
	size_t		 nlen;		/* name without the colon */
	const char	*text;		/* the whole field, name first */
	size_t		 len;		/* without the final line end */
};

struct message {
	struct field	*f;
	size_t		 n, cap;
	const char	*body;
	size_t		 blen;
};

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Splits a message into header fields and body. -1 when there is no empty
 * line, a line without a colon, or a continuation with nothing to continue. */
static int
parse_message(const char *m, size_t len, struct message *out, const char **why)
{
	size_t pos = 0;

	memset(out, 0, sizeof *out);
	while (pos < len) {
		const char *nl;
		size_t start = pos, end, colon;

		if (m[pos] == '\n' || (m[pos] == '\r' && pos + 1 < len && m[pos + 1] == '\n')) {
			pos += m[pos] == '\r' ? 2 : 1;
			out->body = m + pos;
			out->blen = len - pos;
			return 0;
		}
		if (is_wsp(m[pos])) {
			*why = "header starts with a continuation line";
			goto fail;
		}
		/* The field runs on through its continuation lines. */
		for (;;) {
			nl = memchr(m + pos, '\n', len - pos);
			if (nl == NULL) {
				*why = "no empty line between header and body";
				goto fail;
			}
			pos = (size_t)(nl - m) + 1;
			if (pos >= len || !is_wsp(m[pos]))
				break;
		}
		end = pos - 1;
		if (end > start && m[end - 1] == '\r')
			end--;
		for (colon = start; colon < end && m[colon] != ':'; colon++)
			;
		if (colon == end) {
			*why = "header line without a colon";
			goto fail;
		}
		out->f = xgrow(out->f, &out->cap, out->n + 1, sizeof *out->f);
		out->f[out->n].name = m + start;
		out->f[out->n].nlen = colon - start;
		while (out->f[out->n].nlen && is_wsp(m[start + out->f[out->n].nlen - 1]))
			out->f[out->n].nlen--;
		out->f[out->n].text = m + start;
		out->f[out->n].len = end - start;
		out->n++;
	}
	*why = "no empty line between header and body";
fail:
	free(out->f);
	out->f = NULL;
	return -1;
}

static int
field_is(const struct field *f, const char *name)
{
	return strlen(name) == f->nlen && strncasecmp(f->name, name, f->nlen) == 0;
}

static size_t
count_fields(const struct message *msg, const char *name)
{
	size_t c = 0;
	for (size_t i = 0; i < msg->n; i++)
		c += field_is(&msg->f[i], name);
	return c;
}

/* The k-th field called `name`, counting from the bottom (RFC 6376 §5.4.2). */
static const struct field *
field_from_bottom(const struct message *msg, const char *name, size_t k)
{
	for (size_t i = msg->n; i-- > 0;)
		if (field_is(&msg->f[i], name) && k-- == 0)
			return &msg->f[i];
	return NULL;
}

/* Relaxed header canonicalization (§3.4.2): name lowercased, line ends
 * removed, runs of blanks made one space, blanks around the colon and at
 * the end removed; "name:value" CRLF appended to out. */
static void
canon_header(const char *text, size_t nlen, size_t len, buf *out)
{
	size_t i;
	int ws = 0, any = 0;

	buf_reserve(out, len + 3);
	for (i = 0; i < nlen; i++) {
		char c = text[i];
		out->data[out->len++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
	out->data[out->len++] = ':';
	for (i = nlen; i < len && text[i] != ':'; i++)
		;
	for (i++; i < len; i++) {
		char c = text[i];
		if (c == '\r' || c == '\n')
			continue;
		if (is_wsp(c)) {
			ws = 1;
			continue;
		}
		if (ws && any)
			out->data[out->len++] = ' ';
		out->data[out->len++] = c;
		ws = 0;
		any = 1;
	}
	out->data[out->len++] = '\r';
	out->data[out->len++] = '\n';
	out->data[out->len] = '\0';
}

/* Bytes on their way into a digest, gathered so that the digest sees few
 * large updates rather than a call per word. */
struct sink {
	EVP_MD_CTX	*ctx;
	size_t		 n;
	unsigned char	 chunk[8192];
};

static void
sink_put(struct sink *s, const char *p, size_t n)
{
	if (s->n + n > sizeof s->chunk) {
		EVP_DigestUpdate(s->ctx, s->chunk, s->n);
		s->n = 0;
	}
	if (n >= sizeof s->chunk) {
		EVP_DigestUpdate(s->ctx, p, n);
		return;
	}
	memcpy(s->chunk + s->n, p, n);
	s->n += n;
}

/* Relaxed body canonicalization (§3.4.4) hashed with SHA-256: blanks at a
 * line's end removed, other runs of blanks made one space, empty lines at
 * the end removed, and a non-empty body ends with CRLF. */
static int
body_hash(const struct dkim *dk, const char *b, size_t n, unsigned char out[SHA256_LEN])
{
	struct sink *s = xmalloc(sizeof *s);
	size_t blank = 0, i = 0;
	unsigned int olen = 0;
	int rc = -1;

	s->n = 0;
	s->ctx = EVP_MD_CTX_new();
	if (s->ctx == NULL || EVP_DigestInit_ex(s->ctx, dk->sha256, NULL) != 1)
		goto done;
	while (i < n) {
		const char *nl = memchr(b + i, '\n', n - i);
		size_t le = nl ? (size_t)(nl - b) : n, ce = le, j = i;
		int ws = 0, any = 0;

		if (ce > i && b[ce - 1] == '\r')
			ce--;
		while (j < ce) {
			size_t k = j;
			if (is_wsp(b[j])) {
				ws = 1;
				j++;
				continue;
			}
			while (k < ce && !is_wsp(b[k]))
				k++;
			if (!any) {
				for (; blank; blank--)
					sink_put(s, "\r\n", 2);
				any = 1;
			}
			if (ws)
				sink_put(s, " ", 1);
			sink_put(s, b + j, k - j);
			ws = 0;
			j = k;
		}
		if (any)
			sink_put(s, "\r\n", 2);
		else
			blank++;
		i = nl ? le + 1 : n;
	}
	if (s->n)
		EVP_DigestUpdate(s->ctx, s->chunk, s->n);
	if (EVP_DigestFinal_ex(s->ctx, out, &olen) == 1 && olen == SHA256_LEN)
		rc = 0;
done:
	EVP_MD_CTX_free(s->ctx);
	free(s);
	return rc;
}

static void
b64_append(buf *out, const unsigned char *p, size_t n)
{
	size_t need = 4 * ((n + 2) / 3) + 1;

	buf_reserve(out, need);
	out->len += (size_t)EVP_EncodeBlock((unsigned char *)out->data + out->len, p, (int)n);
	out->data[out->len] = '\0';
}

/* Decodes base64 without blanks; -1 on a bad character or length. */
static int
b64_decode(const char *s, unsigned char *out, size_t max, size_t *n)
{
	size_t len = strlen(s), pad = 0;
	int r;

	if (len == 0 || len % 4 || (len / 4) * 3 > max)
		return -1;
	r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
	if (r < 0)
		return -1;
	while (pad < 2 && s[len - 1 - pad] == '=')
		pad++;
	*n = (size_t)r - pad;
	return 0;
}

static int
sha256(const struct dkim *dk, const char *p, size_t n, unsigned char out[SHA256_LEN])
{
	unsigned int olen = 0;
	return EVP_Digest(p, n, out, &olen, dk->sha256, NULL) == 1 && olen == SHA256_LEN ? 0 : -1;
}

/* RSASSA-PKCS1-v1_5 over the SHA-256 (rsa-sha256), or PureEdDSA over the
 * SHA-256 (ed25519-sha256, RFC 8463 §3). */
static int
pk_sign(const struct dkim *dk, const struct dkim_key *k,
    const unsigned char hash[SHA256_LEN], unsigned char *sig, size_t *siglen)
{
	int ok = 0;

	*siglen = MAX_SIG;
	if (k->alg == DKIM_RSA_SHA256) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k->pkey, NULL);
		ok = c && EVP_PKEY_sign_init(c) > 0 &&
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0 &&
		    EVP_PKEY_CTX_set_signature_md(c, dk->sha256) > 0 &&
		    EVP_PKEY_sign(c, sig, siglen, hash, SHA256_LEN) > 0;
		EVP_PKEY_CTX_free(c);
	} else {
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		ok = m && EVP_DigestSignInit(m, NULL, NULL, NULL, k->pkey) == 1 &&
		    EVP_DigestSign(m, sig, siglen, hash, SHA256_LEN) == 1;
		EVP_MD_CTX_free(m);
	}
	return ok ? 0 : -1;
}

static int
pk_verify(const struct dkim *dk, const struct dkim_key *k,
    const unsigned char hash[SHA256_LEN], const unsigned char *sig, size_t siglen)
{
	int ok = 0;

	if (k->alg == DKIM_RSA_SHA256) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k->pkey, NULL);
		ok = c && EVP_PKEY_verify_init(c) > 0 &&
		    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0 &&
		    EVP_PKEY_CTX_set_signature_md(c, dk->sha256) > 0 &&
		    EVP_PKEY_verify(c, sig, siglen, hash, SHA256_LEN) == 1;
		EVP_PKEY_CTX_free(c);
	} else {
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		ok = m && EVP_DigestVerifyInit(m, NULL, NULL, NULL, k->pkey) == 1 &&
		    EVP_DigestVerify(m, sig, siglen, hash, SHA256_LEN) == 1;
		EVP_MD_CTX_free(m);
	}
	return ok ? 0 : -1;
}

/* ---- keys ---- */

static void
key_clear(struct dkim_key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->domain);
	free(k->selector);
	buf_free(&k->prefix);
}

void
dkim_free(struct dkim *dk)
{
	if (dk == NULL)
		return;
	for (size_t i = 0; i < dk->nkeys; i++)
		key_clear(&dk->keys[i]);
	free(dk->keys);
	EVP_MD_free(dk->sha256);
	free(dk);
}

static int
load_key(const struct dkim_conf *kc, size_t idx, struct dkim_key *k, diag *d)
{
	FILE *fp = fopen(kc->key_file, "r");
	struct stat st;

	if (fp == NULL)
		return diag_set(d, EX_CONFIG, "dkim[%zu]: %s: cannot read key: %s", idx,
		    kc->key_file, strerror(errno));
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077))
		log_warn("dkim[%zu]: %s: readable by others; make it mode 0600", idx,
		    kc->key_file);
	k->pkey = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (k->pkey == NULL)
		return diag_set(d, EX_CONFIG, "dkim[%zu]: %s: not a PEM private key "
		    "(make one with 'broadside dkim keygen')", idx, kc->key_file);
	if (EVP_PKEY_is_a(k->pkey, "RSA")) {
		int bits = EVP_PKEY_get_bits(k->pkey);
		k->alg = DKIM_RSA_SHA256;
		if (bits < 1024 || bits > 8192)
			return diag_set(d, EX_CONFIG, "dkim[%zu]: %s: RSA key of %d bits; "
			    "verifiers refuse under 1024 (RFC 8301), use 2048", idx,
			    kc->key_file, bits);
		if (bits < 2048)
			log_warn("dkim[%zu]: %s: RSA key of %d bits; 2048 is the usual size now",
			    idx, kc->key_file, bits);
	} else if (EVP_PKEY_is_a(k->pkey, "ED25519")) {
		k->alg = DKIM_ED25519_SHA256;
	} else {
		return diag_set(d, EX_CONFIG, "dkim[%zu]: %s: a %s key; DKIM signs with RSA "
		    "or Ed25519", idx, kc->key_file, EVP_PKEY_get0_type_name(k->pkey));
	}
	k->domain = xstrdup(kc->domain);
	k->selector = xstrdup(kc->selector);
	buf_printf(&k->prefix, "DKIM-Signature: v=1; a=%s; c=relaxed/relaxed; d=%s;\r\n\ts=%s;",
	    alg_name(k->alg), k->domain, k->selector);
	return 0;
}

int
dkim_load(const struct config *cfg, struct dkim **out, diag *d)
{
	struct dkim *dk;

	*out = NULL;
	if (cfg->ndkim == 0)
		return 0;
	dk = xcalloc(1, sizeof *dk);
	dk->keys = xcalloc(cfg->ndkim, sizeof *dk->keys);
	dk->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (dk->sha256 == NULL) {
		dkim_free(dk);
		return diag_set(d, EX_SOFTWARE, "dkim: OpenSSL has no SHA-256");
	}
	for (size_t i = 0; i < cfg->ndkim; i++) {
		dk->nkeys++;
		if (load_key(&cfg->dkim[i], i, &dk->keys[i], d) < 0) {
			dkim_free(dk);
			return -1;
		}
	}
	*out = dk;
	return 0;
}

size_t
dkim_nkeys(const struct dkim *dk)
{
	return dk ? dk->nkeys : 0;
}

const char *
dkim_key_domain(const struct dkim *dk, size_t i)
{
	return dk->keys[i].domain;
}

const char *
dkim_key_selector(const struct dkim *dk, size_t i)
{
	return dk->keys[i].selector;
}

const char *
dkim_key_alg(const struct dkim *dk, size_t i)
{
	return alg_name(dk->keys[i].alg);
}

/* "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo>" or, for Ed25519 (RFC 8463
 * §4), "k=ed25519; p=<the 32 raw bytes>". */
static int
pkey_txt(EVP_PKEY *pk, enum dkim_alg alg, buf *out, diag *d)
{
	unsigned char raw[64], *der = NULL;
	size_t rlen = sizeof raw;
	int dlen;

	if (alg == DKIM_ED25519_SHA256) {
		if (EVP_PKEY_get_raw_public_key(pk, raw, &rlen) != 1)
			return diag_set(d, EX_SOFTWARE, "dkim: cannot read the Ed25519 public key");
		buf_puts(out, "v=DKIM1; k=ed25519; p=");
		b64_append(out, raw, rlen);
		return 0;
	}
	if ((dlen = i2d_PUBKEY(pk, &der)) <= 0)
		return diag_set(d, EX_SOFTWARE, "dkim: cannot encode the RSA public key");
	buf_puts(out, "v=DKIM1; k=rsa; p=");
	b64_append(out, der, (size_t)dlen);
	OPENSSL_free(der);
	return 0;
}

int
dkim_key_txt(const struct dkim *dk, size_t i, buf *out, diag *d)
{
	return pkey_txt(dk->keys[i].pkey, dk->keys[i].alg, out, d);
}

void
dkim_txt_record(const char *selector, const char *domain, const char *value, buf *out)
{
	size_t n = strlen(value);

	buf_printf(out, "%s._domainkey.%s. IN TXT", selector, domain);
	for (size_t i = 0; i < n; i += 255)
		buf_printf(out, " \"%.*s\"", (int)(n - i > 255 ? 255 : n - i), value + i);
	buf_putc(out, '\n');
}

int
dkim_keygen(enum dkim_alg alg, int bits, const char *path, buf *txt, diag *d)
{
	EVP_PKEY *pk;
	FILE *fp;
	int fd, ok;

	if (alg == DKIM_RSA_SHA256 && (bits < 1024 || bits > 8192))
		return diag_set(d, EX_USAGE, "RSA key size %d: must be 1024 to 8192 bits "
		    "(2048 is usual)", bits);
	pk = alg == DKIM_RSA_SHA256 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)
	    : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (pk == NULL)
		return diag_set(d, EX_SOFTWARE, "dkim: OpenSSL could not make a key");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		int e = errno;
		EVP_PKEY_free(pk);
		return diag_set(d, e == EEXIST ? EX_CANTCREAT : EX_IOERR,
		    "%s: %s", path, e == EEXIST ? "exists; a key is never overwritten"
		    : strerror(e));
	}
	(void)fchmod(fd, 0600);
	fp = fdopen(fd, "w");
	ok = fp && PEM_write_PrivateKey(fp, pk, NULL, NULL, 0, NULL, NULL) == 1;
	if (fp ? fclose(fp) != 0 : close(fd) != 0)
		ok = 0;
	if (!ok) {
		unlink(path);
		EVP_PKEY_free(pk);
		return diag_set(d, EX_IOERR, "%s: writing the key failed", path);
	}
	ok = pkey_txt(pk, alg, txt, d);
	EVP_PKEY_free(pk);
	return ok;
}

/* ---- signing ---- */

/* Appends the canonical form of every field named in h= order, each name
 * taking its next instance from the bottom. */
static void
canon_signed(const struct message *msg, const char *const *names, size_t nnames, buf *out)
{
	for (size_t i = 0; i < nnames; i++) {
		size_t k = 0;
		const struct field *f;
		for (size_t j = 0; j < i; j++)
			k += strcasecmp(names[j], names[i]) == 0;
		if ((f = field_from_bottom(msg, names[i], k)) != NULL)
			canon_header(f->text, f->nlen, f->len, out);
	}
}

int
dkim_sign_fields(const struct dkim *dk, const char *m, size_t len, int64_t now,
    buf *out, diag *d)
{
	struct message msg;
	const char *why, *names[NSIGNED * 8];
	size_t nnames = 0;
	unsigned char bh[SHA256_LEN], hash[SHA256_LEN], sig[MAX_SIG];
	buf hlist = BUF_INIT, data = BUF_INIT, field = BUF_INIT;
	int rc = -1;

	if (dk == NULL || dk->nkeys == 0)
		return 0;
	if (parse_message(m, len, &msg, &why) < 0)
		return diag_set(d, EX_SOFTWARE, "dkim: cannot sign: %s", why);
	if (count_fields(&msg, "from") != 1) {
		diag_set(d, EX_SOFTWARE, "dkim: cannot sign: the message needs exactly one From:");
		goto done;
	}
	if (body_hash(dk, msg.body, msg.blen, bh) < 0) {
		diag_set(d, EX_SOFTWARE, "dkim: hashing the body failed");
		goto done;
	}
	/* h=, folded: each field once more than it occurs. */
	size_t col = 3;
	for (size_t i = 0; i < NSIGNED; i++) {
		size_t c = count_fields(&msg, signed_fields[i]);
		if (c > 6)
			c = 6;
		for (size_t j = 0; j <= c; j++) {
			size_t w = strlen(signed_fields[i]) + 1;
			names[nnames++] = signed_fields[i];
			if (hlist.len) {
				buf_putc(&hlist, ':');
				if (col + w > 76) {
					buf_puts(&hlist, "\r\n\t");
					col = 1;
				}
			}
			buf_puts(&hlist, signed_fields[i]);
			col += w;
		}
	}
	canon_signed(&msg, names, nnames, &data);
	size_t fixed = data.len;
	for (size_t i = 0; i < dk->nkeys; i++) {
		const struct dkim_key *k = &dk->keys[i];
		size_t siglen, start;

		buf_reset(&field);
		buf_append(&field, k->prefix.data, k->prefix.len);
		if (now > 0)
			buf_printf(&field, " t=%lld;", (long long)now);
		buf_puts(&field, "\r\n\th=");
		buf_append(&field, hlist.data, hlist.len);
		buf_puts(&field, ";\r\n\tbh=");
		b64_append(&field, bh, sizeof bh);
		buf_puts(&field, ";\r\n\tb=");
		/* Signed: the fields, then this one with b= empty and no CRLF. */
		buf_truncate(&data, fixed);
		canon_header(field.data, 14, field.len, &data);
		buf_truncate(&data, data.len - 2);
		if (sha256(dk, data.data, data.len, hash) < 0 ||
		    pk_sign(dk, k, hash, sig, &siglen) < 0) {
			diag_set(d, EX_SOFTWARE, "dkim: signing with %s._domainkey.%s failed",
			    k->selector, k->domain);
			goto done;
		}
		start = field.len;
		b64_append(&field, sig, siglen);
		/* Folded into lines of at most 76 characters. */
		buf_reserve(out, field.len + field.len / 64 * 3 + 2);
		buf_append(out, field.data, start);
		for (size_t p = start, w = 73; p < field.len; p += w, w = 75) {
			size_t n = field.len - p < w ? field.len - p : w;
			if (p > start)
				buf_puts(out, "\r\n\t");
			buf_append(out, field.data + p, n);
		}
		buf_puts(out, "\r\n");
	}
	rc = 0;
done:
	free(msg.f);
	buf_free(&hlist);
	buf_free(&data);
	buf_free(&field);
	return rc;
}

int
dkim_sign(const struct dkim *dk, buf *message, int64_t now, diag *d)
{
	buf sigs = BUF_INIT;

	if (dk == NULL || dk->nkeys == 0)
		return 0;
	if (dkim_sign_fields(dk, message->data, message->len, now, &sigs, d) < 0) {
		buf_free(&sigs);
		return -1;
	}
	buf_reserve(message, sigs.len);
	memmove(message->data + sigs.len, message->data, message->len);
	memcpy(message->data, sigs.data, sigs.len);
	message->len += sigs.len;
	message->data[message->len] = '\0';
	buf_free(&sigs);
	return 0;
}

/* ---- verifying ---- */

/* The tag=value list of a DKIM-Signature value, blanks removed from the
 * values (none of the tags read here may contain any). */
struct tags {
	char	*v, *a, *c, *d, *s, *h, *bh, *b, *l;
};

static void
parse_tags(char *value, struct tags *t)
{
	memset(t, 0, sizeof *t);
	for (char *p = value, *next; p; p = next) {
		char *eq, *name, *val, *w;
		next = strchr(p, ';');
		if (next)
			*next++ = '\0';
		if ((eq = strchr(p, '=')) == NULL)
			continue;
		*eq = '\0';
		name = p;
		val = eq + 1;
		while (*name && strchr(" \t\r\n", *name))
			name++;
		for (w = name + strlen(name); w > name && strchr(" \t\r\n", w[-1]); )
			*--w = '\0';
		for (w = val; *val; val++)
			if (!strchr(" \t\r\n", *val))
				*w++ = *val;
		*w = '\0';
		val = eq + 1;
#define TAG(x) if (strcmp(name, #x) == 0) t->x = val; else
		TAG(v) TAG(a) TAG(c) TAG(d) TAG(s) TAG(h) TAG(bh) TAG(b) TAG(l) {}
#undef TAG
	}
}

/* The field with the value of its b= tag removed (§3.5, §3.7). */
static void
strip_b(const struct field *f, buf *out)
{
	const char *p = f->text + f->nlen + 1, *end = f->text + f->len;

	buf_append(out, f->text, (size_t)(p - f->text));
	while (p < end) {
		const char *q = p, *semi;
		while (q < end && strchr(" \t\r\n", *q))
			q++;
		if (q >= end) {
			buf_append(out, p, (size_t)(end - p));
			break;
		}
		semi = memchr(q, ';', (size_t)(end - q));
		if (semi == NULL)
			semi = end;
		if (*q == 'b') {
			const char *e = q + 1;
			while (e < semi && strchr(" \t\r\n", *e))
				e++;
			if (e < semi && *e == '=') {
				buf_append(out, p, (size_t)(e + 1 - p));
				p = semi;
				continue;
			}
		}
		buf_append(out, p, (size_t)(semi - p));
		p = semi;
		if (p < end) {
			buf_putc(out, ';');
			p++;
		}
	}
}

static void
verdict_fail(struct dkim_verdict *v, const char *why)
{
	v->ok = 0;
	snprintf(v->why, sizeof v->why, "%s", why);
}

static void
verify_one(const struct dkim *dk, const struct message *msg, const struct field *f,
    const unsigned char bh[SHA256_LEN], struct dkim_verdict *v)
{
	char *value = xstrndup(f->text + f->nlen + 1, f->len - f->nlen - 1);
	const char *names[64];
	size_t nnames = 0, blen, siglen;
	unsigned char got[64], sig[MAX_SIG], hash[SHA256_LEN];
	const struct dkim_key *k = NULL;
	struct tags t;
	buf data = BUF_INIT, raw = BUF_INIT;
	char *h, *tok, *save = NULL;

	memset(v, 0, sizeof *v);
	parse_tags(value, &t);
	snprintf(v->domain, sizeof v->domain, "%s", t.d ? t.d : "");
	snprintf(v->selector, sizeof v->selector, "%s", t.s ? t.s : "");
	snprintf(v->alg, sizeof v->alg, "%s", t.a ? t.a : "");
	snprintf(v->headers, sizeof v->headers, "%s", t.h ? t.h : "");
	for (char *p = v->headers; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	if (!t.v || strcmp(t.v, "1") || !t.a || !t.d || !t.s || !t.h || !t.bh || !t.b) {
		verdict_fail(v, "a required tag (v=1, a, d, s, h, bh, b) is missing");
		goto done;
	}
	if (!t.c || strcmp(t.c, "relaxed/relaxed")) {
		verdict_fail(v, "canonicalization is not relaxed/relaxed");
		goto done;
	}
	if (t.l) {
		verdict_fail(v, "l= (a partial body) is not accepted");
		goto done;
	}
	for (size_t i = 0; i < dk->nkeys && !k; i++)
		if (strcasecmp(dk->keys[i].domain, t.d) == 0 &&
		    strcasecmp(dk->keys[i].selector, t.s) == 0)
			k = &dk->keys[i];
	if (k == NULL) {
		verdict_fail(v, "no configured key has this d= and s=");
		goto done;
	}
	if (strcmp(t.a, alg_name(k->alg)) != 0) {
		verdict_fail(v, "a= does not match the key's type");
		goto done;
	}
	if (b64_decode(t.bh, got, sizeof got, &blen) < 0 || blen != SHA256_LEN ||
	    memcmp(got, bh, SHA256_LEN) != 0) {
		verdict_fail(v, "body hash does not match (the body was changed)");
		goto done;
	}
	h = xstrdup(v->headers);
	for (tok = strtok_r(h, ":", &save); tok && nnames < 64; tok = strtok_r(NULL, ":", &save))
		names[nnames++] = tok;
	canon_signed(msg, names, nnames, &data);
	free(h);
	strip_b(f, &raw);
	canon_header(raw.data, f->nlen, raw.len, &data);
	buf_truncate(&data, data.len - 2);
	if (b64_decode(t.b, sig, sizeof sig, &siglen) < 0) {
		verdict_fail(v, "b= is not base64");
		goto done;
	}
	if (sha256(dk, data.data, data.len, hash) < 0 ||
	    pk_verify(dk, k, hash, sig, siglen) < 0) {
		verdict_fail(v, "signature does not verify (a signed header was changed)");
		goto done;
	}
	v->ok = 1;
done:
	buf_free(&data);
	buf_free(&raw);
	free(value);
}

int
dkim_verify(const struct dkim *dk, const char *m, size_t len, struct dkim_verdict *v,
    size_t max, size_t *n, diag *d)
{
	struct message msg;
	const char *why;
	unsigned char bh[SHA256_LEN];
	int have_bh = 0, rc = 0;

	*n = 0;
	if (parse_message(m, len, &msg, &why) < 0)
		return diag_set(d, EX_DATAERR, "dkim: cannot read the message: %s", why);
	for (size_t i = 0; i < msg.n && *n < max; i++) {
		if (!field_is(&msg.f[i], "dkim-signature"))
			continue;
		if (dk == NULL) {
			memset(&v[*n], 0, sizeof v[*n]);
			verdict_fail(&v[(*n)++], "no DKIM keys are configured");
			continue;
		}
		if (!have_bh && body_hash(dk, msg.body, msg.blen, bh) < 0) {
			rc = diag_set(d, EX_SOFTWARE, "dkim: hashing the body failed");
			break;
		}
		have_bh = 1;
		verify_one(dk, &msg, &msg.f[i], bh, &v[(*n)++]);
	}
	free(msg.f);
	return rc;
}
