/*
 * reply.h: SMTP reply parsing (RFC 5321 §4.2, enhanced status codes of
 * RFC 2034 / RFC 3463) and EHLO capability parsing (RFC 5321 §4.1.1.1).
 * Pure functions over lines that net.c has already split; fuzzed
 * (tests/fuzz/fuzz_reply.c).
 */
#ifndef MXSEND_REPLY_H
#define MXSEND_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define REPLY_MAX	65536	/* a longer reply ends the session */

struct reply {
	int		 code;		/* 200..599 */
	char		 enh[16];	/* "5.1.1", or "" when absent */
	struct buf	 text;		/* the lines' text, joined by '\n',
					   without codes (enhanced code kept) */
	size_t		 nlines;
	size_t		 size;		/* octets received for this reply */
};

enum reply_status {
	REPLY_MORE,		/* a continuation line: feed the next one */
	REPLY_DONE,		/* the last line arrived */
	REPLY_BAD		/* malformed, inconsistent or too large */
};

void	 reply_init(struct reply *);
void	 reply_free(struct reply *);
void	 reply_reset(struct reply *);

/*
 * Feed one line (without CRLF). A line is "NNN-text" (more follow),
 * "NNN text" or "NNN" (the last); every line of a reply must carry the
 * same code. On REPLY_BAD, err says why ("malformed reply line '...'",
 * "reply code changed from 250 to 251", "reply larger than 64 KiB").
 */
enum reply_status reply_feed(struct reply *, const char *line, size_t len,
	    char *err, size_t errlen);

/* The reply as one line for messages and logs: "550 5.1.1 No such user". */
void	 reply_summary(const struct reply *, char *out, size_t outlen);

/* EHLO extensions (RFC 5321 §4.1.1.1; AUTH also in the old "AUTH=" form). */
#define EXT_PIPELINING		0x0001
#define EXT_CHUNKING		0x0002
#define EXT_SIZE		0x0004
#define EXT_8BITMIME		0x0008
#define EXT_SMTPUTF8		0x0010
#define EXT_DSN			0x0020
#define EXT_ENHANCEDSTATUSCODES	0x0040
#define EXT_STARTTLS		0x0080
#define EXT_AUTH		0x0100

#define AUTHM_SCRAM_SHA_256	0x01
#define AUTHM_PLAIN		0x02
#define AUTHM_LOGIN		0x04
#define AUTHM_CRAM_MD5		0x08
#define AUTHM_XOAUTH2		0x10
#define AUTHM_OAUTHBEARER	0x20

struct ehlo_caps {
	unsigned	 ext;		/* EXT_* */
	uint64_t	 size;		/* SIZE limit; 0 = none given */
	unsigned	 auth;		/* AUTHM_* offered */
};

/* Parse the text of a 250 EHLO reply (first line is the greeting). */
void	 ehlo_parse(const struct reply *, struct ehlo_caps *);

#endif
