/*
 * dkim.h: DKIM signatures (RFC 6376) of the message exactly as mxsend
 * transmits it on a route (SPEC §5.4): after the header edits, relay_from
 * included, before dot-stuffing or BDAT framing. Relaxed/relaxed
 * canonicalization (§3.4.2, §3.4.4); rsa-sha256 (§3.3.1, RFC 8301) or
 * ed25519-sha256 (RFC 8463) as the key is; h= from dkim_headers; t=.
 *
 * The crypto is tls.c's (the only file that sees GnuTLS), so GnuTLS is
 * loaded by the first signature and never by a run that signs nothing.
 */
#ifndef MXSEND_DKIM_H
#define MXSEND_DKIM_H

#include <stddef.h>
#include <stdio.h>

#include "config.h"
#include "message.h"
#include "util.h"

/* Relaxed header canonicalization of one field, appended without CRLF. */
void	 dkim_canon_header(const char *field, size_t len, struct buf *out);

/*
 * Relaxed body canonicalization, streamed: what it produces goes to sink
 * in pieces, with memory that does not depend on the body. Trailing
 * empty lines are held back as a count until a line with text follows.
 */
typedef void (*dkim_sink)(void *ctx, const char *p, size_t n);

struct dkim_body {
	dkim_sink	 sink;
	void		*ctx;
	size_t		 crlfs;		/* empty lines held back */
	int		 wsp;		/* white space since the last text */
	int		 text;		/* the line has text */
	int		 cr;		/* a CR waits for its LF */
	size_t		 nout;
	char		 out[4096];
};

void	 dkim_body_init(struct dkim_body *, dkim_sink, void *ctx);
void	 dkim_body_add(struct dkim_body *, const char *p, size_t n);
void	 dkim_body_end(struct dkim_body *);

/*
 * The h= list for dkim_headers names[0..n) (lower case) and a header
 * section holding count(name) instances of each: every name as often as
 * it is listed, or as the message has it when that is more often (each
 * instance signed), plus one when it is listed more than once (over-
 * signing: no further instance can be added, §8.15). Names in their
 * first listed order. Appends "from:from:subject" to out.
 */
void	 dkim_h_list(char *const *names, size_t n,
	    size_t (*count)(void *, const char *), void *ctx, struct buf *out);

/*
 * What a signature of msg's variant msg_flags signs in its header: h=
 * appended to hlist, and the canonical fields in the order h= takes
 * them (each the bottom-most instance not taken yet, §5.4.2), each with
 * CRLF, to text; the DKIM-Signature field itself comes after them (§3.7).
 * Returns 0, or -1 when the spool cannot be read.
 */
int	 dkim_signed_headers(const struct config *, const struct message *,
	    int msg_flags, struct buf *hlist, struct buf *text);

/* Whether the route's transactions are signed (dkim_routes). */
int	 dkim_route_signed(const struct config *, enum route_method);

/*
 * The signatures of one message in one delivery attempt: made on demand,
 * once per variant of what is transmitted (the MX route's, and the relay
 * route's when relay_from changes From:), the body hash once for both.
 * Safe to call from the delivery threads.
 */
struct dkim;

/* NULL when the configuration sets no DKIM key. */
struct dkim *dkim_new(const struct config *, const struct message *);
void	 dkim_free(struct dkim *);

/*
 * The DKIM-Signature: field (CRLF-terminated, folded within 78 columns)
 * for the variant msg_flags (0 or MSG_RELAY) selects. Returns it, with
 * its length in *len, or NULL with err saying why it cannot be made (the
 * key vanished or is unreadable, the spool cannot be read, GnuTLS is
 * missing): that route must then not be used. *note is set, on the call
 * that made the signature only, to a line for -v (what was signed, and
 * a warning when the From: domain is not dkim_domain or below it, so
 * that DMARC alignment fails); the caller frees it.
 */
const char *dkim_field(struct dkim *, int msg_flags, size_t *len,
	    char **note, char *err, size_t errlen);

/* Whether domain is d or a subdomain of d (DMARC relaxed alignment). */
int	 dkim_aligned(const char *domain, const char *d);

/*
 * The DNS TXT record text for the key in pem[0..len): "v=DKIM1; k=rsa;
 * p=..." (caller frees), or NULL with err.
 */
char	*dkim_record(const char *pem, size_t len, char *err, size_t errlen);

/*
 * --config-check: the selector, domain, algorithm and the record to
 * publish, as zone-file lines; never the private key. Returns 0, or -1
 * with err (the key cannot be used).
 */
int	 dkim_print(const struct config *, FILE *, char *err, size_t errlen);

/*
 * mxsend --dkim-genkey SELECTOR DOMAIN [rsa|ed25519]: a new key written
 * to SELECTOR._domainkey.DOMAIN.key in the current directory (created,
 * never replaced, mode 0600), and on out the configuration lines and the
 * record to publish. Returns 0; -1 with err for a bad argument; -2 with
 * err when the key could not be made or written.
 */
int	 dkim_genkey(const char *selector, const char *domain,
	    const char *type, FILE *out, char *err, size_t errlen);

#endif
