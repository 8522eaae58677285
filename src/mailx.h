/*
 * mailx.h: the mail/mailx front end (SPEC §2.1).
 *
 * Called as "mail" or "mailx" (smartd, OpenZFS zed, apticron and
 * unattended-upgrades run "mail -s SUBJECT ADDRESS" on images that have
 * no mail user agent), mxsend takes mailx's options, writes the header
 * section of a message (To:, Cc:, Subject:, the -a fields) for intake to
 * take before the body it reads from stdin, and then delivers the result
 * exactly as -bm delivers: the same spool, queue entry, envelope and exit
 * status. The -b addresses are envelope recipients only. Once the body is
 * spooled, mailx_finish() adds the MIME fields a non-ASCII body needs and
 * says whether -E leaves anything to send.
 */
#ifndef MXSEND_MAILX_H
#define MXSEND_MAILX_H

#include <stddef.h>

#include "message.h"
#include "options.h"
#include "util.h"

struct mailx {
	struct buf	 header;	/* the fields, then the empty line:
					   intake's prefix */
	int		 header_8bit;	/* header holds octets >= 0x80 */
	int		 skip_empty;	/* -E */
	char		**rcpts;	/* to, -c, -b: opts->rcpts */
	size_t		 nrcpts;
	char		*fullname;	/* the display name of -r, or NULL */
};

/* Whether argv0's base name is "mail" or "mailx" (SPEC §1). */
int	 mailx_name(const char *argv0);

/*
 * Parse "mail [-E] [-s SUBJECT] [-r FROM] [-c CC] [-b BCC]
 * [-a 'Header: value']... ADDRESS..." into mx and into opts, which it
 * fills as -bm's command line would be: mode -bm, the addresses of the
 * arguments, -c and -b as recipients, -r as the sender (its display name
 * as -F), reading to the end of the input (-i). Strings in opts point
 * into argv and mx. Returns 0, or -1 with a one-line reason in err (a
 * usage error). mailx_free() must be called in either case.
 */
int	 mailx_parse(struct mailx *mx, struct options *opts, int argc,
	    char *const argv[], char *err, size_t errlen);

enum mailx_body {
	MAILX_SEND,		/* deliver msg */
	MAILX_EMPTY,		/* -E and an empty body: nothing to send */
	MAILX_READ_ERROR	/* the spool could not be read (err) */
};

/*
 * After intake spooled mx's header and the body: with -E, an empty body
 * sends nothing; a body that is not ASCII gets MIME-Version: 1.0,
 * Content-Type: text/plain; charset=UTF-8 and Content-Transfer-Encoding:
 * 8bit, each unless an -a field gave it (as header edits of msg).
 */
enum mailx_body mailx_finish(const struct mailx *mx, struct message *msg,
	    char *err, size_t errlen);

void	 mailx_free(struct mailx *mx);

#endif
