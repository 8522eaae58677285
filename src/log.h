/*
 * log.h: the mail log (SPEC §4 `log`, §6 "Outcome per recipient") and the
 * SMTP transcript (-v and the `transcript` setting).
 *
 * Log lines follow Postfix's format so that existing log tools
 * (pflogsumm, fail2ban filters, grep habits) read them (SPEC §6): per
 * message the lines of Postfix's pickup and qmgr, per recipient smtp's
 *
 *	mxsend/pickup[PID]: QUEUEID: uid=1000 from=<s@example.com>
 *	mxsend/qmgr[PID]: QUEUEID: from=<s@example.com>, size=1234,
 *	    nrcpt=1 (queue active)
 *	mxsend/smtp[PID]: QUEUEID: to=<a@example.com>,
 *	    relay=mx1.example.com[192.0.2.1]:25, delay=0.42,
 *	    delays=0.01/0/0.2/0.21, dsn=2.0.0, status=sent (250 ...),
 *	    tls=TLSv1.3 with cipher TLS_AES_256_GCM_SHA384
 *	mxsend/qmgr[PID]: QUEUEID: removed
 *
 * sent to syslog (facility mail, ident "mxsend/SERVICE", with the PID),
 * to stderr as "mxsend/SERVICE[PID]: ...", appended to a file with
 * syslog's time stamp and host name, or nowhere. Every line is one
 * write, so lines from parallel workers never interleave.
 */
#ifndef MXSEND_LOG_H
#define MXSEND_LOG_H

#include <stddef.h>

#include "config.h"
#include "envelope.h"

struct log;

/*
 * Open the log that cfg->log names. A log file is appended to (created
 * with mode 0600) only when it is a regular file, not reached through a
 * symbolic link, and, for root, owned by root (SPEC §10). One that cannot
 * be opened or is refused is not fatal (mail matters more than its log):
 * the lines go to stderr and warn names the file and says why. Never
 * returns NULL.
 */
struct log	*log_open(const struct config *, char *warn, size_t warnlen);
void		 log_close(struct log *);

/*
 * -v: the lines of a message's story (pickup, qmgr, smtp, bounce,
 * removed) go to stderr too.
 */
void		 log_echo(struct log *, int on);

/*
 * With `log syslog`: 0 when syslog's socket (/dev/log) is there, else -1
 * with warn saying that the lines are lost (containers have none).
 */
int		 log_syslog_check(char *warn, size_t warnlen);

/* The services of Postfix whose names the lines carry. */
enum log_service {
	LOGS_SENDMAIL,		/* what the command itself has to say */
	LOGS_PICKUP,
	LOGS_QMGR,
	LOGS_SMTP,
	LOGS_BOUNCE
};

/* A free-form line as mxsend/sendmail, or as svc. */
void		 log_printf(struct log *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
void		 log_service(struct log *, enum log_service svc,
		    const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));

/* pickup: "QUEUEID: uid=UID from=<sender>", a local user submitted. */
void		 log_pickup(struct log *, const char *qid, unsigned long uid,
		    const char *sender);

/* qmgr: "QUEUEID: from=<sender>, size=N, nrcpt=M (queue active)" */
void		 log_message(struct log *, const char *qid, const char *sender,
		    long long size, size_t nrcpt);

/* smtp: the line for one recipient with its final state of this run. */
void		 log_rcpt(struct log *, const char *qid, const struct rcpt *);

/* bounce: "QUEUEID: sender non-delivery notification: BOUNCEID" */
void		 log_bounce(struct log *, const char *qid,
		    const char *bounce_qid);

/* qmgr: "QUEUEID: removed", the entry left the queue. */
void		 log_removed(struct log *, const char *qid);

/*
 * The transcript: with verbose, every line to stderr; with path, also
 * appended to that file under the log file's rules (mode 0600; warn when
 * it is refused). NULL when there is neither. Every line is shown with
 * control characters replaced (text_printable()), whichever its side.
 */
struct transcript;

struct transcript *transcript_open(const char *path, int verbose,
		    char *warn, size_t warnlen);
void		 transcript_close(struct transcript *);

/* One session's view of it: lines are labelled with the server. */
struct transcript_session {
	struct transcript *t;
	char		 label[320];	/* "mx1.example.com[192.0.2.1]:25" */
};

/*
 * An smtp_transcript_fn; ctx is a struct transcript_session. dir is '>'
 * for a line sent, '<' for one received, '!' for a note about the
 * session (shown "***").
 */
void		 transcript_line(void *ctx, int dir, const char *line,
		    size_t len);

#endif
