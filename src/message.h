/*
 * message.h: the spooled message and the header edits applied while it is
 * streamed out (SPEC §5.4, ARCHITECTURE "The flow").
 *
 * The spool file holds the message exactly as intake.c normalised it: CRLF
 * line endings, no line over 998 octets, no dot-stuffing. The header
 * section is indexed in memory (struct hfield); edits are recorded beside
 * it and applied by msg_stream(), so that one spool file serves any number
 * of SMTP sessions without being copied or rewritten:
 *   1. the prepended fields (Received:), in the order added, first;
 *   2. the original header fields, except those marked dropped (Bcc:);
 *   3. the appended fields (From:, Date:, Message-ID: when missing);
 *   4. an empty line, when the input had none between header and body
 *      (input that starts with a non-header line is all body);
 *   5. the body, unchanged.
 */
#ifndef MXSEND_MESSAGE_H
#define MXSEND_MESSAGE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "util.h"

struct hfield {
	off_t	 off;		/* offset of the field's first byte in the spool */
	size_t	 len;		/* bytes, continuation lines and final CRLF included */
	char	*name;		/* field name as written, without the colon */
	char	*value;		/* raw value after the colon, folding kept, final
				   CRLF removed; NULL when not kept in memory */
	int	 drop;		/* not transmitted */
	char	*rewrite;	/* sent instead of the spool's bytes (whole
				   field, CRLF included), or NULL */
	size_t	 rewrite_len;
	char	*relay_rewrite;	/* the same on the relay route (MSG_RELAY) */
	size_t	 relay_rewrite_len;
};

struct message {
	int		 fd;		/* spool file, readable with pread() */
	off_t		 size;		/* bytes in the spool */
	off_t		 hdr_end;	/* end of the last header field */
	off_t		 body_off;	/* first body byte (after the empty line) */
	int		 has_sep;	/* an empty line ended the header section */
	struct hfield	*fields;
	size_t		 nfields;
	size_t		 nreceived;	/* Received: fields in the input */
	int		 eightbit;	/* a byte >= 0x80 anywhere */
	int		 has_nul;	/* a NUL byte (the message is refused) */
	size_t		 nfolded;	/* header lines folded (over 998) */
	size_t		 nbroken;	/* body lines broken (over 998) */
	struct buf	 prepend;	/* CRLF-terminated fields */
	struct buf	 append;	/* CRLF-terminated fields */
	struct buf	 append_relay;	/* append, on the relay route */
	int		 relay_append;	/* append_relay is set */
};

void	 msg_init(struct message *, int fd);
void	 msg_free(struct message *);	/* does not close fd */

/*
 * Find the next field named name (case-insensitive) starting at *iter
 * (set *iter = 0 first); NULL when there are no more. Only the fields of
 * the input are searched, dropped ones included (-t reads Bcc:).
 */
const struct hfield *msg_find(const struct message *, const char *name,
	    size_t *iter);
int	 msg_has(const struct message *, const char *name);

/* Mark every field with this name dropped; returns how many. */
size_t	 msg_drop(struct message *, const char *name);

/*
 * Add "Name: value" to the prepended or appended fields. The value may
 * be long: it is folded at white space before 78 octets where possible and
 * never exceeds 998 octets a line. CR and LF in value are replaced by
 * spaces (never a header injection).
 */
void	 msg_prepend(struct message *, const char *name, const char *value);
void	 msg_append(struct message *, const char *name, const char *value);

/* "Name: value" folded as msg_append() folds it, appended to out. */
void	 msg_field(struct buf *out, const char *name, const char *value);

/*
 * The UTF-8 text s as RFC 2047 encoded words ("=?UTF-8?B?...?="),
 * separated by spaces, each at most 64 octets and never splitting a
 * character, appended to out.
 */
void	 msg_encoded_words(struct buf *out, const char *s);

/*
 * "addr", or "name <addr>" with name as a quoted string, or as encoded
 * words when it is not ASCII (caller frees).
 */
char	*msg_mailbox_text(const char *name, const char *addr);

/* What msg_complete() needs to know about the submission. */
struct msg_submit {
	const char	*sender;	/* envelope sender, "" for <> */
	const char	*fullname;	/* -F, or NULL */
	const char	*queue_id;	/* also in Received: */
	const char	*domain;	/* default_domain: Received:, Message-ID: */
	const char	*login;		/* submitting user, for Received: */
	uid_t		 uid;
	const char	*for_rcpt;	/* the one recipient, or NULL when several */
	time_t		 now;
};

/*
 * Apply SPEC §5.4: drop Bcc: and Resent-Bcc:, append From: (from the
 * sender and full name), Date: and Message-ID: when missing, prepend a
 * Received: field for the local submission.
 */
void	 msg_complete(struct message *, const struct msg_submit *);

/*
 * SPEC §5.4: give every address without a domain in From:, Sender:,
 * Reply-To:, To:, Cc: and their Resent- forms "@domain" in what is
 * transmitted ("From: root (Cron Daemon)" goes out as "From:
 * root@domain (Cron Daemon)"); display names, comments and groups are
 * kept as written. The spool is not changed: the rewritten fields are
 * held beside it (hfield.rewrite), so that a queue run does the same from
 * the same spool. Returns the number of fields rewritten, or -1 when the
 * spool could not be read.
 */
int	 msg_qualify(struct message *, const char *domain);

/*
 * SPEC §4 relay_from: on the relay route (MSG_RELAY) the address of
 * From: is addr, its display name kept ("Cron Daemon <cron@example.com>"),
 * whether From: was in the input or generated by msg_complete(). Other
 * routes and the spool are unchanged. Returns 0, or -1 when the spool
 * could not be read.
 */
int	 msg_relay_from(struct message *, const char *addr);

/* RFC 5322 date-time of t, local time ("Tue, 01 Dec 2026 22:26:10 +0000") */
void	 msg_date(time_t t, char *out, size_t outlen);

typedef int (*msg_writer)(void *ctx, const char *p, size_t n);

#define MSG_HEADERS_ONLY	0x01
#define MSG_RELAY		0x02	/* the relay route's variant */

/*
 * Stream the message with the edits applied, in chunks, to w. Memory use
 * does not depend on the message size. Returns 0, -1 when reading the
 * spool failed (errno set), or what w returned when it was not 0.
 */
int	 msg_stream(const struct message *, int flags, msg_writer w,
	    void *ctx);

/* The number of octets msg_stream() produces (for SIZE=). */
off_t	 msg_stream_size(const struct message *, int flags);

#endif
