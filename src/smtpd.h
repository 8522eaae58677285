/*
 * smtpd.h: mxsend -bs, an RFC 5321 server subset on stdin/stdout (SPEC
 * §2), as PHP frameworks use sendmail (Symfony's "sendmail -bs",
 * Laravel's "sendmail -bs -i").
 *
 * EHLO/HELO (advertising PIPELINING, SIZE, 8BITMIME and
 * ENHANCEDSTATUSCODES), MAIL, RCPT, DATA, RSET, NOOP, QUIT, VRFY (252)
 * and HELP; pipelined commands are answered in order and the replies
 * written when the input would block (RFC 2920 §3.2). MAIL and RCPT are
 * checked as -bm checks -f and its arguments (envelope.c: syntax, RFC
 * 5321 §4.5.3.1 limits, aliases), so a refused recipient is refused at
 * RCPT. Each message goes, dot-unstuffed, to the caller's deliver
 * function, which hands it on exactly as -bm would; the reply to its
 * final dot says what became of it.
 */
#ifndef MXSEND_SMTPD_H
#define MXSEND_SMTPD_H

#include <stddef.h>
#include <stdint.h>

#include "aliases.h"
#include "config.h"
#include "envelope.h"
#include "names.h"
#include "options.h"
#include "status.h"
#include "util.h"

#define SMTPD_LINE_MAX	1000	/* a command line with its CRLF; longer
				   ones get 500 (RFC 5321 §4.5.3.1.6) */
#define SMTPD_PATH_MAX	256	/* a path with its brackets (§4.5.3.1.3) */
#define SMTPD_RCPT_MAX	1000	/* RCPTs per transaction, as Postfix's
				   smtpd_recipient_limit; more get 452 */
#define SMTPD_TEXT_MAX	4096	/* the text of one reply, all its lines */

enum smtpd_verb {
	SMTPD_NONE,
	SMTPD_EHLO,
	SMTPD_HELO,
	SMTPD_MAIL,
	SMTPD_RCPT,
	SMTPD_DATA,
	SMTPD_RSET,
	SMTPD_NOOP,
	SMTPD_QUIT,
	SMTPD_VRFY,
	SMTPD_HELP
};

/* A reply: the code, and text whose lines ('\n' apart) share it. */
struct smtpd_reply {
	int		 code;
	char		 text[SMTPD_TEXT_MAX];	/* "5.5.2 Error: ..." */
};

struct smtpd_cmd {
	enum smtpd_verb	 verb;
	/*
	 * MAIL, RCPT: the mailbox, without brackets or source route
	 * (RFC 5321 §4.1.2, appendix C); "" for <>. ASCII only: no
	 * SMTPUTF8 is offered.
	 */
	char		 path[SMTPD_PATH_MAX];
	int		 has_size;	/* MAIL SIZE= (RFC 1870) */
	uint64_t	 size;		/* saturated at UINT64_MAX */
};

/*
 * One command line, without its line end. Returns 0 with cmd filled;
 * or -1 with the reply for it in rep (500 5.5.2 unknown or malformed
 * command, 502 5.5.1 one this server does not implement, 501 bad
 * arguments or address syntax, 553 5.6.7 a non-ASCII address, 555 5.5.4
 * an unknown MAIL or RCPT parameter); cmd->verb is then still set when
 * the verb was known (the order of commands is checked first). Pure: no
 * state, no I/O.
 */
int	 smtpd_parse(const char *line, size_t len, struct smtpd_cmd *cmd,
	    struct smtpd_reply *rep);

/* Why a message was refused before delivery (o.stop == STOP_DATA). */
enum smtpd_refusal {
	SMTPD_REFUSED_CONTENT,	/* a NUL byte, too many header fields */
	SMTPD_REFUSED_SIZE,	/* larger than message_size_limit */
	SMTPD_REFUSED_LOOP	/* too many Received: fields */
};

/* What became of one message: the deliver function fills it. */
struct smtpd_verdict {
	struct run_outcome	 o;	/* as -bm's (o.env: the recipients) */
	enum smtpd_refusal	 refusal;
	char			 qid[QUEUE_ID_LEN + 1];
	char			 why[512];	/* o.stop != STOP_NONE: why */
};

/*
 * The reply to a message's final dot (SPEC §2): 250 when every
 * recipient was delivered or safely queued (or some failed and were
 * bounced); when every one failed permanently, the servers' 5xx (one
 * line per failed recipient); 451 when the message could be neither
 * delivered nor queued; 552/554 when it was refused.
 */
void	 smtpd_eod_reply(const struct smtpd_verdict *, struct smtpd_reply *);

/*
 * Deliver the message in fd (the DATA, dot-unstuffed, from offset 0)
 * to env's sender and recipients, as -bm would; fill v.
 */
typedef void (*smtpd_deliver_fn)(void *ctx, struct envelope *env, int fd,
	    struct smtpd_verdict *v);

struct smtpd_params {
	const struct config	*cfg;	/* message_size_limit,
					   timeout_command */
	const struct options	*opts;	/* -N for the recipients */
	const struct aliases	*al;
	struct names		*names;	/* the greeting's name, the
					   default domain */
	int			 infd, outfd;
	smtpd_deliver_fn	 deliver;
	void			*ctx;
};

/*
 * Serve one session. Returns STOP_DONE after QUIT, or when the input
 * ended with no transaction open; STOP_IOERR when it ended within a
 * transaction (nothing of it was delivered), when the client was silent
 * for timeout_command (421 4.4.2), or when the replies could not be
 * written.
 */
enum run_stop smtpd_run(const struct smtpd_params *);

/* Refuse a session before it starts: "421 4.3.5 " and why, on fd. */
void	 smtpd_unavailable(int fd, const char *why);

#endif
