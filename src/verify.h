/*
 * verify.h: -bv (SPEC §2): for every final recipient, after alias
 * expansion, the route a delivery would take, printed one line per
 * address; nothing is delivered. With -v, the MX hosts are probed with
 * MAIL and RCPT (never DATA), at most PROBES_LIMIT probes per domain per
 * hour (probes.h).
 */
#ifndef MXSEND_VERIFY_H
#define MXSEND_VERIFY_H

#include <stdio.h>

#include "config.h"
#include "envelope.h"
#include "log.h"
#include "names.h"
#include "options.h"

struct verify_params {
	const struct config	*cfg;
	const struct options	*opts;		/* verbose: probe */
	struct names		*names;		/* the EHLO name of a probe */
	struct transcript	*transcript;	/* a probe's dialogue; NULL */
};

/*
 * Resolve the route of each domain in env (the MX route through DNS only
 * when route includes mx) and, with -v and an MX route, probe it (env's
 * sender is then the MAIL FROM); print the lines on out. Each recipient
 * ends RCPT_DELIVERED (deliverable), RCPT_FAILED (fail, dsn, reason set)
 * or RCPT_DEFERRED, so that main.c derives the exit status from them.
 * Returns 0, or -1 with err when the resolver could not be set up at
 * all.
 */
int	 verify_run(const struct verify_params *, struct envelope *, FILE *out,
	    char *err, size_t errlen);

#endif
