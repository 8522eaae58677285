/*
 * dsn.h: the bounce message (SPEC §8): an RFC 3464 delivery status
 * notification in an RFC 6522 multipart/report, sent back to the envelope
 * sender for the recipients that failed permanently.
 *
 * The message is written as RFC 5322 text with CRLF line endings and no
 * line over 998 octets, ready to be read back through intake_read() (with
 * ignore_dots set: the returned message may hold a lone ".") and submitted
 * with the null sender, so that it can never cause a bounce itself:
 *   - header: From: MAILER-DAEMON@<reporting_mta>, To: the sender,
 *     Subject:, Date:, Message-ID:, Auto-Submitted: auto-replied
 *     (RFC 3834), MIME-Version: and the multipart/report Content-Type;
 *   - part 1, text/plain: the reasons, for a person to read;
 *   - part 2, message/delivery-status (RFC 3464 §2): the per-message
 *     fields, then per recipient Original-Recipient (RFC 3461 §4.2, when
 *     it differs), Final-Recipient, Action: failed, Status: (RFC 3463),
 *     Remote-MTA, Diagnostic-Code (smtp; the server's reply, else
 *     X-mxsend; the reason) and Last-Attempt-Date;
 *   - part 3, the returned message: its header section as
 *     text/rfc822-headers with RET=HDRS, else all of it as message/rfc822,
 *     streamed from the spool (memory does not depend on its size).
 * Values taken from the envelope or from servers are sanitised (no CR,
 * LF or other control characters) and folded; the delivery-status part
 * is US-ASCII, a non-ASCII address in it uses the "utf-8" address type
 * in its xtext form (RFC 6533 §3). 8-bit content is labelled 8bit
 * (RFC 2045 §6), which the submission sees through intake's eightbit.
 */
#ifndef MXSEND_DSN_H
#define MXSEND_DSN_H

#include <stddef.h>
#include <time.h>

#include "envelope.h"
#include "message.h"
#include "options.h"

struct dsn_report {
	const char	*reporting_mta;	/* this host's name */
	const char	*queue_id;
	time_t		 arrival;
	time_t		 now;
	const char	*envid;		/* original ENVID (decoded) or NULL */
	enum dsn_ret	 ret;		/* RET_HDRS: headers only; else full */
	const char	*sender;	/* the original envelope sender (the
					   bounce goes To: it) */
};

/*
 * Which failed recipients a bounce covers: RCPT_FAILED ones whose NOTIFY
 * allows it (unset, or FAILURE set; NEVER excludes). Sets include[i] to 1
 * or 0 for each of the env->nrcpts recipients and returns how many are 1.
 */
size_t	 dsn_select(const struct envelope *env, unsigned char *include);

/*
 * Write the bounce for the recipients marked in include[] to fd. Returns
 * 0, or -1 with a one-line reason in err: the null sender (never a bounce
 * of a bounce), no recipient marked, reading the spool of orig or writing
 * fd failed (part of the bounce may have been written).
 */
int	 dsn_write(int fd, const struct dsn_report *,
	    const struct envelope *env, const unsigned char *include,
	    const struct message *orig, char *err, size_t errlen);

#endif
