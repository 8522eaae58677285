/*
 * status.h: the exit status of a run (SPEC §3), computed in one place
 * from what happened. Nothing else in mxsend names a sysexits value.
 */
#ifndef MXSEND_STATUS_H
#define MXSEND_STATUS_H

#include "envelope.h"

/* Why a run ended before (or instead of) delivering anything. */
enum run_stop {
	STOP_NONE,		/* it went on to the recipients' outcomes */
	STOP_DONE,		/* a mode that succeeded (-bp, -bi, -q, ...) */
	STOP_USAGE,		/* bad command line, no recipients */
	STOP_DATA,		/* the message is unacceptable (NUL, loop,
				   size, header limits) */
	STOP_CONFIG,		/* configuration, aliases file */
	STOP_UNAVAILABLE,	/* a mode this version does not offer */
	STOP_OSERR,		/* the system refused (fork, memory) */
	STOP_CANTCREAT,		/* the message could not be spooled */
	STOP_IOERR		/* reading the input or writing the output */
};

/* Where a message that was not delivered ended up. */
enum run_kept {
	KEPT_NONE,		/* nothing needed keeping */
	KEPT_QUEUE,		/* deferred: in the queue, flushed */
	KEPT_DEADLETTER,	/* no queue: appended to dead.letter */
	KEPT_LOST		/* could not be saved anywhere */
};

struct run_outcome {
	enum run_stop		 stop;
	const struct envelope	*env;	/* each recipient's outcome */
	int			 queued;	/* -odb/-odq: safely queued,
						   no delivery waited for */
	int			 bounced;	/* the permanent failures
						   went to the sender in a
						   bounce that was delivered
						   or queued */
	enum run_kept		 kept;
};

/* SPEC §3's table: the one mapping of outcomes to sysexits codes. */
int	 exit_status(const struct run_outcome *);

#endif
