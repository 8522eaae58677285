/*
 * intake.h: stdin to spool file (SPEC §5.1-5.3).
 *
 * Reads the whole input into the spool file in fixed-size chunks (memory
 * does not depend on the message size), and on the way:
 *  - ends the input at a line holding a single "." unless ignore_dots;
 *  - turns bare CR, bare LF and CRLF into CRLF;
 *  - drops a leading mbox "From " line, as sendmail and Postfix do;
 *  - folds header lines longer than 998 octets (CRLF + SP, at white space
 *    when there is some) and breaks body lines longer than 998 octets;
 *  - notes NUL bytes (the input is still read completely and spooled, so
 *    that the refused message can be kept) and 8-bit bytes;
 *  - indexes the header section: it is the leading run of header fields
 *    and their continuation lines, ended by an empty line or by the first
 *    line that is neither; the values of fields needed later (address
 *    fields, From, Sender, Date, Message-ID, Resent-*) are kept in memory,
 *    at most INTAKE_HEADER_MAX octets in all.
 */
#ifndef MXSEND_INTAKE_H
#define MXSEND_INTAKE_H

#include <stddef.h>
#include <sys/types.h>

#include "message.h"

#define INTAKE_HEADER_MAX	(16 * 1024 * 1024)

enum intake_status {
	INTAKE_OK,
	INTAKE_NUL,		/* a NUL byte: refused, the message kept */
	INTAKE_HEADER_TOO_BIG,	/* kept header values over the limit */
	INTAKE_READ_ERROR,	/* reading the input failed */
	INTAKE_WRITE_ERROR,	/* writing the spool failed (ENOSPC, ...) */
	INTAKE_TOO_LARGE,	/* over the size limit: refused, not kept */
	INTAKE_CORRUPT		/* intake_index(): not a spool intake wrote */
};

/*
 * Called when writing the spool file fails (errno set): return a new
 * spool file holding the first len octets of oldfd, to go on with, or -1
 * (err says why) to give up. This is how a full queue_dir hands the
 * message on to the next queue of SPEC §7 while stdin, which cannot be
 * read twice, is half consumed.
 */
typedef int (*intake_respool_fn)(void *ctx, int oldfd, off_t len, char *err,
	    size_t errlen);

struct intake_opts {
	int			 ignore_dots;	/* -i */
	/*
	 * Octets taken as if read before infd (the mailx front end's
	 * header section, then the empty line that ends it): normalised
	 * and indexed like the rest, counted in size_limit.
	 */
	const char		*prefix;
	size_t			 prefix_len;
	off_t			 size_limit;	/* 0: none */
	intake_respool_fn	 respool;	/* NULL: no next spool */
	void			*ctx;
};

/*
 * Read infd to its end (or the lone dot) into msg->fd, which msg_init()
 * set to an empty file open for reading and writing. Fills msg. On any
 * status other than INTAKE_OK, err holds a one-line reason.
 */
enum intake_status intake_read(int infd, struct message *msg,
	    int ignore_dots, char *err, size_t errlen);
enum intake_status intake_read_opts(int infd, struct message *msg,
	    const struct intake_opts *, char *err, size_t errlen);

/*
 * Index msg->fd, a spool that intake_read() wrote (a queue entry's
 * message), in place: nothing is written or copied, and the intake
 * limits do not apply (what intake accepted, a queue run must deliver;
 * only bounds four times theirs, which intake cannot have written,
 * remain). Content intake could not have written (a NUL byte, a bare CR
 * or LF, a line over 998 octets, a missing final CRLF) is
 * INTAKE_CORRUPT, found at the first such octet, so that a sparse file
 * of gigabytes is refused at once; a failed read is INTAKE_READ_ERROR.
 */
enum intake_status intake_index(struct message *msg, char *err,
	    size_t errlen);

#endif
