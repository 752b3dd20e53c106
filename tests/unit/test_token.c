/* test_token - unsubscribe and VERP tokens: round trip, forgery, key rotation. */
#include <string.h>

#include "check.h"
#include "token.h"

int
main(void)
{
	struct secret s = { .nkeys = 2 };
	char tok[TOKEN_MAX], forged[TOKEN_MAX];
	int64_t id = 0, now = 1795456800;
	buf verp = BUF_INIT;

	memset(s.keys[0].key, 0x11, SECRET_KEY_LEN);
	memset(s.keys[1].key, 0x22, SECRET_KEY_LEN);
	s.keys[0].created = now - 100;
	s.keys[1].created = now - 1000000;

	token_unsub_make(&s, "list.example.com", 12345, tok);
	CHECK(strlen(tok) == 4 + 22, "token is id36.mac (%s)", tok);
	CHECK(token_unsub_verify(&s, 3600, now, "list.example.com", tok, &id) == 0 && id == 12345,
	    "token verifies and yields the subscriber");
	CHECK(token_unsub_verify(&s, 3600, now, "other.example.com", tok, &id) < 0,
	    "token is bound to the list");
	strcpy(forged, tok);
	forged[strlen(forged) - 1] ^= 1;
	CHECK(token_unsub_verify(&s, 3600, now, "list.example.com", forged, &id) < 0,
	    "one changed character is refused");
	strcpy(forged, tok);
	forged[0] = forged[0] == '1' ? '2' : '1';
	CHECK(token_unsub_verify(&s, 3600, now, "list.example.com", forged, &id) < 0,
	    "another subscriber id with the same MAC is refused");
	forged[strlen(tok) - 3] = '\0';
	CHECK(token_unsub_verify(&s, 3600, now, "list.example.com", tok + 1, &id) < 0 &&
	    token_unsub_verify(&s, 3600, now, "list.example.com", forged, &id) < 0 &&
	    token_unsub_verify(&s, 3600, now, "list.example.com", "", &id) < 0 &&
	    token_unsub_verify(&s, 3600, now, "list.example.com", ".", &id) < 0,
	    "truncated tokens are refused");

	/* The reader's own links: each label opens its own page only. */
	token_trial_make(&s, "list.example.com", 77, tok);
	CHECK(token_trial_verify(&s, 3600, now, "list.example.com", tok, &id) == 0 && id == 77,
	    "trial token verifies");
	CHECK(token_feed_verify(&s, 3600, now, "list.example.com", tok, &id) < 0 &&
	    token_unsub_verify(&s, 3600, now, "list.example.com", tok, &id) < 0,
	    "a trial token is no feed or unsubscribe token");
	token_feed_make(&s, "list.example.com", 77, tok);
	CHECK(token_feed_verify(&s, 3600, now, "list.example.com", tok, &id) == 0 && id == 77 &&
	    token_trial_verify(&s, 3600, now, "list.example.com", tok, &id) < 0,
	    "feed token verifies, and is no trial token");
	token_view_make(&s, "list.example.com", 5, 77, tok);
	CHECK(token_view_verify(&s, 3600, now, "list.example.com", 5, tok, &id) == 0 && id == 77,
	    "view token verifies for its issue");
	CHECK(token_view_verify(&s, 3600, now, "list.example.com", 6, tok, &id) < 0 &&
	    token_view_verify(&s, 3600, now, "list.example.com", 50, tok, &id) < 0,
	    "view token refused for another issue");

	/* Rotation: a token made with the old key works during the grace period. */
	struct secret old = { .nkeys = 1 };
	old.keys[0] = s.keys[1];
	token_unsub_make(&old, "list.example.com", 7, tok);
	CHECK(token_unsub_verify(&s, 3600, now, "list.example.com", tok, &id) == 0 && id == 7,
	    "previous key accepted within grace");
	CHECK(token_unsub_verify(&s, 50, now, "list.example.com", tok, &id) < 0,
	    "previous key refused after grace");

	token_verp_make(&s, "bounces@example.com", 987654, &verp);
	CHECK(strncmp(verp.data, "bounces+987654.", 15) == 0 &&
	    strcmp(verp.data + verp.len - 12, "@example.com") == 0, "VERP shape (%s)", verp.data);
	CHECK(token_verp_verify(&s, 3600, now, "bounces@example.com", verp.data, &id) == 0 &&
	    id == 987654, "VERP verifies");
	for (char *p = verp.data; *p; p++)
		*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	CHECK(token_verp_verify(&s, 3600, now, "bounces@example.com", verp.data, &id) == 0,
	    "VERP survives case folding by an MTA (%s)", verp.data);
	CHECK(token_verp_verify(&s, 3600, now, "bounces@example.com",
	    "bounces+987655.0123456789@example.com", &id) < 0, "forged VERP refused");
	CHECK(token_verp_verify(&s, 3600, now, "bounces@example.com",
	    "someone@example.com", &id) < 0, "not a VERP address");

	/* Message-IDs: the MAC binds delivery and subscriber */
	{
		char mid[TOKEN_MAX], full[TOKEN_MAX + 32], other[TOKEN_MAX];
		int64_t did = 0;

		token_msgid_make(&s, 4242, 77, 0xabcdef, mid);
		CHECK(strncmp(mid, "4242.abcdef", 11) == 0 && strlen(mid) == 5 + 16,
		    "Message-ID local part is id.16 hex (%s)", mid);
		snprintf(full, sizeof full, "<%s@example.com>", mid);
		CHECK(token_msgid_verify(&s, 3600, now, full, 77, &did) == 0 && did == 4242,
		    "Message-ID verifies with brackets and domain");
		CHECK(token_msgid_verify(&s, 3600, now, mid, 77, &did) == 0,
		    "and without them");
		CHECK(token_msgid_verify(&s, 3600, now, full, 78, &did) < 0,
		    "another subscriber's Message-ID is refused");
		full[1] = '5';	/* 5242: another delivery, same MAC */
		CHECK(token_msgid_verify(&s, 3600, now, full, 77, &did) < 0,
		    "the MAC is bound to the delivery");
		token_msgid_make(&s, 4242, 77, 0x123456, other);
		CHECK(strcmp(mid, other) != 0 && token_msgid_verify(&s, 3600, now, other, 77, &did) == 0,
		    "copies of one delivery differ and each verifies");
		strcpy(other, mid);
		other[strlen(other) - 1] ^= 1;
		CHECK(token_msgid_verify(&s, 3600, now, other, 77, &did) < 0, "forged MAC refused");
		CHECK(token_msgid_verify(&s, 3600, now, "<d1@example.com>", 77, &did) < 0 &&
		    token_msgid_delivery("<d1@example.com>", &did) < 0, "not one of ours");
		CHECK(token_msgid_delivery("<12.0123456789abcdef@x>", &did) == 0 && did == 12,
		    "the delivery a Message-ID names");
	}

	buf b64 = BUF_INIT;
	token_b64url((const unsigned char *)"\xfb\xff", 2, &b64);
	CHECK_STR(b64.data, "-_8", "base64url alphabet, no padding");
	buf_free(&b64);
	buf_free(&verp);
	return check_exit();
}
