/* smtp - one SMTP session with libesmtp: a claimed batch over one connection.
 *
 * Every message of the batch is added to one libesmtp session (one
 * recipient each, the VERP envelope sender, DSN RET=HDRS ENVID=<delivery
 * id> and NOTIFY=FAILURE); smtp_start_session() then sends them all over one
 * connection, pipelined where the server offers it. The message callback
 * hands libesmtp each rendered message as one whole buffer. Each message's
 * end (its stage and reply) is reported to the caller's callback as soon as
 * it is known: a refused MAIL or RCPT from the event callback, an accepted
 * or refused DATA as the message completes, and whatever the session never
 * reached afterwards. What a reply means is smtp_policy's business.
 */
#ifndef BROADSIDE_SMTP_H
#define BROADSIDE_SMTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "diag.h"
#include "relay.h"
#include "smtp_policy.h"

struct smtp_msg {
	int64_t		 delivery_id;
	const char	*from;		/* envelope sender (the VERP address) */
	const char	*rcpt;
	const char	*data;		/* CRLF lines, not dot-stuffed */
	size_t		 len;
	/* Filled by the session: */
	int		 done;
	struct smtp_outcome outcome;
	char		 text[256];	/* reply text, or what went wrong */
	/* Private: */
	void		*priv_msg, *priv_rcpt, *priv_ctx;
	int		 handed, rated;
};

struct smtp_job {
	struct relay	*relay;
	const struct smtp_timeouts *timeouts;	/* seconds per phase */
	struct smtp_msg	*msgs;
	size_t		 n;
	/* Called once per message, from the sending thread. */
	void		(*done)(struct smtp_msg *m, void *arg);
	/* When set, the session ends after the message in progress (those
	 * not begun end with no reply); may be NULL. */
	const atomic_int *stop;
	/* Called before a message's data is sent (rate limiting); may block. */
	void		(*before_data)(void *arg);
	void		*arg;
};

/* Runs the session; every message is reported through job->done. Returns
 * 0 when the session went through, -1 when it failed as a whole (reason in
 * err: connect, greeting, TLS, AUTH, a dropped connection). */
int	smtp_send(struct smtp_job *job, char *err, size_t errsz);

/* Reads what the relays' settings name outside the config and makes the
 * TLS contexts their sessions use (again on each call, for a reload):
 * each ca_file must hold PEM certificates (EX_CONFIG otherwise). */
int	smtp_check_config(const struct config *cfg, diag *d);

/* Once per process before any session (SASL client setup). */
void	smtp_global_init(void);

#endif
