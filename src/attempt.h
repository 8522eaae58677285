/*
 * attempt.h: one delivery attempt of one message, whether fresh from
 * stdin (-bm, -odb) or from the queue (-q): deliver the pending
 * recipients, log and report each outcome, schedule the deferred ones,
 * report permanent failures to the sender (a DSN with -oem / bounce on,
 * else dead.letter), and leave the queue entry in its new state (removed
 * when every recipient is final, else flushed to disk) — SPEC §3, §6-§8.
 */
#ifndef MXSEND_ATTEMPT_H
#define MXSEND_ATTEMPT_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "envelope.h"
#include "message.h"
#include "options.h"
#include "queue.h"

struct attempt {
	const struct config	*cfg;
	const struct options	*opts;
	struct envelope		*env;
	struct message		*msg;
	struct qmeta		*meta;
	struct qentry		*entry;	/* NULL: no queue could be written */
	const char		*hostname;	/* reporting MTA */
	const char		*helo;		/* NULL: "[address]" */
	struct timespec		 arrival;	/* CLOCK_MONOTONIC */
	int			 report;	/* stderr lines (not for -odb) */
};

/* Where the message ended up, for main.c's exit status. */
enum attempt_kept {
	KEPT_NONE,		/* nothing needed keeping */
	KEPT_QUEUE,		/* deferred: the entry is flushed to disk */
	KEPT_DEADLETTER,	/* no queue: appended to dead.letter (73) */
	KEPT_LOST		/* could not be saved anywhere (74) */
};

struct attempt_result {
	size_t			 ndelivered, ndeferred, nfailed;
	int			 bounced;	/* failures went to the sender
						   in a DSN delivered or queued */
	enum attempt_kept	 kept;
};

void	 attempt_run(struct attempt *, struct attempt_result *);

/*
 * Append msg to owner's dead.letter (as that user when root keeps
 * another user's message), saying on stderr why and where: returns
 * KEPT_DEADLETTER, or KEPT_LOST when it could not be saved.
 */
enum attempt_kept attempt_keep(const struct message *, const char *sender,
	    const char *why, uid_t owner);

/*
 * Turn the deferred recipients of an entry older than queue_lifetime into
 * permanent failures (5.4.7). Returns how many.
 */
size_t	 attempt_expire(const struct config *, struct envelope *,
	    const struct qmeta *, time_t now);

/*
 * -q: every entry of the queues this user may run (SPEC §7), due ones
 * only unless opts selects by id, recipient or sender (-qI/-qR/-qS).
 * Returns the number of entries attempted; errors go to stderr.
 */
size_t	 attempt_queue_run(const struct config *, const struct options *,
	    const char *hostname, const char *helo);

/* The queue directories this user sees (for -bp and -q; caller frees). */
char	**attempt_queue_dirs(const struct config *, size_t *n);

#endif
