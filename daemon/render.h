/* render - an issue compiled once per tier, then filled per subscriber.
 *
 * render_compile() does every expensive step once per issue: it splits the
 * Markdown at the paywall mark, renders each tier's cut to HTML and text
 * (markdown.c), reads the templates (layout.html, layout.txt, paywall.html,
 * paywall.txt from cfg->templates), fills every slot that is the same for
 * all readers, and quoted-printable encodes the resulting static segments.
 * What is left per tier and part is a short program of static segments and
 * per-subscriber slots ({{name}}, {{email}}, {{unsubscribe_url}}).
 *
 * render_message() then writes one subscriber's copy: a few headers that
 * differ per copy (To, Date, Message-ID, List-Unsubscribe) between the
 * precomputed ones, and the two bodies as memcpy of the static segments with
 * the slots escaped and encoded in between. No parse, no template, and no
 * allocation of its own once a thread has made its first copy.
 *
 * Free readers get the Markdown before the line ISSUE_PAYWALL_MARK followed
 * by the paywall template; paid readers get all of it (the mark line
 * removed) and no call to action. An issue without the mark goes whole to
 * both tiers.
 */
#ifndef BROADSIDE_RENDER_H
#define BROADSIDE_RENDER_H

#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "diag.h"
#include "issues.h"
#include "secret.h"
#include "subscribers.h"

struct render;	/* one issue compiled once for both tiers; read-only after compile */

int	render_compile(const struct config *cfg, const struct secret *sec,
	    const struct issue *is, struct render **out, diag *d);

struct render_to {
	int64_t		 delivery_id;	/* 0 for a preview */
	int64_t		 subscriber_id;
	const char	*email;
	const char	*name;		/* may be NULL or "" */
	enum sub_tier	 tier;
};

/* Appends the complete RFC 5322 message (headers + MIME body, CRLF, NOT
 * dot-stuffed), DKIM-signed when cfg->dkim has keys. Thread-safe: many
 * sender threads call it on the same struct render at once. Fails
 * (EX_DATAERR) for an address that cannot be written in a header. */
int	render_message(const struct render *r, const struct render_to *to,
	    int64_t now, buf *out, diag *d);
/* The same in two steps, for the sender: the copy rendered unsigned (by
 * the queue thread), then signed where it is sent, so that the costly part
 * (~300 µs with RSA-2048) runs on every sender thread at once. render_sign
 * puts the DKIM-Signature fields in front of the message at out[start..)
 * (without keys it does nothing). */
int	render_message_unsigned(const struct render *r, const struct render_to *to,
	    int64_t now, buf *out, diag *d);
int	render_sign(const struct render *r, buf *out, size_t start, int64_t now, diag *d);

/* For previews: one body as the reader sees it once decoded (not
 * quoted-printable), with the same slots filled as render_message. */
enum render_part { RENDER_PART_TEXT, RENDER_PART_HTML };
int	render_body(const struct render *r, const struct render_to *to,
	    enum render_part part, buf *out, diag *d);

/* The https unsubscribe URL of a subscriber: BASE_URL/u/TOKEN. */
void	render_unsubscribe_url(const struct render *r, int64_t subscriber_id,
	    buf *out);

void	render_free(struct render *r);

#endif
