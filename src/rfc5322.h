/*
 * rfc5322.h: pure parsers for RFC 5322 header fields and address lists.
 * No I/O, no allocation failures reported (util.h's x* functions), safe on
 * any input (fuzzed: tests/fuzz/fuzz_address.c, fuzz_header.c).
 *
 * Addresses are returned in RFC 5321 form, ready for MAIL FROM / RCPT TO:
 * the local part as a dot-atom when it is one, otherwise as a minimal
 * quoted string; the domain as written (case kept; envelope.c lowers it
 * and converts it to A-labels). Comments and folding white space (CFWS)
 * are removed; obsolete forms (RFC 5322 §4.4: obs-local-part with CFWS
 * between words, obs-route "@a,@b:" source routes, obs-angle-addr, empty
 * list elements) are accepted and reduced to the plain address.
 */
#ifndef MXSEND_RFC5322_H
#define MXSEND_RFC5322_H

#include <stddef.h>

struct mailbox {
	char	*display;	/* display name, RFC 2047 decoded to UTF-8; NULL */
	char	*local;		/* local part, RFC 5321 form (quoted if needed) */
	char	*domain;	/* NULL when unqualified ("root") */
	char	*group;		/* name of the enclosing group; NULL */
	int	 utf8;		/* local part or domain holds non-ASCII bytes */
	/*
	 * Unqualified: the offset in the parsed text right after the local
	 * part, where "@domain" belongs ("root (Cron Daemon)": 4); else
	 * SIZE_MAX.
	 */
	size_t	 qualify_at;
};

struct addr_error {
	char	*text;		/* the offending element, trimmed (at most 200 bytes) */
	char	*reason;	/* why it was refused, e.g. "unbalanced quote" */
};

struct addrlist {
	struct mailbox	*v;
	size_t		 n;
	struct addr_error *errs;
	size_t		 nerrs;
	size_t		 ngroups;	/* groups seen, empty ones included */
};

void	 addrlist_init(struct addrlist *);
void	 addrlist_free(struct addrlist *);

/*
 * Parse an address-list (the value of To:, Cc:, Bcc:, From:, Resent-*:,
 * or a command-line argument): mailboxes, name-addrs, groups (an empty
 * group such as "undisclosed-recipients:;" yields no mailbox), separated
 * by commas. The value may be folded (CRLF or LF followed by WSP). A
 * malformed element is recorded in errs with a reason and parsing resumes
 * at the next top-level comma, so one bad address never hides the others.
 * Appends to out (which must have been initialised).
 */
void	 rfc5322_parse_address_list(const char *s, size_t len,
	    struct addrlist *out);

/*
 * Parse exactly one address for the envelope (-f, -r, an alias target):
 * "addr@dom", "<addr@dom>", "Name <addr@dom>", or a bare local part.
 * "" and "<>" are the null address: returns 0 with mb->local = "" and
 * mb->domain = NULL. Returns -1 with a reason in err when malformed,
 * when more than one address is given, or when it holds CR, LF or NUL.
 */
int	 rfc5322_parse_mailbox(const char *s, size_t len, struct mailbox *mb,
	    char *err, size_t errlen);

void	 mailbox_free(struct mailbox *);

/* "local@domain" (or "local" when unqualified); caller frees. */
char	*mailbox_addr(const struct mailbox *);

/*
 * Decode RFC 2047 encoded words ("=?charset?B|Q?...?=") in a display name
 * to UTF-8; adjacent encoded words separated only by white space are
 * joined. UTF-8, US-ASCII and ISO-8859-1 are converted; others, and
 * malformed words, are kept as written. CR and LF are taken as white
 * space and dropped; other control characters (decoded or not, NUL
 * included) become '?', so the result is one printable line. Returns a
 * new string.
 */
char	*rfc2047_decode(const char *s, size_t len);

/*
 * Header-field helpers for intake.c.
 * rfc5322_field_name: length of the field name when line[0..len) starts a
 * header field ("Name:" with printable ASCII other than ':' in the name,
 * optional WSP before the colon as in obs-optional), else 0.
 */
size_t	 rfc5322_field_name(const char *line, size_t len);

/*
 * Unfold a field value: remove CRLF/LF that precede WSP, trim leading and
 * trailing WSP. Any other CR, LF or NUL becomes a space, so the result is
 * always one line. Returns a new string.
 */
char	*rfc5322_unfold(const char *value, size_t len);

#endif
