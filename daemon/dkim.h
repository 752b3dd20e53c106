/* dkim - DKIM signatures (RFC 6376) on every outgoing copy, and their check.
 *
 * rsa-sha256 and ed25519-sha256 (RFC 8463), relaxed/relaxed canonicalization,
 * done with OpenSSL's libcrypto directly. Keys are read and parsed once
 * (dkim_load); what every copy shares (the signature's fixed tags, the
 * digest implementation) is prepared then. Per copy only the body and the
 * signed header fields are hashed and one private-key operation per key is
 * done. Every configured key signs every copy: two keys of one domain let a
 * new selector be published before the old one is withdrawn (rotation), and
 * an RSA key beside an Ed25519 one serves verifiers that know only RSA.
 *
 * h= covers From, To, Subject, Date, Message-ID, Reply-To, List-Id,
 * List-Unsubscribe, List-Unsubscribe-Post, Feedback-ID, MIME-Version and
 * Content-Type, each once more than it occurs ("over-signing"): a header
 * added in transit, even one the copy lacked, breaks the signature.
 *
 * A loaded `struct dkim` is read-only: dkim_sign and dkim_verify may run in
 * many threads at once.
 */
#ifndef BROADSIDE_DKIM_H
#define BROADSIDE_DKIM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "diag.h"

struct config;
struct dkim;

enum dkim_alg { DKIM_RSA_SHA256, DKIM_ED25519_SHA256 };

/* Reads every key of cfg->dkim. No keys configured: *out = NULL and 0
 * (copies go out unsigned). A missing, unreadable or unfit key file:
 * -1 with EX_CONFIG naming the entry and the file. */
int	 dkim_load(const struct config *cfg, struct dkim **out, diag *d);
void	 dkim_free(struct dkim *dk);
size_t	 dkim_nkeys(const struct dkim *dk);
/* Key i's d=, s=, algorithm name ("rsa-sha256") and its DNS TXT value. */
const char *dkim_key_domain(const struct dkim *dk, size_t i);
const char *dkim_key_selector(const struct dkim *dk, size_t i);
const char *dkim_key_alg(const struct dkim *dk, size_t i);
int	 dkim_key_txt(const struct dkim *dk, size_t i, buf *out, diag *d);

/* Prepends one DKIM-Signature per key to `message` (a complete message:
 * header, empty line, body; CRLF line ends). t= is `now` unless it is 0.
 * dk == NULL leaves the message alone. A message without a From: field or
 * without the empty line is refused (EX_SOFTWARE). */
int	 dkim_sign(const struct dkim *dk, buf *message, int64_t now, diag *d);
/* The same signature fields appended to `out` (for a caller that writes
 * them before the message itself). */
int	 dkim_sign_fields(const struct dkim *dk, const char *msg, size_t len,
	    int64_t now, buf *out, diag *d);

/* The check of one DKIM-Signature found in a message. */
struct dkim_verdict {
	int	 ok;		/* 1: body hash and signature verify */
	char	 domain[256];	/* d= */
	char	 selector[64];	/* s= */
	char	 alg[32];	/* a= */
	char	 headers[512];	/* h=, lowercased, spaces removed */
	char	 why[160];	/* when not ok: what failed */
};

/* Checks every DKIM-Signature of the message (up to `max` of them) with
 * the public halves of the loaded keys (found by d= and s=; no DNS).
 * *n is how many were found. -1 only for a message that cannot be read. */
int	 dkim_verify(const struct dkim *dk, const char *msg, size_t len,
	    struct dkim_verdict *v, size_t max, size_t *n, diag *d);

/* Makes a key pair: writes the private key as PEM to a new file `path`
 * (mode 0600; an existing file is refused, EX_CANTCREAT) and appends the
 * DNS TXT value ("v=DKIM1; k=rsa; p=...") to txt. bits: RSA only. */
int	 dkim_keygen(enum dkim_alg alg, int bits, const char *path, buf *txt,
	    diag *d);

/* The TXT record line for a zone file: NAME IN TXT "..." "..." with the
 * value cut into strings of at most 255 characters (RFC 1035 §3.3.14). */
void	 dkim_txt_record(const char *selector, const char *domain,
	    const char *value, buf *out);

#endif
