/*
 * log.h: the mail log (SPEC §4 `log`, §6 "Outcome per recipient") and the
 * SMTP transcript (-v and the `transcript` setting).
 *
 * Log lines follow Postfix's smtp(8) format so that existing log tools
 * (pflogsumm, fail2ban filters, grep habits) read them:
 *
 *	QUEUEID: to=<a@example.com>, relay=mx1.example.com[192.0.2.1]:25,
 *	    delay=0.42, delays=0.01/0/0.2/0.21, dsn=2.0.0, status=sent (250 ...)
 *
 * sent to syslog (facility mail, ident "mxsend", with the PID), to stderr
 * as "mxsend[PID]: ...", appended to a file with a syslog-style time
 * stamp, or nowhere. Every line is one write, so lines from parallel
 * workers never interleave.
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

/* Whether the lines of l go to stderr (configured, or a refused file). */
int		 log_to_stderr(const struct log *);

/* A log to stderr whatever the configuration (-v's per-recipient lines). */
struct log	*log_open_stderr(void);
void		 log_close(struct log *);

void		 log_printf(struct log *, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));

/* "QUEUEID: from=<sender>, size=N, nrcpt=M" */
void		 log_message(struct log *, const char *qid, const char *sender,
		    long long size, size_t nrcpt);

/* The line for one recipient with its final state of this run. */
void		 log_rcpt(struct log *, const char *qid, const struct rcpt *);

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
