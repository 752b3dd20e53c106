/* test_readers.c - the pure parts of the readers' side: slugs, form bodies,
 * names from the web, confirm and form tokens. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "form.h"
#include "issues.h"
#include "signup.h"
#include "token.h"

static const char *
slug(const char *subject)
{
	static buf b;
	buf_reset(&b);
	issue_slugify(subject, &b);
	return buf_cstr(&b);
}

static const char *
field(const char *body, const char *name, int *rc)
{
	static buf b;
	buf_reset(&b);
	*rc = form_field(body, strlen(body), name, &b);
	return buf_cstr(&b);
}

int
main(void)
{
	struct secret s = { .nkeys = 1 };
	char tok[TOKEN_MAX], unsub[TOKEN_MAX];
	int64_t id, now = 1800000000;
	int rc;
	buf b = BUF_INIT;

	/* slugs */
	CHECK_STR(slug("Growth Dragons Weekly: DeepSeek\xe2\x80\x99s AI Disruption, Alibaba\xe2\x80\x99s "
	    "Robot Spectacle, and China\xe2\x80\x99s Memory Chip Strides"),
	    "growth-dragons-weekly-deepseeks-ai-disruption-alibabas-robot",
	    "slug: lower case, apostrophes joined, cut at a '-' within 60 bytes");
	CHECK(strlen(slug("Growth Dragons Weekly: DeepSeek\xe2\x80\x99s AI Disruption, Alibaba\xe2\x80\x99s "
	    "Robot Spectacle")) <= ISSUE_SLUG_MAX, "slug: at most ISSUE_SLUG_MAX");
	CHECK_STR(slug("  --Hello,   World!!  "), "hello-world", "slug: runs of others are one '-', none at the ends");
	CHECK_STR(slug("\xe2\x80\x9c\xe4\xb8\xad\xe6\x96\x87\xe2\x80\x9d"), "issue", "slug: nothing ASCII left -> 'issue'");
	CHECK_STR(slug(""), "issue", "slug: empty subject");
	CHECK_STR(slug("What's new in 2025 \xe2\x80\x94 part 2"), "whats-new-in-2025-part-2", "slug: em dash is a separator");
	CHECK_STR(slug("<script>alert(1)</script>"), "script-alert-1-script", "slug: markup cannot survive");
	CHECK_STR(slug("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "slug: one long word is cut at the limit");

	/* form bodies */
	CHECK_STR(field("email=jane%40example.com&name=Jane+Doe", "email", &rc), "jane@example.com",
	    "form: %%40 decoded");
	CHECK(rc == 1, "form: found");
	CHECK_STR(field("email=jane%40example.com&name=Jane+Doe", "name", &rc), "Jane Doe", "form: + is a space");
	field("email=x", "name", &rc);
	CHECK(rc == 0, "form: a missing field is 0");
	CHECK_STR(field("a=1&email=first&email=second", "email", &rc), "first", "form: the first of a repeated field");
	field("email=%zz", "email", &rc);
	CHECK(rc == -1, "form: bad %%XX is malformed");
	field("email=ok&other=%4", "email", &rc);
	CHECK(rc == -1, "form: a truncated %%X anywhere makes the body malformed");
	field("email=a%00b", "email", &rc);
	CHECK(rc == -1, "form: NUL is malformed");
	field("email=%ff%fe", "email", &rc);
	CHECK(rc == -1, "form: not UTF-8 is malformed");
	CHECK_STR(field("name=Ren%C3%A9e", "name", &rc), "Ren\xc3\xa9" "e", "form: UTF-8 kept");
	CHECK_STR(field("email=a%0D%0AB", "email", &rc), "a\r\nB", "form: CR/LF decoded (the address check refuses it)");
	CHECK_STR(field("flag&email=", "email", &rc), "", "form: a field without '=' and an empty value");
	CHECK(rc == 1, "form: an empty value is found");
	CHECK(form_utf8_ok("\xed\xa0\x80", 3) == 0, "utf8: a surrogate is refused");
	CHECK(form_utf8_ok("\xc0\xaf", 2) == 0, "utf8: an overlong form is refused");
	CHECK(form_utf8_ok("\xf0\x9f\x90\x89", 4) == 1, "utf8: a dragon is fine");

	/* names */
	signup_clean_name("  Jane\r\nBcc: x\t ", &b);
	CHECK_STR(buf_cstr(&b), "Jane  Bcc: x", "name: control characters become spaces, ends trimmed");
	buf_reset(&b);
	{
		char longname[300];
		memset(longname, 'a', sizeof longname);
		memcpy(longname + 99, "\xc3\xa9\xc3\xa9", 4);
		longname[sizeof longname - 1] = '\0';
		signup_clean_name(longname, &b);
		CHECK(b.len == 99, "name: cut before a UTF-8 character that would not fit (%zu)", b.len);
	}
	buf_free(&b);

	/* tokens: confirm and form differ from unsubscribe */
	memset(s.keys[0].key, 0x33, SECRET_KEY_LEN);
	s.keys[0].created = now - 10;
	token_confirm_make(&s, "list.example.com", 12345, tok);
	CHECK(token_confirm_verify(&s, 0, now, "list.example.com", tok, &id) == 0 && id == 12345,
	    "confirm token verifies and names the subscriber");
	CHECK(token_unsub_verify(&s, 0, now, "list.example.com", tok, &id) < 0,
	    "a confirm token is no unsubscribe token");
	token_unsub_make(&s, "list.example.com", 12345, unsub);
	CHECK(token_confirm_verify(&s, 0, now, "list.example.com", unsub, &id) < 0,
	    "an unsubscribe token is no confirm token");
	CHECK(token_confirm_verify(&s, 0, now, "other.example.com", tok, &id) < 0,
	    "another list's confirm token is refused");
	tok[strlen(tok) - 1] ^= 1;
	CHECK(token_confirm_verify(&s, 0, now, "list.example.com", tok, &id) < 0,
	    "a changed confirm token is refused");
	token_form_make(&s, "list.example.com", now, tok);
	CHECK(token_form_verify(&s, 0, now, "list.example.com", tok, &id) == 0 && id == now,
	    "form token carries its time");
	CHECK(token_confirm_verify(&s, 0, now, "list.example.com", tok, &id) < 0,
	    "a form token is no confirm token");
	return check_exit();
}
