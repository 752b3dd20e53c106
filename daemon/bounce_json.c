/* bounce_json - a parsed report as one line of JSON (buf_json_string: valid UTF-8). */
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
 * JSON
 */

void
bounce_report_json(const struct bounce_report *r, const char *file, buf *out)
{
	buf_putc(out, '{');
	if (file) {
		buf_puts(out, "\"file\":");
		buf_json_string(out, file);
		buf_putc(out, ',');
	}
	buf_puts(out, "\"format\":");
	buf_json_string(out, bounce_format_name(r->format));
	buf_puts(out, ",\"from\":");
	buf_json_string(out, r->from);
	buf_puts(out, ",\"subject\":");
	buf_json_string(out, r->subject);
	buf_puts(out, ",\"message_id\":");
	buf_json_string(out, r->message_id);
	buf_puts(out, ",\"envelope\":[");
	for (size_t i = 0; i < r->nenvelope; i++) {
		if (i)
			buf_putc(out, ',');
		buf_json_string(out, r->envelope[i]);
	}
	buf_puts(out, "]");
	if (r->unsub_token[0]) {
		buf_puts(out, ",\"unsubscribe\":");
		buf_json_string(out, r->unsub_address);
	}
	buf_puts(out, ",\"verdicts\":[");
	for (size_t i = 0; i < r->n; i++) {
		const struct bounce_verdict *v = &r->v[i];
		if (i)
			buf_putc(out, ',');
		buf_puts(out, "{\"kind\":");
		buf_json_string(out, bounce_kind_name(v->kind));
		buf_puts(out, ",\"recipient\":");
		buf_json_string(out, v->recipient);
		buf_puts(out, ",\"status\":");
		buf_json_string(out, v->status);
		buf_puts(out, ",\"reply\":");
		buf_json_string(out, v->reply);
		buf_puts(out, ",\"reason\":");
		buf_json_string(out, v->reason);
		buf_puts(out, ",\"action\":");
		buf_json_string(out, v->action);
		if (v->feedback[0]) {
			buf_puts(out, ",\"feedback\":");
			buf_json_string(out, v->feedback);
		}
		buf_puts(out, ",\"diagnostic\":");
		buf_json_string(out, v->diagnostic);
		buf_putc(out, '}');
	}
	buf_puts(out, "]}");
}
