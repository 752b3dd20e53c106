/* token - HMAC-SHA256 tokens: unsubscribe links and VERP envelope senders.
 *
 * Unsubscribe token: "<subscriber id, base 36>.<MAC>", MAC = base64url of the
 * first 16 bytes of HMAC-SHA256(key, "unsub\0" list_id "\0" id). It goes in
 * https://host/u/TOKEN and mailto:unsubscribe+TOKEN@domain.
 * VERP address: "bounces+<delivery id>.<MAC>@domain", MAC = 10 lowercase hex
 * digits of HMAC-SHA256(key, "verp\0" id): lowercase because MTAs may fold
 * the case of a local part in a bounce.
 * Message-ID: "<delivery id>.<R><M>@domain", R 6 random lowercase hex
 * digits (copies of one delivery differ), M = 10 lowercase hex digits of
 * HMAC-SHA256(key, "mid\0" delivery "\0" subscriber "\0" R): a returned
 * copy's Message-ID proves which delivery, to which subscriber, it was.
 * Verification is constant time and accepts the current key, and previous
 * keys of the key file until `grace` seconds after they were replaced.
 */
#ifndef BROADSIDE_TOKEN_H
#define BROADSIDE_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "secret.h"

#define TOKEN_MAX	64

void	token_unsub_make(const struct secret *s, const char *list_id,
	    int64_t subscriber_id, char out[TOKEN_MAX]);
/* 0 and *subscriber_id when genuine; -1 when forged, truncated or stale. */
int	token_unsub_verify(const struct secret *s, int64_t grace, int64_t now,
	    const char *list_id, const char *token, int64_t *subscriber_id);

/* Signup confirmation token: the same form with "confirm" for "unsub"; it
 * goes in https://host/confirm/TOKEN. */
void	token_confirm_make(const struct secret *s, const char *list_id,
	    int64_t subscriber_id, char out[TOKEN_MAX]);
int	token_confirm_verify(const struct secret *s, int64_t grace, int64_t now,
	    const char *list_id, const char *token, int64_t *subscriber_id);
/* The reader's links, the same form with their own label: the trial page
 * ("trial", https://host/trial/TOKEN), the private full-content feed
 * ("feed", https://host/feed/TOKEN.xml), and one issue as that reader's
 * tier gets it ("view/<issue id, base 36>", https://host/i/ISSUE/TOKEN: the
 * MAC covers the issue too, so a token opens that issue only). */
void	token_trial_make(const struct secret *s, const char *list_id,
	    int64_t subscriber_id, char out[TOKEN_MAX]);
int	token_trial_verify(const struct secret *s, int64_t grace, int64_t now,
	    const char *list_id, const char *token, int64_t *subscriber_id);
void	token_feed_make(const struct secret *s, const char *list_id,
	    int64_t subscriber_id, char out[TOKEN_MAX]);
int	token_feed_verify(const struct secret *s, int64_t grace, int64_t now,
	    const char *list_id, const char *token, int64_t *subscriber_id);
void	token_view_make(const struct secret *s, const char *list_id, int64_t issue_id,
	    int64_t subscriber_id, char out[TOKEN_MAX]);
int	token_view_verify(const struct secret *s, int64_t grace, int64_t now,
	    const char *list_id, int64_t issue_id, const char *token, int64_t *subscriber_id);
/* The signup form's load time, signed: "<Unix time in ms, base 36>.<MAC>" with
 * "form" for "unsub"; the POST proves when the form was served. */
void	token_form_make(const struct secret *s, const char *list_id, int64_t when,
	    char out[TOKEN_MAX]);
int	token_form_verify(const struct secret *s, int64_t grace, int64_t now,
	    const char *list_id, const char *token, int64_t *when);

/* Appends "bounces+ID.MAC@domain" for bounce address "bounces@domain". */
void	token_verp_make(const struct secret *s, const char *bounce_address,
	    int64_t delivery_id, buf *out);
/* For an address "local+ID.MAC@domain" whose local part (before '+')
 * matches bounce_address's: 0 and *delivery_id when the MAC is genuine;
 * -1 otherwise (not a VERP address of ours, or forged). */
int	token_verp_verify(const struct secret *s, int64_t grace, int64_t now,
	    const char *bounce_address, const char *address, int64_t *delivery_id);

/* The local part of a Message-ID, "ID.RRRRRRMMMMMMMMMM" (no '@', no
 * brackets), into out (TOKEN_MAX); rnd gives R. */
void	token_msgid_make(const struct secret *s, int64_t delivery_id,
	    int64_t subscriber_id, uint32_t rnd, char out[TOKEN_MAX]);
/* For a Message-ID with or without brackets and domain: 0 and
 * *delivery_id when its MAC is genuine for (delivery, subscriber) under a
 * live key, -1 otherwise. The caller names the subscriber it believes the
 * delivery went to (from the queue), so an id reused for someone else
 * does not verify. */
int	token_msgid_verify(const struct secret *s, int64_t grace, int64_t now,
	    const char *message_id, int64_t subscriber_id, int64_t *delivery_id);
/* The delivery id a Message-ID of ours names (unverified): 0 and *id,
 * or -1 when it is not of our form. */
int	token_msgid_delivery(const char *message_id, int64_t *delivery_id);

/* base64url without padding of n bytes; appends to out. */
void	token_b64url(const unsigned char *p, size_t n, buf *out);

#endif
