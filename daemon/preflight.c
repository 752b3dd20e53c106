/* preflight - what a config names outside itself, checked (preflight.h). */
#include "preflight.h"

#include <errno.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "dkim.h"
#include "issues.h"
#include "queue.h"
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
	/* The signup confirmation email (confirm.txt, confirm.html). */
	if (cfg->signup.enabled) {
		is.kind = ISSUE_KIND_CONFIRMATION;
		if (render_compile(cfg, &sec, &is, &r, d) < 0)
			return diag_prefix(d, "signup confirmation email: ");
		render_free(r);
	}
	/* The welcome email (welcome.txt, welcome.html). */
	if (cfg->welcome.enabled) {
		is.kind = ISSUE_KIND_WELCOME;
		if (render_compile(cfg, &sec, &is, &r, d) < 0)
			return diag_prefix(d, "welcome email: ");
		render_free(r);
	}
	return smtp_check_config(cfg, d);
}

int
preflight_key(const struct config *cfg, struct db *db, int create, int *made, diag *d)
{
	struct db *own = NULL;
	int used = 0, rc;

	*made = 0;
	if (access(cfg->key_file, F_OK) == 0 || errno != ENOENT)
		return secret_init(cfg->key_file, made, d);	/* checks it */
	if (db == NULL && access(cfg->database, F_OK) == 0) {
		if (db_open(cfg->database, DB_OPEN_EXISTING, &own, d) < 0)
			return -1;
		db = own;
	}
	rc = db ? queue_ever_used(db, &used, d) : 0;
	db_close(own);
	if (rc < 0)
		return -1;
	if (used)
		return diag_set(d, EX_NOINPUT, "%s: key file missing, and the database %s has "
		    "sent mail whose links it signed; restore the file from a backup, or fix "
		    "key_file (a new key would break every link already sent)", cfg->key_file,
		    cfg->database);
	return create ? secret_init(cfg->key_file, made, d) : 0;
}
