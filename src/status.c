/*
 * status.c: SPEC §3, the exit status table, as one function.
 *
 * Read top to bottom it is the table: a run that stopped early has that
 * stop's code; otherwise the recipients decide, a permanent failure over
 * a deferral over success, 68 over 67 over 69 among failures; a bounce
 * that reported the failures takes them out of the count; where the
 * message ended up can turn a deferral into 73 or anything into 74.
 */
#include "autoconf.h"

#include <stddef.h>
#include <sysexits.h>

#include "status.h"

static int
stop_code(enum run_stop stop)
{
	switch (stop) {
	case STOP_USAGE:	return EX_USAGE;
	case STOP_DATA:		return EX_DATAERR;
	case STOP_CONFIG:	return EX_CONFIG;
	case STOP_UNAVAILABLE:	return EX_UNAVAILABLE;
	case STOP_OSERR:	return EX_OSERR;
	case STOP_CANTCREAT:	return EX_CANTCREAT;
	case STOP_IOERR:	return EX_IOERR;
	default:		return EX_OK;
	}
}

/* The code of one permanently failed recipient (SPEC §3, second table). */
static int
failure_code(enum rcpt_fail fail)
{
	switch (fail) {
	case FAIL_IDNA:
	case FAIL_NOHOST:
		return EX_NOHOST;
	case FAIL_ALIAS_KIND:
	case FAIL_ALIAS_LOOP:
	case FAIL_UNAVAILABLE:
		return EX_UNAVAILABLE;
	default:
		return EX_NOUSER;
	}
}

/* Among permanent failures 68 wins over 67, and 67 over 69. */
static int
rank(int code)
{
	return code == EX_NOHOST ? 3 : code == EX_NOUSER ? 2 :
	    code == EX_UNAVAILABLE ? 1 : 0;
}

static int
recipients_code(const struct envelope *env, int bounced)
{
	int	 code = EX_OK, c, deferred = 0;
	size_t	 i;

	for (i = 0; env != NULL && i < env->nrcpts; i++) {
		if (env->rcpts[i].state == RCPT_DEFERRED)
			deferred = 1;
		if (env->rcpts[i].state != RCPT_FAILED || bounced)
			continue;
		c = failure_code(env->rcpts[i].fail);
		if (rank(c) > rank(code))
			code = c;
	}
	if (code != EX_OK)
		return code;
	return deferred ? EX_TEMPFAIL : EX_OK;
}

int
exit_status(const struct run_outcome *o)
{
	int	 code;

	if (o->stop != STOP_NONE)
		return stop_code(o->stop);
	if (o->kept == KEPT_LOST)
		return EX_IOERR;
	if (o->queued)
		return EX_OK;
	code = recipients_code(o->env, o->bounced);
	/* Deferred with no queue: kept in dead.letter (SPEC §7). */
	if (code == EX_TEMPFAIL && o->kept == KEPT_DEADLETTER)
		return EX_CANTCREAT;
	return code;
}
