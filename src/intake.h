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

#include "message.h"

#define INTAKE_HEADER_MAX	(16 * 1024 * 1024)

enum intake_status {
	INTAKE_OK,
	INTAKE_NUL,		/* a NUL byte: refuse with 65, keep the message */
	INTAKE_HEADER_TOO_BIG,	/* kept header values over the limit: 65 */
	INTAKE_READ_ERROR,	/* reading the input failed: 74 */
	INTAKE_WRITE_ERROR	/* writing the spool failed: 73 (ENOSPC, EDQUOT...) */
};

/*
 * Read infd to its end (or the lone dot) into msg->fd, which msg_init()
 * set to an empty file open for reading and writing. Fills msg. On any
 * status other than INTAKE_OK, err holds a one-line reason.
 */
enum intake_status intake_read(int infd, struct message *msg,
	    int ignore_dots, char *err, size_t errlen);

#endif
