/* readerlink - a reader's own signed links. */
#include "readerlink.h"

#include "token.h"

void
readerlink(buf *out, enum reader_link kind, const char *base, const struct secret *sec,
    const char *list_id, int64_t issue_id, int64_t subscriber_id)
{
	char tok[TOKEN_MAX];

	switch (kind) {
	case LINK_TRIAL:
		token_trial_make(sec, list_id, subscriber_id, tok);
		buf_printf(out, "%s/trial/%s", base, tok);
		break;
	case LINK_FEED:
		token_feed_make(sec, list_id, subscriber_id, tok);
		buf_printf(out, "%s/feed/%s.xml", base, tok);
		break;
	case LINK_VIEW:
		token_view_make(sec, list_id, issue_id, subscriber_id, tok);
		buf_printf(out, "%s/i/%lld/%s", base, (long long)issue_id, tok);
		break;
	}
}
