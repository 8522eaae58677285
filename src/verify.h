/*
 * verify.h: -bv (SPEC §2): for every final recipient, after alias
 * expansion, the route a delivery would take, printed one line per
 * address; nothing is delivered. Probing the MX with MAIL/RCPT under -v
 * comes with the SMTP engine.
 */
#ifndef MXSEND_VERIFY_H
#define MXSEND_VERIFY_H

#include <stdio.h>

#include "config.h"
#include "envelope.h"

/*
 * Resolve the route of each domain in env (the MX route through DNS only
 * when route includes mx) and print the lines on out. Recipients that
 * cannot be delivered become RCPT_FAILED (fail, dsn, reason set) and those
 * that cannot be delivered now RCPT_DEFERRED, so that main.c derives the
 * exit status from them. Returns 0, or -1 with err when the resolver
 * could not be set up at all.
 */
int	 verify_run(const struct config *, struct envelope *, FILE *out,
	    char *err, size_t errlen);

#endif
