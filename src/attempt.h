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
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include "config.h"
#include "deliver.h"
#include "names.h"
#include "envelope.h"
#include "log.h"
#include "message.h"
#include "options.h"
#include "queue.h"
#include "status.h"

struct attempt {
	/* What delivery needs: configuration, envelope, message, ... */
	struct deliver_params	 d;
	struct qmeta		*meta;
	struct qentry		*entry;	/* NULL: no queue could be written */
	int			 from_queue;	/* loaded by -q: a failed
						   update leaves it as it was */
	struct log		*log;	/* opened once per process: root's -q
					   children inherit it */
	struct names		*names;	/* reporting MTA, EHLO name */
	int			 report;	/* stderr lines (not -odb) */
	int			 answered;	/* -bs: the client hears the
						   outcome at the final dot;
						   when no recipient got the
						   message, no bounce and no
						   dead.letter (SPEC §2) */
};

struct attempt_result {
	size_t			 ndelivered, ndeferred, nfailed;
	int			 bounced;	/* failures went to the
						   sender in a DSN that was
						   delivered or queued */
	enum run_kept		 kept;
};

void	 attempt_run(struct attempt *, struct attempt_result *);

/*
 * Append msg to the dead.letter of the user this process runs as (the
 * owner of the entry: root's -q handles a user's entries as that user),
 * saying on stderr why and where (unless quiet): returns
 * KEPT_DEADLETTER, or KEPT_LOST when it could not be saved.
 */
enum run_kept attempt_keep(const struct message *, const char *sender,
	    const char *why, int quiet);

/*
 * Turn the deferred recipients of an entry older than queue_lifetime into
 * permanent failures (5.4.7). Returns how many.
 */
size_t	 attempt_expire(const struct config *, struct envelope *,
	    const struct qmeta *, time_t now);

/*
 * -q: every entry of the queues this user may run (SPEC §7; root: every
 * user's, each as that user), due ones only unless opts selects by id,
 * recipient or sender (-qI/-qR/-qS). Returns the number of entries
 * attempted; what was refused or moved aside goes to stderr and the log.
 */
size_t	 attempt_queue_run(const struct config *, const struct options *,
	    struct names *, struct log *, struct transcript *);

/*
 * The header edits of what is sent that are made from the spool, at
 * submission and again by -q: unqualified addresses (SPEC §5.4) and the
 * relay route's From: (relay_from). The spool is never rewritten.
 */
void	 attempt_edits(struct message *, const struct config *,
	    struct names *);

/* -bp: list the queues this user may see (root: every user's). */
void	 attempt_queue_print(const struct config *, FILE *, struct log *);

#endif
