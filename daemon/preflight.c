/* preflight - what a config names outside itself, checked (preflight.h). */
#include "preflight.h"

#include <string.h>

#include "dkim.h"
#include "issues.h"
#include "render.h"
#include "secret.h"
#include "smtp.h"

int
preflight_check(const struct config *cfg, diag *d)
{
	struct secret sec;
	struct issue is;
	struct render *r = NULL;
	struct dkim *dk = NULL;
	char subject[] = "preflight", source[] = "Preflight.", empty[] = "";

	if (dkim_load(cfg, &dk, d) < 0)
		return -1;
	dkim_free(dk);
	/* The templates and the list's addresses, as an issue would use them;
	 * no key is needed to compile, only to fill. */
	memset(&sec, 0, sizeof sec);
	memset(&is, 0, sizeof is);
	is.subject = subject;
	is.preheader = empty;
	is.source = source;
	is.audience = AUD_ALL;
	is.status = ISSUE_DRAFT;
	if (render_compile(cfg, &sec, &is, &r, d) < 0)
		return -1;
	render_free(r);
	return smtp_check_config(cfg, d);
}
