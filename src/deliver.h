/*
 * deliver.h: one delivery attempt of one message to every pending
 * recipient (SPEC §6): recipients grouped by domain go through the routes
 * of the configuration in order; domains in parallel (up to max_parallel
 * threads, each with its own resolver and connections); recipients passed
 * to the relay from several domains share its connection and
 * transactions. When it returns, every recipient is delivered, failed or
 * deferred, with the reason, server and dsn that decided it.
 */
#ifndef MXSEND_DELIVER_H
#define MXSEND_DELIVER_H

#include <time.h>

#include "config.h"
#include "envelope.h"
#include "log.h"
#include "message.h"
#include "options.h"
#include "probes.h"

struct deliver_params {
	const struct config	*cfg;
	const struct options	*opts;
	struct envelope		*env;
	const struct message	*msg;
	const char		*helo;		/* NULL: "[address]" */
	struct timespec		 arrival;	/* CLOCK_MONOTONIC */
	struct transcript	*transcript;	/* NULL: none */
	/*
	 * -bv -v (SPEC §2): probe instead of delivering, counting the
	 * probes here (msg may then be NULL). The MX route asks each
	 * address with MAIL and RCPT (smtp_probe(), never DATA), as many
	 * as the counter allows before it connects; the relay route is
	 * resolved but not contacted (it accepts for anyone). A
	 * deliverable recipient's reason is "via HOST[IP]:PORT (mx)" or
	 * "(relay)". NULL: deliver.
	 */
	struct probe_counter	*probes;
};

/*
 * Deliver. Recipients not RCPT_PENDING are left alone; every other one
 * leaves delivered, failed or deferred. Nothing can stop the attempt as
 * a whole: a resolver that cannot be set up, or a thread that cannot be
 * had, is a deferral or a serial run.
 */
void	 deliver_routes(const struct deliver_params *);

#endif
