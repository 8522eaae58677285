/*
 * deadletter.h: the last resort of SPEC §7 and §8: append the message, as
 * it would have been transmitted, to dead.letter in the user's home in mbox
 * format, so that a person finds it where mail(1) users have always looked.
 */
#ifndef MXSEND_DEADLETTER_H
#define MXSEND_DEADLETTER_H

#include <stddef.h>
#include <time.h>

#include "message.h"

/*
 * Append msg (edits applied, CRLF turned into LF, ">From " quoting) to
 * path, creating it with mode 0600, under an flock(2) so that concurrent
 * writers do not interleave. sender "" is written as MAILER-DAEMON.
 * Returns 0, or -1 with err (naming path and the cause); a failed append
 * leaves the file as it was.
 */
int	 deadletter_append(const char *path, const struct message *msg,
	    const char *sender, time_t now, char *err, size_t errlen);

/*
 * dead.letter in the real uid's home from the password database (never
 * $HOME, as home_dir() says why); 0, or -1 when there is none.
 */
int	 deadletter_path(char *out, size_t outlen);

#endif
