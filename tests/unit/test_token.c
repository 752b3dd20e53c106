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

	buf b64 = BUF_INIT;
	token_b64url((const unsigned char *)"\xfb\xff", 2, &b64);
	CHECK_STR(b64.data, "-_8", "base64url alphabet, no padding");
	buf_free(&b64);
	buf_free(&verp);
	return check_exit();
}
